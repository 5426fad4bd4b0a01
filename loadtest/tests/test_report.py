import importlib.util
import statistics
import tempfile
import unittest
from pathlib import Path

from cvplab import report
from tests.fakes import synthetic_doc

HAVE_MPL = importlib.util.find_spec("matplotlib") is not None


class ChecksTest(unittest.TestCase):
    def test_healthy_run_meets_expectations(self):
        checks = report.expected_checks(synthetic_doc()["cells"])
        self.assertEqual([c.verdict for c in checks], ["met"] * 11, [c.figure for c in checks])
        self.assertIn("reactors 1.92×", checks[0].figure)
        self.assertIn("over whole runs, at 1,000 connections (9,850 of 10,000 req/s)", checks[1].figure)

    def test_unhealthy_run_says_why(self):
        checks = report.expected_checks(synthetic_doc(good=False)["cells"])
        # reactors still beats Node on PBKDF2 in the unhealthy fake; offload does not
        self.assertEqual([c.verdict for c in checks], ["missed"] * 9 + ["met", "missed"])
        cpu, io, mixed = checks[:3]
        self.assertTrue(any("CPUs busy" in w or "of 2 CPUs" in w for w in cpu.why))
        self.assertTrue(any("per request" in w for w in io.why))
        self.assertTrue(any("pool threads" in w for w in mixed.why))

    def test_mixed_miss_names_the_pool_priority(self):
        cells = synthetic_doc(good=False)["cells"]
        off = report.one(report.select(cells, scenario="mixed", variant="io"), mode="offload")
        self.assertNotIn("nice", " ".join(report.check_mixed(cells).why), "unknown for older results")
        for nice, said in (("10", "`--pool-nice 10`, below the loop's priority"), ("0", "at its own priority")):
            off["server"]["startup"]["pool_nice"] = nice
            self.assertIn(said, " ".join(report.check_mixed(cells).why))

    def test_missing_models_are_not_measured(self):
        cells = [c for c in synthetic_doc()["cells"] if c["mode"] == "single"]
        checks = report.expected_checks(cells)
        # without nginx and Node only the idle figure (against 1 KiB, no peer needed) is checked
        self.assertEqual([c.verdict for c in checks], ["not measured", "met", "not measured"] + ["not measured"] * 4
                         + ["met", "not measured", "not measured", "not measured"])


