import unittest

from cvplab import plan
from cvplab.cpus import Placement
from cvplab.profiles import FULL, QUICK, SMOKE, cpu_worker_counts
from cvplab.servers import ServerSpec


def settings(profile=QUICK, **kw):
    base = dict(profile=profile, scenarios=plan.SCENARIOS, models=plan.MODELS, placement=Placement((0,), (1,)),
                pbkdf2_iterations=5000, max_connections=20_000)
    base.update(kw)
    return plan.Settings(**base)


class QuickPlanTest(unittest.TestCase):
    def setUp(self):
        self.plan = plan.build(settings())
        self.cells = self.plan.cells

    def of(self, scenario, **where):
        return [c for c in self.cells if c.scenario == scenario
                and all(getattr(c, k, None) == v or c.params.get(k) == v for k, v in where.items())]

    def test_fits_in_five_minutes_on_two_cpus(self):
        self.assertLess(self.plan.estimate_s(), 300)
        self.assertEqual(self.plan.repeats, 3)

    def test_every_scenario_is_there(self):
        self.assertEqual({c.scenario for c in self.cells}, set(plan.SCENARIOS))

    def test_plaintext_is_pinned_apart(self):
        for c in self.of("plaintext"):
            self.assertEqual(c.server.cpus, (0,))
            self.assertEqual(c.workers, 1)

    def test_io_sweeps_sleep_and_block_with_bounds(self):
        sleep = [c for c in self.of("io") if c.loads[0].variant == "sleep"]
        block = [c for c in self.of("io") if c.loads[0].variant == "block"]
        self.assertEqual(sorted({c.connections for c in sleep}), [10, 100, 1000])
        self.assertEqual(len(sleep), len(block))
        single = next(c for c in sleep if c.mode == "single" and c.connections == 1000)
        self.assertEqual(single.loads[0].bound_rps, 1000 / 0.1)
        reactors_block = next(c for c in block if c.mode == "reactors" and c.connections == 1000)
        self.assertEqual(reactors_block.loads[0].bound_rps, 2 / 0.1)
        self.assertTrue(all(c.fresh_server and not c.read_stats for c in block))
        self.assertIn("stagger=1000", single.loads[0].stream.args, "timer waits start spread, not in lockstep")
        self.assertIn("spread=5", single.loads[0].stream.args, "timer waits vary around their mean")
        self.assertEqual(single.params, {"wait_ms": 100, "spread_ms": 5})
        self.assertEqual(single.loads[0].path, "/io/sleep?ms=95..105")
        self.assertFalse(any(a.startswith(("stagger", "spread")) for c in block for a in c.loads[0].stream.args))

    def test_io_has_a_lockstep_control_on_one_loop_at_the_most_connections(self):
        (control,) = [c for c in self.of("io") if c.loads[0].variant == "sleep-lockstep"]
        self.assertEqual((control.mode, control.connections), ("single", 1000))
        self.assertIn("spread=0", control.loads[0].stream.args)
        self.assertEqual(control.params["spread_ms"], 0)
        self.assertEqual(control.loads[0].bound_rps, 1000 / 0.1)

    def test_cpu_gives_the_server_a_cpu_per_worker(self):
        cells = self.of("cpu")
        self.assertEqual(sorted({c.workers for c in cells}), [1, 2])
        for c in cells:
            self.assertEqual(len(c.server.cpus), c.workers)
            if c.mode == "reactors":
                self.assertEqual(c.server.flags, ("--threads", str(c.workers)))
            if c.mode == "offload":
                self.assertEqual(c.server.flags, ("--pool-threads", str(c.workers)))
            if c.mode == "single":
                self.assertEqual(c.server.workers, 1)
        two = [c for c in cells if c.workers == 2]
        self.assertTrue(all(c.notes for c in two), "wrk shares a CPU at 2 workers and says so")

    def test_mixed_has_two_streams_and_a_baseline(self):
        cells = self.of("mixed")
        both = [c for c in cells if len(c.loads) == 2]
        alone = [c for c in cells if len(c.loads) == 1]
        self.assertEqual(len(both), 3)
        self.assertEqual(len(alone), 3)
        for c in both:
            self.assertEqual([l.variant for l in c.loads], ["io", "cpu"])
            self.assertEqual(c.loads[0].bound_rps, 100 / 0.05)
            self.assertEqual([l.start_after_s for l in c.loads], [0.0, plan.MIXED_CPU_START_S])
        self.assertEqual({c.loads[0].variant for c in alone}, {"io-alone"})

    def test_split_is_one_connection(self):
        cells = self.of("split")
        self.assertEqual(sorted({c.params["split"] for c in cells}), [1, 2, 4])
        self.assertTrue(all(c.connections == 1 and c.loads[0].stream.threads == 1 for c in cells))

    def test_accept_compares_strategies(self):
        cells = self.of("accept")
        self.assertEqual([c.loads[0].variant for c in cells], ["round-robin", "reuseport"])
        self.assertIn("reuseport", cells[1].server.flags)

    def test_points_interleave_models(self):
        for g in self.plan.groups:
            for point in g.points:
                controls = {c.loads[0].variant for c in point} == {"sleep-lockstep"}  # one loop only
                if g.scenario != "accept" and not controls:
                    self.assertEqual([c.mode for c in point], list(plan.MODELS))


