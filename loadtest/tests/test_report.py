import dataclasses
import importlib.util
import statistics
import tempfile
import unittest
from pathlib import Path

from cvplab import query, render, report
from cvplab.scenarios import accept, cpu, imbalance, io, mixed, overhead, overload, plaintext, split
from tests.fakes import change, synthetic_doc

HAVE_MPL = importlib.util.find_spec("matplotlib") is not None


#: Every scenario's rows, in the registry's (the report's) order.
CHECKS = ["overhead /plaintext", "overhead /json", "overhead pipelined c16", "overhead pipelined c64", "overhead idle",
          "overhead idle descriptors", "overhead PBKDF2 offload", "overhead PBKDF2 reactors",
          "io", "io block threads", "io footprint", "io descriptors", "downstream",
          "db query node", "db query pgbench", "db queries node", "cpu", "cpu pool, threads", "cpu timeline single",
          "cpu timeline parallel", "mixed", "mixed timeline single", "mixed timeline parallel",
          "latency theory", "latency co", "latency schedule", "imbalance", "split timeline single", "shared-state split", "shared-state exact",
          "shared-state await", "shared-state ordered", "shared-state naive", "shared-state total", "overload"]


class ChecksTest(unittest.TestCase):
    def test_healthy_run_meets_expectations(self):
        checks = report.expected_checks(synthetic_doc()["cells"])
        self.assertEqual([c.name for c in checks], CHECKS)
        self.assertEqual([c.verdict for c in checks], ["met"] * len(CHECKS), [c.figure for c in checks])
        by = {c.name: c for c in checks}
        self.assertIn("reactors 1.92×", by["cpu"].figure)
        self.assertIn("over whole runs, at 1,000 connections (9,850 of 10,000 req/s)", by["io"].figure)

    def test_unhealthy_run_says_why(self):
        checks = report.expected_checks(synthetic_doc(good=False)["cells"])
        # reactors still beats Node on PBKDF2 in the unhealthy fake; offload does not. The footprint is the same;
        # threads holds 4 descriptors per connection, as before it blocked in read and write.
        verdicts = {c.name: c.verdict for c in checks}
        self.assertEqual({n for n, v in verdicts.items() if v == "met"},
                         {"overhead PBKDF2 reactors", "io footprint"}, verdicts)
        self.assertEqual({n for n, v in verdicts.items() if v != "met"}, set(CHECKS) - {"overhead PBKDF2 reactors",
                                                                                        "io footprint"})
        self.assertEqual(set(verdicts.values()), {"met", "missed"})
        by = {c.name: c for c in checks}
        cpu, io, mixed = by["cpu"], by["io"], by["mixed"]
        self.assertTrue(any("CPUs busy" in w or "of 2 CPUs" in w for w in cpu.why))
        self.assertTrue(any("per request" in w for w in io.why))
        self.assertTrue(any("pool threads" in w for w in mixed.why))

    def test_mixed_miss_names_the_pool_priority(self):
        cells = synthetic_doc(good=False)["cells"]
        off = query.one(query.select(cells, scenario="mixed", variant="io"), mode="offload")
        self.assertNotIn("nice", " ".join(mixed.check_mixed(cells).why), "unknown for older results")
        for nice, said in (("10", "`--pool-nice 10`, below the loop's priority"), ("0", "at its own priority")):
            off.server["startup"]["pool_nice"] = nice
            self.assertIn(said, " ".join(mixed.check_mixed(cells).why))

    def test_missing_models_are_not_measured(self):
        cells = [c for c in synthetic_doc()["cells"] if c.mode == "single"]
        checks = report.expected_checks(cells)
        # without nginx and Node only the idle figure (against 1 KiB, no peer needed) is checked
        verdicts = {c.name: c.verdict for c in checks}
        # and the descriptor counts (one model, no peer needed)
        # and latency's theory check, coordinated omission and the generator's schedule (all on single)
        # and shared-state's, each of which judges single alone (one thread: no lost split, no naive deadlock)
        self.assertEqual({n for n, v in verdicts.items() if v != "not measured"},
                         {"io", "overhead idle", "overhead idle descriptors", "io descriptors", "downstream",
                          "latency theory", "latency co", "latency schedule", "shared-state split",
                          "shared-state exact", "shared-state await", "shared-state ordered", "shared-state naive",
                          "shared-state total", "cpu timeline single", "mixed timeline single", "split timeline single"})
        self.assertEqual((verdicts["io"], verdicts["overhead idle"]), ("met", "met"))


