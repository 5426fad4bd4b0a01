"""Synthetic results for testing the report: plausible numbers for every scenario and model, built through
the same plan and results code the lab uses.  What each server says of itself (its parallelism, its
workers' kinds) comes from the stub server, the tests' one stand-in for cvp-server."""

import functools
from pathlib import Path

from cvplab import RESULTS_SCHEMA_VERSION, manifest, models, peers, plan, results, scenarios
from cvplab.cpus import CgroupLimits, Placement
from cvplab.openloop import OpenStream
from cvplab.procs import FileLimit
from cvplab.queueing import md1_wait
from cvplab.profiles import QUICK
from cvplab.stats import Run, littles_law_bound

from tests import fake_timeline, stub_server

STUB = Path(stub_server.__file__)


@functools.lru_cache(maxsize=None)
def catalog() -> models.Catalog:
    """The models, as the stub server lists them (``--list-models``): the tests keep no copy."""
    return models.from_binary(STUB)


#: --max-connections the lab would pass (the most connections of the plan, and its margin).
MAX_CONNECTIONS = 2064


def server_info(spec) -> dict:
    """A server's start-up line pairs, as the stub (or, for a peer, the lab) would give them."""
    if spec.label in peers.NAMES:
        return {"parallelism": str(spec.workers)}
    args = stub_server.parse_args(["--mode", spec.label, *spec.flags, "--max-connections", str(MAX_CONNECTIONS)])
    return {"mode": spec.label, "parallelism": str(stub_server.parallelism_of(args))}


def _latency(mean_us: float, p99_us: float) -> dict:
    return {"min": mean_us * 0.9, "mean": mean_us, "stdev": 1.0, "max": p99_us * 1.2, "p50": mean_us,
            "p90": (mean_us + p99_us) / 2, "p99": p99_us, "p999": p99_us * 1.1}


#: cpu: throughput at n workers ÷ (200 req/s × n) by model (single stays at 200).
CPU_SCALING = {True: {"reactors": 0.96, "offload": 0.95, "pool": 0.95, "threads": 0.93},
               False: {"reactors": 0.8, "offload": 0.8, "pool": 0.7, "threads": 0.6}}
#: imbalance: the light stream's p99 (µs) by model; its wait is 2 ms, the heavy request about 5 ms.
IMBALANCE_P99 = {True: {"single": 7_600.0, "reactors": 7_200.0, "offload": 2_400.0, "pool": 2_600.0, "threads": 3_000.0},
                 False: {"single": 7_600.0, "reactors": 7_200.0, "offload": 2_400.0, "pool": 8_000.0,
                         "threads": 3_000.0}}


#: latency: each workload's capacity (req/s) by model, and its unloaded latency (µs); theory's S (µs).
LATENCY_CAPACITY = {"cpu": {"single": 200.0}, "io": {}, "mixed": {"single": 1_800.0}, "theory": {}, "co": {}}
LATENCY_DEFAULT = {"cpu": 380.0, "io": 20_000.0, "mixed": 3_000.0, "theory": 900.0, "co": 10_000.0}
LATENCY_BASE_US = {"cpu": 5_000.0, "io": 10_000.0, "mixed": 10_000.0, "theory": 1_300.0, "co": 500.0}
THEORY_S_US = 1_100.0


def _latency_figures(cell: plan.Cell, load: plan.Load, good: bool) -> tuple[float, float, float]:
    """latency: capacity cells as wrk measures them; open-loop cells with a hockey stick, theory on M/D/1."""
    w = cell.params["workload"]
    cap = LATENCY_CAPACITY[w].get(cell.mode, LATENCY_DEFAULT[w])
    base = LATENCY_BASE_US[w]
    if load.variant == "co-block":
        return 1.0, cell.params["block_ms"] * 1000.0, cell.params["block_ms"] * 1000.0
    if w == "co":
        stalled = cell.params["point"] == "open" and good  # the open loop shows the stall; an unhealthy one not
        return cap, base, 150_000.0 if stalled else 2_000.0
    f = cell.params.get("fraction")
    if f is None:
        return cap, base * 2, base * 3
    if w == "theory":
        rho = f * cap * THEORY_S_US / 1e6
        # The low rate waits as the formula says (the report gives that back); the loads 5% (or 50%) more.
        wait = md1_wait(rho, THEORY_S_US) * (1.0 if cell.params["role"] == "base" else 1.05 if good else 1.5)
        return f * cap, base + wait, (base + wait) * 3
    p99 = base * min(100.0, 1.5 / max(0.05, 1 - f))
    return min(f, 1.0) * cap, base * (1 + f), p99


