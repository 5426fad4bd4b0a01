"""The latency scenario: queueing formulas and the knee against hand-computed values, rates resolved from
measured cells, cvp-load's results read and merged (through the fake, and through the real binary when built),
and its report section on synthetic cells."""

import importlib.util
import json
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import unittest
from unittest import mock
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

from cvplab import latency_report as lr
from cvplab import openloop, plan, pmqos, procs, queueing, report, results, runner
from cvplab.cells import Measured
from cvplab.cpus import Placement
from cvplab.profiles import FULL, QUICK, SMOKE
from cvplab.scenarios import latency
from cvplab.wrk import Stream, WrkError, WrkRun
from tests.fakes import STUB, catalog, synthetic_doc

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
        # past capacity only io, whose closed-loop capacity is wrk's connections ÷ the wait
        rates = [c for point in sweep.points for c in point if c.params["fraction"]]
        fractions = {w: sorted({c.params["fraction"] for c in rates if c.params["workload"] == w})
                     for w in latency.WORKLOADS}
        self.assertEqual(fractions, {"cpu": [0.1, 0.5, 0.8], "io": [0.1, 0.5, 0.8, 1.1], "mixed": [0.1, 0.5, 0.8]})
        self.assertEqual({c.repeats for point in sweep.points for c in point}, {1})
        self.assertEqual({c.server.label for c in apart.points[0]}, {"single"})
        self.assertEqual(apart.servers[0].cpus, (0,))
        self.assertEqual([[c.params["point"] for c in point] for point in apart.points],
                         [["capacity"], ["f10", "f50", "f80"], ["capacity"], ["closed"], ["open"]])

    def test_the_theory_is_one_point_of_three_interleaved_rounds(self):
        apart = plan.build(settings()).groups[1]
        cap, theory = apart.points[0][0], apart.points[1]
        self.assertEqual([c.params["role"] for c in theory], ["base", "rho", "rho"])
        self.assertEqual([c.params["fraction"] for c in theory], [0.1, 0.5, 0.8])
        self.assertEqual({(c.repeats, c.duration_s) for c in theory}, {(3, 4)}, "three rounds of 4 s in quick")
        for c in theory:
            self.assertIs(c.loads[0].stream.rate.cell, cap)
        full = plan.build(settings(profile=FULL)).groups[1].points[1]
        self.assertEqual({(c.repeats, c.duration_s) for c in full}, {(3, 30)})

    def test_coordinated_omission_paced_below_capacity_then_open_at_its_rate(self):
        apart = plan.build(settings()).groups[1]
        (cap,), (closed,), (open_,) = apart.points[2:]
        params = QUICK.params("latency")
        self.assertEqual([l.variant for l in cap.loads], ["co"], "the capacity without the stall")
        self.assertEqual(cap.loads[0].stream.script, "plaintext.lua")
        paced = closed.loads[0].stream
        self.assertEqual((paced.script, paced.args), ("paced.lua", (f"delay_ms={params.co_delay_ms}",)))
        self.assertEqual(paced.connections, cap.loads[0].stream.connections, "the same connections as the capacity")
        self.assertEqual(closed.params["delay_ms"], 1)
        self.assertEqual([l.variant for l in closed.loads], ["co", "co-block"])
        self.assertEqual([l.variant for l in open_.loads], ["co", "co-block"])
        self.assertIs(open_.loads[0].stream.rate.cell, closed, "open at the rate wrk achieved")
        self.assertEqual(open_.loads[0].stream.rate.fraction, 1.0)
        self.assertEqual(closed.loads[1].stream.rate, 1.0, "one stall a second")
        ids = {results.cell_id(c, l) for c in (cap, closed, open_) for l in c.loads}
        self.assertEqual(len(ids), 5)
        self.assertIn("latency/co/single/capacity", ids)

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
        # 1:40 before the theory's three interleaved rounds (+25 s) and /plaintext's capacity (+1 s); cpu's and
        # mixed's runs past capacity left out of quick (−11 s)
        self.assertLessEqual(by["latency"], 1 * 60 + 55, by)
        self.assertLess(full.estimate_s(), 12 * 60, by)  # the quick profile's limit as a whole


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