class ChecksOfScenariosNotRunTest(unittest.TestCase):
    def test_a_scenario_without_cells_has_no_rows(self):
        cells = [c for c in synthetic_doc()["cells"] if c.scenario == "io"]
        names = [c.name for c in report.expected_checks(cells)]
        self.assertEqual(names, ["io", "io block threads", "io footprint", "io descriptors"])


class OverheadChecksTest(unittest.TestCase):
    def setUp(self):
        self.cells = synthetic_doc()["cells"]
        self.rows = {c.name: c for c in overhead.overhead_checks(self.cells)}

    def test_one_row_per_target(self):
        self.assertEqual(list(self.rows), ["overhead /plaintext", "overhead /json", "overhead pipelined c16",
                                           "overhead pipelined c64", "overhead idle", "overhead idle descriptors",
                                           "overhead PBKDF2 offload",
                                           "overhead PBKDF2 reactors"])
        self.assertEqual(self.rows["overhead pipelined c16"].expectation,
                         "/plaintext pipelined ×16 over 16 connections: cvp's best model ≥ 1.0× nginx")
        self.assertEqual(self.rows["overhead PBKDF2 offload"].expectation,
                         "PBKDF2 8,800 iterations: offload with parallelism 2 ≥ 1.0× Node's libuv pool of 2")

    def test_best_model_against_the_peer_with_ratio_and_ranges(self):
        row = self.rows["overhead /plaintext"]
        self.assertEqual(row.figure, "single 150,000 req/s (148,500–151,500) against nginx 140,000 req/s "
                                     "(138,600–141,400): 1.07× (1.05–1.09)")
        self.assertEqual(row.verdict, "met")
        self.assertIn("server CPU per request single", " ".join(row.why))
        self.assertIn("against node 600 req/s", self.rows["overhead PBKDF2 reactors"].figure)

    def test_idle_row_puts_nginx_beside_the_best_model(self):
        row = self.rows["overhead idle"]
        self.assertEqual(row.expectation, "RSS per idle keep-alive connection at 2,000 connections: cvp's best model "
                                          "≤ 1 KiB (nginx beside it)")
        self.assertEqual(row.figure, "single 900 B (891 B–909 B); nginx 520 B (515 B–525 B)")
        self.assertEqual(row.verdict, "met")
        bad = {c.name: c for c in overhead.overhead_checks(synthetic_doc(good=False)["cells"])}["overhead idle"]
        self.assertEqual((bad.verdict, bad.figure.split(" (")[0]), ("missed", "single 8.4 KiB"))

    def test_misses_say_why(self):
        cells = synthetic_doc(good=False)["cells"]
        nginx = next(c for c in cells if c.id == "overhead/pipeline/nginx/c16")
        nginx.client_cpu, nginx.client_saturated = 0.97, True
        rows = {c.name: c for c in overhead.overhead_checks(cells)}
        row = rows["overhead pipelined c16"]
        self.assertEqual(row.verdict, "missed")
        self.assertIn("wrk was saturated for nginx (up to 97% of its CPU)", " ".join(row.why))
        self.assertIn("wrk shares a CPU", " ".join(rows["overhead PBKDF2 offload"].why))

    def test_ranges_that_straddle_one_are_called_noise(self):
        cells = synthetic_doc()["cells"]
        nginx = next(c for c in cells if c.id == "overhead/json/nginx/c64")
        change(nginx, rps=149_000.0, rps_min=140_000.0, rps_max=155_000.0)
        row = {c.name: c for c in overhead.overhead_checks(cells)}["overhead /json"]
        self.assertIn("straddle 1.0×", " ".join(row.why))

    def test_short_of_connections_and_missing_peers(self):
        cells = [c for c in synthetic_doc()["cells"] if c.mode not in ("nginx", "node")]
        single = next(c for c in cells if c.id == "overhead/idle/single/n2000")
        single.idle_connections = 1500
        rows = {c.name: c for c in overhead.overhead_checks(cells)}
        self.assertEqual(rows["overhead /plaintext"].verdict, "not measured")
        self.assertIn("needs a measured cell for nginx", rows["overhead /plaintext"].why[0])
        self.assertIn("nginx not measured", rows["overhead idle"].figure)
        self.assertIn("single 1,500 of 2,000", " ".join(rows["overhead idle"].why))

    def test_sentences(self):
        text = " ".join(overhead.overhead_text(self.cells))
        self.assertIn("/plaintext, 64 conns: cvp's best was single at 150,000 req/s (148,500–151,500), 1.07× nginx "
                      "(140,000) and 3.33× node (45,000).", text)
        self.assertIn("/plaintext pipelined ×16, 16 conns", text)
        self.assertIn("at 2,000 connections, each on a fresh server after one priming request: single 900 B", text)
        self.assertIn("Against Node's libuv pool of 2: reactors 1.07×, offload 1.03×, pool 1.05× and threads 1.02×.",
                      text)

    def test_summary_rows(self):
        rows = {(r[0], r[1], r[2], r[3]): r for r in report.summary_rows(self.cells)}
        self.assertIn(("overhead", "pipeline", "nginx", "c=16 ×16"), rows)
        self.assertIn(("overhead", "pbkdf2", "node", "c=8 w=2"), rows)
        self.assertEqual(rows[("overhead", "pipeline", "nginx", "c=16 ×16")][6:9], ["-", "-", "-"],
                         "no latency for pipelined runs")
        idle = rows[("overhead", "idle", "single", "N=2,000")]
        self.assertEqual(idle[4], "-")
        self.assertEqual(idle[-1], "RSS 900 B/conn (891 B–909 B)")


