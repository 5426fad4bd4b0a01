"""End-to-end tests: the lab as a user runs it, with the stub server, and with cvp-server itself.

The cvp-server smoke test skips when build/release/cvp-server is missing, except in
CI (CI=true), where the binary is built first and a missing one is a failure.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from cvplab import models, pmqos, scenarios
from tests.fakes import catalog

LOADTEST = Path(__file__).resolve().parents[1]
LAB = LOADTEST / "lab"
REPO = LOADTEST.parent
SERVER = REPO / "build" / "release" / "cvp-server"
STUB = Path(__file__).resolve().parent / "stub_server.py"
#: The stand-in for cvp-load, the open-loop generator (the latency scenario), beside the stub.
FAKE_LOAD = Path(__file__).resolve().parent / "fake_cvp_load.py"
SCENARIOS = set(scenarios.NAMES)
KINDS = {"loop", "pool-thread", "connection-thread"}
HAVE_NODE = bool(shutil.which("node") or shutil.which("nodejs"))
REQUIRED = ("scenario", "mode", "connections", "workers", "rps", "latency_us", "errors",
            "server_cpu_us_per_request", "client_cpu", "client_saturated", "littles_law_bound_rps")


def run_lab(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(LAB), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def only_run_dir(out: Path) -> Path:
    dirs = [d for d in out.iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


class LabTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.out = Path(self.tmp.name) / "results"
        # A private copy of the stub, so that its processes can be told apart from any other.
        self.stub = Path(self.tmp.name) / "stub-cvp-server"
        shutil.copy(STUB, self.stub)
        shutil.copy(STUB.with_name("stub_timeline.py"), self.stub.with_name("stub_timeline.py"))  # what it imports

    def tearDown(self):
        self.tmp.cleanup()

    def assert_complete_run(self, proc: subprocess.CompletedProcess, scenarios: set[str]) -> dict:
        self.assertEqual(proc.returncode, 0, proc.stdout[-3000:] + proc.stderr[-3000:])
        run_dir = only_run_dir(self.out)
        doc = json.loads((run_dir / "results.json").read_text())
        self.assertEqual(doc["manifest"]["status"], "complete")
        self.assertEqual({c["scenario"] for c in doc["cells"]}, scenarios)
        for cell in doc["cells"]:
            for key in REQUIRED:
                self.assertIn(key, cell)
            self.assertEqual(cell["failures"], [], cell["id"])
            if cell["variant"] == "idle":  # overhead's idle connections: memory, not throughput
                self.assertEqual(cell["idle_connections"], cell["idle_connections_wanted"], cell["id"])
                self.assertIsNotNone(cell["rss_per_connection_bytes"], cell["id"])
                self.assertIsNotNone(cell["fds_per_connection"], f"{cell['id']}: /proc/<pid>/fd was counted")
                continue
            self.assertGreater(cell["rps"], 0, cell["id"])
            if cell["variant"] == "pipeline":  # wrk's latency means nothing with pipelining: none is kept
                self.assertEqual(set(cell["latency_us"].values()), {None}, cell["id"])
                continue
            if cell["mode"] == "pgbench":  # pgbench reports a mean latency, no percentiles
                self.assertGreater(cell["latency_us"]["mean"], 0, cell["id"])
                continue
            self.assertIsNotNone(cell["latency_us"]["p99"], cell["id"])
        for name in ("report.md", "report.html", "results.csv"):
            self.assertTrue((run_dir / name).is_file(), name)
        self.assertEqual([m["name"] for m in doc["manifest"]["models"]], list(self.models_listed()),
                         "the run records the model table the server printed")
        self.assertTrue(list((run_dir / "raw").rglob("*.stdout")))
        self.assertIn(str(run_dir / "report.md"), proc.stdout)
        return doc

    def models_listed(self) -> tuple[str, ...]:
        """The models the server under test lists (--list-models)."""
        return catalog().names

    def stub_processes(self) -> list[str]:
        out = subprocess.run(["pgrep", "-f", str(self.stub)], capture_output=True, text=True)
        return out.stdout.split()

    def check_the_database(self, doc, models, queried):
        """Every model queried the database the lab started, beside pgbench; its CPU was read for each run.
        ``queried``: the servers really query it (cvp-server; the stub makes its rows up)."""
        cells = [c for c in doc["cells"] if c["scenario"] == "db"]
        self.assertEqual({c["variant"] for c in cells}, {"query", "queries", "blocking"})
        for variant in ("query", "queries", "blocking"):
            modes = {c["mode"] for c in cells if c["variant"] == variant}
            self.assertLessEqual(set(models), modes, variant)
            self.assertEqual("pgbench" in modes, variant != "blocking", variant)
        for c in cells:
            d = c["downstream"]
            self.assertEqual(c["errors"]["total"], 0, c["id"])
            if c["mode"] in models:
                used = {k: v for k, v in d["open_per_pool"].items() if (k == "blocking") == (c["variant"] == "blocking")}
                self.assertTrue(used and all(v >= 1 for v in used.values()), f"{c['id']}: {d['open_per_pool']}")
                self.assertEqual(d["faults_total"], 0, c["id"])
            if c["mode"] == "pgbench" or (queried and c["mode"] in models):
                self.assertGreater(d["server_cpu_us_per_request"], 0, f"{c['id']}: the database's CPU was read")
        md = (only_run_dir(self.out) / "report.md").read_text()
        self.assertIn("## db: PostgreSQL through each model's pools", md)


    def check_shared_state(self, doc, models, parallel):
        """shared-state: the counters and accounts read after every run; what no model may do never happened.
        ``parallel``: every model ran two requests at once (the stub's, which plays the race where it has its
        window), so split lost updates and naive transfers deadlocked in each."""
        cells = {(c["variant"], c["mode"]): c for c in doc["cells"] if c["scenario"] == "shared-state"}
        self.assertEqual({v for v, _ in cells}, {"split", "await", "naive", "ordered"})
        for m in models:
            for variant in ("split", "await"):
                c = cells[variant, m]
                st = c["shared_state"]
                self.assertGreater(st["increments"], 0, c["id"])
                self.assertEqual(st["increments"] - st["value"], st["lost"], c["id"])
                self.assertEqual(st["unsettled"], 0, f"{c['id']}: read once the run's connections had closed")
                self.assertTrue(all("counter" in r["after_run"] for r in c["runs"]), f"{c['id']}: every run read")
            naive, ordered = cells["naive", m]["shared_state"], cells["ordered", m]["shared_state"]
            self.assertEqual(ordered["deadlocks"], 0, m)
            self.assertTrue(naive["total_kept"] and ordered["total_kept"], m)
            self.assertGreater(ordered["transfers"], 0, m)
            self.assertGreater(naive["transfers"], 0, f"{m}: one of two deadlocked transfers gets through")
            if m == "single":  # one loop: each request from start to end
                self.assertEqual((cells["split", m]["shared_state"]["lost"], naive["deadlocks"]), (0, 0))
            if m == "single" or parallel:  # overlapping waits, on one thread too
                self.assertGreater(cells["await", m]["shared_state"]["lost"], 0, m)
            if parallel:
                self.assertGreater(cells["split", m]["shared_state"]["lost"], 0, m)
                self.assertGreater(naive["deadlocks"], 0, m)
                self.assertGreater(cells["naive", m]["errors"]["status"], 0, f"{m}: a 409 for each deadlock")
        md = (only_run_dir(self.out) / "report.md").read_text()
        self.assertIn("## shared-state: one counter and two accounts, shared by every thread", md)
        self.assertIn("| shared-state: ordered transfers detect no deadlock, in every model |", md)

    def check_open_loop(self, doc, models):
        """latency: each model's capacity by wrk, then cvp-load at a fraction of it, its extras kept."""
        cells = [c for c in doc["cells"] if c["scenario"] == "latency"]
        caps = {(c["mode"], c["params"]["workload"]): c for c in cells if c["params"]["point"] == "capacity"}
        for m in models:
            for c in (c for c in cells if c["mode"] == m and c["params"].get("fraction")):
                cap = caps[m, c["params"]["workload"]]
                ol = c["open_loop"]
                self.assertEqual(ol["rate_from"], {"cell": cap["id"], "fraction": c["params"]["fraction"]})
                self.assertAlmostEqual(ol["rate_asked"], cap["rps"] * c["params"]["fraction"], delta=0.01)
                self.assertGreater(ol["completed"], 0, c["id"])
                self.assertTrue(any(r.endswith(".json") for r in c["runs"][0]["raw"]), c["id"])
        # the theory's reference and loads ran with /dev/cpu_dma_latency held, where the lab may open it
        held = os.access(pmqos.DEVICE, os.W_OK)
        for c in (c for c in cells if c["params"].get("role")):
            for run in c["runs"]:
                self.assertEqual(run["after_run"]["cpu_dma_latency"]["held"], held, c["id"])