class OverheadChecksTest(unittest.TestCase):
    def setUp(self):
        self.cells = synthetic_doc()["cells"]
        self.rows = {c.name: c for c in report.overhead_checks(self.cells)}

    def test_one_row_per_target(self):
        self.assertEqual(list(self.rows), ["overhead /plaintext", "overhead /json", "overhead pipelined c16",
                                           "overhead pipelined c64", "overhead idle", "overhead PBKDF2 offload",
                                           "overhead PBKDF2 reactors"])
        self.assertEqual(self.rows["overhead pipelined c16"].expectation,
                         "/plaintext pipelined ×16 over 16 connections: cvp's best model ≥ 1.0× nginx")
        self.assertEqual(self.rows["overhead PBKDF2 offload"].expectation,
                         "PBKDF2 8,800 iterations: offload with 2 pool threads ≥ 1.0× Node's libuv pool of 2")

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
        bad = {c.name: c for c in report.overhead_checks(synthetic_doc(good=False)["cells"])}["overhead idle"]
        self.assertEqual((bad.verdict, bad.figure.split(" (")[0]), ("missed", "single 8.4 KiB"))

    def test_misses_say_why(self):
        cells = synthetic_doc(good=False)["cells"]
        nginx = next(c for c in cells if c["id"] == "overhead/pipeline/nginx/c16")
        nginx["client_cpu"], nginx["client_saturated"] = 0.97, True
        rows = {c.name: c for c in report.overhead_checks(cells)}
        row = rows["overhead pipelined c16"]
        self.assertEqual(row.verdict, "missed")
        self.assertIn("wrk was saturated for nginx (up to 97% of its CPU)", " ".join(row.why))
        self.assertIn("wrk shares a CPU", " ".join(rows["overhead PBKDF2 offload"].why))

    def test_ranges_that_straddle_one_are_called_noise(self):
        cells = synthetic_doc()["cells"]
        nginx = next(c for c in cells if c["id"] == "overhead/json/nginx/c64")
        nginx.update(rps=149_000.0, rps_min=140_000.0, rps_max=155_000.0)
        row = {c.name: c for c in report.overhead_checks(cells)}["overhead /json"]
        self.assertIn("straddle 1.0×", " ".join(row.why))

    def test_short_of_connections_and_missing_peers(self):
        cells = [c for c in synthetic_doc()["cells"] if c["mode"] not in ("nginx", "node")]
        single = next(c for c in cells if c["id"] == "overhead/idle/single/n2000")
        single["idle_connections"] = 1500
        rows = {c.name: c for c in report.overhead_checks(cells)}
        self.assertEqual(rows["overhead /plaintext"].verdict, "not measured")
        self.assertIn("needs a measured cell for nginx", rows["overhead /plaintext"].why[0])
        self.assertIn("nginx not measured", rows["overhead idle"].figure)
        self.assertIn("single 1,500 of 2,000", " ".join(rows["overhead idle"].why))

    def test_sentences(self):
        text = " ".join(report.overhead_text(self.cells))
        self.assertIn("/plaintext, 64 conns: cvp's best was single at 150,000 req/s (148,500–151,500), 1.07× nginx "
                      "(140,000) and 3.33× node (45,000).", text)
        self.assertIn("/plaintext pipelined ×16, 16 conns", text)
        self.assertIn("at 2,000 connections, each on a fresh server after one priming request: single 900 B", text)
        self.assertIn("Against Node's libuv pool of 2: reactors 1.07× and offload 1.03×.", text)

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
        return next(c for c in self.cells if c["scenario"] == "overload" and c["variant"] == variant)

    def test_the_row_has_the_ratio_its_range_and_the_control(self):
        row = report.check_overload(self.cells)
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
        row = report.check_overload(synthetic_doc(good=False)["cells"])
        self.assertEqual((row.verdict, row.figure.split(":")[0]), ("missed", "0.50× (0.49–0.51)"))

    def test_the_verdict_and_its_reasons_follow_the_data(self):
        flood = self.cell("flood")
        flood.update(rps=330.0, rps_min=300.0, rps_max=360.0, client_cpu=0.95, client_saturated=True)
        row = report.check_overload(self.cells)
        self.assertEqual(row.verdict, "met")
        why = " ".join(row.why)
        self.assertIn("straddles 0.8×", why)
        self.assertIn("wrk was saturated for flood", why)
        flood["non2xx"] = 0
        self.assertIn("the flood got no refusal", " ".join(report.check_overload(self.cells).why))

    def test_a_ratio_just_below_the_target_is_not_rounded_onto_it(self):
        flood = self.cell("flood")
        flood.update(rps=319.2, rps_min=319.2, rps_max=319.2)
        flood["server"]["startup"]["pool_nice"] = "10"
        row = report.check_overload(self.cells)
        self.assertEqual((row.verdict, row.figure.split(" (")[0]), ("missed", "0.798×"))
        self.assertIn("the pool threads run `--pool-nice 10` below the loop", " ".join(row.why))

    def test_not_measured_without_the_saturation_point(self):
        cells = [c for c in self.cells if c.get("variant") != "saturation"]
        row = report.check_overload(cells)
        self.assertEqual(row.verdict, "not measured")
        self.assertIn("saturation", row.why[0])
        no_control = [c for c in self.cells if c.get("variant") != "flood-nopause"]
        self.assertTrue(report.check_overload(no_control).figure.endswith("; control not measured"))

    def test_sentences_and_table(self):
        text = " ".join(report.overload_text(self.cells))
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
        rows = report.overload_rows(self.cells)
        self.assertEqual([r[0] for r in rows], ["saturation", "flood, default pause", "flood, pause off"])
        self.assertEqual(rows[1][2:6], ["default", "380 req/s (376–384)", "0.95× (0.93–0.97)", "1,800 (1,800–1,800)"])
        self.assertEqual(rows[2][-1], "30%")
        self.assertEqual(len(rows[0]), len(report.OVERLOAD_HEADER))

    def test_refusals_are_figures_not_problems_except_at_saturation(self):
        doc = synthetic_doc()
        items = " ".join(b for block in report.problems(doc) for b in (block.items or []))
        self.assertNotIn("overload/flood", items)
        sat = next(c for c in doc["cells"] if c["id"] == "overload/saturation/offload/c8")
        sat["errors"] = dict(sat["errors"], status=3, total=3)
        items = " ".join(b for block in report.problems(doc) for b in (block.items or []))
        self.assertIn("overload/saturation/offload/c8: 3 errors (status 3)", items)

    def test_summary_rows_flag_the_refusals(self):
        rows = {(r[0], r[1]): r for r in report.summary_rows(self.cells)}
        self.assertEqual(rows[("overload", "flood-nopause")][-1], "non-2xx 20,000/s")