class OverloadReportTest(unittest.TestCase):
    def setUp(self):
        self.cells = synthetic_doc()["cells"]

    def cell(self, variant):
        return next(c for c in self.cells if c.scenario == "overload" and c.variant == variant)

    def test_the_row_has_the_ratio_its_range_and_the_control(self):
        row = overload.check_overload(self.cells)
        self.assertEqual(row.expectation, "offload goodput under a 10× flood ≥ 0.8× goodput at saturation")
        self.assertEqual(row.figure, "0.95× (0.93–0.97): flood (200 conns) 380 req/s (376–384) against saturation "
                                     "(8 conns) 400 req/s (396–404); control, `--overload-pause 1ms`: 0.10× "
                                     "(0.10–0.10)")
        self.assertEqual(row.verdict, "met")
        why = " ".join(row.why)
        self.assertIn("200 connections are 11× the 18 requests it admits (2 running, 16 queued)", why)
        self.assertIn("refused 1,800 times a second, the control 20,000", why)
        self.assertIn("wrk's CPU: saturation 30%, flood 30% and control 30%; wrk shares a CPU", why)
        self.assertIn("server CPU per successful answer: saturation 1.2 ms, flood 1.3 ms and control 12.5 ms", why)

    def test_a_collapsed_flood_is_missed(self):
        row = overload.check_overload(synthetic_doc(good=False)["cells"])
        self.assertEqual((row.verdict, row.figure.split(":")[0]), ("missed", "0.50× (0.49–0.51)"))

    def test_the_verdict_and_its_reasons_follow_the_data(self):
        flood = self.cell("flood")
        change(flood, rps=330.0, rps_min=300.0, rps_max=360.0, client_cpu=0.95, client_saturated=True)
        row = overload.check_overload(self.cells)
        self.assertEqual(row.verdict, "met")
        why = " ".join(row.why)
        self.assertIn("straddles 0.8×", why)
        self.assertIn("wrk was saturated for flood", why)
        flood.non2xx = 0
        self.assertIn("the flood got no refusal", " ".join(overload.check_overload(self.cells).why))

    def test_a_ratio_just_below_the_target_is_not_rounded_onto_it(self):
        flood = self.cell("flood")
        change(flood, rps=319.2, rps_min=319.2, rps_max=319.2)
        flood.server["startup"]["pool_nice"] = "10"
        row = overload.check_overload(self.cells)
        self.assertEqual((row.verdict, row.figure.split(" (")[0]), ("missed", "0.798×"))
        self.assertIn("the pool threads run `--pool-nice 10` below the loop", " ".join(row.why))

    def test_not_measured_without_the_saturation_point(self):
        cells = [c for c in self.cells if c.variant != "saturation"]
        row = overload.check_overload(cells)
        self.assertEqual(row.verdict, "not measured")
        self.assertIn("saturation", row.why[0])
        no_control = [c for c in self.cells if c.variant != "flood-nopause"]
        self.assertTrue(overload.check_overload(no_control).figure.endswith("; control not measured"))

    def test_sentences_and_table(self):
        text = " ".join(overload.overload_text(self.cells))
        self.assertIn("At saturation, over 8 connections, fewer than the 18 requests it admits (2 running, 16 queued), "
                      "offload answered 400 req/s (396–404) and no refusal", text)
        self.assertIn("with the default `--overload-pause`, its goodput was 380 req/s (376–384), 0.95× saturation "
                      "(0.93–0.97), while it refused 1,800 requests a second (wrk's non-2xx responses; the pool counted "
                      "1,980 rejections a second, also those whose answer wrk no longer read", text)
        self.assertIn("What the pause buys: under the same flood, goodput with the default pause is 9.50× (9.31–9.69) "
                      "that with the pause off, and the refusals go from 20,000 to 1,800 a second: each refused", text)
        self.assertIn("wrk (`-t1` on CPU 1) shares a CPU with the server (CPUs 0-1) and used 30% (saturation), 30% "
                      "(flood) and 30% (control) of it.", text)
        self.assertIn("about 2.6% of the flood's count", text)
        rows = overload.overload_rows(self.cells)
        self.assertEqual([r[0] for r in rows], ["saturation", "flood, default pause", "flood, pause off"])
        self.assertEqual(rows[1][2:6], ["default", "380 req/s (376–384)", "0.95× (0.93–0.97)", "1,800 (1,800–1,800)"])
        self.assertEqual(rows[2][-1], "30%")
        self.assertEqual(len(rows[0]), len(overload.OVERLOAD_HEADER))

    def test_refusals_are_figures_not_problems_except_at_saturation(self):
        doc = synthetic_doc()
        items = " ".join(b for block in report.problems(doc) for b in (block.items or []))
        self.assertNotIn("overload/flood", items)
        sat = next(c for c in doc["cells"] if c.id == "overload/saturation/offload/c8")
        sat.errors = dict(sat.errors, status=3, total=3)
        items = " ".join(b for block in report.problems(doc) for b in (block.items or []))
        self.assertIn("overload/saturation/offload/c8: 3 errors (status 3)", items)

    def test_summary_rows_flag_the_refusals(self):
        rows = {(r[0], r[1]): r for r in report.summary_rows(self.cells)}
        self.assertEqual(rows[("overload", "flood-nopause")][-1], "non-2xx 20,000/s")


