"""The downstream scenario: its plan (front servers calling one downstream), the runner's upstream
mechanism against the stub, the pools' figures from /stats, and its sentences and check on synthetic cells."""

import importlib.util
import shutil
import tempfile
import unittest
from pathlib import Path

from cvplab import plan, procs, runner
from cvplab.cpus import default_placement
from cvplab.profiles import FULL, QUICK, SMOKE
from cvplab.query import ordered_by
from cvplab.scenarios import downstream
from cvplab.servers import ServerError, ServerSpec, get_json
from cvplab.stats import Run, downstream_delta, summarize_downstream
from tests.fakes import catalog, change, synthetic_doc
from tests.test_plan import settings

STUB = Path(__file__).resolve().parent / "stub_server.py"


def build(**kw) -> plan.Plan:
    return plan.build(settings(scenarios=("downstream",), **kw))


class PlanTest(unittest.TestCase):
    def setUp(self):
        self.plan = build()
        self.cells = self.plan.cells

    def test_every_model_at_each_point_with_the_little_bound(self):
        self.assertEqual(len(self.plan.groups), 1)
        points = self.plan.groups[0].points
        self.assertEqual([{c.connections for c in pt} for pt in points], [{100}, {1000}])
        for pt in points:
            self.assertEqual([c.mode for c in pt], list(catalog().names))
        for c in self.cells:
            load = c.loads[0]
            self.assertEqual(load.path, "/io/http?ms=95..105")
            self.assertEqual(load.bound_rps, c.connections / 0.1)
            self.assertEqual(load.stream.script, "io.lua")
            self.assertIn("endpoint=http", load.stream.args)
            self.assertIn("ms=100", load.stream.args)
            self.assertEqual(c.duration_s, QUICK.duration_s)
            self.assertTrue(c.read_stats, "/stats around each run: the pools")
            self.assertFalse(c.fresh_server)
            self.assertEqual(c.footprint, c.connections == 1000, "threads alive while wrk holds the most")

    def test_the_front_servers_call_one_downstream_with_pools_as_large_as_the_connections(self):
        fronts = self.plan.groups[0].servers
        self.assertEqual({sp.label for sp in fronts}, set(catalog().names))
        ups = {sp.upstream for sp in fronts}
        self.assertEqual(len(ups), 1, "one downstream for the group")
        down = ups.pop()
        self.assertNotIn(down, fronts, "the runner starts it; the group lists what it measures")
        self.assertEqual(down.label, "reactors")
        self.assertIsNone(down.upstream)
        flags = list(down.flags)
        self.assertEqual(flags[flags.index("--threads") + 1], "1", "one loop per CPU it has")
        self.assertEqual(flags[flags.index("--max-connections") + 1], "20000", "what the open-file limit allows")
        self.assertEqual(flags[flags.index("--idle-timeout") + 1], downstream.DOWNSTREAM_IDLE_TIMEOUT)
        for sp in fronts:
            f = list(sp.flags)
            self.assertEqual(f[f.index("--upstream-connections") + 1], "1000", f"{sp.label}: the most connections")
            self.assertNotIn("--upstream", f, "its address is known once the downstream listens")
            self.assertIn("--upstream <reactors on CPUs 1>", sp.description)

    def test_two_cpus_leave_none_spare_so_the_downstream_shares_and_says_so(self):
        down = self.cells[0].server.upstream
        self.assertEqual(down.cpus, (1,), "beside wrk, the less busy of the two")
        for c in self.cells:
            self.assertEqual(c.server.cpus, (0, 1), "the fronts get every CPU, as io's")
            self.assertEqual(c.workers, 2)
            self.assertTrue(any("the downstream (reactors) shares CPU 1 with the front server and wrk" in n
                                for n in c.notes), c.notes)
            self.assertTrue(c.params["downstream_shares"])
            self.assertEqual(c.params["downstream_cpus"], "1")

    def test_a_spare_cpu_is_the_downstream_own(self):
        p = build(placement=default_placement((0, 1, 2, 3)))  # server 0-2, wrk 3
        for c in p.cells:
            self.assertEqual(c.server.upstream.cpus, (2,))
            self.assertEqual(c.server.cpus, (0, 1, 3))
            self.assertEqual(c.workers, 3)
            self.assertFalse(c.params["downstream_shares"])
            self.assertFalse(any("downstream" in n for n in c.notes))
        reactors = next(c for c in p.cells if c.mode == "reactors")
        self.assertIn("--threads", reactors.server.flags)

    def test_profiles(self):
        smoke = build(profile=SMOKE).cells
        self.assertEqual({(c.connections, c.params["wait_ms"]) for c in smoke}, {(10, 20)})
        self.assertEqual(len(smoke), len(catalog().names))
        full = build(profile=FULL).cells
        self.assertEqual(sorted({c.connections for c in full}), [100, 1000, 4000])
        f = list(full[0].server.flags)
        self.assertEqual(f[f.index("--upstream-connections") + 1], "4000")

    def test_the_quick_estimate_adds_little(self):
        # ten cells of three 2-s repeats, five front servers warmed up once, the downstream started once
        added = self.plan.estimate_s() - plan.FIXED_S
        self.assertLess(added, 80)
        self.assertAlmostEqual(added, 10 * 3 * (2 + plan.RUN_OVERHEAD_S)
                               + 5 * (plan.SERVER_START_S + QUICK.warmup_s + plan.RUN_OVERHEAD_S)
                               + plan.SERVER_START_S)

    def test_skipped_against_a_target_and_past_the_open_file_limit(self):
        target = build(target=ServerSpec("single", (), (0, 1), 2), target_accept="round-robin")
        self.assertEqual(target.cells, [])
        self.assertIn("--upstream", target.skipped[0]["reason"])
        limited = build(max_connections=2500)  # 1,000 connections and two pools of as many: 3,000
        self.assertEqual({c.connections for c in limited.cells}, {100})
        self.assertIn("open-file limit", limited.skipped[0]["reason"])
        f = list(limited.cells[0].server.flags)
        self.assertEqual(f[f.index("--upstream-connections") + 1], "100", "sized to the points that run")

    def test_it_follows_io_in_the_registry(self):
        from cvplab import scenarios
        names = list(scenarios.NAMES)
        self.assertEqual(names.index("downstream"), names.index("io") + 1)


