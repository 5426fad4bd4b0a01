"""The latency scenario: queueing formulas and the knee against hand-computed values, rates resolved from
measured cells, cvp-load's results read and merged (through the fake, and through the real binary when built),
and its report section on synthetic cells."""

import importlib.util
import json
import os
import subprocess
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cvplab import openloop, plan, procs, queueing, report, results, runner
from cvplab.cpus import Placement
from cvplab.profiles import QUICK, SMOKE
from cvplab.scenarios import latency
from tests.fakes import catalog, synthetic_doc

FAKE = Path(__file__).resolve().parent / "fake_cvp_load.py"
REAL = Path(__file__).resolve().parents[2] / "build" / "release" / "cvp-load"
HAVE_MPL = importlib.util.find_spec("matplotlib") is not None


def settings(profile=QUICK, **kw):
    base = dict(profile=profile, scenarios=("latency",), models=catalog().names, placement=Placement((0,), (1,)),
                pbkdf2_iterations=5000, max_connections=20_000, catalog=catalog())
    return plan.Settings(**{**base, **kw})


class QueueingTest(unittest.TestCase):
    def test_md1_by_hand(self):
        # S = 5 ms: ρ = 0.5 waits 0.5·5/(2·0.5) = 2.5 ms; ρ = 0.8 waits 0.8·5/(2·0.2) = 10 ms
        self.assertAlmostEqual(queueing.md1_wait(0.5, 0.005), 0.0025)
        self.assertAlmostEqual(queueing.md1_wait(0.8, 0.005), 0.010)
        self.assertEqual(queueing.md1_wait(0.0, 0.005), 0.0)
        with self.assertRaises(ValueError):
            queueing.md1_wait(1.0, 0.005)

    def test_erlang_c_by_hand(self):
        # c = 2, a = 1: (a²/2!)/(1−ρ) = 1; Σ_{k<2} a^k/k! = 2; C = 1/3
        self.assertAlmostEqual(queueing.erlang_c(2, 1.0), 1 / 3)
        # c = 1: C is ρ
        self.assertAlmostEqual(queueing.erlang_c(1, 0.7), 0.7)
        with self.assertRaises(ValueError):
            queueing.erlang_c(2, 2.0)

    def test_mdc_halves_mmc_and_is_md1_for_one_server(self):
        # c = 2, a = 1, S = 6 ms: M/M/2 waits C·S/(c−a) = 6/3 = 2 ms, M/D/2 about 1 ms
        self.assertAlmostEqual(queueing.mmc_wait(2, 1.0, 0.006), 0.002)
        self.assertAlmostEqual(queueing.mdc_wait(2, 1.0, 0.006), 0.001)
        for rho in (0.3, 0.5, 0.8):
            self.assertAlmostEqual(queueing.mdc_wait(1, rho, 0.004), queueing.md1_wait(rho, 0.004))

    def test_knee_is_the_last_rate_within_budget_before_the_first_over(self):
        pts = [(100, 5.0), (500, 9.0), (800, 40.0), (1100, 400.0)]
        self.assertEqual(queueing.knee(pts, 50.0), 800)
        self.assertEqual(queueing.knee(pts, 10.0), 500)
        self.assertIsNone(queueing.knee(pts, 1.0))
        # a rate back under the budget past the first one over does not count
        self.assertEqual(queueing.knee([(1, 1.0), (2, 99.0), (3, 1.0)], 10.0), 1)
        self.assertEqual(queueing.most_under_budget([(100, 98, 5.0), (500, 490, 9.0), (800, 700, 40.0)], 10.0), 490)
        self.assertTrue(queueing.within(0.0115, 0.010, 0.15))
        self.assertFalse(queueing.within(0.0116, 0.010, 0.15))


