import unittest

from cvplab import models, peers, plan, scenarios
from cvplab.cpus import Placement
from cvplab.profiles import FULL, QUICK, SMOKE
from cvplab.scenarios import mixed, overload
from cvplab.scenarios.cpu import worker_counts
from cvplab.servers import ServerSpec
from cvplab.timeline import TIMELINE_FLAGS, recorded, without_timeline
from tests.fakes import catalog

#: The models, as the stub server lists them.
MODELS = catalog().names
#: The scenarios about one model's own mechanism: {scenario: (model, why)}.
ONE_MODEL = {s.name: s.one_model for s in scenarios.REGISTRY if s.one_model}


def model_flags(model: str, n: int) -> tuple[str, ...]:
    return catalog().model(model).worker_flags(n)


def settings(profile=QUICK, **kw):
    base = dict(profile=profile, scenarios=scenarios.NAMES, models=MODELS, placement=Placement((0,), (1,)),
                pbkdf2_iterations=5000, max_connections=20_000, catalog=catalog())
    base.update(kw)
    return plan.Settings(**base)


class QuickPlanTest(unittest.TestCase):
    def setUp(self):
        self.plan = plan.build(settings())
        self.cells = self.plan.cells

    def of(self, scenario, **where):
        return [c for c in self.cells if c.scenario == scenario
                and all(getattr(c, k, None) == v or c.params.get(k) == v for k, v in where.items())]

    def test_fits_in_twelve_minutes_on_two_cpus_with_five_models_and_every_peer(self):
        p = plan.build(settings(nginx=True, node=True, node_db=True))
        self.assertEqual(len(MODELS), 5)
        self.assertLess(p.estimate_s(), 720, "the quick profile as a whole stays under 12 minutes (issue 14)")
        self.assertEqual(p.repeats, 3)

    def test_every_scenario_runs_every_model_but_the_one_model_ones(self):
        for scenario in scenarios.NAMES:
            modes = {c.mode for c in self.of(scenario)}
            if scenario in ONE_MODEL:
                self.assertEqual(modes, {ONE_MODEL[scenario][0]}, scenario)
                self.assertIn("other models", ONE_MODEL[scenario][1], "the plan says why")
            else:
                self.assertEqual(modes - set(peers.NAMES), set(MODELS), scenario)

    def test_every_scenario_is_there(self):
        self.assertEqual({c.scenario for c in self.cells}, set(scenarios.NAMES))

    def test_plaintext_is_pinned_apart(self):
        for c in self.of("plaintext"):
            self.assertEqual(c.server.cpus, (0,))
            self.assertEqual(c.workers, 1)

    def test_io_sweeps_sleep_and_block_with_bounds(self):
        sleep = [c for c in self.of("io") if c.loads[0].variant == "sleep"]
        block = [c for c in self.of("io") if c.loads[0].variant == "block"]
        self.assertEqual(sorted({c.connections for c in sleep}), [1000], "quick: the 1,000-connection point alone (full sweeps 10 to 10,000)")
        self.assertEqual(len(sleep), len(block))
        single = next(c for c in sleep if c.mode == "single" and c.connections == 1000)
        self.assertEqual(single.loads[0].bound_rps, 1000 / 0.1)
        threads_block = next(c for c in block if c.mode == "threads" and c.connections == 1000)
        # The blocking bound needs the server's parallelism, which only the server can say (results.make_cell).
        self.assertEqual((threads_block.loads[0].bound_rps, threads_block.loads[0].blocking_wait_ms), (None, 100))
        self.assertTrue(all(c.fresh_server and not c.read_stats for c in block))
        self.assertIn("stagger=1000", single.loads[0].stream.args, "timer waits start spread, not in lockstep")
        self.assertIn("spread=5", single.loads[0].stream.args, "timer waits vary around their mean")
        self.assertEqual(single.params, {"wait_ms": 100, "spread_ms": 5})
        self.assertEqual(single.loads[0].path, "/io/sleep?ms=95..105")
        self.assertFalse(any(a.startswith(("stagger", "spread")) for c in block for a in c.loads[0].stream.args))

    def test_io_at_the_most_connections_reads_the_footprint_on_fresh_servers(self):
        sleep = [c for c in self.of("io") if c.loads[0].variant == "sleep"]
        top = [c for c in sleep if c.connections == 1000]
        self.assertEqual({c.mode for c in top}, set(MODELS))
        self.assertTrue(all(c.footprint and c.fresh_server and c.read_stats for c in top),
                        "RSS from /proc: memory an earlier run freed would stay in a shared server's")
        self.assertFalse(any(c.footprint or c.fresh_server for c in sleep if c.connections < 1000))
        self.assertFalse(any(c.footprint for c in self.of("io") if c.loads[0].variant != "sleep"))
        remote = plan.build(settings(target=ServerSpec("threads", (), (0, 1), 2), scenarios=("io",)))
        self.assertFalse(any(c.footprint or c.fresh_server for c in remote.cells), "no /proc for a remote target")
        self.assertIn("RSS per connection and context switches per request", [s["what"] for s in remote.skipped])

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
            # at the most workers every model also records its work intervals, for the timeline
            timeline = TIMELINE_FLAGS if c.workers == 2 else ()
            self.assertEqual(c.server.flags, model_flags(c.mode, c.workers) + timeline, "flags come from one place")
            self.assertEqual(c.server.workers, c.workers, "the n asked for; the parallelism is the server's to say")
            self.assertEqual(c.duration_s, QUICK.params("cpu").duration_s)
        two = [c for c in cells if c.workers == 2]
        self.assertTrue(all(c.notes for c in two), "wrk shares a CPU at 2 workers and says so")

    def test_mixed_has_two_streams_and_a_baseline(self):
        cells = self.of("mixed")
        both = [c for c in cells if len(c.loads) == 2]
        alone = [c for c in cells if len(c.loads) == 1]
        self.assertEqual(len(both), 5)
        self.assertEqual(len(alone), 5)
        for c in both:
            self.assertEqual([l.variant for l in c.loads], ["io", "cpu"])
            self.assertEqual(c.loads[0].bound_rps, 100 / 0.05)
            self.assertEqual([l.start_after_s for l in c.loads], [0.0, mixed.CPU_START_S])
        self.assertEqual({c.loads[0].variant for c in alone}, {"io-alone"})

    def test_split_is_one_connection(self):
        cells = self.of("split")
        self.assertEqual(sorted({c.params["split"] for c in cells}), [1, 4])
        self.assertTrue(all(c.connections == 1 and c.loads[0].stream.threads == 1 for c in cells))

    def test_imbalance_has_fewer_heavy_connections_than_cpus_beside_many_light_ones(self):
        cells = self.of("imbalance")
        self.assertEqual([c.mode for c in cells], list(MODELS))
        for c in cells:
            light, heavy = c.loads
            self.assertEqual((light.variant, heavy.variant), ("light", "heavy"))
            self.assertEqual((light.stream.connections, heavy.stream.connections), (16, 1))
            self.assertLess(heavy.stream.connections, len(c.server.cpus), "a free CPU for the light stream")
            self.assertEqual(light.stream.args, ("stream=io", "ms=2", "stagger=16"))
            self.assertEqual(heavy.stream.args, ("stream=cpu", "iterations=5000"))
            self.assertEqual((light.start_after_s, heavy.start_after_s), (0.0, mixed.CPU_START_S))
            self.assertEqual(light.bound_rps, 16 / 0.002)
            self.assertEqual((c.server.cpus, c.workers), ((0, 1), 2))
            self.assertEqual(c.params, {"wait_ms": 2, "iterations": 5000, "light_connections": 16,
                                        "heavy_connections": 1})
            self.assertTrue(c.read_stats and c.notes)
        self.assertEqual(cells[0].title, "imbalance light+heavy single c=16+1")
        wide = plan.build(settings(scenarios=("imbalance",), placement=Placement((0, 1, 2, 3), (4, 5, 6, 7))))
        self.assertEqual({(c.loads[0].stream.connections, c.loads[1].stream.connections) for c in wide.cells},
                         {(64, 4)}, "eight light connections per CPU, heavy on half of them")

    def test_accept_compares_strategies(self):
        cells = self.of("accept")
        self.assertEqual([c.loads[0].variant for c in cells], ["round-robin", "reuseport"])
        self.assertIn("reuseport", cells[1].server.flags)

    def test_points_interleave_models(self):
        for g in self.plan.groups:
            for point in g.points:
                controls = {c.loads[0].variant for c in point} == {"sleep-lockstep"}  # one loop only
                pbkdf2 = {c.loads[0].variant for c in point} == {"pbkdf2"}  # reactors and offload only
                # latency's theory check and coordinated omission: single on a CPU of its own
                apart = g.scenario == "latency" and {c.mode for c in point} == {"single"}
                if g.scenario not in ("accept", "overload") and not controls and not pbkdf2 and not apart:
                    self.assertEqual([c.mode for c in point if c.mode not in peers.NAMES], list(MODELS))