def pools(created, open_, waited=0, retried=0, refused=0, names=("loop 0",)):
    faults = dict.fromkeys(("refused", "reset", "timeout"), 0)
    faults["refused"] = refused
    return {"origin": "http://127.0.0.1:9", "pools": [
        {"name": n, "capacity": 64, "open": open_, "idle": open_, "in_use": 0, "waiting": 0, "created": created,
         "reused": 10 * created, "waited": waited, "retried": retried, "faults": dict(faults)} for n in names]}


class FiguresTest(unittest.TestCase):
    def test_delta_sums_counters_over_pools_and_keeps_gauges_after(self):
        before = {"downstream": pools(5, 5, names=("loop 0", "loop 1"))}
        after = {"downstream": pools(9, 8, waited=2, retried=1, refused=3, names=("loop 0", "loop 1"))}
        d = downstream_delta(before, after)
        self.assertEqual((d["pools"], d["created"], d["waited"], d["retried"]), (2, 8, 4, 2))
        self.assertEqual((d["open"], d["capacity"]), (16, 128))
        self.assertEqual(d["open_per_pool"], {"loop 0": 8, "loop 1": 8})
        self.assertEqual((d["faults"]["refused"], d["faults_total"]), (6, 6))
        self.assertIsNone(downstream_delta({"downstream": None}, after), "a server without --upstream")
        self.assertIsNone(downstream_delta(None, None))
        fresh = downstream_delta({"downstream": {"origin": "x", "pools": []}}, after)
        self.assertEqual(fresh["created"], 18, "a pool absent before counts from 0")

    def test_summary_over_repeats(self):
        def run(i, created, open_, cpu, refused=0):
            d = downstream_delta({"downstream": pools(0, 0)}, {"downstream": pools(created, open_, refused=refused)})
            d["server_cpu_s"], d["server_cpus"] = cpu, "0"
            return Run(repeat=i, rps=1000.0, requests=2000, duration_s=2.0, latency_us={}, errors={},
                       client_cpu=0.3, client_cpu_s=0.6, server_cpu_s=1.0, server_requests=2000,
                       server_wall_s=2.0, downstream=d)
        s = summarize_downstream([run(1, 100, 100, 0.2), run(2, 120, 110, 0.4, refused=1), run(3, 90, 105, 0.3)])
        self.assertEqual((s["created"], s["created_min"], s["created_max"]), (100, 90, 120))
        self.assertEqual((s["open"], s["open_min"], s["open_max"]), (105, 100, 110))
        self.assertEqual((s["faults_total"], s["faults"]["refused"]), (1, 1))
        self.assertEqual(s["server_cpu_us_per_request"], 150.0, "0.3 s of the downstream's CPU ÷ 2,000 requests")
        self.assertEqual(s["server_cpus_busy"], 0.15)
        self.assertEqual((s["repeats"], s["server_cpus"]), (3, "0"))
        self.assertIsNone(summarize_downstream([]))
        runs = [run(1, 1, 1, 0.1)]
        runs[0].downstream = None
        self.assertIsNone(summarize_downstream(runs))


