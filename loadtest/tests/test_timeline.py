"""Timelines and loop health: the interval arithmetic on hand-made intervals, the window cut from a
/stats/timeline answer, the histograms of /metrics, the captions and the self-check rows."""

import math
import tempfile
import time
import unittest
from pathlib import Path

from cvplab import loop_health, plan, procs, runner, timeline, timeline_figures as tf
from cvplab.checks import Check
from cvplab.servers import ServerSpec, get_json
from cvplab.watch import Watch, summarize


def window(*rows, span=100):
    """A cut window: each row a list of (start_ms, end_ms, kind[, connection])."""
    return {"span_ms": span, "model": "x",
            "workers": [{"id": i, "kind": "loop", "complete": True,
                         "events": [[s, e, k, rest[0] if rest else None] for s, e, k, *rest in row]}
                        for i, row in enumerate(rows)]}


class IntervalsTest(unittest.TestCase):
    def test_back_to_back_bars_do_not_overlap(self):
        tl = window([(0, 10, "cpu"), (10, 20, "cpu"), (20, 35, "cpu")])
        self.assertEqual(tf.max_overlap(tf.bars(tl)), 1)
        self.assertEqual(tf.side_by_side_ms(tf.bars(tl)), 0.0)
        self.assertEqual(tf.covered_ms(tf.bars(tl)), 35.0)

    def test_overlap_across_rows(self):
        tl = window([(0, 10, "cpu"), (20, 30, "cpu")], [(5, 25, "cpu")])
        b = tf.bars(tl)
        self.assertEqual(tf.max_overlap(b), 2)
        self.assertEqual(tf.side_by_side_ms(b), 10.0)  # 5-10 and 20-25
        self.assertEqual(tf.covered_ms(b), 30.0)

    def test_overlap_on_one_row_is_not_side_by_side(self):
        b = tf.bars(window([(0, 10, "cpu"), (5, 15, "cpu")]))
        self.assertEqual(tf.max_overlap(b), 2)
        self.assertEqual(tf.side_by_side_ms(b), 0.0)

    def test_bars_are_clipped_to_the_window(self):
        b = tf.bars(window([(-20, 10, "cpu"), (95, 130, "cpu"), (-5, -1, "cpu")]))
        self.assertEqual([(x.start, x.end) for x in b], [(0.0, 10.0), (95.0, 100.0)])

    def test_kinds_filter(self):
        tl = window([(0, 10, "cpu"), (0, 50, "io-wait"), (10, 20, "blocking")])
        self.assertEqual(len(tf.bars(tl, tf.WORK)), 2)
        self.assertEqual(tf.figures(tl)["max_overlap"], 1, "a wait is not work: it holds no thread")

    def test_requests_group_a_connections_chunks(self):
        # connection 7: two requests of two chunks each; connection 8: one request
        tl = window([(0, 10, "cpu", 7), (12, 20, "cpu", 7), (30, 40, "cpu", 8)], [(0, 11, "cpu", 7), (12, 19, "cpu", 7)])
        groups = tf.requests(tf.bars(tl))
        self.assertEqual(sorted(len(g) for g in groups), [1, 2, 2])
        self.assertEqual(tf.widest_request(tf.bars(tl)), (2, 2, 2))

    def test_waits_behind_work(self):
        work = [tf.Bar(0, 0, 10, "cpu"), tf.Bar(1, 0, 30, "cpu")]
        waits = [tf.Bar(0, 2, 10.2, "io-wait"), tf.Bar(0, 2, 15, "io-wait"), tf.Bar(1, 3, 10.1, "io-wait")]
        self.assertEqual(tf.waits_behind_work(work, waits), 1, "only the wait on the hashing worker's own row")
        self.assertAlmostEqual(tf.pending_during(work, waits), (8 + 8 + 7.1) / 40)
        self.assertIsNone(tf.pending_during([], waits))