class GeneratorPriorityTest(unittest.TestCase):
    """cvp-load above the server's priority where the lab may raise it, and the report saying which."""

    def test_the_command_runs_under_nice_only_when_asked(self):
        stream = openloop.OpenStream("main", ((1, "/plaintext"),), 10.0)
        plain = openloop.command("cvp-load", stream, 10.0, "http://127.0.0.1:1", 1, (1,), Path("/x.json"), 1)
        raised = openloop.command("cvp-load", stream, 10.0, "http://127.0.0.1:1", 1, (1,), Path("/x.json"), 1, -15)
        self.assertEqual(plain[0], "taskset")
        self.assertEqual(raised[:3], ["nice", "-n", "-15"])
        self.assertEqual(raised[3:], plain)

    def test_the_level_is_the_lab_s_or_none(self):
        self.assertIn(openloop.generator_nice(), (0, openloop.GENERATOR_NICE))
        if os.geteuid() == 0:
            self.assertEqual(openloop.generator_nice(), openloop.GENERATOR_NICE, "root may raise a child's priority")

    def test_a_cell_keeps_the_niceness_its_repeats_ran_at(self):
        def runs(*nices):
            return [SimpleNamespace(open_loop={"rate_asked": 10.0, "generator_nice": n}) for n in nices]
        self.assertEqual(openloop.summarize_open(runs(-15, -15))["generator_nice"], -15)
        self.assertIsNone(openloop.summarize_open(runs(-15, 0))["generator_nice"], "repeats that differ say nothing")

    def test_the_report_says_how_the_generator_ran(self):
        def cells(*nices):
            return [SimpleNamespace(open_loop={"generator_nice": n} if n != "absent" else {"rate_asked": 1.0})
                    for n in nices]
        self.assertIn("nice -15", latency.generator_priority(cells(-15, -15)))
        self.assertIn("CAP_SYS_NICE", latency.generator_priority(cells(0, 0)))
        self.assertIsNone(latency.generator_priority(cells(-15, "absent")), "a run from before the field")
        self.assertIsNone(latency.generator_priority([]))


@unittest.skipUnless(REAL.is_file() and os.access(REAL, os.X_OK), f"{REAL} is not built")
class RealGeneratorTest(GeneratorTest):
    """The same against build/release/cvp-load."""

    binary = REAL


class _NoDelayHandler(_Handler):
    """The same answer with Nagle's algorithm off: its header and body go out at once, not 40 ms apart (the
    client's delayed ACK), so a connection's rate is set by the client's pause alone."""

    disable_nagle_algorithm = True


class _QuietServer(ThreadingHTTPServer):
    """wrk resets its connections when it stops: nothing to report."""

    def handle_error(self, request, client_address):
        pass