class OtherPlansTest(unittest.TestCase):
    def test_peers_join_plaintext_and_overhead_only(self):
        p = plan.build(settings(nginx=True, node=True))
        self.assertEqual({c.scenario for c in p.cells if c.mode == "nginx"}, {"plaintext", "overhead"})
        self.assertEqual({c.scenario for c in p.cells if c.mode == "node"}, {"overhead"})

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
        p = plan.build(settings(profile=SMOKE, nginx=True, node=True))
        self.assertEqual(p.repeats, 1)
        # 140 s before the latency scenario, whose smoke cells (the cpu workload at one rate, the theory at one ρ,
        # the stall closed and open) add 16 s; shared-state's four kinds of request on five models 22 s
        self.assertLess(p.estimate_s(), 170, "every scenario, five models, both peers and PostgreSQL")
        # latency names its points (a capacity, then rates of it; the stall closed, then open): one of each
        keys = {(c.scenario, c.loads[0].variant, c.mode, c.params.get("point")) for c in p.cells}
        self.assertEqual(len(keys), len(p.cells), "one point per scenario, variant and model")

    def test_scenario_subset(self):
        p = plan.build(settings(scenarios=("split",)))
        self.assertEqual({c.scenario for c in p.cells}, {"split"})


class OverheadPlanTest(unittest.TestCase):
    def setUp(self):
        self.plan = plan.build(settings(scenarios=("overhead",), nginx=True, node=True))
        self.groups = self.plan.groups

    def variant(self, name):
        return [c for c in self.plan.cells if c.loads[0].variant == name]

    def test_two_groups_one_cpu_then_every_cpu(self):
        self.assertEqual([g.scenario for g in self.groups], ["overhead", "overhead"])
        per_request, pbkdf2 = self.groups
        self.assertEqual([sp.label for sp in per_request.servers],
                         ["single", "reactors", "offload", "pool", "threads", "nginx", "node"])
        for sp in per_request.servers:  # one worker on the server CPU, as plaintext's
            self.assertEqual((sp.cpus, sp.workers), ((0,), 1))
        self.assertEqual(per_request.servers[1].flags, ("--threads", "1"))
        self.assertEqual([sp.label for sp in pbkdf2.servers], ["reactors", "offload", "pool", "threads", "node"])
        for sp in pbkdf2.servers:
            self.assertEqual((sp.cpus, sp.workers), ((0, 1), 2))
        self.assertEqual(pbkdf2.servers[1].flags, ("--pool-threads", "2"))

    def test_points_interleave_models_and_peers(self):
        per_request, _ = self.groups
        self.assertEqual([(p[0].loads[0].variant, p[0].connections) for p in per_request.points],
                         [("plaintext", 64), ("json", 64), ("pipeline", 16), ("pipeline", 64), ("idle", 2000)])
        for point in per_request.points:
            self.assertEqual([c.mode for c in point], ["single", "reactors", "offload", "pool", "threads", "nginx", "node"])

    def test_keep_alive_and_pipelined_loads(self):
        for c in self.variant("plaintext") + self.variant("json") + self.variant("pipeline"):
            s = c.loads[0].stream
            self.assertEqual((s.threads, c.duration_s), (1, QUICK.params("overhead").duration_s), "wrk -t1 on CPU 1")
        json = self.variant("json")[0].loads[0]
        self.assertEqual((json.stream.script, json.stream.args, json.path), ("overhead.lua", ("path=/json",), "/json"))
        pipe = self.variant("pipeline")[0]
        self.assertEqual(pipe.loads[0].stream.script, "pipeline.lua")
        self.assertEqual(pipe.loads[0].stream.args, ("path=/plaintext", "depth=16"))
        self.assertEqual(pipe.params, {"pipeline": 16})

    def test_idle_cells_hold_connections_on_a_fresh_server(self):
        cells = self.variant("idle")
        for c in cells:
            self.assertTrue(c.idle and c.fresh_server and not c.read_stats)
            self.assertEqual(c.loads[0].stream.connections, QUICK.params("overhead").idle_connections)
            self.assertEqual(c.params["idle_connections"], QUICK.params("overhead").idle_connections)
        self.assertEqual(self.plan.max_connections, 2000, "servers are started to take every idle connection")
        self.assertFalse(any(c.idle for c in self.variant("plaintext")))

    def test_full_profile_counts_ten_thousand(self):
        p = plan.build(settings(profile=FULL, scenarios=("overhead",), nginx=True, node=True))
        self.assertEqual({c.connections for c in p.cells if c.idle}, {10_000})

    def test_pbkdf2_is_fixed_not_calibrated(self):
        cells = self.variant("pbkdf2")
        self.assertEqual([c.mode for c in cells], ["reactors", "offload", "pool", "threads", "node"])
        for c in cells:
            self.assertEqual(c.loads[0].stream.args, ("iterations=8800",), "not the calibrated 5000")
            self.assertEqual(c.connections, 8)
            self.assertTrue(c.notes, "wrk shares CPU 1 with the server and says so")

    def test_an_open_file_limit_below_the_count_caps_it_and_says_so(self):
        p = plan.build(settings(profile=FULL, scenarios=("overhead",), max_connections=4000))
        self.assertEqual({c.connections for c in p.cells if c.idle}, {4000})
        self.assertTrue(all(c.notes for c in p.cells if c.idle))
        (s,) = [s for s in p.skipped if s["scenario"] == "overhead"]
        self.assertIn("open-file limit", s["reason"])
        self.assertEqual(s["what"], "6,000 of 10,000 idle connections")

    def test_missing_peers_are_skipped_with_the_reason(self):
        why = (("nginx", "nginx is not installed (scripts/deps installs Debian's nginx-light)"),
               ("node", "left out with --no-node"))
        p = plan.build(settings(scenarios=("overhead",), peers_left_out=why))
        self.assertEqual({c.mode for c in p.cells}, set(MODELS))
        self.assertEqual([(s["what"], s["reason"]) for s in p.skipped], list(why))

    def test_models_subset(self):
        p = plan.build(settings(scenarios=("overhead",), models=("single",), node=True))
        self.assertEqual({c.mode for c in p.cells if c.loads[0].variant == "pbkdf2"}, set())
        self.assertTrue(any(s["what"] == "PBKDF2" for s in p.skipped))

    def test_not_against_a_target(self):
        p = plan.build(settings(scenarios=("overhead",), target=ServerSpec("reactors", (), (0, 1), 2), nginx=True))
        self.assertEqual(p.cells, [])
        self.assertIn("remote target", p.skipped[0]["reason"])

    def test_estimate_counts_idle_runs_by_their_connections(self):
        cell = self.variant("idle")[0]
        expected = (plan.IDLE_RUN_S + cell.loads[0].stream.settle_s + 2000 * plan.IDLE_S_PER_CONNECTION
                    + plan.SERVER_START_S)
        self.assertAlmostEqual(cell.estimate_run_s(), expected)