def _open_loop(cell: plan.Cell, load: plan.Load, rps: float, p99: float, good: bool) -> dict | None:
    """An open-loop run's extras (openloop.to_result's), for a latency cell that cvp-load drove."""
    if not isinstance(load.stream, OpenStream):
        return None
    w = cell.params["workload"]
    cap = LATENCY_CAPACITY[w].get(cell.mode, LATENCY_DEFAULT[w])
    asked = 1.0 if load.variant == "co-block" else cap * cell.params.get("fraction", 1.0) if w != "co" else cap
    scheduled = int(asked * cell.duration_s)
    lat = _latency(p99 / 3, p99)
    return {"rate_asked": asked, "rate_achieved": asked, "throughput": rps, "arrival": "poisson", "generators": 1,
            "scheduled": scheduled, "sent": scheduled, "completed": scheduled, "late": 0 if good else scheduled // 20,
            "late_after_us": 1000, "dropped": 0, "unfinished": 0, "errors": {}, "behind": not good,
            "behind_reason": None if good else "the generator's own lag p99 was 2000 us, over 1000 us",
            "latency_us": lat, "service_us": _latency(p99 / 6, p99 / 5 if w == "co" else p99),
            "send_lag_us": _latency(50.0, 300.0 if good else 2000.0), "connections_opened": 8,
            "connections_max_open": 8, "cpu_s": 0.1, "cpu_share": 0.05, "generator_nice": -15}


def _figures(cell: plan.Cell, load: plan.Load, good: bool, parallelism: int) -> tuple[float, float, float]:
    """rps, mean latency and p99 (µs) that a healthy (or, with good=False, an unhealthy) run might show."""
    c, mode = load.stream.connections, cell.mode
    if cell.scenario == "latency":
        return _latency_figures(cell, load, good)
    if cell.scenario == "io":
        wait = cell.params["wait_ms"] * 1000
        if load.variant == "block":
            bound = littles_law_bound(c, cell.params["wait_ms"], parallelism)
            rps = bound * (0.9 if mode == "threads" and good else 1.0 if mode != "threads" else 0.002)
            return rps, c / rps * 1e6, wait * 1.05
        slow = load.variant == "sleep-lockstep" or not good  # identical waits fall into step
        rps = load.bound_rps * (0.95 if slow else 0.985)
        return rps, wait * (1.06 if slow else 1.02), wait * 1.05
    if cell.scenario == "downstream":  # single below the 97% target when unhealthy
        wait = cell.params["wait_ms"] * 1000
        share = (0.95 if mode == "single" else 0.97) if not good else 0.985
        return load.bound_rps * share, wait / share, wait * 1.08
    if cell.scenario == "db":  # cvp's fronts at a third of that when unhealthy
        rps = DB_RPS[load.variant][mode] / (3.0 if not good and mode in DB_RPS["blocking"] else 1.0)
        return rps, c / rps * 1e6, c / rps * 3e6
    if cell.scenario == "cpu":
        rps = 200.0 if mode == "single" else 200.0 * cell.workers * CPU_SCALING[good][mode]
        return rps, c / rps * 1e6, c / rps * 1.5e6
    if cell.scenario == "mixed":
        if load.variant == "cpu":
            return 380.0, 21_000.0, 40_000.0
        p99 = {"single": 95_000.0, "reactors": 80_000.0, "offload": 52_500.0 if good else 60_000.0,
               "pool": 70_000.0, "threads": 56_000.0}[mode]
        return c / 0.052, 52_000.0, p99
    if cell.scenario == "imbalance":
        if load.variant == "heavy":
            return 190.0, 5_200.0, 6_000.0
        p99 = IMBALANCE_P99[good][mode]
        return c / 0.0022, 2_200.0, p99
    if cell.scenario == "split":
        k = cell.params["split"]
        lat = 80_000.0 / (min(k, 2) if mode == "offload" else 1)
        return 1e6 / lat, lat, lat * 1.1
    if cell.scenario == "shared-state":
        rps = _shared_state_rps(cell)
        return rps, c / rps * 1e6, c / rps * 3e6
    if cell.scenario == "overload":  # goodput: 2 pool threads at ~5 ms; the pause keeps a flood near saturation
        rps = {"saturation": 400.0, "flood": 380.0 if good else 200.0, "flood-nopause": 40.0}[load.variant]
        return rps, c / (rps + OVERLOAD_REFUSED[good][load.variant]) * 1e6, 100_000.0
    if cell.scenario == "overhead":
        if load.variant == "pbkdf2":
            rps = {"reactors": 640.0, "offload": 620.0 if good else 450.0, "pool": 630.0, "threads": 610.0,
                   "node": 600.0}[mode]
        else:
            cvp = 150_000.0 if good else 50_000.0
            base = {"single": cvp, "reactors": cvp * 0.98, "offload": cvp * 0.9, "pool": cvp * 0.95,
                    "threads": cvp * 0.6, "nginx": 140_000.0, "node": 45_000.0}[mode]
            rps = base * (3.0 if load.variant == "pipeline" else 1.0)
        return rps, c / rps * 1e6, c / rps * 4e6
    rps = {"single": 60_000.0, "reactors": 58_000.0, "offload": 55_000.0, "pool": 57_000.0, "threads": 40_000.0,
           "nginx": 140_000.0}[mode]
    return rps, c / rps * 1e6, c / rps * 4e6