@unittest.skipUnless(shutil.which("wrk"), "wrk is not installed")
class PacedScriptTest(unittest.TestCase):
    """paced.lua through the real wrk: each connection pauses before each request, so the closed loop sends at
    most connections ÷ the pause, far below what a local server answers."""

    def setUp(self):
        self.server = _QuietServer(("127.0.0.1", 0), _NoDelayHandler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.tmp = tempfile.TemporaryDirectory()
        self.registry = procs.ProcessRegistry()

    def tearDown(self):
        self.registry.stop_all()
        self.server.shutdown()
        self.server.server_close()
        self.tmp.cleanup()

    def run_wrk(self, script: str, args: tuple[str, ...]):
        stream = Stream("main", script, args, 2, 1, 5)
        run = WrkRun(wrk=shutil.which("wrk"), stream=stream, url=self.url, duration_s=1,
                     cpus=tuple(sorted(os.sched_getaffinity(0)))[:1], name="paced", raw_stem=Path(self.tmp.name) / script,
                     registry=self.registry)
        return run.finish()

    def test_the_pause_caps_each_connections_rate(self):
        paced = self.run_wrk("paced.lua", ("delay_ms=20",))
        # two connections, each pausing 19 to 20 ms before each request: at most about 2 × 1000 ÷ 19 a second
        self.assertLessEqual(paced.rps, 2 * 1000 / 19 + 5)
        self.assertGreater(paced.rps, 2 * 1000 / 20 * 0.5, "it still sends, one request per pause")
        self.assertEqual(sum(paced.errors.values()), 0)
        unpaced = self.run_wrk("plaintext.lua", ())
        self.assertGreater(unpaced.rps, 2 * paced.rps, "without the pause the same connections send far more")
        self.assertLess(paced.latency_us["p50"], 19_000, "the pause is not latency: wrk times from the send")

    def test_a_bad_pause_is_refused(self):
        with self.assertRaises(WrkError):
            self.run_wrk("paced.lua", ("delay_ms=0.5",))


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


class CpuLatencyHoldTest(unittest.TestCase):
    """The scenario holds /dev/cpu_dma_latency (here a file of the test's) during the theory's runs only."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.device = Path(self.tmp.name) / "cpu_dma_latency"
        self.device.write_bytes(b"")
        self.scenario = latency.Latency()
        self.scenario.hold = pmqos.LatencyHold(0, self.device)
        apart = plan.build(settings()).groups[1]
        self.capacity, self.theory = apart.points[0][0], apart.points[1]
        self.co = [point[0] for point in apart.points[2:]]

    def tearDown(self):
        self.scenario.hold.release()
        self.tmp.cleanup()

    def is_open(self) -> bool:
        return any(os.readlink(f"/proc/self/fd/{fd}") == str(self.device) for fd in os.listdir("/proc/self/fd")
                   if os.path.exists(f"/proc/self/fd/{fd}"))

    def test_held_during_the_reference_and_the_loads_only(self):
        for cell in self.theory:
            self.scenario.before_run(cell, None)
            self.assertTrue(self.is_open(), cell.params["point"])
            self.assertEqual(self.device.read_bytes(), struct.pack("=i", 0))
            self.assertEqual(self.scenario.after_run(cell, None),
                             {"cpu_dma_latency": {"held": True, "value_us": 0, "path": str(self.device),
                                                  "error": None}})
            self.assertFalse(self.is_open(), "released once the run is over")
        for cell in [self.capacity, *self.co]:
            self.scenario.before_run(cell, None)
            self.assertFalse(self.is_open(), cell.params["point"])
            self.assertIsNone(self.scenario.after_run(cell, None))

    def test_a_run_that_failed_leaves_nothing_held_past_the_next_run(self):
        self.scenario.before_run(self.theory[1], None)  # the run raised: no after_run
        self.assertTrue(self.is_open())
        self.scenario.before_run(self.co[1], None)
        self.assertFalse(self.is_open())

    def test_a_device_that_cannot_be_opened_is_recorded(self):
        self.scenario.hold = pmqos.LatencyHold(0, Path(self.tmp.name) / "missing")
        self.scenario.before_run(self.theory[0], None)
        record = self.scenario.after_run(self.theory[0], None)["cpu_dma_latency"]
        self.assertFalse(record["held"])
        self.assertIn("cannot open", record["error"])


@unittest.skipUnless(shutil.which("wrk"), "wrk is not installed")
class CpuLatencyThroughTheRunnerTest(unittest.TestCase):
    """The runner calls the scenario's hooks: each theory run's entry records the hold (the stub, the fake cvp-load,
    a file standing in for the device)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.registry = procs.ProcessRegistry()
        self.device = Path(self.tmp.name) / "cpu_dma_latency"
        self.device.write_bytes(b"")

    def tearDown(self):
        self.registry.stop_all()
        self.tmp.cleanup()

    def test_each_theory_run_records_the_hold(self):
        s = settings(profile=SMOKE, models=("single",), pbkdf2_iterations=1000)
        group = plan.build(s).groups[1]
        env = runner.Environment(out_dir=Path(self.tmp.name), wrk=shutil.which("wrk"), client_cpus=(1,),
                                 registry=self.registry, server_binary=STUB, cvp_load=str(FAKE))
        r = runner.Runner(plan.Plan([group], [], 1, 0), env, {})
        r.say = lambda text: None
        servers = {group.servers[0]: r.start_server(group.servers[0])}
        try:
            with mock.patch.object(latency.SCENARIO, "hold", pmqos.LatencyHold(0, self.device)):
                for point in group.points[:2]:  # the capacity, then the reference and the load
                    r.run_point(point, servers)
                self.assertFalse(latency.SCENARIO.hold.held, "released after the last run")
        finally:
            servers[group.servers[0]].stop(0.5)
        cap, base, rho = r.cells
        self.assertEqual([c.params["point"] for c in r.cells], ["capacity", "f5", "f50"])
        self.assertTrue(all("after_run" not in run for run in cap.runs), "no hold for the capacity")
        for c in (base, rho):
            self.assertEqual(len(c.runs), 1, c.failures)
            self.assertEqual(c.runs[0]["after_run"], {"cpu_dma_latency": {"held": True, "value_us": 0,
                                                                          "path": str(self.device), "error": None}})
        self.assertEqual(self.device.read_bytes(), struct.pack("=i", 0))
        self.assertEqual(lr.cpu_latency_held(r.cells), (2, 2, []))


def theory_run(repeat: int, mean: float, requests: int, cpu_us: float, rate: float, *, held: bool = True,
               background: float = 0.0, loop_busy_us: float | None = None) -> dict:
    """A theory run as results.json keeps it: ``cpu_us`` of the server's CPU per request, over ``requests``."""
    per_worker = ([{"id": 0, "kind": "loop", "cpu": 0, "requests": requests, "connections_total": 1,
                    "tasks": requests, "busy_ns": int(loop_busy_us * 1000 * requests)}]
                  if loop_busy_us is not None else None)
    return {"repeat": repeat, "requests": requests, "latency_us": {"mean": mean}, "server_cpu_s": cpu_us * requests / 1e6,
            "background_cpus": background, "open_loop": {"rate_achieved": rate}, "per_worker": per_worker,
            "after_run": {"cpu_dma_latency": {"held": held, "value_us": 0, "path": "/dev/cpu_dma_latency",
                                              "error": None if held else "cannot open /dev/cpu_dma_latency"}}}


def theory_cell(role: str, fraction: float, runs: list[dict], mode: str = "single",
                workload: str = "theory") -> Measured:
    """A theory (or sweep) cell holding ``runs``."""
    point = latency.point_of(fraction)
    return Measured(id=f"latency/{workload}/{mode}/{point}", scenario="latency", variant=workload, mode=mode,
                    path="/cpu/pbkdf2?iterations=1000", connections=1000, repeats=len(runs), duration_s=4,
                    params={"workload": workload, "point": point, "fraction": fraction, "role": role},
                    open_loop={"rate_asked": 1.0}, latency_us={"mean": runs[0]["latency_us"]["mean"]}, runs=runs,
                    parallelism=2 if mode == "offload" else 1)


#: The reference: 10% of capacity, S = 1 ms, mean 1,050 µs in each of three rounds of 400 requests.
BASE = [theory_run(i + 1, 1050.0, 400, 1000.0, 100.0) for i in range(3)]
#: The formula's wait at the reference: ρ = 100/s × 1 ms = 0.1, 0.1 × 1000 / (2 × 0.9) µs.
BASE_WAIT = 0.1 * 1000 / 1.8


class PooledTheoryTest(unittest.TestCase):
    """Each row pools its rounds (request-weighted mean, total CPU ÷ total requests, the mean rate); the check
    reads the pooled figure and says what the rounds show."""

    def rows(self, means, *, held=True, requests=(2000, 2000, 2000), background=0.0):
        runs = [theory_run(i + 1, m, n, 1000.0, 500.0, held=held, background=background)
                for i, (m, n) in enumerate(zip(means, requests))]
        cells = [theory_cell("base", 0.1, BASE), theory_cell("rho", 0.5, runs)]
        return cells, lr.md1_rows(cells)

    def test_s_is_the_cpu_per_request_from_proc_not_the_loops_busy_time(self):
        # the hand measurement: the loop busy 717 µs a task, the process's CPU 753 µs a request
        runs = [theory_run(i + 1, 2000.0, 2000, 753.0, 500.0, loop_busy_us=717.0) for i in range(3)]
        base = [theory_run(i + 1, 1050.0, 400, 753.0, 100.0, loop_busy_us=717.0) for i in range(3)]
        (row,) = lr.md1_rows([theory_cell("base", 0.1, base), theory_cell("rho", 0.5, runs)])
        self.assertAlmostEqual(row.service_us, 753.0)
        self.assertTrue(row.source.startswith("server's CPU per request from /proc"), row.source)
        self.assertAlmostEqual(row.rho, 500 * 753e-6)

    def test_pooled_by_hand_not_the_median(self):
        runs = [theory_run(1, 1500.0, 2000, 1000.0, 490.0), theory_run(2, 1520.0, 2000, 1100.0, 500.0),
                theory_run(3, 1900.0, 1000, 900.0, 510.0)]
        (row,) = lr.md1_rows([theory_cell("base", 0.1, BASE), theory_cell("rho", 0.5, runs)])
        # (1500 × 2000 + 1520 × 2000 + 1900 × 1000) ÷ 5000, not the median 1520
        self.assertAlmostEqual(row.mean_us, 7.94e6 / 5000)
        # (2.0 + 2.2 + 0.9) s ÷ 5000 requests, not the median 1000 µs
        self.assertAlmostEqual(row.service_us, 1020.0)
        self.assertAlmostEqual(row.rate, 500.0)
        self.assertEqual(row.requests, 5000)
        self.assertAlmostEqual(row.base_us, 1050.0)
        self.assertAlmostEqual(row.base_theory_us, BASE_WAIT)
        rho = 500 * 1020e-6
        self.assertAlmostEqual(row.theory_us, rho * 1020 / (2 * (1 - rho)))
        # each round against the reference's round of the same number
        self.assertEqual(len(row.rounds), 3)
        self.assertAlmostEqual(row.rounds[2].mean_us, 1900.0)
        self.assertAlmostEqual(row.rounds[2].service_us, 900.0)

    def test_one_disturbed_round_makes_the_pooled_figure_miss_and_the_check_says_so(self):
        cells, (row,) = self.rows((1500.0, 1520.0, 1900.0))
        # pooled: 1640 − 1050 + 55.6 = 645.6 µs against 500 µs; the rounds +1%, +5%, +81%
        self.assertAlmostEqual(row.measured_us, 1640 - 1050 + BASE_WAIT)
        self.assertAlmostEqual(row.diff, (1640 - 1050 + BASE_WAIT) / 500 - 1)
        self.assertEqual(row.round_diffs(), "+1%, +5%, +81%")
        check = latency.check_theory(cells)
        self.assertEqual(check.verdict, "missed", "the pooled figure, not the median round (+5%), is checked")
        self.assertIn("+29%", check.figure)
        self.assertIn("rounds +1%, +5%, +81%", check.figure)
        why = " ".join(check.why)
        self.assertIn("round 3 +81%", why)
        self.assertIn("one disturbed round", why)
        self.assertNotIn("cpu_dma_latency", why, "it was held")

    def test_a_round_outside_while_the_pooled_figure_holds(self):
        cells, (row,) = self.rows((1500.0, 1520.0, 1620.0))
        self.assertLess(abs(row.diff), 0.15)
        check = latency.check_theory(cells)
        self.assertEqual(check.verdict, "met")
        self.assertIn("round 3 +25%", " ".join(check.why))

    def test_every_round_off_the_same_way_is_a_bias(self):
        cells, _ = self.rows((1700.0, 1720.0, 1690.0))
        check = latency.check_theory(cells)
        self.assertEqual(check.verdict, "missed")
        self.assertIn("every round was off the same way", " ".join(check.why))

    def test_every_round_off_on_a_busy_machine_says_nothing_of_the_method(self):
        cells, _ = self.rows((1700.0, 1720.0, 1690.0), background=1.4)
        why = " ".join(latency.check_theory(cells).why)
        self.assertIn("other processes on this machine kept at least 1.40 CPUs busy: the machine was not quiet", why)
        self.assertNotIn("a bias", why)

    def test_two_disturbed_rounds_of_three(self):
        cells, _ = self.rows((1500.0, 1900.0, 2000.0))
        why = " ".join(latency.check_theory(cells).why)
        self.assertIn("round 2 +81%", why)
        self.assertIn("the other within (+1%, +81%, +101%): 2 disturbed rounds of 3", why)

    def test_not_held_is_said(self):
        cells, _ = self.rows((1500.0, 1520.0, 1900.0), held=False)
        self.assertEqual(lr.cpu_latency_held(cells), (3, 6, ["cannot open /dev/cpu_dma_latency"]))
        self.assertIn("/dev/cpu_dma_latency was not held in 3 of 6 runs", " ".join(latency.check_theory(cells).why))
        self.assertIn("held /dev/cpu_dma_latency at 0 in 3 of these 6 runs only", latency.cpu_latency_text(cells))
        cells, _ = self.rows((1500.0, 1520.0, 1620.0))
        self.assertIn("During every one of these 6 runs", latency.cpu_latency_text(cells))

    def test_offload_keeps_its_pool_threads_busy_time(self):
        def run(i, mean, rate):
            r = theory_run(i, mean, 2000, 1100.0, rate)  # the process: 1,100 µs a request, the loop's share too
            r["per_worker"] = [{"id": 1, "kind": "pool-thread", "cpu": 0, "requests": None, "connections_total": None,
                                "tasks": 2000, "busy_ns": 900_000 * 2000}]
            return r
        cells = [theory_cell(None, 0.1, [run(1, 1000.0, 220.0)], "offload", "cpu"),
                 theory_cell(None, 0.5, [run(1, 1400.0, 1100.0)], "offload", "cpu"),
                 theory_cell("rho", 0.5, [run(1, 1.0, 1.0)], "single")]
        (row,) = lr.mdc_rows(cells, "offload")
        self.assertAlmostEqual(row.service_us, 900.0)
        self.assertEqual(row.servers, 2)
        self.assertTrue(row.source.startswith("pool threads' busy time"), row.source)
        self.assertAlmostEqual(row.rho, 1100 * 900e-6 / 2)


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
        self.assertIn("| each round |", md)
        self.assertIn("rates from 10%, 50% and 80% (110% for io alone", md)
        self.assertIn("ran in 3 interleaved rounds of 4 s", md)
        self.assertIn("S is the server's CPU per request from /proc", md)
        self.assertIn("was not recorded (a run from before the lab held it)", md, "the synthetic runs have none")
        self.assertIn("Coordinated omission, shown", md)
        self.assertIn("each connection pausing 1 ms before each of its requests", md)

    def test_coordinated_omission_text(self):
        cells = self.cells()
        cap = lr.co_capacity(cells)
        closed, open_ = lr.co_pair(cells)
        cap.rps = 4 * closed.rps  # the paced closed loop at a quarter of the capacity
        # 3 runs of 2 s, 60,000 requests over 16 connections: 2 s ÷ (20,000 ÷ 16) = 1.6 ms between a connection's
        # requests for wrk's correction; 5 stalls, at most one slow request per connection each: 80 (0.1%)
        self.assertEqual((closed.requests, closed.repeats, closed.connections), (60_000, 3, 16))
        self.assertAlmostEqual(lr.wrk_correction_interval_us(closed), 1600.0)
        self.assertEqual(lr.co_stalls(cells, "closed"), 5)
        first, second = lr.co_text(closed, open_, cap, 5)
        self.assertIn("wrk measured 10,000 req/s (25% of single's capacity, 40,000 req/s", first)
        self.assertIn("cvp-load measured a p99 of 150.0 ms: 148.0 ms more (75.0×)", first)
        self.assertIn("at most 80 of wrk's 60,000 requests (0.1%) over 5 stalls, fewer than the 1% a p99 needs", second)
        self.assertIn("stats_correct", second)
        self.assertIn("here 1.6 ms,", second)
        self.assertIn("99% below cvp-load's", second)
        check = latency.check_co(cells)
        self.assertEqual(check.verdict, "met")
        self.assertIn("at 10,000 req/s (25% of capacity)", check.figure)
        open_.open_loop = dict(open_.open_loop, dropped=12_118)
        self.assertIn("cvp-load dropped 12,118 requests", " ".join(latency.check_co(cells).why))

    def test_old_cells_without_open_loop_still_read(self):
        cells = self.cells()
        for c in cells:
            c.open_loop = None
        self.assertEqual(latency.SCENARIO.checks(cells)[2].verdict, "not measured")


if __name__ == "__main__":
    unittest.main()
