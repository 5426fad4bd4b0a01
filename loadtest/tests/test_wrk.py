import unittest
from pathlib import Path

from cvplab.wrk import SCRIPTS_DIR, Stream, WrkResult, command, parse_non2xx, parse_result

GOOD = ('Running 1s test @ http://127.0.0.1:1/\n  1 threads and 4 connections\n'
        'CVPLAB_RESULT {"requests":6318,"duration_us":1046183,"bytes":587574,'
        '"errors":{"connect":0,"read":1,"write":0,"timeout":2,"status":3},'
        '"latency_us":{"min":73.0,"mean":2655.0,"stdev":6007.1,"max":45883.0,'
        '"p50":362.0,"p90":7964.0,"p99":31885.0,"p999":44559.0}}\n')


class ParseResultTest(unittest.TestCase):
    def test_good_line(self):
        r = parse_result(GOOD)
        self.assertEqual(r["requests"], 6318)
        self.assertAlmostEqual(r["duration_s"], 1.046183)
        self.assertEqual(r["latency_us"]["p999"], 44559.0)
        self.assertEqual(r["errors"], {"connect": 0, "read": 1, "write": 0, "timeout": 2, "status": 3})

    def test_nothing_measured_gives_none(self):
        line = ('CVPLAB_RESULT {"requests":0,"duration_us":1000000,"bytes":0,'
                '"errors":{"connect":4,"read":0,"write":0,"timeout":0,"status":0},'
                '"latency_us":{"min":null,"mean":null,"stdev":null,"max":null,'
                '"p50":null,"p90":null,"p99":null,"p999":null}}')
        r = parse_result(line)
        self.assertIsNone(r["latency_us"]["p50"])
        self.assertEqual(r["errors"]["connect"], 4)

    def test_missing_line(self):
        with self.assertRaisesRegex(ValueError, "done\\(\\) did not run"):
            parse_result("Running 1s test\n")

    def test_two_lines(self):
        with self.assertRaisesRegex(ValueError, "more than one"):
            parse_result(GOOD + GOOD)

    def test_missing_field(self):
        with self.assertRaisesRegex(ValueError, "lacks a field"):
            parse_result('CVPLAB_RESULT {"requests":1,"duration_us":5}')

    def test_bad_json(self):
        with self.assertRaises(ValueError):
            parse_result("CVPLAB_RESULT {not json")

    def test_zero_duration(self):
        with self.assertRaises(ValueError):
            parse_result(GOOD.replace('"duration_us":1046183', '"duration_us":0'))


#: wrk's own summary of a flood that a full pool queue refused, as wrk 4.1 prints it before done()'s line.
FLOOD = ('Running 1s test @ http://127.0.0.1:45287/\n  1 threads and 200 connections\n'
         '  Thread Stats   Avg      Stdev     Max   +/- Stdev\n'
         '    Latency    60.80ms   43.47ms 134.33ms   60.41%\n'
         '    Req/Sec     3.03k   227.92     3.61k    90.00%\n'
         '  3016 requests in 1.02s, 1.08MB read\n'
         '  Non-2xx or 3xx responses: 1820\n'
         'Requests/sec:   2964.16\nTransfer/sec:      1.06MB\n'
         'CVPLAB_RESULT {"requests":3016,"duration_us":1017489,"bytes":1130444,'
         '"errors":{"connect":0,"read":0,"write":0,"timeout":0,"status":1820},'
         '"latency_us":{"min":45.0,"mean":60795.2,"stdev":43470.1,"max":134334.0,'
         '"p50":99321.0,"p90":100278.0,"p99":113149.0,"p999":127750.0}}\n')


