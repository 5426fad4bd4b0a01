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
        self.assertEqual([c.verdict for c in checks], ["met", "met", "met"], [c.figure for c in checks])
        self.assertIn("reactors 1.92×", checks[0].figure)
        self.assertIn("over whole runs, at 1,000 connections (9,850 of 10,000 req/s)", checks[1].figure)

    def test_unhealthy_run_says_why(self):
        checks = report.expected_checks(synthetic_doc(good=False)["cells"])
        self.assertEqual([c.verdict for c in checks], ["missed", "missed", "missed"])
        cpu, io, mixed = checks
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
        self.assertEqual([c.verdict for c in checks], ["not measured", "met", "not measured"])


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
            for name in ("plaintext", "latency", "io", "cpu", "mixed", "split", "accept"):
                self.assertGreater((out / f"{name}.png").stat().st_size, 5000, name)
            md = (out / "report.md").read_text()
            self.assertIn("![io throughput against connections](io.png)", md)
            self.assertIn("coordinated omission", md)
            self.assertIn("nginx", md)
            self.assertIn("<img", (out / "report.html").read_text())


if __name__ == "__main__":
    unittest.main()
