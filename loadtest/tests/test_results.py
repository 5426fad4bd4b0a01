import csv
import json
import tempfile
import unittest
from pathlib import Path

from cvplab import RESULTS_SCHEMA_VERSION, results
from cvplab.cells import Measured
from tests.fakes import catalog, synthetic_doc

BASELINE = Path(__file__).resolve().parents[2] / "docs" / "lab" / "baseline-smoke" / "results.json"

REQUIRED = ("scenario", "mode", "connections", "workers", "rps", "latency_us", "errors",
            "server_cpu_us_per_request", "client_cpu", "client_saturated", "littles_law_bound_rps")
IDLE_REQUIRED = ("idle_connections", "idle_connections_wanted", "rss_per_connection_bytes",
                 "rss_per_connection_bytes_min", "rss_per_connection_bytes_max", "rss_before_bytes", "rss_after_bytes")


OVERLOAD_REQUIRED = ("successes", "non2xx", "non2xx_rps", "non2xx_rps_min", "non2xx_rps_max", "pool_rejected",
                     "pool_rejected_rps", "pool_completed", "server_cpu_us_per_success")


#: results.csv's columns before the overhead scenario, which readers may take by position.
OLD_COLUMNS = (
    "id", "scenario", "variant", "mode", "path", "connections", "wrk_threads", "workers", "split", "duration_s",
    "repeats", "rps", "rps_min", "rps_max", "p50_us", "p90_us", "p99_us", "p999_us", "mean_us", "max_us",
    "errors_total", "errors_connect", "errors_read", "errors_write", "errors_timeout", "errors_status",
    "server_cpu_us_per_request", "client_cpu", "client_saturated", "littles_law_bound_rps", "bound_share",
    "concurrency_ratio", "failed")