#: db: requests (pgbench: transactions) per second by variant and server.
DB_RPS = {"query": {"single": 9_000.0, "reactors": 9_200.0, "offload": 8_500.0, "pool": 8_800.0, "threads": 6_000.0,
                    "node": 5_000.0, "pgbench": 15_000.0},
          "queries": {"single": 900.0, "reactors": 920.0, "offload": 850.0, "pool": 880.0, "threads": 700.0,
                      "node": 300.0, "pgbench": 1_400.0},
          "blocking": {"single": 2_500.0, "reactors": 2_500.0, "offload": 2_400.0, "pool": 2_500.0,
                       "threads": 5_000.0}}


#: overload: refused (503) responses per second a healthy (or unhealthy) run might show, by variant.
OVERLOAD_REFUSED = {True: {"saturation": 0.0, "flood": 1_800.0, "flood-nopause": 20_000.0},
                    False: {"saturation": 0.0, "flood": 6_000.0, "flood-nopause": 20_000.0}}


#: RSS per idle connection (bytes) a healthy (or unhealthy) run might show, by mode.
IDLE_BYTES = {True: {"single": 900.0, "reactors": 950.0, "offload": 1000.0, "pool": 980.0, "threads": 12_300.0,
                     "nginx": 520.0, "node": 8100.0},
              False: {"single": 8600.0, "reactors": 8700.0, "offload": 8800.0, "pool": 8800.0, "threads": 12_300.0,
                      "nginx": 520.0, "node": 8100.0}}

#: io at the most connections: RSS per connection (bytes) and voluntary, involuntary switches per request.
FOOTPRINT = {"single": (1_500.0, 0.30, 0.01), "reactors": (1_600.0, 0.50, 0.02), "offload": (1_700.0, 1.20, 0.05),
             "pool": (1_650.0, 0.80, 0.03), "threads": (14_000.0, 2.10, 0.20)}


#: Open descriptors per connection a healthy (or unhealthy) run might show: threads held 4 before it blocked.
DESCRIPTORS = {True: {}, False: {"threads": 4.0}}


#: shared-state: requests per second at high contention (n = 100,000; await 10 × 1 ms) with one thread (single, or
#: one worker) and with two at once (the others); at low contention (n = 1) every strategy is HTTP-bound.  Transfers: naive stalls
#: 50 ms per deadlock where two run at once.
SHARED_STATE_RPS = {"split": (17_000.0, 22_000.0), "mutex": (500.0, 230.0), "atomic": (1_600.0, 1_260.0),
                    "sharded": (1_600.0, 2_030.0), "await": (750.0, 750.0), "naive": (6_300.0, 25.0),
                    "ordered": (6_000.0, 7_800.0)}