class OverloadPlanTest(unittest.TestCase):
    def setUp(self):
        self.plan = plan.build(settings(scenarios=("overload",)))

    def test_one_point_saturation_flood_and_control_interleaved(self):
        (group,) = self.plan.groups
        (point,) = group.points
        self.assertEqual([(c.loads[0].variant, c.connections) for c in point],
                         [("saturation", 8), ("flood", 200), ("flood-nopause", 200)])
        self.assertEqual([c.loads[0].variant for c in point], list(overload.VARIANTS))
        self.assertEqual({c.mode for c in point}, {"offload"})
        self.assertEqual(self.plan.repeats, 3)

    def test_servers_have_two_pool_threads_a_queue_of_16_and_the_control_no_pause(self):
        default, control = self.plan.groups[0].servers
        self.assertEqual(default.flags, ("--pool-threads", "2", "--pool-queue", "16"))
        self.assertEqual(control.flags, ("--pool-threads", "2", "--pool-queue", "16", "--overload-pause", "1ms"))
        sat, flood, nopause = self.plan.groups[0].points[0]
        self.assertIs(sat.server, default)
        self.assertIs(flood.server, default)
        self.assertIs(nopause.server, control)
        self.assertEqual((flood.params["overload_pause"], nopause.params["overload_pause"]), ("default", "1ms"))
        self.assertEqual(flood.params["admitted"], 18)
        self.assertGreaterEqual(flood.connections, 10 * flood.params["admitted"], "10× beyond what it admits")
        self.assertLess(sat.connections, sat.params["admitted"], "saturation is never refused")

    def test_pbkdf2_with_the_calibrated_iterations_as_cpu(self):
        for c in self.plan.cells:
            self.assertEqual((c.loads[0].stream.script, c.loads[0].stream.args), ("cpu.lua", ("iterations=5000",)))
            self.assertEqual(c.loads[0].path, "/cpu/pbkdf2?iterations=5000")
            self.assertEqual(c.duration_s, QUICK.params("overload").duration_s)

    def test_a_cpu_per_pool_thread_and_wrk_watched_on_the_rest(self):
        for c in self.plan.cells:
            self.assertEqual((c.server.cpus, c.workers), ((0, 1), 2))
            self.assertEqual(c.loads[0].stream.threads, 1)
            self.assertTrue(c.read_stats, "/stats around each run: the pool's rejected count")
            self.assertIn("wrk shares CPU 1", c.notes[0])
        one_cpu = plan.build(settings(scenarios=("overload",), placement=Placement((0,), (0,))))
        self.assertEqual({c.server.cpus for c in one_cpu.cells}, {(0,)})

    def test_in_the_quick_profile_and_short(self):
        self.assertIn("overload", {c.scenario for c in plan.build(settings()).cells})
        # three cells, three repeats, two servers each warmed up once
        self.assertLess(self.plan.estimate_s() - plan.FIXED_S, 15)

    def test_full_runs_ten_seconds(self):
        p = plan.build(settings(profile=FULL, scenarios=("overload",)))
        self.assertEqual({c.duration_s for c in p.cells}, {10})

    def test_without_offload_or_against_a_target_it_is_skipped(self):
        p = plan.build(settings(scenarios=("overload",), models=("single", "reactors")))
        self.assertEqual(p.cells, [])
        self.assertEqual(p.skipped, [{"scenario": "overload", "what": "the scenario", "reason": "offload was not chosen"}])
        p = plan.build(settings(scenarios=("overload",), target=ServerSpec("offload", (), (0, 1), 2)))
        self.assertEqual(p.cells, [])
        self.assertIn("remote target", p.skipped[0]["reason"])