class SentencesTest(unittest.TestCase):
    def setUp(self):
        self.cells = synthetic_doc()["cells"]

    def test_cpu_sentence_is_computed(self):
        text = " ".join(cpu.cpu_text(query.select(self.cells, scenario="cpu")))
        self.assertIn("reactors served 1.92× single on cpu with 2 workers", text)
        self.assertIn("Scaling efficiency at 2 workers", text)

    def test_io_sentence(self):
        text = " ".join(io.io_text(query.select(self.cells, scenario="io", variant="sleep"),
                                       query.select(self.cells, scenario="io", variant="block")))
        self.assertIn("single reached 98.0% of the Little's-law bound in steady state (98.5% over whole runs: "
                      "9,850 of 10,000 req/s)", text)
        self.assertIn("bounded by min(connections, parallelism) ÷ wait", text)
        self.assertIn("reactors 20.0 req/s (bound 20.0, parallelism 2)", text)
        self.assertIn("threads 9,000 req/s (bound 10,000, parallelism 2,064)", text)

    def test_cpu_work_per_request_is_the_measured_one(self):
        doc = synthetic_doc()
        measured = sorted(c.server_cpu_us_per_request for c in query.select(doc["cells"], scenario="cpu"))
        estimate = doc["manifest"]["calibration"]["expected_ms"]
        self.assertNotAlmostEqual(statistics.median(measured) / 1000, estimate, places=1, msg="the test tells them apart")
        self.assertEqual(cpu.work_ms(doc), f"{statistics.median(measured) / 1000:.1f} ms")
        doc["cells"] = [c for c in doc["cells"] if c.scenario != "cpu"]
        self.assertEqual(cpu.work_ms(doc), "5.0 ms", "without cpu cells, the calibration's estimate")

    def test_io_lockstep_control_is_compared_with_varied_waits(self):
        lockstep = query.select(self.cells, scenario="io", variant="sleep-lockstep")
        self.assertEqual([c.mode for c in lockstep], ["single"])
        text = " ".join(io.io_text(query.select(self.cells, scenario="io", variant="sleep"), [], lockstep))
        self.assertIn("With every wait exactly 100 ms instead of 100 ± 5 ms, single at 1,000 connections reached "
                      "94.3% of the bound in steady state instead of 98.0%, with a mean latency +6.0% over the wait "
                      "instead of +2.0%.", text)
        self.assertIn("Identical waits put closed-loop clients in step", text)

    def test_io_lockstep_explanation_only_when_the_control_is_clearly_lower(self):
        sleep = query.select(self.cells, scenario="io", variant="sleep")
        lockstep = [dataclasses.replace(c) for c in query.select(self.cells, scenario="io", variant="sleep-lockstep")]
        varied = query.one(sleep, mode="single", connections=1000)
        for c in lockstep:  # the control as good as the varied waits, within noise
            c.littles_law = dict(c.littles_law, steady_bound_share=varied.littles_law["steady_bound_share"])
        text = " ".join(io.io_text(sleep, [], lockstep))
        self.assertIn("With every wait exactly 100 ms", text)
        self.assertNotIn("in step", text)
        self.assertIn("made no clear difference", text)
        for c in lockstep:  # the control clearly better: noise, not lockstep
            c.littles_law["steady_bound_share"] += 0.05
        text = " ".join(io.io_text(sleep, [], lockstep))
        self.assertNotIn("made no clear difference", text)
        self.assertIn("did better than varied ones", text)

    def test_io_check_names_the_wait_spread_and_the_control(self):
        io = {c.name: c for c in report.expected_checks(self.cells)}["io"]
        self.assertIn("each wait is drawn from 100 ± 5 ms", " ".join(io.why))
        self.assertIn("the control with every wait exactly 100 ms reached 94.3%", " ".join(io.why))

    def test_accept_sentence_shows_imbalance(self):
        text = " ".join(accept.accept_text(query.select(self.cells, scenario="accept")))
        self.assertIn("reuseport: connections per loop 33/63", text)
        self.assertIn("round-robin: connections per loop 48/48 (max ÷ mean 1.00)", text)

    def test_summary_table_has_a_line_per_cell(self):
        lines = report.summary_table(self.cells).splitlines()
        self.assertEqual(len(lines), len(self.cells) + 2)
        self.assertTrue(lines[0].startswith("scenario"))


