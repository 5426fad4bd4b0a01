import unittest

from cvplab.stats import (OVERLOAD_EMPTY, Run, footprint_delta, implied_concurrency, is_saturated, littles_law_bound,
                          loop_imbalance, model_facts, per_worker_delta, pool_delta, spread, steady_state_rps,
                          sum_per_worker, summarize, summarize_footprint, summarize_overload)


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
        before = {"workers": [{"id": 0, "kind": "loop", "requests": 10, "connections_total": 3, "tasks": 0,
                               "busy_ns": 0},
                              {"id": 1, "kind": "loop", "requests": 5, "connections_total": 1, "tasks": 0,
                               "busy_ns": 0}]}
        after = {"workers": [{"id": 0, "kind": "loop", "requests": 110, "connections_total": 19, "tasks": 4,
                              "busy_ns": 7},
                             {"id": 1, "kind": "loop", "requests": 55, "connections_total": 17, "tasks": 0,
                              "busy_ns": 0},
                             {"id": 2, "kind": "pool-thread", "requests": 0, "connections_total": 0, "tasks": 9,
                              "busy_ns": 90}]}
        d = per_worker_delta(before, after)
        self.assertEqual([w["kind"] for w in d], ["loop", "loop", "pool-thread"])
        self.assertEqual([w["requests"] for w in d], [100, 50, 0])
        self.assertEqual([w["connections_total"] for w in d], [16, 16, 0])
        self.assertEqual(d[2]["tasks"], 9)
        total = sum_per_worker([d, d, None])
        self.assertEqual([w["requests"] for w in total], [200, 100, 0])
        self.assertAlmostEqual(loop_imbalance(total, "requests"), 200 / 150, msg="over the loops only")
        self.assertAlmostEqual(loop_imbalance(total, "connections_total"), 1.0)
        self.assertIsNone(sum_per_worker([None]))

    def test_pool_threads_have_no_connection_counts_of_their_own(self):
        w = {"id": 0, "kind": "pool-thread", "requests": 9, "connections_total": None, "tasks": 3, "busy_ns": 5,
             "connections_open": None}
        d = per_worker_delta({"workers": [dict(w, requests=4, tasks=1, busy_ns=2)]}, {"workers": [w]})
        self.assertEqual(d, [{"id": 0, "kind": "pool-thread", "cpu": None, "requests": 5, "connections_total": None,
                              "tasks": 2, "busy_ns": 3}])
        total = sum_per_worker([d, d])
        self.assertEqual((total[0]["requests"], total[0]["connections_total"]), (10, None))
        self.assertIsNone(loop_imbalance(total, "requests"), "no loop to compare")

    def test_connection_threads_that_appear_or_start_again(self):
        """threads mode: a slot first used during the run counts from 0; a reused slot that restarted counts whole."""
        before = {"workers": [{"id": 0, "kind": "loop", "requests": 0, "connections_total": 0, "tasks": 0,
                               "busy_ns": 0},
                              {"id": 1, "kind": "connection-thread", "requests": 50, "connections_total": 1,
                               "tasks": 0, "busy_ns": 0}]}
        after = {"workers": [before["workers"][0],
                             {"id": 1, "kind": "connection-thread", "requests": 7, "connections_total": 1, "tasks": 0,
                              "busy_ns": 0},
                             {"id": 2, "kind": "connection-thread", "requests": 30, "connections_total": 1,
                              "tasks": 0, "busy_ns": 0}]}
        d = {w["id"]: w for w in per_worker_delta(before, after)}
        self.assertEqual((d[1]["requests"], d[2]["requests"]), (7, 30))
        self.assertEqual(d[2]["connections_total"], 1)


