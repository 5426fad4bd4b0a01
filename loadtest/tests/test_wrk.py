import unittest
from pathlib import Path

from cvplab.wrk import SCRIPTS_DIR, Stream, WrkResult, command, parse_result

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