class NewModelsTest(unittest.TestCase):
    """What pool and threads show in each scenario, in sentences computed from the cells."""

    def setUp(self):
        self.cells = synthetic_doc()["cells"]

    def cell(self, id_):
        return next(c for c in self.cells if c.id == id_)

    def test_plaintext_sets_them_beside_reactors_and_says_when_it_is_noise(self):
        text = " ".join(plaintext.model_sentences(query.select(self.cells, scenario="plaintext")))
        self.assertIn("pool (parallelism 1) served 57,000 req/s (56,430–57,570), 0.98× reactors' (0.96–1.00; the "
                      "ranges overlap: within this run's noise)", text)
        self.assertIn("threads (parallelism 2,064) served 40,000 req/s (39,600–40,400), 0.69× reactors' (0.68–0.70; "
                      "slower); server CPU per request 12.5 µs against 8.6 µs.", text)
        change(self.cell("plaintext/pool/c64"), rps=70_000.0, rps_min=69_000.0, rps_max=71_000.0)
        text = " ".join(plaintext.model_sentences(query.select(self.cells, scenario="plaintext")))
        self.assertIn("1.21× reactors' (1.18–1.24; faster)", text)

    def test_overhead_against_nginx_and_idle_memory(self):
        text = " ".join(overhead.model_sentences([c for c in self.cells if c.scenario == "overhead"]))
        self.assertIn("pool against nginx: /plaintext, 64 conns 1.02×", text)
        self.assertIn("threads against nginx: /plaintext, 64 conns 0.64×", text)
        self.assertIn("RSS per idle connection 12.0 KiB, 13.67× single's (13.40–13.94; more)", text)

    def test_io_block_threads_is_not_bounded_by_a_pool_unless_the_data_says_otherwise(self):
        sleep, block = (query.select(self.cells, scenario="io", variant=v) for v in ("sleep", "block"))
        text = " ".join(io.model_sentences(sleep, block))
        self.assertIn("threads answered 9,000 req/s, 90.0% of its bound, 10,000 (connections ÷ wait: its parallelism "
                      "2,064 is above the connections), 450.0× the most a model held to a pool of threads could reach "
                      "here (reactors, 20.0 req/s, threads ÷ wait): a thread per connection is not bounded by a pool "
                      "size.", text)
        self.assertIn("pool (parallelism 2) answered 20.0 req/s, 100.0% of its threads ÷ wait", text)
        self.assertIn("With timer waits at 1,000 connections, threads (parallelism 2,064) reached 98.0%", text)
        threads = next(c for c in block if c.id == "io/block/threads/c1000")
        threads.rps = 25.0
        text = " ".join(io.model_sentences(sleep, block))
        self.assertNotIn("not bounded by a pool size", text)
        self.assertIn("here it did not get clearly past a pool's bound", text)

    def test_cpu_and_mixed(self):
        text = " ".join(cpu.model_sentences(query.select(self.cells, scenario="cpu")))
        self.assertIn("At 2 workers pool (parallelism 2 on 2 CPUs) served 380 req/s (376–384): 1.90× single's "
                      "(1.86–1.94; more) and 0.99× reactors' (0.97–1.01; the ranges overlap", text)
        self.assertIn("threads (parallelism 2,064 on 2 CPUs)", text)
        text = " ".join(mixed.model_sentences(query.select(self.cells, scenario="mixed", variant="io")))
        self.assertIn("pool's I/O p99 beside the CPU stream was 70.0 ms (+40% over the sleep): 1.33× offload's "
                      "(1.33–1.33; higher) and 0.88× reactors' (0.88–0.88; lower).", text)
        self.assertIn("threads' I/O p99", text)

    def test_cpu_efficiency_is_against_what_each_model_can_run_at_once(self):
        cells = query.select(self.cells, scenario="cpu")
        single = next(c for c in cells if c.id == "cpu/single/w2")
        threads = next(c for c in cells if c.id == "cpu/threads/w2")
        self.assertEqual((query.parallel_cap(single), query.parallel_cap(threads)), (1, 2),
                         "min(parallelism, CPUs, connections)")
        text = " ".join(cpu.cpu_text(cells))
        self.assertIn("single 100% (ideal ×1)", text)
        self.assertIn("single can run one request at a time (parallelism 1)", text)
        self.assertIn("pool `--threads 2` (parallelism 2) and threads with no flag (parallelism 2,064)", text)

    def test_split_says_which_models_spread_a_request_from_the_data(self):
        sp = query.select(self.cells, scenario="split")
        text = " ".join(split.split_text(sp))
        self.assertIn("offload ran one request's chunks on several threads at once", text)
        self.assertIn("single, reactors, pool and threads did not get 1.2× faster", text)
        pool4 = next(c for c in sp if c.id == "split/pool/k4")
        pool4.latency_us = dict(pool4.latency_us, p50=30_000.0)
        text = " ".join(split.split_text(sp))
        self.assertIn("offload and pool ran one request's chunks on several threads", text)