class StubEndToEndTest(LabTestCase):
    """The whole lab against the Python stub: every scenario, both accept strategies, a report."""

    def test_smoke_profile(self):
        proc = run_lab("--smoke", "--server-binary", str(self.stub), "--out", str(self.out), "--no-nginx",
                       "--models", "reactors,pool,threads", "--cvp-load", str(FAKE_LOAD))
        doc = self.assert_complete_run(proc, SCENARIOS - {"overload"})  # offload's alone: test_overload_scenario
        self.assertIn({"scenario": "overload", "what": "the scenario", "reason": "offload was not chosen"},
                      doc["skipped"])
        run_dir = only_run_dir(self.out)
        for chart in ("plaintext", "overhead", "latency", "io", "io_footprint", "downstream", "db", "cpu", "mixed",
                      "latency_cpu", "imbalance", "split", "accept", "shared-state-lost", "shared-state-throughput",
                      "shared-state-transfers"):
            self.assertTrue((run_dir / f"{chart}.png").is_file(), chart)
        # Servers with the same spec serve every scenario that needs them: plaintext's serve overhead and cpu
        # at one worker, overhead's PBKDF2 ones serve mixed, imbalance and split; io (whose one point is its
        # most connections, where the RSS is read), /io/block and overhead's idle connections start their own
        # for every run, and reactors its two accept strategies and io's lockstep control.  downstream starts
        # its front servers (calling a downstream: a spec of their own) and the reactors downstream they call.
        started = sorted(p.name.split("-")[1] for p in (run_dir / "raw" / "servers").glob("server-*.stdout"))
        # db starts its own (each queries the database) and, where it has node-postgres, a Node peer.
        node_db = any(c["scenario"] == "db" and c["mode"] == "node" for c in doc["cells"])
        node = ["node"] * (3 + node_db) if HAVE_NODE else []  # overhead on one CPU, its idle run, PBKDF2 on two
        # cpu (its one point, at one worker), mixed and split record their timeline (--timeline): servers of their
        # own, cpu's at one worker and mixed and split sharing theirs, two more per model.
        self.assertEqual(started, node + ["pool"] * 9 + ["reactors"] * 13 + ["threads"] * 9)
        cells = {c["id"]: c for c in doc["cells"]}
        for mode in ("reactors", "pool", "threads"):  # the stub records intervals and counts its loop's lag
            for cid in (f"cpu/{mode}/w1", f"mixed/io/{mode}/c10", f"split/{mode}/k2"):
                self.assertTrue(cells[cid]["timeline"]["workers"], cid)
                self.assertTrue(any(w["events"] for w in cells[cid]["timeline"]["workers"]), cid)
            self.assertGreater(cells[f"mixed/io/{mode}/c10"]["loop_health"]["lag"]["ticks"], 0, mode)
        md = (run_dir / "report.md").read_text()
        self.assertIn("## What the models do with the work", md)
        for chart in ("timeline-lead", "timeline-cpu", "timeline-mixed", "timeline-split", "lag-mixed", "lag-io-sleep"):
            self.assertTrue((run_dir / f"{chart}.png").is_file(), chart)
        # Each cvp server's dashboard was printed once, at the address its start-up line gave.
        listening = sorted(f"http://{p.read_text().split('listening=')[1].split()[0]}/dashboard"
                           for p in (run_dir / "raw" / "servers").glob("server-*.stdout")
                           if not p.name.startswith("server-node-"))
        self.assertEqual(sorted(re.findall(r"^  \.\. dashboard: (\S+) ", proc.stdout, flags=re.M)), listening)
        overhead = {(c["variant"], c["mode"]) for c in doc["cells"] if c["scenario"] == "overhead"}
        peers = {"node"} if HAVE_NODE else set()
        for variant in ("plaintext", "json", "pipeline", "idle", "pbkdf2"):
            self.assertEqual({m for v, m in overhead if v == variant}, {"reactors", "pool", "threads"} | peers, variant)
        self.assertIn("RSS per idle keep-alive connection", (run_dir / "report.md").read_text())
        # The stub holds one socket per connection (asyncio): its idle connections count one descriptor each.
        for c in doc["cells"]:
            if c["variant"] == "idle" and c["mode"] in catalog().names:
                self.assertAlmostEqual(c["fds_per_connection"], 1.0, delta=0.05, msg=c["id"])
        accept = [c for c in doc["cells"] if c["scenario"] == "accept"]
        self.assertEqual({c["variant"] for c in accept}, {"round-robin", "reuseport"})
        self.assertTrue(all(c["per_worker"] and {w["kind"] for w in c["per_worker"]} == {"loop"} for c in accept))
        self.assertEqual(self.stub_processes(), [], "no server left running")
        self.check_what_the_servers_said(doc)
        self.check_the_downstream_calls(doc)
        self.check_the_database(doc, ["reactors", "pool", "threads"], queried=False)
        self.check_open_loop(doc, ["reactors", "pool", "threads"])
        self.check_shared_state(doc, ["reactors", "pool", "threads"], parallel=True)

    def check_the_downstream_calls(self, doc):
        """Every front server called the downstream through its pools: /stats figures and the downstream's CPU."""
        cells = [c for c in doc["cells"] if c["scenario"] == "downstream"]
        self.assertEqual({c["mode"] for c in cells}, {"reactors", "pool", "threads"})
        for c in cells:
            d = c["downstream"]
            self.assertEqual(c["path"], "/io/http?ms=19..21", c["id"])
            self.assertEqual(c["errors"]["total"], 0, c["id"])
            self.assertEqual(d["pools"], 2 if c["mode"] == "reactors" else 1, f"{c['id']}: per loop, or shared")
            self.assertGreaterEqual(d["open"], 1, c["id"])
            self.assertLessEqual(d["open"], d["capacity"], c["id"])
            self.assertEqual(d["capacity"], d["pools"] * 10, "--upstream-connections: the connections")
            self.assertEqual(d["faults_total"], 0, c["id"])
            self.assertGreater(d["server_cpu_us_per_request"], 0, f"{c['id']}: the downstream's CPU was read")
            self.assertIn("reactors", c["server"]["upstream"]["description"])
            self.assertTrue(d["origin"].startswith("http://127.0.0.1:"), d["origin"])
            self.assertEqual(c["runs"][0]["downstream"]["origin"], d["origin"])
        md = (only_run_dir(self.out) / "report.md").read_text()
        self.assertIn("## downstream: a real call through a pool of keep-alive connections", md)
        self.assertIn("| /io/http at c=1,000 with a 100 ms downstream: single reaches ≥ 97% of the Little's-law bound "
                      "| - | not measured |", md)

    def check_what_the_servers_said(self, doc):
        """Parallelism, worker kinds, the io footprint and imbalance, as the stub reported them."""
        cells = {c["id"]: c for c in doc["cells"]}
        self.assertEqual(cells["io/sleep/threads/c10"]["parallelism"], 100 + 64, "--max-connections, as passed")
        self.assertEqual(cells["io/sleep/pool/c10"]["parallelism"], 2)
        self.assertEqual(cells["cpu/pool/w1"]["parallelism"], 1)
        for mode, alive in (("reactors", 2), ("pool", 2), ("threads", 12)):  # threads: acceptor + 10 + /stats
            fp = cells[f"io/sleep/{mode}/c10"]["footprint"]
            self.assertIsNotNone(fp, mode)
            self.assertEqual(fp["connections"], 10)
            self.assertGreater(fp["rss_during_bytes"], 0)
            self.assertIsNotNone(fp["rss_per_connection_bytes"])
            self.assertGreaterEqual(fp["voluntary_switches_per_request"], 0.0)
            self.assertGreaterEqual(fp["threads_seen"], 1)
            self.assertEqual(fp["threads_alive"], alive, mode)
        self.assertIsNone(cells["io/block/threads/c10"].get("footprint"))
        self.assertEqual(cells["io/block/threads/c10"]["littles_law_bound_rps"], 10 / 0.02, "connections ÷ wait")
        self.assertEqual(cells["io/block/pool/c10"]["littles_law_bound_rps"], 2 / 0.02, "threads ÷ wait")
        pool_workers = cells["imbalance/light/pool/c4"]["per_worker"]
        self.assertEqual({w["kind"] for w in pool_workers}, {"pool-thread"})
        self.assertEqual({w["connections_total"] for w in pool_workers}, {None}, "the shared loop's, not a thread's")
        threads_workers = cells["imbalance/light/threads/c4"]["per_worker"]
        self.assertEqual(threads_workers[0]["kind"], "loop")
        self.assertEqual({w["kind"] for w in threads_workers[1:]}, {"connection-thread"})
        for mode in ("reactors", "pool", "threads"):
            light, heavy = cells[f"imbalance/light/{mode}/c4"], cells[f"imbalance/heavy/{mode}/c1"]
            self.assertGreater(light["server_cpus_busy"], 0, mode)
            self.assertEqual(light["server_cpus_busy"], heavy["server_cpus_busy"], "one run, one server")
            self.assertEqual(light["params"]["concurrent_streams"][0]["variant"], "heavy")
            self.assertEqual(light["model"]["name"], mode)

    def test_overload_scenario(self):
        """--scenarios overload alone: saturation, the flood and its control, on the stub's offload pool."""
        proc = run_lab("--smoke", "--server-binary", str(self.stub), "--out", str(self.out), "--scenarios", "overload")
        doc = self.assert_complete_run(proc, {"overload"})
        run_dir = only_run_dir(self.out)
        cells = {c["variant"]: c for c in doc["cells"]}
        self.assertEqual(list(cells), ["saturation", "flood", "flood-nopause"])
        sat, flood, ctrl = cells.values()
        self.assertEqual((sat["connections"], flood["connections"], ctrl["connections"]), (8, 200, 200))
        self.assertEqual(sat["non2xx"], 0, "saturation stays below what the pool admits")
        for c in (flood, ctrl):
            self.assertGreater(c["non2xx"], 0, f"{c['id']}: the flood is refused")
            self.assertEqual(c["non2xx"], c["errors"]["status"])
            self.assertGreater(c["pool_rejected"], 0, "the server's own count, from /stats")
            # runs[].duration_s is rounded to the millisecond
            self.assertAlmostEqual(c["rps"], c["successes"] / c["runs"][0]["duration_s"], delta=max(0.2, c["rps"] / 1e3))
        self.assertIn("--overload-pause 1ms", ctrl["server"]["description"])
        self.assertNotIn("--overload-pause", flood["server"]["description"])
        self.assertIsNotNone(doc["manifest"]["calibration"], "PBKDF2 iterations are calibrated, as for cpu")
        self.assertTrue((run_dir / "overload.png").is_file())
        md = (run_dir / "report.md").read_text()
        self.assertIn("| offload goodput under a 10× flood ≥ 0.8× goodput at saturation |", md)
        self.assertIn("control, `--overload-pause 1ms`", md)
        started = sorted(p.name.split("-")[1] for p in (run_dir / "raw" / "servers").glob("server-*.stdout"))
        self.assertEqual(started, ["offload", "offload"], "one server with the default pause, one without")
        self.assertEqual(self.stub_processes(), [])

    def test_failing_server_is_named_with_its_stderr(self):
        fake = Path(self.tmp.name) / "broken-server"
        # it lists its models as the stub does, and fails to start
        fake.write_text(f"#!/bin/sh\n[ \"$1\" = --list-models ] && exec {self.stub} --list-models\n"
                        "echo 'cvp-server: --max-connections: out of range' >&2\nexit 2\n")
        fake.chmod(0o755)
        proc = run_lab("--smoke", "--server-binary", str(fake), "--out", str(self.out), "--no-nginx",
                       "--scenarios", "plaintext", "--models", "single")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("cvp-server --mode single", proc.stdout)
        self.assertIn("--max-connections: out of range", proc.stdout)
        doc = json.loads((only_run_dir(self.out) / "results.json").read_text())
        self.assertIn("out of range", doc["cells"][0]["failures"][0]["error"])

    def test_failing_wrk_is_named_with_its_stderr(self):
        fake = Path(self.tmp.name) / "wrk"
        fake.write_text("#!/bin/sh\necho 'unable to connect to 127.0.0.1:1 Connection refused' >&2\nexit 1\n")
        fake.chmod(0o755)
        proc = run_lab("--smoke", "--server-binary", str(self.stub), "--wrk", str(fake), "--out", str(self.out),
                       "--no-nginx", "--scenarios", "plaintext", "--models", "single")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("wrk (plaintext single c=8 r1): exited with status 1", proc.stdout)
        self.assertIn("Connection refused", proc.stdout)
        self.assertTrue((only_run_dir(self.out) / "report.md").is_file(), "partial results still get a report")
        self.assertEqual(self.stub_processes(), [])

    def test_ctrl_c_stops_everything_and_keeps_partial_results(self):
        proc = subprocess.Popen([str(LAB), "--quick", "--server-binary", str(self.stub), "--out", str(self.out),
                                 "--no-nginx", "--scenarios", "io", "--warmup", "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        try:
            for line in proc.stdout:
                if "[  1/" in line:  # the first measured run is done; others are under way
                    break
            time.sleep(0.5)
            self.assertTrue(self.stub_processes(), "servers are running before the interrupt")
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        self.assertEqual(proc.returncode, 130, err)
        self.assertIn("interrupted", err)
        self.assertEqual(self.stub_processes(), [], "every server the lab started is gone")
        doc = json.loads((only_run_dir(self.out) / "results.json").read_text())
        self.assertEqual(doc["manifest"]["status"], "interrupted")
        self.assertTrue(any(c["rps"] for c in doc["cells"]), "the finished run is kept")


class CvpServerSmokeTest(LabTestCase):
    """The main command's path on the real server: one tiny cell per scenario and model."""

    def test_smoke_profile_on_cvp_server(self):
        if not (SERVER.is_file() and os.access(SERVER, os.X_OK)):
            message = f"{SERVER} is missing; build it with cmake --preset release && cmake --build --preset release"
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                self.fail(message)
            self.skipTest(message)
        try:
            listed = models.from_binary(SERVER).names
        except models.ModelsError as e:  # a build from before --list-models
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                self.fail(str(e))
            self.skipTest(str(e))
        self.models_listed = lambda: listed
        proc = run_lab("--smoke", "--out", str(self.out))
        doc = self.assert_complete_run(proc, SCENARIOS)
        modes = {c["mode"] for c in doc["cells"]}
        self.assertTrue(set(listed) <= modes)
        self.check_the_database(doc, list(listed), queried=True)
        self.check_open_loop(doc, list(listed))
        self.check_shared_state(doc, list(listed), parallel=False)
        theory = [c for c in doc["cells"] if c["variant"] == "theory" and c.get("open_loop")]
        self.assertTrue(theory, "single's theory cells ran on the real cvp-load")
        for cell in doc["cells"]:
            if cell["mode"] in listed:
                self.assertEqual(cell["server"]["startup"].get("mode"), cell["mode"])
                self.assertGreaterEqual(cell["parallelism"], 1, f"{cell['id']}: the start-up line's parallelism=")
                if cell.get("model"):  # /stats was read: its model object
                    self.assertEqual(cell["model"]["name"], cell["mode"])
                    self.assertEqual(cell["model"]["parallelism"], cell["parallelism"])
                    self.assertLessEqual(set(cell["model"]["worker_kinds"]), KINDS)
                for w in cell.get("per_worker") or []:
                    self.assertIn(w["kind"], KINDS, cell["id"])
            if cell["scenario"] == "io" and cell["variant"] == "sleep":
                self.assertIsNotNone(cell["footprint"], f"{cell['id']}: RSS and context switches at the most "
                                                        "connections")
                self.assertGreater(cell["footprint"]["voluntary_switches_per_request"], 0, cell["id"])
            if cell["scenario"] == "shared-state" and cell["variant"] == "naive":
                continue  # a deadlock detected is answered 409 by design: check_shared_state counts them
            if cell["scenario"] == "overload" and cell["variant"] != "saturation":
                # the flood is refused by design: 503s, counted apart from the goodput
                self.assertGreater(cell["non2xx"], 0, cell["id"])
                self.assertGreater(cell["pool_rejected"], 0, cell["id"])
                continue
            self.assertEqual(cell["errors"]["status"], 0, f"{cell['id']}: non-2xx responses")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):  # scripts/deps installs both peers
            self.assertTrue({"nginx", "node"} <= modes, "the peers join where scripts/deps has run")


if __name__ == "__main__":
    unittest.main()