class SentencesTest(unittest.TestCase):
    def setUp(self):
        self.cells = synthetic_doc()["cells"]

    def test_cpu_sentence_is_computed(self):
        text = " ".join(report.cpu_text(report.select(self.cells, scenario="cpu")))
        self.assertIn("reactors served 1.92× single on cpu with 2 workers", text)
        self.assertIn("Scaling efficiency at 2 workers", text)

    def test_io_sentence(self):
        text = " ".join(report.io_text(report.select(self.cells, scenario="io", variant="sleep"),
                                       report.select(self.cells, scenario="io", variant="block")))
        self.assertIn("single reached 98.0% of the Little's-law bound in steady state (98.5% over whole runs: "
                      "9,850 of 10,000 req/s)", text)
        self.assertIn("threads ÷ wait", text)

    def test_cpu_work_per_request_is_the_measured_one(self):
        doc = synthetic_doc()
        measured = sorted(c["server_cpu_us_per_request"] for c in report.select(doc["cells"], scenario="cpu"))
        estimate = doc["manifest"]["calibration"]["expected_ms"]
        self.assertNotAlmostEqual(statistics.median(measured) / 1000, estimate, places=1, msg="the test tells them apart")
        self.assertEqual(report._work_ms(doc), f"{statistics.median(measured) / 1000:.1f} ms")
        doc["cells"] = [c for c in doc["cells"] if c["scenario"] != "cpu"]
        self.assertEqual(report._work_ms(doc), "5.0 ms", "without cpu cells, the calibration's estimate")

    def test_io_lockstep_control_is_compared_with_varied_waits(self):
        lockstep = report.select(self.cells, scenario="io", variant="sleep-lockstep")
        self.assertEqual([c["mode"] for c in lockstep], ["single"])
        text = " ".join(report.io_text(report.select(self.cells, scenario="io", variant="sleep"), [], lockstep))
        self.assertIn("With every wait exactly 100 ms instead of 100 ± 5 ms, single at 1,000 connections reached "
                      "94.3% of the bound in steady state instead of 98.0%, with a mean latency +6.0% over the wait "
                      "instead of +2.0%.", text)
        self.assertIn("Identical waits put closed-loop clients in step", text)

    def test_io_lockstep_explanation_only_when_the_control_is_clearly_lower(self):
        sleep = report.select(self.cells, scenario="io", variant="sleep")
        lockstep = [dict(c) for c in report.select(self.cells, scenario="io", variant="sleep-lockstep")]
        varied = report.one(sleep, mode="single", connections=1000)
        for c in lockstep:  # the control as good as the varied waits, within noise
            c["littles_law"] = dict(c["littles_law"], steady_bound_share=varied["littles_law"]["steady_bound_share"])
        text = " ".join(report.io_text(sleep, [], lockstep))
        self.assertIn("With every wait exactly 100 ms", text)
        self.assertNotIn("in step", text)
        self.assertIn("made no clear difference", text)
        for c in lockstep:  # the control clearly better: noise, not lockstep
            c["littles_law"]["steady_bound_share"] += 0.05
        text = " ".join(report.io_text(sleep, [], lockstep))
        self.assertNotIn("made no clear difference", text)
        self.assertIn("did better than varied ones", text)

    def test_io_check_names_the_wait_spread_and_the_control(self):
        io = report.expected_checks(self.cells)[1]
        self.assertIn("each wait is drawn from 100 ± 5 ms", " ".join(io.why))
        self.assertIn("the control with every wait exactly 100 ms reached 94.3%", " ".join(io.why))

    def test_accept_sentence_shows_imbalance(self):
        text = " ".join(report.accept_text(report.select(self.cells, scenario="accept")))
        self.assertIn("reuseport: connections per loop 33/63", text)
        self.assertIn("round-robin: connections per loop 48/48 (max ÷ mean 1.00)", text)

    def test_summary_table_has_a_line_per_cell(self):
        lines = report.summary_table(self.cells).splitlines()
        self.assertEqual(len(lines), len(self.cells) + 2)
        self.assertTrue(lines[0].startswith("scenario"))


class RenderTest(unittest.TestCase):
    def test_markdown_and_html(self):
        blocks = [report.h(1, "T"), report.p("a `b` <c>"), report.ul(["x"]), report.table(["h|1", "h2"], [["1", "2"]]),
                  report.img("x.png", "alt")]
        md = report.to_markdown(blocks)
        self.assertIn("# T", md)
        self.assertIn("![alt](x.png)", md)
        html = report.to_html(blocks, "T")
        self.assertIn("<code>b</code> &lt;c&gt;", html)
        self.assertIn('<img src="x.png" alt="alt">', html)

    @unittest.skipUnless(HAVE_MPL, "matplotlib is not available to this Python (Debian: python3-matplotlib)")
    def test_full_report_from_synthetic_results(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            report.write(out, synthetic_doc())
            for name in ("plaintext", "overhead", "latency", "io", "cpu", "mixed", "split", "accept", "overload"):
                self.assertGreater((out / f"{name}.png").stat().st_size, 5000, name)
            md = (out / "report.md").read_text()
            self.assertIn("![io throughput against connections](io.png)", md)
            self.assertIn("coordinated omission", md)
            self.assertIn("nginx", md)
            self.assertIn("<img", (out / "report.html").read_text())
            self.assertIn("## overload: goodput under a flood", md)
            self.assertIn("| flood, pause off | 200 | 1ms |", md)


if __name__ == "__main__":
    unittest.main()