class FootprintReportTest(unittest.TestCase):
    def setUp(self):
        self.cells = synthetic_doc()["cells"]

    def test_table_and_sentences(self):
        rows = io.footprint_rows(self.cells)
        self.assertEqual([r[0] for r in rows], ["single", "reactors", "offload", "pool", "threads"])
        self.assertEqual(rows[-1][1:], ["1,000", "7.6 MiB → 21.0 MiB", "13.7 KiB (13.5 KiB–13.8 KiB)", "1.00", "2.100",
                                        "0.200", "1,002"])
        text = " ".join(io.footprint_text(self.cells))
        self.assertIn("sampled 1.8 s after wrk started, while it still held every connection", text)
        self.assertIn("RSS per connection single 1.5 KiB, reactors 1.6 KiB", text)
        self.assertIn("threads 2.10 + 0.20", text)
        self.assertIn("threads, with 1,002 threads alive, had 8.75× reactors' (8.58–8.93; more) RSS per connection "
                      "and 4.42× reactors' (4.34–4.51; more) context switches per request. That is where a thread per "
                      "connection pays", text)
        self.assertIn("a thread that exited in between is missed", text)

    def test_the_claim_follows_the_data(self):
        threads = next(c for c in self.cells if c.id == "io/sleep/threads/c1000")
        fp = threads.footprint
        fp.update(rss_per_connection_bytes=1_500.0, rss_per_connection_bytes_min=1_400.0,
                  rss_per_connection_bytes_max=1_700.0)
        text = " ".join(io.footprint_text(self.cells))
        self.assertNotIn("That is where a thread per connection pays", text)
        self.assertIn("0.94× reactors' (0.87–1.07; the ranges overlap: within this run's noise) RSS", text)
        check = io.check_footprint(self.cells)
        self.assertEqual(check.verdict, "missed")
        self.assertIn("the RSS ranges overlap", " ".join(check.why))

    def test_check(self):
        check = io.check_footprint(self.cells)
        self.assertEqual(check.verdict, "met")
        self.assertEqual(check.figure, "at 1,000 connections, RSS per connection threads 13.7 KiB against reactors "
                                       "1.6 KiB; context switches per request threads 2.10 + 0.20 against reactors "
                                       "0.50 + 0.02")
        without = [c for c in self.cells if c.mode != "threads"]
        self.assertEqual(io.check_footprint(without).verdict, "not measured")


