"""Synthetic results for testing the report: plausible numbers for every scenario, built through the
same plan and results code the lab uses."""

from cvplab import manifest, plan, results
from cvplab.cpus import CgroupLimits, Placement
from cvplab.procs import FileLimit
from cvplab.profiles import QUICK
from cvplab.stats import Run


def _latency(mean_us: float, p99_us: float) -> dict:
    return {"min": mean_us * 0.9, "mean": mean_us, "stdev": 1.0, "max": p99_us * 1.2, "p50": mean_us,
            "p90": (mean_us + p99_us) / 2, "p99": p99_us, "p999": p99_us * 1.1}


def _figures(cell: plan.Cell, load: plan.Load, good: bool) -> tuple[float, float, float]:
    """rps, mean latency and p99 (µs) that a healthy (or, with good=False, an unhealthy) run might show."""
    c, mode = load.stream.connections, cell.mode
    if cell.scenario == "io":
        wait = cell.params["wait_ms"] * 1000
        if load.variant == "block":
            return load.bound_rps, c / load.bound_rps * 1e6, wait * 1.05
        slow = load.variant == "sleep-lockstep" or not good  # identical waits fall into step
        rps = load.bound_rps * (0.95 if slow else 0.985)
        return rps, wait * (1.06 if slow else 1.02), wait * 1.05
    if cell.scenario == "cpu":
        rps = 200.0 if mode == "single" else 200.0 * cell.workers * (0.96 if good else 0.8)
        return rps, c / rps * 1e6, c / rps * 1.5e6
    if cell.scenario == "mixed":
        if load.variant == "cpu":
            return 380.0, 21_000.0, 40_000.0
        p99 = {"single": 95_000.0, "reactors": 80_000.0, "offload": 52_500.0 if good else 60_000.0}[mode]
        return c / 0.052, 52_000.0, p99
    if cell.scenario == "split":
        k = cell.params["split"]
        lat = 80_000.0 / (min(k, 2) if mode == "offload" else 1)
        return 1e6 / lat, lat, lat * 1.1
    if cell.scenario == "overload":  # goodput: 2 pool threads at ~5 ms; the pause keeps a flood near saturation
        rps = {"saturation": 400.0, "flood": 380.0 if good else 200.0, "flood-nopause": 40.0}[load.variant]
        return rps, c / (rps + OVERLOAD_REFUSED[good][load.variant]) * 1e6, 100_000.0
    if cell.scenario == "overhead":
        if load.variant == "pbkdf2":
            rps = {"reactors": 640.0, "offload": 620.0 if good else 450.0, "node": 600.0}[mode]
        else:
            cvp = 150_000.0 if good else 50_000.0
            base = {"single": cvp, "reactors": cvp * 0.98, "offload": cvp * 0.9, "nginx": 140_000.0,
                    "node": 45_000.0}[mode]
            rps = base * (3.0 if load.variant == "pipeline" else 1.0)
        return rps, c / rps * 1e6, c / rps * 4e6
    rps = {"single": 60_000.0, "reactors": 58_000.0, "offload": 55_000.0, "nginx": 140_000.0}[mode]
    return rps, c / rps * 1e6, c / rps * 4e6


#: overload: refused (503) responses per second a healthy (or unhealthy) run might show, by variant.
OVERLOAD_REFUSED = {True: {"saturation": 0.0, "flood": 1_800.0, "flood-nopause": 20_000.0},
                    False: {"saturation": 0.0, "flood": 6_000.0, "flood-nopause": 20_000.0}}


#: RSS per idle connection (bytes) a healthy (or unhealthy) run might show, by mode.
IDLE_BYTES = {True: {"single": 900.0, "reactors": 950.0, "offload": 1000.0, "nginx": 520.0, "node": 8100.0},
              False: {"single": 8600.0, "reactors": 8700.0, "offload": 8800.0, "nginx": 520.0, "node": 8100.0}}


def _idle_runs(cell: plan.Cell, good: bool) -> list[dict]:
    n = cell.loads[0].stream.connections
    per = IDLE_BYTES[good][cell.mode]
    return [{"repeat": i + 1, "connections_wanted": n, "connections_held": n, "rss_before_bytes": 6_000_000.0,
             "rss_after_bytes": 6_000_000.0 + per * f * n, "rss_per_connection_bytes": per * f, "open_s": 0.4,
             "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}, "server_cpu_s": 0.1,
             "server_cpu_us_per_connection": 50.0, "client_cpu": 0.5, "client_cpu_s": 0.4, "background_cpus": 0.0,
             "nofile_soft": 20_000, "nofile_hard": 20_000, "notes": [], "raw": []}
            for i, f in enumerate((0.99, 1.0, 1.01))]


def synthetic_doc(good: bool = True) -> dict:
    """A results.json document for the quick profile on two CPUs, with nginx and Node."""
    settings = plan.Settings(profile=QUICK, scenarios=plan.SCENARIOS, models=plan.MODELS,
                             placement=Placement((0,), (1,)), pbkdf2_iterations=4700, max_connections=20_000,
                             nginx=True, node=True)
    p = plan.build(settings)
    cells = []
    for cell in p.cells:
        if cell.idle:
            cells.append(results.make_cell(cell, cell.loads[0], _idle_runs(cell, good),
                                           server_info={"mode": cell.mode}, client_cpus=(1,), repeats_planned=3,
                                           failures=[]))
            continue
        for load in cell.loads:
            rps, mean, p99 = _figures(cell, load, good)
            per_worker = None
            if cell.scenario == "accept":
                even = load.variant == "round-robin"
                per_worker = [{"id": 0, "role": "loop", "cpu": 0, "requests": 30_000 if even else 20_000,
                               "connections_total": 16 if even else 11, "tasks": 0, "busy_ns": 0},
                              {"id": 1, "role": "loop", "cpu": 1, "requests": 30_000 if even else 40_000,
                               "connections_total": 16 if even else 21, "tasks": 0, "busy_ns": 0}]
            refused = OVERLOAD_REFUSED[good][load.variant] * cell.duration_s if cell.scenario == "overload" else 0
            pool = ({"rejected": int(refused * 1.1), "completed": int(rps * cell.duration_s)}
                    if cell.scenario == "overload" else None)
            runs = [Run(repeat=i + 1, rps=rps * f, requests=int(rps * f * cell.duration_s) + int(refused),
                        duration_s=cell.duration_s,
                        latency_us=_latency(mean, p99) if load.latency else dict.fromkeys(_latency(mean, p99)),
                        errors={"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": int(refused)},
                        client_cpu=0.3, client_cpu_s=0.3 * cell.duration_s, server_cpu_s=0.5 * cell.duration_s,
                        server_requests=int(rps * cell.duration_s) + int(refused), raw=[], per_worker=per_worker,
                        pool=pool)
                    for i, f in enumerate((0.99, 1.0, 1.01))]
            cells.append(results.make_cell(cell, load, runs, server_info={"mode": cell.mode}, client_cpus=(1,),
                                           repeats_planned=3, failures=[]))
    m = manifest.collect(repo=__import__("pathlib").Path("."), argv=["loadtest/lab"], options={}, profile=QUICK,
                         placement=settings.placement, allowed=(0, 1), limits=CgroupLimits("v1", None, "0-1"),
                         usable=2, file_limit=FileLimit(20_000, 20_000, 1_100), wrk_version="wrk 4.1.0",
                         server_binary=None, target=None)
    manifest.finish(m, status="complete", wall_s=250.0)
    m["calibration"] = {"iterations": 4700, "expected_ms": 5.0}
    return {"schema_version": 1, "manifest": m, "cells": cells, "skipped": []}