class RunnerUpstreamTest(unittest.TestCase):
    """The runner starts a front server's downstream first and hands its address over as --upstream."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.registry = procs.ProcessRegistry()
        self.down = ServerSpec("reactors", ("--threads", "1"), (0,), 1)
        self.front = ServerSpec("single", ("--upstream-connections", "4"), (0,), 1, upstream=self.down)
        p = plan.Plan([plan.Group("downstream", (self.front,), ())], [], 1, 0)
        env = runner.Environment(out_dir=Path(self.tmp.name), wrk=shutil.which("wrk") or "wrk", client_cpus=(0,),
                                 registry=self.registry, server_binary=STUB)
        self.runner = runner.Runner(p, env, {})
        self.runner.say = lambda text: None
        self.started = []

    def tearDown(self):
        for server in [*self.started, *self.runner.upstreams.values()]:
            server.stop(0.5)
        self.registry.stop_all()
        self.tmp.cleanup()

    def start(self, spec):
        server = self.runner.start_server(spec)
        self.started.append(server)
        return server

    def test_downstream_first_then_the_front_calling_it(self):
        front = self.start(self.front)
        down = self.runner.upstreams[self.down]
        self.assertTrue(down.alive)
        self.assertIn(f"--upstream {down.base_url}", " ".join(front.proc.args))
        body = get_json(front.base_url, "/io/http?ms=5")
        self.assertEqual((body["downstream"], body["ms"], body["answer"]["ms"]), (down.base_url, 5, 5))
        stats = front.stats()["downstream"]
        self.assertEqual(stats["origin"], down.base_url)
        self.assertEqual([(p["name"], p["capacity"], p["created"]) for p in stats["pools"]], [("loop 0", 4, 1)])
        again = self.start(ServerSpec("pool", (), (0,), 1, upstream=self.down))
        self.assertIs(self.runner.upstreams[self.down], down, "one downstream, however many call it")
        self.assertEqual(again.stats()["downstream"]["origin"], down.base_url)

    def test_a_dead_downstream_is_an_error_for_its_callers(self):
        self.start(self.front)
        down = self.runner.upstreams[self.down]
        down.stop(0.5)
        with self.assertRaises(ServerError) as e:
            self.runner.upstream_for(self.front)
        self.assertIn("reactors", str(e.exception))


@unittest.skipUnless(importlib.util.find_spec("matplotlib"), "matplotlib is not available to this Python")
class ReportTest(unittest.TestCase):
    def cells(self, good=True):
        return [c for c in synthetic_doc(good)["cells"] if c.scenario == "downstream"]

    def test_the_check_follows_single_at_a_thousand(self):
        with ordered_by(catalog()):
            met = downstream.check_single(self.cells())
            missed = downstream.check_single(self.cells(good=False))
            without = downstream.check_single([c for c in self.cells() if c.mode != "single"])
            smaller = downstream.check_single([c for c in self.cells() if c.connections != 1000])
        self.assertEqual(met.verdict, "met", met)
        self.assertIn("98.5% in steady state", met.figure)
        self.assertEqual(missed.verdict, "missed")
        self.assertTrue(any("mean latency" in w for w in missed.why), missed.why)
        self.assertTrue(any("the downstream was" in w and "which it shares" in w for w in missed.why), missed.why)
        self.assertEqual((without.verdict, smaller.verdict), ("not measured", "not measured"))

    def test_a_longer_wait_is_not_the_target(self):
        cells = self.cells()
        for c in cells:
            change(c, params=dict(c.params, wait_ms=50))
        with ordered_by(catalog()):
            self.assertEqual(downstream.check_single(cells).verdict, "not measured")

    def test_sentences_speak_of_every_model_and_follow_the_data(self):
        cells = self.cells()
        with ordered_by(catalog()):
            text = " ".join(downstream.sentences(cells))
            rows = downstream.table_rows(cells)
        for m in catalog().names:
            self.assertIn(f"{m} 98.5%", text, m)
        self.assertIn("the bound is 10,000 req/s (1,000 ÷ 100 ms)", text)
        self.assertIn("reactors 1,100 in 2 pools (1.10 per connection, the last repeat's 555 + 555;", text)
        self.assertIn("single 1,000 in 1 pool (1.00 per connection", text)
        self.assertIn("reactors' 2 per-loop pools held 1.10 connections per request in flight", text)
        self.assertIn("100 more, since a connection idle in one loop's pool cannot serve a call on another loop", text)
        self.assertIn("No call queued for a connection", text)
        self.assertIn("Threads alive while wrk held 1,000 connections (/stats `model.threads_alive`): single 3, "
                      "reactors 3, offload 3, pool 3 and threads 1,002", text)
        self.assertIn("pays for it with 1,002 threads for 1,000 connections, 1.00× reactors' front CPU per request "
                      "(51 against 51 µs) and 4.42× reactors' context switches per request", text)
        self.assertIn("Context switches per request (every thread's, from /proc, voluntary + involuntary): "
                      "single 0.31", text)
        self.assertIn("the downstream (`--mode reactors`) on CPU 1, shared", text)
        self.assertEqual(len(rows), len(cells))
        # a model whose per-loop pools held no more than one pool: said so, not the opposite
        for c in cells:
            if c.mode == "reactors":
                change(c, downstream=dict(c.downstream, open=1000.0))
        with ordered_by(catalog()):
            text = " ".join(downstream.sentences(cells))
        self.assertIn("no more than one shared pool here", text)

    def test_faults_and_waits_are_named(self):
        cells = self.cells()
        for c in cells:
            if c.mode == "offload" and c.connections == 1000:
                change(c, downstream=dict(c.downstream, waited=12, faults_total=3, faults={"timeout": 3}))
        with ordered_by(catalog()):
            text = " ".join(downstream.pool_sentences([c for c in cells if c.connections == 1000],
                                                      list(catalog().names)))
        self.assertIn("queued for a connection, over every repeat: offload 12", text)
        self.assertIn("Failed calls: offload 3 (timeout 3)", text)

    def test_section_and_chart(self):
        doc = synthetic_doc()
        from cvplab.scenarios.base import ReportContext
        with tempfile.TemporaryDirectory() as tmp, ordered_by(catalog()):
            blocks = downstream.SCENARIO.section(ReportContext(doc, doc["cells"], Path(tmp)))
            self.assertTrue((Path(tmp) / "downstream.png").is_file())
        self.assertTrue(blocks)
        self.assertEqual(downstream.SCENARIO.section(ReportContext(doc, [], Path("."))), [], "no cells, no section")


if __name__ == "__main__":
    unittest.main()