class ImbalanceReportTest(unittest.TestCase):
    def setUp(self):
        self.cells = synthetic_doc()["cells"]

    def light(self, mode):
        return next(c for c in self.cells if c.id == f"imbalance/light/{mode}/c16")

    def test_table(self):
        rows = imbalance.imbalance_rows(self.cells)
        self.assertEqual([r[0] for r in rows], ["single", "reactors", "offload", "pool", "threads"])
        self.assertEqual(rows[1], ["reactors", "2.2 ms", "7.2 ms (7.2 ms–7.2 ms)", "7,273", "190", "1.20",
                                   "5.7/0.3 s"])
        self.assertEqual(rows[3][-1], "3.0/3.0 s", "pool's threads shared the heavy work")
        self.assertEqual(len(rows[0]), len(imbalance.IMBALANCE_HEADER))

    def test_sentences(self):
        text = " ".join(imbalance.imbalance_text(self.cells))
        self.assertIn("reactors 2.2 ms/7.2 ms (p99 5.2 ms over the wait)", text)
        self.assertIn("Beside reactors' light p99 of 7.2 ms: single 1.06× reactors' (1.06–1.06; higher), offload 0.33× "
                      "reactors' (0.33–0.33; lower), pool 0.36× reactors' (0.36–0.36; lower) and threads 0.42× "
                      "reactors'", text)
        self.assertIn("reactors' loops spent 5.7/0.3 s on handler work over the repeats (max ÷ mean 1.90): the heavy "
                      "work sat on some loops", text)
        self.assertIn("CPUs kept busy (server CPU ÷ wall time, both streams) of 2: single 1.20", text)
        self.assertIn("heavy-stream throughput: single 190 req/s", text)

    def test_an_even_spread_is_said_as_such(self):
        reactors = self.light("reactors")
        for w in reactors.per_worker:
            w["busy_ns"] = 3_000_000_000
        text = " ".join(imbalance.imbalance_text(self.cells))
        self.assertIn("the heavy work was spread over the loops", text)
        self.assertNotIn("sat on some loops", text)

    def test_check(self):
        check = imbalance.check_imbalance(self.cells)
        self.assertEqual(check.expectation, "imbalance: pool's and offload's light-stream p99 below reactors'")
        self.assertEqual(check.figure, "pool 2.6 ms and offload 2.4 ms against reactors 7.2 ms: pool 0.36× "
                                       "(0.36–0.36) and offload 0.33× (0.33–0.33)")
        self.assertEqual(check.verdict, "met")
        bad = imbalance.check_imbalance(synthetic_doc(good=False)["cells"])
        self.assertEqual(bad.verdict, "missed", "pool's p99 above reactors'")
        without = [c for c in self.cells if c.mode not in ("pool", "offload")]
        self.assertEqual(imbalance.check_imbalance(without).verdict, "not measured")
        only_pool = [c for c in self.cells if c.mode != "offload"]
        row = imbalance.check_imbalance(only_pool)
        self.assertEqual(row.verdict, "met")
        self.assertIn("offload not measured", row.why)