class PlanTest(unittest.TestCase):
    def test_quick_sweeps_every_model_and_workload_from_capacities(self):
        p = plan.build(settings())
        sweep, apart = p.groups
        self.assertEqual(sweep.servers, tuple(plan.spec(settings(), m, 2, (0, 1)) for m in catalog().names))
        first = [c.params["point"] for point in sweep.points for c in point[:1]]
        self.assertEqual(first[:3], ["capacity"] * 3, "capacities before any rate")
        for point in sweep.points[3:]:
            self.assertEqual([c.mode for c in point], list(catalog().names), "interleaved across models")
            for c in point:
                rate = c.loads[0].stream.rate
                self.assertIsInstance(rate, openloop.RateOf)
                self.assertEqual(rate.cell.params["point"], "capacity")
                self.assertEqual((rate.cell.mode, rate.cell.params["workload"]), (c.mode, c.params["workload"]))
                self.assertEqual(rate.fraction, c.params["fraction"])
        self.assertEqual({c.repeats for c in p.cells}, {1})
        self.assertEqual(p.runs, len(p.cells), "one repeat each, whatever the profile's")
        self.assertEqual({c.server.label for c in apart.points[0]}, {"single"})
        self.assertEqual(apart.servers[0].cpus, (0,))
        co_open = apart.points[-1][0]
        self.assertEqual([l.variant for l in co_open.loads], ["co", "co-block"])
        self.assertIs(co_open.loads[0].stream.rate.cell, apart.points[-2][0], "open at the rate wrk achieved")

    def test_left_out_without_cvp_load_and_without_single(self):
        skipped = []
        self.assertEqual(latency.SCENARIO.plan(settings(open_loop_left_out="not built"), QUICK.params("latency"),
                                               skipped), [])
        self.assertEqual(skipped[0]["reason"], "not built")
        skipped = []
        groups = latency.SCENARIO.plan(settings(models=("reactors",)), QUICK.params("latency"), skipped)
        self.assertEqual(len(groups), 1)
        self.assertEqual(skipped[0]["reason"], "single was not chosen")

    def test_quick_estimate_per_scenario(self):
        full = plan.build(settings(scenarios=tuple(s for s in QUICK.scenarios), nginx=True, node=True, node_db=True))
        by = full.estimate_by_scenario()
        self.assertAlmostEqual(sum(by.values()) + plan.FIXED_S, full.estimate_s())
        self.assertLessEqual(full.estimate_s(), 11 * 60 + 15, by)