class CaptionTest(unittest.TestCase):
    def test_single_is_one_cook(self):
        text = tf.caption("single", "cpu", window([(0, 5, "cpu"), (5, 10, "cpu"), (10, 15, "cpu")]))
        self.assertTrue(text.startswith("single: one cook — 3 bars of work in 100 ms, never two at once "
                                        "(max overlap 1)"), text)

    def test_offload_counts_its_cooks_and_the_overlap(self):
        tl = window([(0, 50, "io-wait")], [(0, 40, "cpu")], [(20, 60, "cpu")])
        text = tf.caption("offload", "cpu", tl)
        self.assertIn("hands the work to 2 cooks", text)
        self.assertIn("bars overlap across rows 20% of the window (at most 2 at once)", text)
        self.assertIn("its 1 io-wait bar sat on workers that ran no work", text)

    def test_mixed_single_says_the_waits_interleave(self):
        tl = window([(0, 10, "cpu"), (10, 20, "cpu"), (1, 10.3, "io-wait"), (2, 20.1, "io-wait")])
        text = tf.caption("single", "mixed", tl)
        self.assertIn("the I/O waits (2 io-wait bars) interleave with the work", text)
        self.assertIn("a mean of 1 waits were pending while they ran work", text)
        self.assertIn("2 ended within 0.5 ms of a CPU bar's end", text)

    def test_split_names_the_chunks_side_by_side(self):
        tl = window([(0, 10, "cpu", 1)], [(0, 10, "cpu", 1)], [(1, 9, "cpu", 1)])
        self.assertIn("one request's 3 chunks side by side on 3 workers (3 at once at most)",
                      tf.caption("pool", "split", tl, 3))
        one_by_one = window([(0, 10, "cpu", 1), (10, 20, "cpu", 1), (21, 30, "cpu", 1), (30, 40, "cpu", 1)])
        self.assertIn("a request's 2 chunks ran one after another, never two at once",
                      tf.caption("single", "split", one_by_one, 2))

    def test_an_incomplete_window_says_so(self):
        tl = window([(0, 5, "cpu")])
        tl["workers"][0]["complete"] = False
        self.assertIn("bars may be missing", tf.caption("single", "cpu", tl))


class CutTest(unittest.TestCase):
    def answer(self, overwritten=0):
        now = 10_000_000_000
        ms = 1_000_000
        end = now - timeline.MARGIN_MS * ms  # the window is [end - 100 ms, end]
        return {"model": "single", "now_ns": now, "since_ns": end - 400 * ms,
                "workers": [{"id": 0, "kind": "loop", "overwritten": overwritten, "events": [
                    {"start_ns": end - 150 * ms, "end_ns": end - 120 * ms, "kind": "cpu", "connection": 3},  # before
                    {"start_ns": end - 105 * ms, "end_ns": end - 95 * ms, "kind": "cpu", "connection": 3},
                    {"start_ns": end - 10 * ms, "end_ns": end + 20 * ms, "kind": "io-wait", "connection": 4},
                    {"start_ns": end + 30 * ms, "end_ns": end + 40 * ms, "kind": "cpu", "connection": 4}]}]}

    def test_keeps_what_overlaps_the_window_in_ms_from_its_start(self):
        cut = timeline.cut(self.answer(), 100)
        self.assertEqual(cut["workers"][0]["events"], [[-5.0, 5.0, "cpu", 3], [90.0, 120.0, "io-wait", 4]])
        self.assertTrue(cut["workers"][0]["complete"])

    def test_overwritten_events_past_since_make_it_incomplete(self):
        answer = self.answer(overwritten=5)
        answer["workers"][0]["recorded"] = 4 + 5  # the ring keeps 4, all of them answered: it may not reach since
        self.assertFalse(timeline.cut(answer, 100)["workers"][0]["complete"])
        answer["workers"][0]["recorded"] = 10 + 5  # it keeps 10, and 6 ended before since: it reaches back
        self.assertTrue(timeline.cut(answer, 100)["workers"][0]["complete"])

    def test_window_is_centred_in_the_runs_part(self):
        w = timeline.Window(span_ms=100, from_s=0.3)
        self.assertAlmostEqual(w.fetch_at_s(1.0), 0.65 + 0.15)

    def test_chosen_is_the_middle_repeat(self):
        a, b, c = ({"workers": [], "n": i} for i in range(3))
        self.assertIs(timeline.chosen([a, {"error": "x"}, b, None, c]), b)
        self.assertIsNone(timeline.chosen([None, {"error": "x"}]))