#: shared-state: the share of increments lost with one thread and with two at once; deadlocks per second.
SHARED_STATE_LOST = {"split": (0.0, 0.124), "await": (0.875, 0.875)}
SHARED_STATE_DEADLOCKS = {"naive": (0.0, 24.0), "ordered": (0.0, 0.0)}


def _shared_state_rps(cell: plan.Cell) -> float:
    if cell.params.get("contention") == "low":
        return 750.0 if cell.params["strategy"] == "await" else 40_000.0
    variant = cell.params.get("strategy") or cell.params["order"]
    return SHARED_STATE_RPS[variant][_two_at_once(cell)]


def _two_at_once(cell: plan.Cell) -> bool:
    """shared-state: the model runs two requests at once (every model but single, from two workers)."""
    return cell.mode != "single" and cell.workers >= 2


def _shared_state(cell: plan.Cell, rps: float, duration_s: float, good: bool) -> dict | None:
    """What shared-state reads after a run: every counter (only the cell's strategy counted), or the accounts.
    Unhealthy: split loses nothing in reactors, the mutex loses some in pool, await none in single; ordered
    deadlocks in reactors, naive in single, and threads' naive transfers lose money."""
    if cell.scenario != "shared-state":
        return None
    parallel = _two_at_once(cell)
    if cell.params["kind"] == "counter":
        strategy = cell.params["strategy"]
        asked = int(rps * duration_s) * cell.params["n"]
        share = SHARED_STATE_LOST.get(strategy, (0.0, 0.0))[parallel]
        if not good and (cell.mode, strategy) in (("reactors", "split"), ("single", "await")):
            share = 0.0
        if not good and (cell.mode, strategy) == ("pool", "mutex"):
            share = 0.001
        lost = int(asked * share)
        counters = {s: {"value": 0, "increments": 0, "lost": 0}
                    for s in ("split", "mutex", "atomic", "sharded", "await")}
        counters[strategy] = {"value": asked - lost, "increments": asked, "lost": lost}
        return {"counter": counters, "unsettled": 0}
    order = cell.params["order"]
    deadlocks = int(SHARED_STATE_DEADLOCKS[order][parallel] * duration_s)
    if not good and (cell.mode, order) in (("reactors", "ordered"), ("single", "naive")):
        deadlocks = 3
    moved = int(rps * duration_s)
    total = 7_999_999 if not good and (cell.mode, order) == ("threads", "naive") else 8_000_000
    return {"accounts": {"accounts": [total - 7_000_000] + [1_000_000] * 7, "total": total,
                         "expected_total": 8_000_000, "transfers": {"naive": moved if order == "naive" else 0,
                                                                    "ordered": moved if order == "ordered" else 0},
                         "deadlocks_detected": deadlocks}, "unsettled": 0}


def _idle_runs(cell: plan.Cell, good: bool) -> list[dict]:
    n = cell.loads[0].stream.connections
    per = IDLE_BYTES[good][cell.mode]
    fds = DESCRIPTORS[good].get(cell.mode, 1.0)
    return [{"repeat": i + 1, "connections_wanted": n, "connections_held": n, "rss_before_bytes": 6_000_000.0,
             "rss_after_bytes": 6_000_000.0 + per * f * n, "rss_per_connection_bytes": per * f, "open_s": 0.4,
             "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}, "server_cpu_s": 0.1,
             "server_cpu_us_per_connection": 50.0, "client_cpu": 0.5, "client_cpu_s": 0.4, "background_cpus": 0.0,
             "fds_before": 12.0, "fds_after": 12.0 + fds * n, "fds_per_connection": fds,
             "nofile_soft": 20_000, "nofile_hard": 20_000, "notes": [], "raw": []}
            for i, f in enumerate((0.99, 1.0, 1.01))]


