"""The shared-state scenario: its plan, its readings around each run (against the stub), the summary of a cell,
and its checks, sentences and section on synthetic cells."""

import importlib.util
import tempfile
import unittest
from pathlib import Path

from cvplab import plan, procs, results, runner, shared_state_figures as figures
from cvplab.cpus import Placement
from cvplab.profiles import FULL, QUICK, SMOKE
from cvplab.query import ordered_by
from cvplab.scenarios import NAMES, shared_state
from cvplab.scenarios.base import ReportContext
from cvplab.servers import ServerSpec, get_json
from cvplab.shared_state_text import sentences
from cvplab.stats import Run
from tests.fakes import STUB, _figures, _latency, _shared_state, catalog, change, server_info, synthetic_doc

HAVE_MPL = importlib.util.find_spec("matplotlib") is not None
SCENARIO = shared_state.SCENARIO


def settings(profile=QUICK, scenarios=("shared-state",), **kw):
    base = dict(profile=profile, scenarios=scenarios, models=catalog().names, placement=Placement((0,), (1,)),
                pbkdf2_iterations=5000, max_connections=20_000, catalog=catalog())
    return plan.Settings(**{**base, **kw})


def cells_of(profile, good=True):
    """Measured shared-state cells for ``profile`` on two CPUs, with the fakes' figures and readings (3 repeats)."""
    out = []
    for cell in plan.build(settings(profile)).cells:
        info = server_info(cell.server)
        load = cell.loads[0]
        rps, mean, p99 = _figures(cell, load, good, int(info["parallelism"]))
        runs = [Run(repeat=i + 1, rps=rps * f, requests=int(rps * f), duration_s=1.0, latency_us=_latency(mean, p99),
                    errors={"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}, client_cpu=0.3,
                    client_cpu_s=0.3, server_cpu_s=0.5, server_requests=int(rps), after_run=_shared_state(
                        cell, rps * f, 1.0, good)) for i, f in enumerate((0.99, 1.0, 1.01))]
        out.append(results.make_cell(cell, load, runs, server_info=info, client_cpus=(1,), repeats_planned=3,
                                     failures=[]))
    return out


def run(after_run, duration_s=2.0):
    return Run(repeat=1, rps=100.0, requests=200, duration_s=duration_s, latency_us={}, errors={}, client_cpu=0.1,
               client_cpu_s=0.2, server_cpu_s=1.0, server_requests=200, after_run=after_run)


def counters(**strategies):
    """/state/counter/value's strategies: zero but those given as (increments, value)."""
    out = {s: {"value": 0, "increments": 0, "lost": 0} for s in figures.STRATEGIES}
    for s, (increments, value) in strategies.items():
        out[s] = {"value": value, "increments": increments, "lost": increments - value}
    return out


def accounts(naive=0, ordered=0, deadlocks=0, total=8_000_000):
    return {"accounts": [total - 7_000_000] + [1_000_000] * 7, "total": total, "expected_total": 8_000_000,
            "transfers": {"naive": naive, "ordered": ordered}, "deadlocks_detected": deadlocks}


class PlanTest(unittest.TestCase):
    def test_quick_is_four_strategies_and_two_orders_once_at_two_workers(self):
        p = plan.build(settings())
        self.assertEqual(len(p.groups), 1)
        cells = p.cells
        self.assertEqual(len(cells), 6 * 5, "split, mutex, sharded, await, naive, ordered on five models")
        self.assertEqual({c.workers for c in cells}, {2})
        self.assertEqual({c.server.cpus for c in cells}, {(0, 1)}, "a CPU per worker")
        self.assertEqual({p.repeats_of(c) for c in cells}, {1})
        self.assertEqual({c.duration_s for c in cells}, {1})
        self.assertEqual([pt[0].loads[0].variant for pt in p.groups[0].points],
                         ["split", "mutex", "sharded", "await", "naive", "ordered"])
        for point in p.groups[0].points:
            self.assertEqual([c.mode for c in point], list(catalog().names), "each point interleaves the models")

    def test_quick_fits_its_share_of_the_twelve_minutes(self):
        # Beside the other scenarios its servers are split's (2 workers on both CPUs): no start, no warm-up.
        everything = plan.build(settings(scenarios=NAMES))
        self.assertLessEqual(everything.estimate_by_scenario()["shared-state"], 34.0)
        split = {c.server for c in everything.cells if c.scenario == "split"}
        self.assertLessEqual({c.server for c in everything.cells if c.scenario == "shared-state"}, split)

    def test_counter_and_transfer_requests(self):
        cells = {(c.loads[0].variant, c.mode): c for c in plan.build(settings()).cells}
        split = cells["split", "reactors"]
        self.assertEqual(split.loads[0].path, "/state/counter?strategy=split&n=100000")
        self.assertEqual(split.loads[0].stream.script, "overhead.lua")
        self.assertEqual(split.loads[0].stream.args, ("path=/state/counter?strategy=split&n=100000",))
        self.assertEqual((split.connections, split.params["contention"], split.params["n"]), (8, "high", 100_000))
        aw = cells["await", "single"]
        self.assertEqual(aw.loads[0].path, "/state/counter?strategy=await&n=10&ms=1")
        self.assertEqual((aw.params["n"], aw.params["ms"]), (10, 1))
        naive, ordered = cells["naive", "pool"], cells["ordered", "pool"]
        self.assertEqual(naive.loads[0].stream.script, "transfer.lua")
        self.assertEqual(naive.loads[0].stream.args, ("order=naive", "a=0", "b=1", "hold_us=100", "timeout_ms=50"))
        self.assertEqual(ordered.loads[0].stream.args, ("order=ordered", "a=0", "b=1", "hold_us=100"),
                         "timeout_ms belongs to naive alone: cvp-server refuses it for ordered")
        self.assertEqual(naive.params["kind"], "transfer")
        ids = {results.cell_id(c, c.loads[0]) for c in cells.values()}
        self.assertIn("shared-state/split/reactors/w2-high", ids)
        self.assertIn("shared-state/naive/single/w2", ids)
        self.assertEqual(split.title, "shared-state split reactors w=2 high")

    def test_full_sweeps_workers_and_both_contentions(self):
        p = plan.build(settings(FULL))
        self.assertEqual([{c.workers for pt in g.points for c in pt} for g in p.groups], [{1}, {2}])
        self.assertEqual({c.server.cpus for c in p.cells if c.workers == 1}, {(0,)})
        low = [c for c in p.cells if c.params.get("contention") == "low"]
        self.assertEqual({c.params["strategy"] for c in low}, set(figures.STRATEGIES))
        self.assertEqual({c.params["n"] for c in low}, {1})
        self.assertEqual(len(p.cells), 2 * 5 * (5 + 5 + 2))
        self.assertEqual({p.repeats_of(c) for c in p.cells}, {3})

    def test_one_cpu_runs_one_worker_and_smoke_every_cpu(self):
        one = plan.build(settings(placement=Placement((0,), (0,))))
        self.assertEqual({c.workers for c in one.cells}, {1})
        smoke = plan.build(settings(SMOKE))
        self.assertEqual({c.workers for c in smoke.cells}, {2})
        self.assertEqual({c.loads[0].variant for c in smoke.cells}, {"split", "await", "naive", "ordered"})

    def test_a_remote_target_is_the_only_model_at_its_width(self):
        target = ServerSpec("pool", (), (0, 1, 2), 3)
        p = plan.build(settings(target=target))
        self.assertEqual({c.server for c in p.cells}, {target})
        self.assertEqual({c.workers for c in p.cells}, {3})


class SummaryTest(unittest.TestCase):
    def test_a_counter_cell_sums_its_strategy_over_the_repeats(self):
        params = {"kind": "counter", "strategy": "split"}
        runs = [run({"counter": counters(split=(1_000, 900), mutex=(5, 5)), "unsettled": 0}),
                run({"counter": counters(split=(1_000, 700)), "unsettled": 2})]
        st = figures.summarize_state(params, runs)
        self.assertEqual((st["increments"], st["value"], st["lost"]), (2_000, 1_600, 400))
        self.assertEqual(st["lost_share"], 0.2)
        self.assertEqual((st["lost_share_min"], st["lost_share_max"]), (0.1, 0.3))
        self.assertEqual((st["unsettled"], st["repeats"]), (2, 2))

    def test_a_transfer_cell_counts_deadlocks_per_second_and_the_totals(self):
        params = {"kind": "transfer", "order": "naive"}
        runs = [run({"accounts": accounts(naive=30, deadlocks=40), "unsettled": 0}, duration_s=2.0),
                run({"accounts": accounts(naive=10, deadlocks=10), "unsettled": 0}, duration_s=1.0)]
        st = figures.summarize_state(params, runs)
        self.assertEqual((st["transfers"], st["deadlocks"]), (40, 50))
        self.assertEqual((st["deadlocks_per_s"], st["deadlocks_per_s_min"], st["deadlocks_per_s_max"]),
                         (15.0, 10.0, 20.0))
        self.assertEqual((st["totals"], st["total_kept"]), ([8_000_000], True))
        runs.append(run({"accounts": accounts(total=7_999_999), "unsettled": 0}))
        st = figures.summarize_state(params, runs)
        self.assertEqual((st["totals"], st["total_kept"]), ([7_999_999, 8_000_000], False))

    def test_nothing_read_is_none(self):
        self.assertIsNone(figures.summarize_state({"kind": "counter", "strategy": "split"}, [run(None)]))
        self.assertEqual(SCENARIO.summarize(plan.build(settings()).cells[0], None, []), {"shared_state": None})

    def test_deadlocks_are_not_problems_but_other_errors_are(self):
        cells = {c.variant: c for c in cells_of(QUICK) if c.mode == "reactors"}
        naive, split = cells["naive"], cells["split"]
        change(naive, errors={"connect": 0, "read": 0, "write": 0, "timeout": 1, "status": 24, "total": 25})
        change(split, errors={"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 3, "total": 3})
        self.assertEqual((SCENARIO.problem_errors(naive)["status"], SCENARIO.problem_errors(naive)["total"]), (0, 1))
        self.assertEqual(SCENARIO.problem_errors(split)["status"], 3)
        self.assertEqual(SCENARIO.summary_flags(split), ["lost 12.4%"])
        self.assertEqual(SCENARIO.summary_flags(naive), ["deadlocks 24.0/s"])


class AroundEachRunTest(unittest.TestCase):
    """before_run and after_run against the stub server (cvp-server's /state/* contract)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.registry = procs.ProcessRegistry()
        env = runner.Environment(out_dir=Path(self.tmp.name), wrk="wrk", client_cpus=(0,), registry=self.registry,
                                 server_binary=STUB)
        self.runner = runner.Runner(plan.Plan([], [], 1, 0), env, {})
        self.server = self.runner.start_server(ServerSpec("reactors", ("--threads", "2"), (0,), 2))
        cells = {c.loads[0].variant: c for c in plan.build(settings(models=("reactors",))).cells}
        self.counter, self.transfer = cells["mutex"], cells["naive"]

    def tearDown(self):
        self.server.stop(0.5)
        self.registry.stop_all()
        self.tmp.cleanup()

    def get(self, path):
        return get_json(self.server.base_url, path)

    def test_reset_before_and_the_counters_after(self):
        self.get("/state/counter?strategy=mutex&n=5")
        SCENARIO.before_run(self.counter, self.server)
        self.assertEqual(self.get("/state/counter/value")["strategies"]["mutex"]["increments"], 0)
        for _ in range(2):
            self.get("/state/counter?strategy=mutex&n=3")
        after = SCENARIO.after_run(self.counter, self.server)
        self.assertEqual(after["counter"]["mutex"], {"value": 6, "increments": 6, "lost": 0})
        self.assertEqual(after["unsettled"], 0)

    def test_the_accounts_after_a_transfer(self):
        SCENARIO.before_run(self.transfer, self.server)
        body = self.get("/state/transfer?order=naive&from=0&to=1&amount=7")
        self.assertTrue(body["moved"])
        after = SCENARIO.after_run(self.transfer, self.server)["accounts"]
        self.assertEqual(after["accounts"][:2], [999_993, 1_000_007])
        self.assertEqual((after["total"], after["transfers"], after["deadlocks_detected"]),
                         (8_000_000, {"naive": 1, "ordered": 0}, 0))
        SCENARIO.before_run(self.transfer, self.server)
        self.assertEqual(self.get("/state/accounts")["accounts"][:2], [1_000_000, 1_000_000], "restored")


class ChecksTest(unittest.TestCase):
    def checks(self, cells):
        with ordered_by(catalog()):
            return {c.name: c for c in SCENARIO.checks(cells)}

    def test_a_healthy_run_meets_every_row(self):
        rows = self.checks(cells_of(QUICK))
        self.assertEqual(list(rows), [f"shared-state {k}" for k in ("split", "exact", "await", "ordered", "naive",
                                                                     "total")])
        self.assertEqual({r.verdict for r in rows.values()}, {"met"}, {k: r.figure for k, r in rows.items()})
        self.assertEqual(rows["shared-state split"].figure,
                         "one thread: lost updates in 0 of 1 cell; two or more at once: lost updates in 4 of 4 cells "
                         "(reactors w=2 high 12.4%, offload w=2 high 12.4%, pool w=2 high 12.4% and threads w=2 high "
                         "12.4%)")
        self.assertIn("0 lost of", rows["shared-state exact"].figure)
        self.assertIn("(mutex and sharded)", rows["shared-state exact"].figure)
        self.assertEqual(rows["shared-state await"].figure, "w=2 high 87.5%")
        self.assertIn("one thread: deadlocks in 0 of 1 cell; two or more at once: deadlocks in 4 of 4 cells "
                      "(reactors w=2 24.0/s,", rows["shared-state naive"].figure)
        self.assertEqual(rows["shared-state total"].figure, "8,000,000 after all 30 runs")

    def test_an_unhealthy_run_misses_each_and_says_where(self):
        rows = self.checks(cells_of(QUICK, good=False))
        self.assertEqual({r.verdict for r in rows.values()}, {"missed"})
        self.assertIn("reactors at 2 workers, high contention (2 at once) lost 0 of",
                      " ".join(rows["shared-state split"].why))
        self.assertIn("two or more at once: lost updates in 3 of 4 cells", rows["shared-state split"].figure)
        self.assertIn("pool mutex w=2 high lost", " ".join(rows["shared-state exact"].why))
        self.assertIn("single at 2 workers (high) lost none of", " ".join(rows["shared-state await"].why))
        self.assertIn("reactors w=2: 9", " ".join(rows["shared-state ordered"].why), "3 in each of 3 repeats")
        self.assertIn("single at 2 workers (one thread) detected 9", " ".join(rows["shared-state naive"].why))
        self.assertIn("one thread: deadlocks in 1 of 1 cell (single w=2 3.0/s)", rows["shared-state naive"].figure)
        self.assertIn("threads naive: 7,999,999", rows["shared-state total"].figure)

    def test_a_model_time_slicing_one_cpu_is_not_judged(self):
        cells = [c for c in cells_of(QUICK) if c.mode in ("single", "threads")]
        for c in cells:
            if c.mode == "threads":
                change(c, server=dict(c.server, cpus="0"),
                       shared_state=dict(c.shared_state, lost=0, lost_share=0.0, deadlocks=0))
        rows = self.checks(cells)
        self.assertEqual(rows["shared-state split"].verdict, "met", "single alone is judged")
        self.assertNotIn("threads", rows["shared-state split"].figure)
        self.assertIn("threads at 2 workers, high contention: parallelism 2,064 on one CPU, its threads "
                      "time-sliced, not judged (none lost)",
                      " ".join(rows["shared-state split"].why))
        self.assertIn("not judged (0 detected)", " ".join(rows["shared-state naive"].why))

    def test_without_cells_nothing_is_measured(self):
        self.assertEqual({r.verdict for r in self.checks([]).values()}, {"not measured"})


class SentencesTest(unittest.TestCase):
    def text(self, cells):
        with ordered_by(catalog()):
            return " ".join(sentences(cells))

    def test_they_follow_the_data(self):
        text = self.text(cells_of(QUICK))
        self.assertIn("split: single none, reactors 12.4%, offload 12.4%, pool 12.4% and threads 12.4%; "
                      "mutex: none in any model", text)
        self.assertIn("split (a relaxed load, then a separate store) lost updates in reactors, offload, pool and "
                      "threads", text)
        self.assertIn("single lost none, one thread running each request's increments from start to end", text)
        self.assertIn("await lost 87.5% in single, which has one thread", text)
        self.assertIn("the sharded counter made single 3.20×, reactors 8.83×, offload 8.83×, pool 8.83× and "
                      "threads 8.83× the mutex's increments per second", text)
        self.assertIn("In single, with one thread, the lock is never contended and the ratio (3.20×)", text)
        self.assertIn("naive detected reactors 24.0, offload 24.0, pool 24.0 and threads 24.0 deadlocks per second",
                      text)
        self.assertIn("against ordered's reactors 7,800", text)
        self.assertIn("single none, one thread running each transfer from start to end", text)
        self.assertIn("ordered (both locks in account order) detected no deadlock in any model", text)
        self.assertIn("The accounts' total stayed 8,000,000 after every run", text)
        self.assertIn("perfbook's counting chapter has a non-atomic counter lose 87%", text)
        self.assertIn("Here, on 2 CPUs, split lost at most 12.4% (reactors, 2 workers) (this run has no atomic "
                      "cell", text)
        self.assertIn("much smaller figures than theirs", text)
        self.assertIn("at most 2 ran at once, against their 20", text)

    def test_full_adds_low_contention_workers_and_the_atomic(self):
        text = self.text(cells_of(FULL))
        self.assertIn("At low contention (n = 1 a request, 2 workers) the sharded counter made single 1.00×", text)
        self.assertIn("the strategy hardly shows", text)
        self.assertIn("Increments per second from 1 worker to 2, at high contention: mutex: single 50M → 50M, "
                      "reactors 50M → 23M", text)
        self.assertIn("sharded: single 160M → 160M, reactors 160M → 203M", text)
        self.assertIn("Lost updates with 1 worker at high contention, as a share of the increments asked: split: "
                      "none in any model", text)
        self.assertIn("the sharded counter made at most 1.61× the atomic's increments (reactors, 2 workers)", text)
        self.assertNotIn("no atomic cell", text)

    def test_the_contention_words_follow_the_ratios(self):
        cells = cells_of(FULL)
        self.assertIn("what contention adds is the difference", self.text(cells))
        for c in cells:
            if c.variant != "mutex" or c.workers != 2:
                continue
            if c.params["contention"] == "high" and c.mode != "single":  # as slow beside sharded as in single
                change(c, rps=640.0)
            if c.params["contention"] == "low":  # the mutex still costs at n = 1
                change(c, rps=c.rps / 2)
        text = self.text(cells)
        self.assertIn("where two threads take it at once it is 3.17× in reactors", text)
        self.assertNotIn("what contention adds is the difference", text)
        self.assertIn("but not clearly more than single's", text)
        self.assertIn("Even with one increment a request the strategy still shows here", text)
        self.assertNotIn("hardly shows", text)

    def test_bent_data_changes_what_they_say(self):
        cells = cells_of(QUICK)
        for c in cells:
            if c.mode == "reactors" and c.variant == "split":
                change(c, shared_state=dict(c.shared_state, lost=0, lost_share=0.0))
            if c.mode == "pool" and c.variant == "ordered":
                change(c, shared_state=dict(c.shared_state, deadlocks=2, total_kept=False, totals=[7_999_998]))
            if c.variant == "await" and c.mode == "single":
                change(c, shared_state=dict(c.shared_state, lost=0, lost_share=0.0))
        text = self.text(cells)
        self.assertIn("single and reactors lost none, no two increments overlapping in this run", text)
        self.assertNotIn("await lost", text)
        self.assertIn("ordered runs counted deadlocks in pool", text)
        self.assertIn("The accounts' total changed in pool ordered (7,999,998), not 8,000,000", text)
        late = cells[0]
        change(late, shared_state=dict(late.shared_state, unsettled=3))
        self.assertIn(f"{late.mode} {late.variant} (3); their last requests' increments or transfers may be missing",
                      self.text(cells))


@unittest.skipUnless(HAVE_MPL, "matplotlib is not available to this Python")
class SectionTest(unittest.TestCase):
    def test_section_tables_and_charts(self):
        doc = synthetic_doc()
        with tempfile.TemporaryDirectory() as tmp, ordered_by(catalog()):
            blocks = SCENARIO.section(ReportContext(doc, doc["cells"], Path(tmp)))
            for chart in ("shared-state-lost", "shared-state-throughput", "shared-state-transfers"):
                self.assertTrue((Path(tmp) / f"{chart}.png").is_file(), chart)
        self.assertEqual(blocks[0].text, "shared-state: one counter and two accounts, shared by every thread")
        self.assertIn("this profile has no low-contention point", blocks[1].text)
        tables = [b for b in blocks if b.kind == "table"]
        self.assertEqual([len(t.items) - 1 for t in tables], [20, 10], "a row per counter cell, then per transfer cell")
        self.assertEqual(SCENARIO.section(ReportContext(doc, [], Path("."))), [], "no cells, no section")

    def test_full_charts_have_a_panel_per_worker_count_and_contention(self):
        cells = cells_of(FULL)
        with tempfile.TemporaryDirectory() as tmp, ordered_by(catalog()):
            blocks = SCENARIO.section(ReportContext({}, cells, Path(tmp)))
            self.assertTrue((Path(tmp) / "shared-state-throughput.png").is_file())
        self.assertIn("at low contention n = 1", blocks[1].text)


if __name__ == "__main__":
    unittest.main()