METRICS = """# TYPE cvp_loop_lag_seconds histogram
cvp_loop_lag_seconds_bucket{mode="reactors",loop="loop 0",le="0.001"} %d
cvp_loop_lag_seconds_bucket{mode="reactors",loop="loop 0",le="0.01"} %d
cvp_loop_lag_seconds_bucket{mode="reactors",loop="loop 0",le="+Inf"} %d
cvp_loop_lag_seconds_count{mode="reactors",loop="loop 0"} %d
cvp_loop_lag_seconds_bucket{mode="reactors",loop="loop 1",le="0.001"} 10
cvp_loop_lag_seconds_bucket{mode="reactors",loop="loop 1",le="0.01"} 10
cvp_loop_lag_seconds_bucket{mode="reactors",loop="loop 1",le="+Inf"} 10
cvp_loop_lag_seconds_count{mode="reactors",loop="loop 1"} 10
cvp_other_bucket{le="1"} 99
"""


class LoopHealthTest(unittest.TestCase):
    def test_parse_and_quantiles(self):
        h = loop_health.parse_histograms(METRICS % (50, 100, 100, 100), loop_health.LAG_FAMILY)
        self.assertEqual(sorted(h), ["loop 0", "loop 1"])
        self.assertEqual(h["loop 0"]["le"], [0.001, 0.01, math.inf])
        # p50 is the top of the first bucket; p75 halfway up the second (linear, as histogram_quantile)
        self.assertAlmostEqual(loop_health.quantile(h["loop 0"], 0.5), 0.001)
        self.assertAlmostEqual(loop_health.quantile(h["loop 0"], 0.75), 0.0055)
        self.assertAlmostEqual(loop_health.quantile(h["loop 0"], 0.25), 0.0005)
        self.assertIsNone(loop_health.quantile({"le": [1, math.inf], "n": [0, 0], "count": 0}, 0.5))
        self.assertEqual(loop_health.quantile({"le": [0.01, math.inf], "n": [0, 4], "count": 4}, 0.99), 0.01)

    def test_delta_is_the_runs_own_ticks(self):
        stats = {"loops": [{"name": "loop 0", "workers": [0], "lag": {"max_ms": 3.0}},
                           {"name": "loop 1", "workers": [1], "lag": {"max_ms": 0.5}}],
                 "workers": [{"id": 0, "lived_ns": 1000, "event_wait_ns": 900},
                             {"id": 1, "lived_ns": 1000, "event_wait_ns": 1000}]}
        before = loop_health.snapshot(stats, METRICS % (50, 50, 50, 50))
        stats["loops"][0]["lag"]["max_ms"] = 7.5
        stats["workers"] = [{"id": 0, "lived_ns": 2000, "event_wait_ns": 1300},
                            {"id": 1, "lived_ns": 2000, "event_wait_ns": 2000}]
        after = loop_health.snapshot(stats, METRICS % (50, 90, 100, 100))
        d = loop_health.delta(before, after)
        # the run: loop 0's 50 new ticks (40 in 1-10 ms, 10 past it), loop 1's none
        self.assertEqual(d["lag"]["ticks"], 50)
        self.assertAlmostEqual(d["lag"]["p50_ms"], 1 + 9 * 25 / 40, places=3)
        self.assertEqual((d["lag"]["max_ms"], d["lag"]["max_exact"]), (7.5, True))
        self.assertEqual(d["lag"]["p99_ms"], 7.5, "interpolated to 9.9 ms in its bucket, capped at the true max")
        # busy: loop 0 600 of 1000 ns, loop 1 none
        self.assertAlmostEqual(d["utilization"], 0.3)
        self.assertIsNone(d["queue_wait"])

    def test_max_is_a_bound_when_the_since_start_max_did_not_grow(self):
        stats = {"loops": [{"name": "loop 0", "workers": [0], "lag": {"max_ms": 30.0}}], "workers": []}
        before = loop_health.snapshot(stats, METRICS % (0, 0, 0, 0))
        after = loop_health.snapshot(stats, METRICS % (5, 9, 9, 9))
        d = loop_health.delta(before, after)
        self.assertEqual((d["lag"]["max_ms"], d["lag"]["max_exact"]), (10.0, False))
        self.assertIsNone(d["utilization"], "no lived_ns: an older server")

    def test_median_over_repeats(self):
        runs = [{"lag": {"ticks": t, "p50_ms": t / 10, "p99_ms": t, "max_ms": 2 * t, "max_exact": t != 3},
                 "utilization": t / 10, "queue_wait": None, "loops": 1} for t in (1, 3, 2)]
        m = loop_health.median_health(runs + [None, {"lag": None}])
        self.assertEqual(m["lag"], {"p50_ms": 0.2, "p99_ms": 2, "max_ms": 4, "ticks": 2, "max_exact": False})
        self.assertEqual((m["utilization"], m["repeats"]), (0.2, 3))
        self.assertIsNone(loop_health.median_health([None]))