class Non2xxTest(unittest.TestCase):
    """wrk's "Non-2xx or 3xx responses: N": goodput is (requests − N) ÷ duration."""

    def test_the_line_is_read_and_agrees_with_done(self):
        self.assertEqual(parse_non2xx(FLOOD), 1820)
        r = parse_result(FLOOD)
        self.assertEqual((r["non2xx"], r["errors"]["status"]), (1820, 1820))

    def test_a_summary_without_the_line_means_none_refused(self):
        clean = FLOOD.replace("  Non-2xx or 3xx responses: 1820\n", "").replace('"status":1820', '"status":0')
        self.assertEqual(parse_non2xx(clean), 0)
        self.assertEqual(parse_result(clean)["non2xx"], 0)

    def test_no_summary_at_all_is_unknown(self):
        self.assertIsNone(parse_non2xx(GOOD.split("\n", 2)[2]))  # done()'s line alone
        self.assertIsNone(parse_result(GOOD.split("\n", 2)[2])["non2xx"])

    def test_a_disagreement_with_done_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "1820 non-2xx or 3xx responses, done\\(\\) says 1000"):
            parse_result(FLOOD.replace('"status":1820', '"status":1000'))

    def test_two_lines_are_an_error(self):
        with self.assertRaisesRegex(ValueError, "more than one"):
            parse_non2xx(FLOOD.replace("Requests/sec", "  Non-2xx or 3xx responses: 5\nRequests/sec"))

    def test_goodput_counts_only_successes(self):
        d = parse_result(FLOOD)
        r = WrkResult(requests=d["requests"], duration_s=d["duration_s"], latency_us=d["latency_us"],
                      errors=d["errors"], cpu_s=0.5, wall_s=1.0, cpus=1, non2xx=d["non2xx"])
        self.assertAlmostEqual(r.rps, (3016 - 1820) / 1.017489)
        self.assertAlmostEqual(r.refused_rps, 1820 / 1.017489)

    def test_the_summary_line_wins_over_done(self):
        r = WrkResult(requests=100, duration_s=1.0, latency_us={}, errors={"status": 0}, cpu_s=0.1, wall_s=1.0,
                      cpus=1, non2xx=40)
        self.assertEqual((r.refused, r.rps), (40, 60))


class CommandTest(unittest.TestCase):
    def test_command_line(self):
        s = Stream("main", "io.lua", ("endpoint=sleep", "ms=50"), 1000, 1, 10)
        argv = command("/usr/bin/wrk", s, "http://127.0.0.1:4000", 3, (1,))
        self.assertEqual(argv[:3], ["taskset", "-c", "1"])
        self.assertIn("-c", argv)
        self.assertEqual(argv[argv.index("-c", 3) + 1], "1000")
        self.assertEqual(argv[argv.index("-d") + 1], "3s")
        self.assertEqual(argv[argv.index("--timeout") + 1], "10s")
        self.assertEqual(argv[argv.index("-s") + 1], str(SCRIPTS_DIR / "io.lua"))
        self.assertEqual(argv[-4:], ["http://127.0.0.1:4000/", "--", "endpoint=sleep", "ms=50"])

    def test_every_scenario_has_a_script(self):
        for name in ("plaintext", "overhead", "pipeline", "io", "cpu", "mixed", "split", "accept", "common"):
            self.assertTrue((SCRIPTS_DIR / f"{name}.lua").is_file(), name)
        self.assertTrue(Path(SCRIPTS_DIR / "common.lua").read_text().count("CVPLAB_RESULT") >= 1)


class WrkResultTest(unittest.TestCase):
    def test_rps_and_client_cpu(self):
        r = WrkResult(requests=3000, duration_s=1.5, latency_us={}, errors={}, cpu_s=0.9, wall_s=1.5, cpus=2)
        self.assertAlmostEqual(r.rps, 2000)
        self.assertAlmostEqual(r.client_cpu, 0.3)

    def test_rejected_responses_are_not_throughput(self):
        r = WrkResult(requests=3000, duration_s=1.0, latency_us={}, errors={"status": 2500}, cpu_s=0.1, wall_s=1.0,
                      cpus=1)
        self.assertAlmostEqual(r.rps, 500)


if __name__ == "__main__":
    unittest.main()