class NewChecksTest(unittest.TestCase):
    def setUp(self):
        self.cells = synthetic_doc()["cells"]

    def test_threads_block_above_the_pools(self):
        row = io.check_block_threads(self.cells)
        self.assertEqual(row.verdict, "met")
        self.assertEqual(row.figure, "threads 9,000 req/s (8,910–9,090) at 1,000 connections, 90.0% of its bound "
                                     "10,000; the pooled models' bound is at most 20.0 req/s (reactors, parallelism 2)")
        self.assertEqual(io.check_block_threads(synthetic_doc(good=False)["cells"]).verdict, "missed")

    def test_pool_and_threads_scale(self):
        row = cpu.check_cpu_new(self.cells)
        self.assertEqual((row.verdict, row.figure), ("met", "pool 1.90× (1.86–1.94) and threads 1.86× (1.82–1.90)"))
        bad = cpu.check_cpu_new(synthetic_doc(good=False)["cells"])
        self.assertEqual(bad.verdict, "missed")
        self.assertIn("pool (parallelism 2) kept", " ".join(bad.why))


class RenderTest(unittest.TestCase):
    def test_markdown_and_html(self):
        blocks = [render.h(1, "T"), render.p("a `b` <c>"), render.ul(["x"]), render.table(["h|1", "h2"], [["1", "2"]]),
                  render.img("x.png", "alt")]
        md = render.to_markdown(blocks)
        self.assertIn("# T", md)
        self.assertIn("![alt](x.png)", md)
        html = render.to_html(blocks, "T")
        self.assertIn("<code>b</code> &lt;c&gt;", html)
        self.assertIn('<img src="x.png" alt="alt">', html)

    def test_bold_outside_code_and_a_table_id(self):
        html = render.to_html([render.p("a **b** `**c**`"), render.table(["h"], [["1"]], id="verdict")], "T")
        self.assertIn("a <strong>b</strong> <code>**c**</code>", html)
        self.assertIn('<table id="verdict"><tr><th>h</th>', html)
        self.assertIn("| h |", render.to_markdown([render.table(["h"], [["1"]], id="verdict")]))

    @unittest.skipUnless(HAVE_MPL, "matplotlib is not available to this Python (Debian: python3-matplotlib)")
    def test_full_report_from_synthetic_results(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            report.write(out, synthetic_doc())
            for name in ("plaintext", "overhead", "latency", "io", "io_footprint", "cpu", "mixed", "imbalance", "split",
                         "accept", "overload"):
                self.assertGreater((out / f"{name}.png").stat().st_size, 5000, name)
            md = (out / "report.md").read_text()
            # It opens with the verdict matrix, the first table, and closes with the lab's self-check.
            sections = [line for line in md.splitlines() if line.startswith("## ")]
            self.assertEqual(sections[0], "## Which model for which work")
            self.assertEqual(sections[-1], "## Self-check: the project's expected results")
            first_table = next(line for line in md.splitlines() if line.startswith("| "))
            self.assertTrue(first_table.startswith("| workload | figure | single | reactors |"), first_table)
            self.assertLess(md.index("## Which model for which work"), md.index("Measured "))
            self.assertIn("![io throughput against connections](io.png)", md)
            self.assertIn("coordinated omission", md)
            self.assertIn("nginx", md)
            self.assertIn("<img", (out / "report.html").read_text())
            self.assertIn("## overload: goodput under a flood", md)
            self.assertIn("| flood, pause off | 200 | 1ms |", md)
            self.assertIn("## imbalance: a few heavy connections among many light ones", md)
            self.assertIn("### io: RSS and descriptors per connection, context switches per request", md)
            self.assertIn("### overhead: RSS and descriptors per idle connection", md)
            self.assertIn("Only reactors runs this scenario: it compares the two ways reactors hands", md)
            self.assertIn("Only offload runs this scenario: only offload has a pool queue", md)


if __name__ == "__main__":
    unittest.main()