class ChecksTest(unittest.TestCase):
    def cell(self, mode, tl, workers=2, flags=("--timeline", "4096")):
        from cvplab.cells import Measured
        return Measured(id=f"cpu/{mode}", scenario="cpu", variant=None, mode=mode, path="/cpu", connections=8,
                        workers=workers, rps=1.0, timeline=tl, server={"flags": list(flags)})

    def run_checks(self, cells) -> dict[str, Check]:
        from cvplab import query, timeline_report
        from tests.fakes import catalog
        with query.ordered_by(catalog()):
            return {c.name: c for c in timeline_report.timeline_checks(cells, "cpu")}

    def test_met_and_missed(self):
        serial = window([(0, 10, "cpu"), (10, 20, "cpu")], [])
        parallel = window([(0, 10, "cpu")], [(5, 15, "cpu")])
        ok = self.run_checks([self.cell("single", serial), self.cell("offload", parallel)])
        self.assertEqual((ok["cpu timeline single"].verdict, ok["cpu timeline parallel"].verdict), ("met", "met"))
        self.assertEqual(ok["cpu timeline single"].figure, "max overlap 1 (2 bars in 100 ms)")
        bad = self.run_checks([self.cell("single", parallel), self.cell("offload", serial)])
        self.assertEqual((bad["cpu timeline single"].verdict, bad["cpu timeline parallel"].verdict),
                         ("missed", "missed"))
        self.assertIn("offload: no two bars ran at once in the window", bad["cpu timeline parallel"].why)

    def test_servers_that_recorded_nothing_have_no_rows(self):
        self.assertEqual(self.run_checks([self.cell("single", None, flags=("--threads", "2"))]), {})

    def test_recorded_but_no_window_is_not_measured(self):
        checks = self.run_checks([self.cell("single", None), self.cell("pool", {"error": "409"})])
        self.assertEqual({c.verdict for c in checks.values()}, {"not measured"})

    def test_flags_less_the_timeline(self):
        self.assertEqual(timeline.without_timeline(["--threads", "2", "--timeline", "4096", "--pin"]),
                         ["--threads", "2", "--pin"])

    def test_one_worker_is_not_measured(self):
        checks = self.run_checks([self.cell("offload", window([(0, 10, "cpu")]), workers=1)])
        self.assertEqual(checks["cpu timeline parallel"].verdict, "not measured")
        self.assertEqual(checks["cpu timeline single"].verdict, "not measured")


class LeadTest(unittest.TestCase):
    """The timeline after the verdict matrix: single against offload on mixed, else what the run has."""

    def lead(self, keep):
        from cvplab import query, report
        from tests.fakes import catalog, synthetic_doc
        doc = synthetic_doc()
        doc["cells"] = [c for c in doc["cells"] if keep(c)]
        with tempfile.TemporaryDirectory() as tmp, query.ordered_by(catalog()):
            blocks = report.build(doc, Path(tmp))
            drawn = (Path(tmp) / "timeline-lead.png").is_file()
        heads = [b.text for b in blocks if b.kind == "h2"]
        return heads, drawn

    def test_single_against_offload_on_mixed_follows_the_matrix(self):
        heads, drawn = self.lead(lambda c: True)
        self.assertTrue(drawn)
        self.assertEqual(heads[:2], ["Which model for which work",
                                     "What the models do with the work: single and offload on mixed"])

    def test_without_them_the_first_two_models_on_cpu(self):
        heads, _ = self.lead(lambda c: c.scenario == "cpu" and c.mode in ("pool", "threads"))
        self.assertIn("What the models do with the work: pool and threads on cpu", heads)

    def test_no_timeline_no_lead(self):
        heads, drawn = self.lead(lambda c: c.scenario == "io")
        self.assertFalse(drawn)
        self.assertFalse([h for h in heads if h.startswith("What the models do")])