class ResultsFileTest(unittest.TestCase):
    def setUp(self):
        self.doc = synthetic_doc()
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def test_every_cell_has_the_documented_fields(self):
        for cell in self.doc["cells"]:
            for key in REQUIRED:
                self.assertIn(key, cell.to_json(), f"{cell.id} lacks {key}")
            if cell.variant == "idle":
                for key in IDLE_REQUIRED:
                    self.assertIsNotNone(cell.figure(key), f"{cell.id} lacks {key}")
                self.assertIsNone(cell.latency_us, "an idle cell sends one request per connection: no latency")
                continue
            self.assertEqual(set(cell.latency_us) >= {"p50", "p90", "p99", "p999"}, True)

    def test_ids_are_unique(self):
        ids = [c.id for c in self.doc["cells"]]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertIn("io/sleep/single/c1000", ids)
        self.assertIn("cpu/offload/w2", ids)
        self.assertIn("split/offload/k4", ids)
        self.assertIn("mixed/io/single/c100", ids)
        for id_ in ("overhead/plaintext/nginx/c64", "overhead/json/node/c64", "overhead/pipeline/single/c16",
                    "overhead/pipeline/single/c64", "overhead/idle/reactors/n2000", "overhead/pbkdf2/offload/c8",
                    "overhead/pbkdf2/node/c8", "overload/saturation/offload/c8", "overload/flood/offload/c200",
                    "overload/flood-nopause/offload/c200", "imbalance/light/pool/c16", "imbalance/heavy/threads/c1",
                    "io/block/threads/c1000", "cpu/pool/w2", "overhead/idle/threads/n2000"):
            self.assertIn(id_, ids)

    def test_parallelism_is_what_the_server_said(self):
        by_id = {c.id: c for c in self.doc["cells"]}
        self.assertEqual(by_id["cpu/single/w2"].parallelism, 1)
        self.assertEqual(by_id["cpu/single/w2"].workers, 2, "the point's n, whatever the model does with it")
        self.assertEqual(by_id["cpu/pool/w2"].parallelism, 2)
        self.assertEqual(by_id["cpu/threads/w2"].parallelism, 2064, "its --max-connections")
        self.assertEqual(by_id["cpu/pool/w2"].server["flags"], ["--threads", "2", "--timeline", "4096"])
        self.assertEqual(by_id["cpu/threads/w2"].server["flags"], ["--timeline", "4096"])
        self.assertEqual(by_id["overhead/pbkdf2/node/c8"].parallelism, 2)

    def test_the_blocking_bound_comes_from_the_server_s_parallelism(self):
        by_id = {c.id: c for c in self.doc["cells"]}
        self.assertEqual(by_id["io/block/reactors/c1000"].littles_law_bound_rps, 2 / 0.1)
        self.assertEqual(by_id["io/block/single/c1000"].littles_law_bound_rps, 1 / 0.1)
        self.assertEqual(by_id["io/block/threads/c1000"].littles_law_bound_rps, 1000 / 0.1,
                         "parallelism above the connections: connections ÷ wait")
        from cvplab import plan
        from cvplab.cpus import Placement
        from cvplab.profiles import QUICK
        p = plan.build(plan.Settings(profile=QUICK, scenarios=("io",), models=("pool",), placement=Placement((0,), (1,)),
                                     pbkdf2_iterations=1, max_connections=20_000, catalog=catalog()))
        cell = next(c for c in p.cells if c.loads[0].variant == "block" and c.connections == 1000)
        unknown = results.make_cell(cell, cell.loads[0], [], server_info={}, client_cpus=(1,), repeats_planned=3,
                                    failures=[])
        self.assertIsNone(unknown.littles_law_bound_rps, "no parallelism said, no bound")
        known = results.make_cell(cell, cell.loads[0], [], server_info={"parallelism": "4"}, client_cpus=(1,),
                                  repeats_planned=3, failures=[])
        self.assertEqual((known.parallelism, known.littles_law_bound_rps), (4, 40.0))  # 4 threads ÷ 0.1 s

    def test_footprint_cells(self):
        fps = [c for c in self.doc["cells"] if c.footprint]
        models = ("single", "reactors", "offload", "pool", "threads")
        self.assertEqual({c.id for c in fps}, {f"io/sleep/{m}/c1000" for m in models}
                         | {f"downstream/{m}/c1000" for m in models}, "threads alive while wrk held them")
        for c in fps:
            for key in ("rss_per_connection_bytes", "voluntary_switches_per_request",
                        "involuntary_switches_per_request", "switches_per_request", "threads_alive"):
                self.assertIsNotNone(c.footprint[key], f"{c.id} lacks footprint.{key}")
            self.assertEqual(len([r for r in c.runs if r.get("footprint")]), 3)

    def test_round_trip_and_csv(self):
        results.write(self.dir, self.doc["manifest"], self.doc["cells"], [{"scenario": "io", "what": "x",
                                                                           "reason": "y"}])
        doc = results.load(self.dir / "results.json")
        self.assertEqual(doc["schema_version"], RESULTS_SCHEMA_VERSION)
        self.assertEqual(len(doc["cells"]), len(self.doc["cells"]))
        self.assertEqual(doc["skipped"][0]["reason"], "y")
        with open(self.dir / "results.csv") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), len(self.doc["cells"]))
        self.assertEqual(tuple(rows[0]), results.CSV_COLUMNS)
        io = next(r for r in rows if r["id"] == "io/sleep/single/c1000")
        self.assertEqual(io["littles_law_bound_rps"], "10000.0")
        self.assertEqual(tuple(rows[0])[:len(OLD_COLUMNS)], OLD_COLUMNS, "new columns come after the old ones")
        pipe = next(r for r in rows if r["id"] == "overhead/pipeline/nginx/c16")
        self.assertEqual(pipe["pipeline"], "16")
        flood = next(r for r in rows if r["id"] == "overload/flood-nopause/offload/c200")
        self.assertEqual((flood["overload_pause"], flood["non2xx_rps"], flood["pool_rejected"]), ("1ms", "20000.0", "66000"))
        self.assertEqual(flood["rps"], "40.0", "rps is the goodput")
        self.assertEqual(flood["server_cpu_us_per_success"], "12500.0")
        threads = next(r for r in rows if r["id"] == "io/sleep/threads/c1000")
        self.assertEqual((threads["parallelism"], threads["footprint_rss_per_connection_bytes"],
                          threads["voluntary_switches_per_request"], threads["threads_alive"]),
                         ("2064", "14000.0", "2.1", "1002"))
        light = next(r for r in rows if r["id"] == "imbalance/light/reactors/c16")
        self.assertEqual(light["server_cpus_busy"], "1.2")
        sat = next(r for r in rows if r["id"] == "overload/saturation/offload/c8")
        self.assertEqual((sat["overload_pause"], sat["non2xx"]), ("default", "0"))
        self.assertEqual(next(r for r in rows if r["id"] == "cpu/offload/w2")["non2xx_rps"], "", "overload's alone")
        idle = next(r for r in rows if r["id"] == "overhead/idle/single/n2000")
        self.assertEqual((idle["rps"], idle["p99_us"], idle["idle_connections"]), ("", "", "2000"))
        self.assertEqual(idle["rss_per_connection_bytes"], "900.0")
        self.assertFalse(list(self.dir.glob("*.tmp")))

    def test_unknown_schema_is_refused(self):
        path = self.dir / "results.json"
        path.write_text(json.dumps({"schema_version": 999, "manifest": {}, "cells": []}))
        with self.assertRaisesRegex(ValueError, "schema_version"):
            results.load(path)

    def test_overload_cells_have_the_documented_fields(self):
        cells = [c for c in self.doc["cells"] if c.scenario == "overload"]
        self.assertEqual([c.variant for c in cells], ["saturation", "flood", "flood-nopause"])
        for c in cells:
            for key in OVERLOAD_REQUIRED:
                self.assertIsNotNone(c.figure(key), f"{c.id} lacks {key}")
            self.assertEqual(c.params["admitted"], 18)
            self.assertEqual(c.non2xx, c.errors["status"])
            self.assertEqual(c.successes + c.non2xx, c.requests)
        self.assertNotIn("non2xx_rps", next(c for c in self.doc["cells"] if c.id == "cpu/offload/w2").to_json())

    def test_failed_cell_keeps_its_errors(self):
        from cvplab import plan
        from cvplab.servers import ServerSpec
        from cvplab.wrk import Stream
        cell = plan.Cell("plaintext", ServerSpec("single", (), (0,), 1),
                         (plan.Load(Stream("main", "plaintext.lua", (), 8, 1, 10), None, "/plaintext"),), 1, 1)
        out = results.make_cell(cell, cell.loads[0], [], server_info={}, client_cpus=(1,), repeats_planned=3,
                                failures=[{"repeat": 1, "error": "wrk (plaintext single c=8 r1): exited with status 1"}])
        self.assertIsNone(out.rps)
        self.assertEqual(out.repeats, 0)
        self.assertIn("exited", results.csv_row(out)["failed"])

    def test_failed_overload_cell_has_null_figures(self):
        from cvplab import plan
        from cvplab.cpus import Placement
        from cvplab.profiles import QUICK
        p = plan.build(plan.Settings(profile=QUICK, scenarios=("overload",), models=catalog().names,
                                     placement=Placement((0,), (1,)), pbkdf2_iterations=5000, max_connections=20_000,
                                     catalog=catalog()))
        cell = p.cells[1]
        out = results.make_cell(cell, cell.loads[0], [], server_info={}, client_cpus=(1,), repeats_planned=3,
                                failures=[{"repeat": 1, "error": "cvp-server: died"}])
        self.assertEqual(out.id, "overload/flood/offload/c200")
        for key in OVERLOAD_REQUIRED:
            self.assertIsNone(out.figure(key), key)
        self.assertEqual(results.csv_row(out)["non2xx_rps"], "")