def _footprint(cell: plan.Cell, f: float, requests: int, good: bool) -> dict:
    rss, vol, invol = FOOTPRINT[cell.mode]
    fds = DESCRIPTORS[good].get(cell.mode, 1.0)
    n = cell.connections
    before = 8_000_000
    return {"connections": n, "rss_before_bytes": before, "rss_during_bytes": before + int(rss * f * n),
            "rss_per_connection_bytes": round(rss * f, 1), "requests": requests,
            "fds_before": 12, "fds_during": 12 + int(fds * n), "fds_per_connection": fds,
            "voluntary_switches": int(vol * f * requests), "involuntary_switches": int(invol * f * requests),
            "voluntary_switches_per_request": round(vol * f, 4), "involuntary_switches_per_request": round(invol * f, 4),
            "threads_seen": n + 2 if cell.mode == "threads" else 3,
            "threads_alive": n + 2 if cell.mode == "threads" else 3, "sampled_after_s": 1.75}


def _downstream(cell: plan.Cell, f: float, requests: int) -> dict:
    """A front server's downstream pools over one run, and its downstream's CPU: reactors' pools are per loop."""
    c = cell.connections
    pools = cell.workers if cell.mode == "reactors" else 1
    open_ = int(c * (1.1 if pools > 1 else 1.0) * f)
    faults = dict.fromkeys(("bad_response", "connect_failed", "connect_timeout", "exhausted", "queue_timeout",
                            "refused", "reset", "timeout", "too_large"), 0)
    return {"origin": "http://127.0.0.1:40000", "pools": pools, "created": open_, "reused": requests - open_,
            "waited": 0, "retried": pools, "capacity": pools * cell.params["upstream_connections"], "open": open_,
            "idle": open_, "in_use": 0, "waiting": 0,
            "open_per_pool": {f"loop {i}" if cell.mode in ("single", "reactors", "offload") else "shared": open_ // pools
                              for i in range(pools)},
            "faults": faults, "faults_total": 0, "server_cpu_s": 0.3 * cell.duration_s * f,
            "server_cpus": cell.params["downstream_cpus"]}


def _database(cell: plan.Cell, f: float, requests: int) -> dict:
    """A front server's database pools over one run (pgbench's: none), and the database's CPU."""
    figures = {"server_cpu_s": 0.6 * cell.duration_s * f, "server_cpus": cell.params["database_cpus"]}
    if cell.mode == "pgbench" or cell.mode == "node":
        return figures
    open_ = int(cell.params["db_connections"] * f)
    return {"pools": 2 if cell.loads[0].variant == "blocking" else 1, "created": open_, "reused": requests - open_,
            "waited": 0, "retried": 0, "capacity": cell.params["db_connections"], "open": open_, "idle": open_,
            "in_use": 0, "waiting": 0,
            "open_per_pool": {"loop 0": open_, "blocking": open_ if cell.loads[0].variant == "blocking" else 0},
            "faults": {}, "faults_total": 0,
            **figures}


def _per_worker(cell: plan.Cell, load: plan.Load, info: dict) -> list[dict] | None:
    """Per-worker deltas of one run, where the lab reads /stats."""
    if cell.scenario == "accept":
        even = load.variant == "round-robin"
        return [{"id": 0, "kind": "loop", "cpu": 0, "requests": 30_000 if even else 20_000,
                 "connections_total": 16 if even else 11, "tasks": 0, "busy_ns": 0},
                {"id": 1, "kind": "loop", "cpu": 1, "requests": 30_000 if even else 40_000,
                 "connections_total": 16 if even else 21, "tasks": 0, "busy_ns": 0}]
    if cell.scenario == "imbalance" and cell.mode == "reactors":  # the heavy connection on loop 0
        return [{"id": 0, "kind": "loop", "cpu": None, "requests": 800, "connections_total": 9, "tasks": 380,
                 "busy_ns": 1_900_000_000},
                {"id": 1, "kind": "loop", "cpu": None, "requests": 4_000, "connections_total": 8, "tasks": 0,
                 "busy_ns": 100_000_000}]
    if cell.scenario == "imbalance" and cell.mode == "pool":  # connections belong to the shared loop
        return [{"id": i, "kind": "pool-thread", "cpu": None, "requests": 2_400, "connections_total": None,
                 "tasks": 190, "busy_ns": 1_000_000_000} for i in range(int(info["parallelism"]))]
    return None