class WatchAgainstTheStubTest(unittest.TestCase):
    """The probe and the lag snapshots around a run, against the stub server's /stats/timeline and /metrics."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.registry = procs.ProcessRegistry()
        env = runner.Environment(out_dir=Path(self.tmp.name), wrk="wrk", client_cpus=(0,), registry=self.registry,
                                 server_binary=__import__("tests.fakes", fromlist=["STUB"]).STUB)
        self.runner = runner.Runner(plan.Plan([], [], 1, 0), env, {})

    def tearDown(self):
        self.registry.stop_all()
        self.tmp.cleanup()

    def cell(self, spec, duration_s=1):
        load = plan.Load(None, None, "/cpu/pbkdf2?iterations=20000")
        return plan.Cell("cpu", spec, (load,), duration_s, 2, {})

    def test_a_run_keeps_its_window_and_its_lag(self):
        spec = ServerSpec("offload", ("--pool-threads", "2", *timeline.TIMELINE_FLAGS), (0,), 2)
        server = self.runner.start_server(spec)
        try:
            cell = self.cell(spec)
            watch = Watch(lambda c: timeline.Window(span_ms=300), health=True)
            watch.begin(cell, server)
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:  # the run: hashes on the pool, a wait on the loop
                get_json(server.base_url, "/cpu/pbkdf2?iterations=20000")
                get_json(server.base_url, "/io/sleep?ms=2")
            kept = watch.end(cell, server)
        finally:
            server.stop(0.5)
        self.assertEqual(kept["timeline"]["span_ms"], 300)
        kinds = {e[2] for w in kept["timeline"]["workers"] for e in w["events"]}
        self.assertEqual(kinds, {"cpu", "io-wait"})
        self.assertEqual([w["kind"] for w in kept["timeline"]["workers"]], ["loop", "pool-thread", "pool-thread"])
        health = kept["loop_health"]
        self.assertGreater(health["lag"]["ticks"], 50, "about 100 ticks of 10 ms in the run")
        self.assertLess(health["lag"]["ticks"], 200, "the run's ticks, not those since the server started")
        self.assertGreater(health["queue_wait"]["tasks"], 0)
        folded = summarize([type("Run", (), {"after_run": kept})()])
        self.assertEqual(folded["timeline"], kept["timeline"])
        self.assertEqual(folded["loop_health"]["lag"]["ticks"], health["lag"]["ticks"])

    def test_a_run_shorter_than_the_probe_keeps_no_window(self):
        spec = ServerSpec("single", timeline.TIMELINE_FLAGS, (0,), 1)
        server = self.runner.start_server(spec)
        try:
            cell = self.cell(spec, duration_s=10)  # a warm-up of 1 s on a cell of 10 s runs
            watch = Watch(lambda c: timeline.Window(span_ms=100))
            watch.begin(cell, server)
            t0 = time.monotonic()
            self.assertIsNone(watch.end(cell, server))
            self.assertLess(time.monotonic() - t0, 1.0, "the probe was called off, not waited for")
        finally:
            server.stop(0.5)

    def test_recording_off_is_an_error_kept(self):
        spec = ServerSpec("single", (), (0,), 1)
        server = self.runner.start_server(spec)
        try:
            probe = timeline.Probe(server, timeline.Window(span_ms=100), 0.0).start()
            deadline = time.monotonic() + 5
            while probe.result is None and time.monotonic() < deadline:  # due at once: let it ask
                time.sleep(0.01)
            self.assertIn("409", probe.finish()["error"])
        finally:
            server.stop(0.5)


if __name__ == "__main__":
    unittest.main()