class TypedCellsTest(unittest.TestCase):
    """The report reads the same typed cells the results code writes, and they survive results.json."""

    def test_cells_round_trip_through_results_json(self):
        doc = synthetic_doc()
        self.assertTrue(all(isinstance(c, Measured) for c in doc["cells"]))
        with tempfile.TemporaryDirectory() as tmp:
            results.write(Path(tmp), doc["manifest"], doc["cells"], [])
            back = results.load(Path(tmp) / "results.json")
            raw = json.loads((Path(tmp) / "results.json").read_text())
        self.assertEqual(back["cells"], doc["cells"])
        self.assertEqual([c.to_json() for c in back["cells"]], raw["cells"])
        by_id = {c.id: c.to_json() for c in back["cells"]}
        self.assertIn("fds_per_connection", by_id["overhead/idle/single/n2000"])
        self.assertNotIn("fds_per_connection", by_id["plaintext/single/c64"], "each cell keeps its own keys")
        self.assertNotIn("non2xx", by_id["plaintext/single/c64"])
        self.assertIn("non2xx", by_id["overload/flood/offload/c200"])

    def test_an_old_cell_reads_and_a_key_this_lab_does_not_know_is_kept(self):
        entry = next(c for c in json.loads(BASELINE.read_text())["cells"] if c["variant"] == "idle")
        entry = dict(entry, from_a_later_lab=[1, 2])
        cell = Measured.from_json(entry)
        self.assertIsNone(cell.fds_per_connection, "schema 2 counted no descriptors")
        self.assertTrue(cell.idle)
        self.assertEqual(cell.to_json(), entry)
        with self.assertRaises(AttributeError):
            cell.from_a_later_lab  # noqa: B018 (kept for writing back, not a figure the report reads)


if __name__ == "__main__":
    unittest.main()