def change(cell, **figures) -> None:
    """Sets figures of a typed cell in place, as a test that bends the data needs."""
    for name, value in figures.items():
        setattr(cell, name, value)


def synthetic_doc(good: bool = True) -> dict:
    """A results.json document for the quick profile on two CPUs, with nginx and Node."""
    settings = plan.Settings(profile=QUICK, scenarios=scenarios.NAMES, models=catalog().names,
                             placement=Placement((0,), (1,)), pbkdf2_iterations=4700, max_connections=20_000,
                             nginx=True, node=True, node_db=True, catalog=catalog())
    p = plan.build(settings)
    cells = []
    for cell in p.cells:
        info = server_info(cell.server)
        if cell.idle:
            cells.append(results.make_cell(cell, cell.loads[0], _idle_runs(cell, good), server_info=info,
                                           client_cpus=(1,), repeats_planned=3, failures=[]))
            continue
        for load in cell.loads:
            rps, mean, p99 = _figures(cell, load, good, int(info["parallelism"]))
            per_worker = _per_worker(cell, load, info)
            refused = OVERLOAD_REFUSED[good][load.variant] * cell.duration_s if cell.scenario == "overload" else 0
            if cell.scenario == "shared-state" and load.variant == "naive":  # a 409 for each deadlock detected
                refused = SHARED_STATE_DEADLOCKS["naive"][_two_at_once(cell)] * cell.duration_s
            pool = ({"rejected": int(refused * 1.1), "completed": int(rps * cell.duration_s)}
                    if cell.scenario == "overload" else None)
            busy = 1.2 if cell.scenario == "imbalance" else 0.5
            alive = cell.connections + 1 if cell.mode == "threads" and cell.scenario == "downstream" else 3
            model = ({"name": cell.mode, "description": "", "parallelism": int(info["parallelism"]),
                      "threads_alive": alive, "worker_kinds": {}} if cell.read_stats and "mode" in info else None)
            requests = int(rps * cell.duration_s) + int(refused)
            theory = cell.params.get("workload") == "theory"  # the server's CPU: S per request
            runs = [Run(repeat=i + 1, rps=rps * f, requests=int(rps * f * cell.duration_s) + int(refused),
                        duration_s=cell.duration_s,
                        latency_us=_latency(mean, p99) if load.latency else dict.fromkeys(_latency(mean, p99)),
                        errors={"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": int(refused)},
                        client_cpu=0.3, client_cpu_s=0.3 * cell.duration_s,
                        server_cpu_s=(THEORY_S_US * requests / 1e6 if theory else busy * cell.duration_s),
                        server_requests=requests, raw=[], per_worker=per_worker, pool=pool,
                        server_wall_s=cell.duration_s, model=model,
                        footprint=_footprint(cell, f, requests, good) if cell.footprint else None,
                        downstream=(_downstream(cell, f, requests) if cell.server.upstream else
                                    _database(cell, f, requests) if cell.server.database else None),
                        open_loop=_open_loop(cell, load, rps * f, p99, good),
                        after_run=(_shared_state(cell, rps * f, cell.duration_s, good)
                                   or fake_timeline.watched(cell, good)))
                    for i, f in enumerate((0.99, 1.0, 1.01))]
            cells.append(results.make_cell(cell, load, runs, server_info=info, client_cpus=(1,),
                                           repeats_planned=3, failures=[]))
    m = manifest.collect(repo=Path("."), argv=["loadtest/lab"], options={}, profile=QUICK,
                         placement=settings.placement, allowed=(0, 1), limits=CgroupLimits("v1", None, "0-1"),
                         usable=2, file_limit=FileLimit(20_000, 20_000, 1_100), wrk_version="wrk 4.1.0",
                         server_binary=None, target=None)
    manifest.finish(m, status="complete", wall_s=250.0)
    m["calibration"] = {"iterations": 4700, "expected_ms": 5.0}
    m["models"] = catalog().to_json()
    return {"schema_version": RESULTS_SCHEMA_VERSION, "manifest": m, "cells": cells, "skipped": []}
