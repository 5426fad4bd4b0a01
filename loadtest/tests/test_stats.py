import unittest

from cvplab.stats import (OVERLOAD_EMPTY, Run, imbalance, implied_concurrency, is_saturated, littles_law_bound,
                          per_worker_delta, pool_delta, spread, steady_state_rps, sum_per_worker, summarize,
                          summarize_overload)


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


class OverloadTest(unittest.TestCase):
    @staticmethod
    def flood(repeat, ok, refused, rejected, server_cpu=1.0, duration=2.0):
        errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": refused}
        return Run(repeat=repeat, rps=ok / duration, requests=ok + refused, duration_s=duration, latency_us={},
                   errors=errors, client_cpu=0.5, client_cpu_s=1.0, server_cpu_s=server_cpu,
                   server_requests=ok + refused, pool={"rejected": rejected, "completed": ok})

    def test_pool_delta(self):
        before = {"pool": {"rejected": 10, "completed": 5, "threads": 2}}
        after = {"pool": {"rejected": 2010, "completed": 805, "threads": 2}}
        self.assertEqual(pool_delta(before, after), {"rejected": 2000, "completed": 800})
        self.assertIsNone(pool_delta({"pool": None}, {"pool": None}), "every model but offload")
        self.assertIsNone(pool_delta(None, after))

    def test_refusals_goodput_and_cpu_per_success(self):
        runs = [self.flood(1, 800, 3600, 3800), self.flood(2, 760, 3700, 3900, server_cpu=1.2),
                self.flood(3, 780, 3500, 3700)]
        out = summarize_overload(runs)
        self.assertEqual((out["successes"], out["non2xx"]), (2340, 10800))
        self.assertEqual((out["non2xx_rps"], out["non2xx_rps_min"], out["non2xx_rps_max"]), (1800.0, 1750.0, 1850.0))
        self.assertEqual((out["pool_rejected"], out["pool_rejected_rps"], out["pool_completed"]), (11400, 1900.0, 2340))
        self.assertEqual(out["server_cpu_us_per_success"], round(1e6 / 780, 2))
        self.assertEqual(out["server_cpu_us_per_success_max"], round(1.2e6 / 760, 2))
        cell = summarize(runs, connections=200, bound_rps=None)
        self.assertEqual(cell["rps"], 390.0, "rps is the goodput: the refused are not in it")
        self.assertEqual(cell["runs"][0]["pool"], {"rejected": 3800, "completed": 800})

    def test_without_a_pool_or_any_run(self):
        r = self.flood(1, 100, 0, 0)
        r.pool = None
        out = summarize_overload([r])
        self.assertEqual((out["pool_rejected"], out["pool_rejected_rps"], out["non2xx_rps"]), (None, None, 0.0))
        self.assertNotIn("pool", r.to_json())
        self.assertEqual(set(OVERLOAD_EMPTY), set(out))
        self.assertEqual(set(OVERLOAD_EMPTY.values()), {None})


if __name__ == "__main__":
    unittest.main()
