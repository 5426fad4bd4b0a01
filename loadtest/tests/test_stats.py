import unittest

from cvplab.stats import (Run, imbalance, implied_concurrency, is_saturated, littles_law_bound, per_worker_delta,
                          spread, steady_state_rps, sum_per_worker, summarize)


def run(repeat, rps, p99, *, mean=50_500.0, cpu=0.95, server_cpu=1.0, requests=None, duration=3.0, workers=None):
    requests = requests if requests is not None else int(rps * duration)
    lat = {"p50": 50_200.0, "p90": 50_400.0, "p99": p99, "p999": p99 + 100, "mean": mean, "max": p99 + 500}
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 1, "status": 0}
    return Run(repeat=repeat, rps=rps, requests=requests, duration_s=duration, latency_us=lat, errors=errors,
               client_cpu=cpu, client_cpu_s=cpu * duration, server_cpu_s=server_cpu, server_requests=requests,
               per_worker=workers)


class SpreadTest(unittest.TestCase):
    def test_median_min_max(self):
        self.assertEqual(spread([3.0, 1.0, 2.0]), (2.0, 1.0, 3.0))
        self.assertEqual(spread([4.0, 1.0]), (2.5, 1.0, 4.0))

    def test_ignores_none(self):
        self.assertEqual(spread([None, 5.0]), (5.0, 5.0, 5.0))
        self.assertEqual(spread([None]), (None, None, None))


class LittlesLawTest(unittest.TestCase):
    def test_timer_bound_is_connections_over_wait(self):
        self.assertEqual(littles_law_bound(1000, 50), 20_000)
        self.assertEqual(littles_law_bound(10_000, 1000), 10_000)

    def test_blocking_bound_is_threads_over_wait(self):
        self.assertEqual(littles_law_bound(1000, 50, threads=2), 40)
        self.assertEqual(littles_law_bound(1, 50, threads=4), 20)

    def test_bad_wait(self):
        with self.assertRaises(ValueError):
            littles_law_bound(10, 0)

    def test_steady_state_rps(self):
        self.assertAlmostEqual(steady_state_rps(1000, 100_500), 1000 / 0.1005)
        self.assertIsNone(steady_state_rps(1000, None))

    def test_implied_concurrency(self):
        self.assertAlmostEqual(implied_concurrency(20_000, 50_000), 1000)
        self.assertIsNone(implied_concurrency(20_000, None))


class SaturationTest(unittest.TestCase):
    def test_threshold(self):
        self.assertTrue(is_saturated(0.9))
        self.assertTrue(is_saturated(1.02))
        self.assertFalse(is_saturated(0.89))
        self.assertFalse(is_saturated(None))


class PerWorkerTest(unittest.TestCase):
    def test_delta_and_sum(self):
        before = {"workers": [{"id": 0, "role": "loop", "requests": 10, "connections_total": 3, "tasks": 0,
                               "busy_ns": 0},
                              {"id": 1, "role": "loop", "requests": 5, "connections_total": 1, "tasks": 0,
                               "busy_ns": 0}]}
        after = {"workers": [{"id": 0, "role": "loop", "requests": 110, "connections_total": 19, "tasks": 4,
                              "busy_ns": 7},
                             {"id": 1, "role": "loop", "requests": 55, "connections_total": 17, "tasks": 0,
                              "busy_ns": 0},
                             {"id": 2, "role": "pool", "requests": 0, "connections_total": 0, "tasks": 9,
                              "busy_ns": 90}]}
        d = per_worker_delta(before, after)
        self.assertEqual([w["requests"] for w in d], [100, 50, 0])
        self.assertEqual([w["connections_total"] for w in d], [16, 16, 0])
        self.assertEqual(d[2]["tasks"], 9)
        total = sum_per_worker([d, d, None])
        self.assertEqual([w["requests"] for w in total], [200, 100, 0])
        self.assertAlmostEqual(imbalance(total, "requests"), 200 / 150)
        self.assertAlmostEqual(imbalance(total, "connections_total"), 1.0)
        self.assertIsNone(sum_per_worker([None]))


class SummarizeTest(unittest.TestCase):
    def test_cell_figures(self):
        runs = [run(1, 19_500, 52_000), run(2, 19_800, 51_000), run(3, 19_600, 60_000, cpu=0.5)]
        s = summarize(runs, connections=1000, bound_rps=20_000)
        self.assertEqual((s["rps"], s["rps_min"], s["rps_max"]), (19_600, 19_500, 19_800))
        self.assertEqual(s["latency_us"]["p99"], 52_000)
        self.assertEqual(s["latency_us_max"]["p99"], 60_000)
        self.assertEqual(s["errors"]["timeout"], 3)
        self.assertEqual(s["errors"]["total"], 3)
        self.assertEqual(s["requests"], sum(r.requests for r in runs))
        self.assertAlmostEqual(s["littles_law"]["bound_share"], 0.98)
        self.assertAlmostEqual(s["littles_law"]["implied_connections"], 19_600 * 0.0505, places=0)
        self.assertAlmostEqual(s["littles_law"]["concurrency_ratio"], 0.9898, places=3)
        self.assertAlmostEqual(s["littles_law"]["steady_rps"], 1000 / 0.0505, places=0)
        self.assertAlmostEqual(s["littles_law"]["steady_bound_share"], 0.05 / 0.0505, places=3)
        self.assertEqual(s["client_cpu"], 0.95)
        self.assertTrue(s["client_saturated"])
        self.assertAlmostEqual(s["server_cpu_us_per_request"], 1e6 / (19_600 * 3), places=1)
        self.assertAlmostEqual(s["server_cpus_busy"], 1 / 3, places=3)
        self.assertEqual(len(s["runs"]), 3)

    def test_no_bound(self):
        s = summarize([run(1, 100, 10_000, cpu=0.1)], connections=8, bound_rps=None)
        self.assertIsNone(s["littles_law_bound_rps"])
        self.assertIsNone(s["littles_law"]["bound_share"])
        self.assertFalse(s["client_saturated"])


if __name__ == "__main__":
    unittest.main()