class ModelFlagsTest(unittest.TestCase):
    def test_the_flags_that_start_each_model_with_n_workers(self):
        self.assertEqual(model_flags("single", 4), ())
        self.assertEqual(model_flags("reactors", 4), ("--threads", "4"))
        self.assertEqual(model_flags("offload", 4), ("--pool-threads", "4"))
        self.assertEqual(model_flags("pool", 4), ("--threads", "4"))
        self.assertEqual(model_flags("threads", 4), (), "a thread per connection: no size to give")
        with self.assertRaisesRegex(models.ModelsError, "fibers"):
            model_flags("fibers", 2)

    def test_every_cvp_server_in_a_plan_is_started_with_them(self):
        p = plan.build(settings(profile=FULL, nginx=True, node=True))
        extra = {"accept": 2, "overload": 2, "downstream": 2, "db": 2}  # --accept S; --pool-queue N
        # [--overload-pause D]; --upstream-connections N; --db-connections N
        for c in p.cells:
            if c.mode in peers.NAMES:
                continue
            n = c.server.workers
            self.assertEqual(c.server.flags[:len(model_flags(c.mode, n))], model_flags(c.mode, n), c.title)
            if c.scenario not in extra:
                self.assertEqual(tuple(without_timeline(c.server.flags)), model_flags(c.mode, n), c.title)
            # the scenarios that draw a timeline record it in every model alike (cpu at its most workers), and
            # shared-state on the servers it shares with them; no other does
            widest = {sc: max(x.workers for x in p.cells if x.scenario == sc) for sc in ("cpu", "shared-state")}
            self.assertEqual(recorded(c.server.flags), c.scenario in ("mixed", "split")
                             or (c.scenario in widest and c.workers == widest[c.scenario]), c.title)


class WorkerCountsTest(unittest.TestCase):
    def test_counts(self):
        self.assertEqual(worker_counts(QUICK.params("cpu"), 2), (1, 2))
        self.assertEqual(worker_counts(QUICK.params("cpu"), 1), (1,))
        self.assertEqual(worker_counts(QUICK.params("cpu"), 16), (1, 2, 16))
        self.assertEqual(worker_counts(FULL.params("cpu"), 4), (1, 2, 3, 4))
        self.assertEqual(worker_counts(FULL.params("cpu"), 12), (1, 2, 4, 8, 12))
        self.assertEqual(worker_counts(SMOKE.params("cpu"), 8), (1,))


if __name__ == "__main__":
    unittest.main()