class ResolveRateTest(unittest.TestCase):
    def test_a_fraction_of_the_measured_capacity(self):
        p = plan.build(settings())
        cap = p.groups[0].points[0][0]
        measured = results.make_cell(cap, cap.loads[0], [], server_info={}, client_cpus=(1,), repeats_planned=1,
                                     failures=[])
        rate = openloop.RateOf(cap, 0.8)
        with self.assertRaises(ValueError):
            runner.resolve_rate(rate, [measured])  # failed: no throughput
        measured.rps = 400.0
        self.assertAlmostEqual(runner.resolve_rate(rate, [measured]), 320.0)
        with self.assertRaises(ValueError):
            runner.resolve_rate(rate, [])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802
        body = b"Hello, World!"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class GeneratorTest(unittest.TestCase):
    """cvp-load through OpenRun: one process, and N at rate/N merged, against a local HTTP server."""

    binary = FAKE

    def setUp(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.tmp = tempfile.TemporaryDirectory()
        self.registry = procs.ProcessRegistry()

    def tearDown(self):
        self.registry.stop_all()
        self.server.shutdown()
        self.server.server_close()
        self.tmp.cleanup()

    def run_open(self, generators: int, rate: float = 60.0) -> tuple:
        stream = openloop.OpenStream("main", ((1, "/plaintext"),), rate, arrival="constant", max_connections=8,
                                     generators=generators)
        run = openloop.OpenRun(binary=str(self.binary), stream=stream, rate=rate, base_url=self.url, duration_s=1,
                               cpus=tuple(sorted(os.sched_getaffinity(0)))[:1], name="test",
                               raw_stem=Path(self.tmp.name) / "run", registry=self.registry)
        return run.finish(), run

    def test_one_generator(self):
        r, run = self.run_open(1)
        self.assertEqual(r.open_loop["rate_asked"], 60.0)
        self.assertGreater(r.requests, 30)
        self.assertEqual(r.open_loop["completed"], r.requests)
        self.assertIsNotNone(r.latency_us["p99"])
        self.assertLessEqual(r.latency_us["p50"], r.latency_us["p99"])
        self.assertEqual(r.errors["status"], 0)
        self.assertTrue(all(p.exists() for p in run.raw_paths))

    def test_generators_merge_their_histograms(self):
        r, run = self.run_open(2)
        parts = [json.loads(p.read_text()) for p in run.parts]
        self.assertEqual(len(parts), 2)
        self.assertEqual([d["rate_asked"] for d in parts], [30.0, 30.0], "each at rate/N")
        self.assertEqual(r.requests, sum(d["completed"] for d in parts), "counts add")
        self.assertEqual(r.open_loop["generators"], 2)
        merged = json.loads(run.json_path.read_text())
        self.assertEqual(merged["histogram"]["count"], sum(d["histogram"]["count"] for d in parts))
        self.assertEqual(r.open_loop["rate_asked"], 60.0)


@unittest.skipUnless(REAL.is_file() and os.access(REAL, os.X_OK), f"{REAL} is not built")
class RealGeneratorTest(GeneratorTest):
    """The same against build/release/cvp-load."""

    binary = REAL


class MergeTest(unittest.TestCase):
    """Percentiles come from the merged histogram, never from averaging the parts' percentiles."""

    def test_merge_through_the_fake(self):
        with tempfile.TemporaryDirectory() as tmp:
            a, b, out = (Path(tmp) / n for n in ("a.json", "b.json", "out.json"))
            base = {"tool": "cvp-load", "format": 1, "rate_asked": 10.0, "rate_achieved": 10.0, "throughput": 10.0,
                    "duration_s": 1.0, "generators": 1, "scheduled": 0, "sent": 0, "completed": 0, "late": 0,
                    "dropped": 0, "unfinished": 0, "cpu_s": 0.0, "behind": False,
                    "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0, "framing": 0, "status": 0}}

            def doc(value, count):
                h = {"count": count, "sum_us": value * count, "min_us": value, "max_us": value,
                     "buckets": [[value, count]]}
                return dict(base, completed=count, histogram=h, service_histogram=h)

            a.write_text(json.dumps(doc(1000, 98)))
            b.write_text(json.dumps(doc(9000, 2)))
            subprocess.run([str(FAKE), "merge", str(a), str(b), "--json", str(out)], check=True)
            merged = openloop.parse_result(out.read_text())
        self.assertEqual(merged["completed"], 100)
        self.assertEqual(merged["latency_us"]["p50"], 1000)
        self.assertEqual(merged["latency_us"]["p99"], 9000, "the slow generator's tail, not (1000 + 9000) / 2")
        self.assertEqual(merged["latency_us"]["mean"], (98 * 1000 + 2 * 9000) / 100)

    def test_parse_refuses_what_is_not_cvp_load(self):
        for text in ("{", '{"tool": "wrk"}', '{"tool": "cvp-load", "format": 2}', '{"tool": "cvp-load", "format": 1}'):
            with self.assertRaises(ValueError):
                openloop.parse_result(text)


class SectionTest(unittest.TestCase):
    def cells(self, good=True):
        return [c for c in synthetic_doc(good)["cells"] if c.scenario == "latency"]

    def test_checks_follow_the_data(self):
        good = {c.name: c for c in latency.SCENARIO.checks(self.cells())}
        self.assertEqual({c.verdict for c in good.values()}, {"met"}, [c.figure for c in good.values()])
        self.assertIn("+5%", good["latency theory"].figure)
        bad = {c.name: c for c in latency.SCENARIO.checks(self.cells(good=False))}
        self.assertEqual({c.verdict for c in bad.values()}, {"missed"})
        self.assertIn("+50%", bad["latency theory"].figure)
        self.assertTrue(any("late" in w for w in bad["latency schedule"].why))

    def test_knees_and_sentences(self):
        from cvplab import latency_report as lr
        cpu = [c for c in self.cells() if c.params.get("workload") == "cpu"]
        curves = {cv.mode: cv for cv in lr.curves(cpu)}
        # p99 = 5 ms × 1.5 / (1 − f): within 50 ms (10× the 5-ms p50 at 10%) up to 80%, not at 110%
        self.assertEqual(curves["single"].knee, 0.8 * 200.0)
        self.assertEqual(curves["reactors"].knee, 0.8 * 380.0)
        text = " ".join(lr.sweep_text(cpu))
        self.assertIn("At 80% of its capacity, single's p99 was 37.5 ms", text)
        self.assertIn("served the most: 304 req/s", text)
        rows = lr.md1_rows(self.cells())
        self.assertEqual([round(r.rho_asked, 2) for r in rows], [0.5, 0.8])
        self.assertAlmostEqual(rows[0].diff, 0.05, places=2)

    @unittest.skipUnless(HAVE_MPL, "matplotlib is not installed")
    def test_section_renders_its_charts(self):
        doc = synthetic_doc()
        with tempfile.TemporaryDirectory() as tmp:
            report.write(Path(tmp), doc)
            md = (Path(tmp) / "report.md").read_text()
            for chart in ("latency_cpu", "latency_io", "latency_mixed", "latency_co"):
                self.assertTrue((Path(tmp) / f"{chart}.png").is_file(), chart)
        self.assertIn("## latency: latency against offered load (open loop)", md)
        self.assertIn("| ρ asked |", md)
        self.assertIn("Coordinated omission, shown", md)

    def test_old_cells_without_open_loop_still_read(self):
        cells = self.cells()
        for c in cells:
            c.open_loop = None
        self.assertEqual(latency.SCENARIO.checks(cells)[2].verdict, "not measured")


if __name__ == "__main__":
    unittest.main()