class OtherPlansTest(unittest.TestCase):
    def test_nginx_joins_plaintext_only(self):
        p = plan.build(settings(nginx=True))
        self.assertEqual([c.scenario for c in p.cells if c.mode == "nginx"], ["plaintext"])

    def test_open_file_limit_caps_the_sweep(self):
        p = plan.build(settings(profile=FULL, max_connections=5000))
        self.assertLessEqual(max(c.connections for c in p.cells if c.scenario == "io"), 5000)
        self.assertTrue(any("open-file" in s["reason"] for s in p.skipped))

    def test_models_subset_drops_accept_without_reactors(self):
        p = plan.build(settings(models=("single", "offload")))
        self.assertNotIn("accept", {c.scenario for c in p.cells})
        self.assertTrue(any(s["scenario"] == "accept" for s in p.skipped))

    def test_target_is_the_only_model(self):
        target = ServerSpec("offload", (), (0, 1), 2)
        p = plan.build(settings(target=target, target_accept="round-robin"))
        self.assertEqual({c.server for c in p.cells}, {target})
        self.assertEqual({c.workers for c in p.cells if c.scenario == "cpu"}, {2})
        reasons = " ".join(s["reason"] for s in p.skipped)
        self.assertIn("remote", reasons)  # no /io/block against a server the lab cannot restart
        self.assertIn("not reactors", reasons)

    def test_smoke_is_tiny(self):
        p = plan.build(settings(profile=SMOKE))
        self.assertEqual(p.repeats, 1)
        self.assertLess(p.estimate_s(), 60)
        keys = {(c.scenario, c.loads[0].variant, c.mode) for c in p.cells}
        self.assertEqual(len(keys), len(p.cells), "one point per scenario, variant and model")

    def test_scenario_subset(self):
        p = plan.build(settings(scenarios=("split",)))
        self.assertEqual({c.scenario for c in p.cells}, {"split"})


class WorkerCountsTest(unittest.TestCase):
    def test_counts(self):
        self.assertEqual(cpu_worker_counts(QUICK, 2), (1, 2))
        self.assertEqual(cpu_worker_counts(QUICK, 1), (1,))
        self.assertEqual(cpu_worker_counts(QUICK, 16), (1, 2, 16))
        self.assertEqual(cpu_worker_counts(FULL, 4), (1, 2, 3, 4))
        self.assertEqual(cpu_worker_counts(FULL, 12), (1, 2, 4, 8, 12))
        self.assertEqual(cpu_worker_counts(SMOKE, 8), (1,))


if __name__ == "__main__":
    unittest.main()