class ModelAndFootprintTest(unittest.TestCase):
    @staticmethod
    def stats(requests, alive=3):
        return {"model": {"name": "threads", "description": "d", "parallelism": 1064, "threads_alive": alive},
                "workers": [{"kind": "loop"}, {"kind": "connection-thread"}, {"kind": "connection-thread"}],
                "totals": {"requests": requests}}

    def test_model_facts(self):
        m = model_facts(self.stats(5))
        self.assertEqual(m, {"name": "threads", "description": "d", "parallelism": 1064, "threads_alive": 3,
                             "worker_kinds": {"loop": 1, "connection-thread": 2}})
        self.assertIsNone(model_facts({"mode": "single"}), "a /stats without model")
        self.assertIsNone(model_facts(None))

    def test_footprint_delta(self):
        before = {"rss_bytes": 10_000_000, "switches": {"7/7": (100, 5), "7/8": (40, 1), "7/9": (500, 9)},
                  "stats": self.stats(1_000), "at_s": 10.0}
        # 7/8 lives on; 7/9 has exited; 7/10 and 7/11 are new; 7/7's counts went down: a new thread with an old id
        during = {"rss_bytes": 12_000_000, "switches": {"7/7": (3, 0), "7/8": (140, 11), "7/10": (60, 2),
                                                         "7/11": (40, 1)},
                  "stats": self.stats(1_200, alive=1002), "at_s": 11.75}
        f = footprint_delta(before, during, 1000)
        self.assertEqual((f["voluntary_switches"], f["involuntary_switches"]), (3 + 100 + 60 + 40, 0 + 10 + 2 + 1))
        self.assertEqual(f["requests"], 200, "the server's own count between the two reads")
        self.assertEqual(f["voluntary_switches_per_request"], round(203 / 200, 4))
        self.assertEqual(f["involuntary_switches_per_request"], round(13 / 200, 4))
        self.assertEqual(f["rss_per_connection_bytes"], 2000.0)
        self.assertEqual((f["threads_alive"], f["threads_seen"], f["sampled_after_s"]), (1002, 4, 1.75))
        nothing = footprint_delta(before, dict(during, stats=self.stats(1_000)), 1000)
        self.assertIsNone(nothing["voluntary_switches_per_request"], "no request between the samples")

    def test_summarize_footprint(self):
        runs = []
        for i, (rss, vol) in enumerate(((2000.0, 1.0), (2200.0, 1.5), (1900.0, 0.5))):
            r = run(i + 1, 100, 1000)
            r.footprint = {"connections": 1000, "rss_before_bytes": 1, "rss_during_bytes": 2,
                           "rss_per_connection_bytes": rss, "voluntary_switches_per_request": vol,
                           "involuntary_switches_per_request": 0.1, "threads_alive": 1002, "threads_seen": 1002,
                           "sampled_after_s": 1.75}
            runs.append(r)
        s = summarize_footprint(runs)
        self.assertEqual((s["rss_per_connection_bytes"], s["rss_per_connection_bytes_min"],
                          s["rss_per_connection_bytes_max"]), (2000.0, 1900.0, 2200.0))
        self.assertEqual((s["switches_per_request"], s["switches_per_request_min"], s["switches_per_request_max"]),
                         (1.1, 0.6, 1.6))
        self.assertEqual((s["connections"], s["repeats"], s["threads_alive"]), (1000, 3, 1002))
        self.assertEqual(summarize(runs, connections=1000, bound_rps=None)["footprint"], s)
        self.assertIsNone(summarize_footprint([run(1, 100, 1000)]))
        self.assertIn("footprint", runs[0].to_json())
        self.assertNotIn("footprint", run(1, 100, 1000).to_json())


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

    def test_cpus_busy_over_the_wall_time_around_the_run(self):
        r = run(1, 100, 1000, server_cpu=2.3)
        r.server_wall_s = 2.3 + 0.0  # both streams of a two-stream cell inside it
        self.assertAlmostEqual(r.server_cpus_busy, 1.0)
        self.assertEqual(r.to_json()["server_cpus_busy"], 1.0)
        r.model = {"threads_alive": 12}
        self.assertEqual(r.to_json()["threads_alive"], 12)

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
