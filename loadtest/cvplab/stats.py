"""Statistics over repeats, Little's law, saturation, and per-worker deltas.

Pure functions only: everything here is computed from numbers already measured.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from .wrk import ERROR_KINDS, PERCENTILES

#: wrk counts as saturated at this share of the CPUs it was given.
SATURATION = 0.9
#: Other processes keeping this many CPUs busy during a run make its figures noisy.
NOISY_CPUS = 0.2
#: Latency figures kept per cell (microseconds).
LATENCY_KEYS = (*PERCENTILES, "mean", "max")


def spread(values: list[float | None]) -> tuple[float | None, float | None, float | None]:
    """Median, min and max of the values that are not None (all None when there are none)."""
    xs = [v for v in values if v is not None]
    if not xs:
        return None, None, None
    return statistics.median(xs), min(xs), max(xs)


def littles_law_bound(connections: int, wait_ms: float, threads: int | None = None) -> float:
    """The most requests per second a closed loop can make when each request waits ``wait_ms``.

    With a timer wait every connection can wait at once: connections / wait.
    When the wait blocks a thread (``threads`` given), at most that many wait at
    once: min(connections, threads) / wait.
    """
    if wait_ms <= 0:
        raise ValueError("wait_ms must be positive")
    waiting = connections if threads is None else min(connections, threads)
    return waiting / (wait_ms / 1000.0)


def implied_concurrency(rps: float, mean_latency_us: float | None) -> float | None:
    """Little's law, L = λW: requests in flight implied by throughput and mean latency.

    In wrk's closed loop this should be close to the number of connections; less
    means time went somewhere wrk did not measure as latency (connecting,
    wrk itself, the run's ramp-up and ramp-down).
    """
    if mean_latency_us is None:
        return None
    return rps * mean_latency_us / 1e6


def steady_state_rps(connections: int, mean_latency_us: float | None) -> float | None:
    """Closed-loop throughput by Little's law, λ = L / W: connections ÷ mean latency.

    Every wrk connection always has one request in flight, so this is the rate
    the run sustained between its start-up and its end, free of the requests a
    short run loses when wrk stops with every connection mid-request.
    """
    if not mean_latency_us:
        return None
    return connections / (mean_latency_us / 1e6)


def is_saturated(client_cpu: float | None) -> bool:
    """True when wrk used at least SATURATION of the CPUs it had: then wrk may be the bottleneck."""
    return client_cpu is not None and client_cpu >= SATURATION


#: The per-worker counters the lab keeps from /stats.
WORKER_COUNTERS = ("requests", "connections_total", "tasks", "busy_ns")


def _counter_delta(now, was):
    """A counter's growth; None where /stats gives none (pool: connections are the shared loop's)."""
    if now is None:
        return None
    now, was = int(now), int(was or 0)
    # A threads-mode slot taken by a later connection may start its counts again: then all of now is new.
    return now - was if now >= was else now


def per_worker_delta(before: dict, after: dict) -> list[dict]:
    """Per-worker counters from two ``/stats`` snapshots: what happened in between.

    Counts WORKER_COUNTERS per worker id, with the worker's ``kind`` (loop, pool-thread,
    connection-thread) and ``cpu`` as /stats gives them.  A worker absent before (a
    threads-mode connection thread first used during the run) starts from 0; a counter /stats
    gives as null (pool mode's per-worker connection counts) stays null.  The lab's own
    ``/stats`` request is counted too (one per snapshot).
    """
    old = {w["id"]: w for w in before.get("workers", [])}
    out = []
    for w in after.get("workers", []):
        prev = old.get(w["id"], {})
        out.append({"id": w["id"], "kind": w.get("kind"), "cpu": w.get("cpu"),
                    **{k: _counter_delta(w.get(k), prev.get(k)) for k in WORKER_COUNTERS}})
    return out


def model_facts(stats: dict | None) -> dict | None:
    """The ``/stats`` ``model`` object, with how many workers of each kind ``workers[]`` listed."""
    if not stats or not isinstance(stats.get("model"), dict):
        return None
    kinds: dict[str, int] = {}
    for w in stats.get("workers", []):
        kinds[str(w.get("kind"))] = kinds.get(str(w.get("kind")), 0) + 1
    m = stats["model"]
    return {"name": m.get("name"), "description": m.get("description"), "parallelism": m.get("parallelism"),
            "threads_alive": m.get("threads_alive"), "worker_kinds": kinds}


def footprint_delta(before: dict, during: dict, connections: int) -> dict:
    """RSS per connection and context switches per request between two /proc samples.

    Each sample is ``{"rss_bytes", "switches" (procs.task_switches), "stats" (/stats), "at_s"}``:
    one before wrk starts, one while it still holds every connection.  Switches are summed
    over the threads alive at the second sample, each less its count at the first (0 for a
    thread started since; a thread whose count went down is a new thread with an old id, and
    counts whole); a thread that exited between the samples is missed.  Requests are the
    server's own ``totals.requests`` between the two ``/stats`` reads.
    """
    vol = invol = 0
    for tid, (v, i) in during["switches"].items():
        v0, i0 = before["switches"].get(tid, (0, 0))
        if v < v0 or i < i0:
            v0 = i0 = 0
        vol, invol = vol + v - v0, invol + i - i0
    requests = int(during["stats"]["totals"]["requests"]) - int(before["stats"]["totals"]["requests"])
    rss0, rss1 = before["rss_bytes"], during["rss_bytes"]
    fds0, fds1 = before.get("fds"), during.get("fds")
    return {
        "connections": connections,
        "rss_before_bytes": rss0, "rss_during_bytes": rss1,
        "rss_per_connection_bytes": round((rss1 - rss0) / connections, 1) if connections else None,
        "fds_before": fds0, "fds_during": fds1,
        "fds_per_connection": (round((fds1 - fds0) / connections, 3)
                               if connections and fds0 is not None and fds1 is not None else None),
        "requests": requests,
        "voluntary_switches": vol, "involuntary_switches": invol,
        "voluntary_switches_per_request": round(vol / requests, 4) if requests > 0 else None,
        "involuntary_switches_per_request": round(invol / requests, 4) if requests > 0 else None,
        "threads_seen": len(during["switches"]),
        "threads_alive": (model_facts(during["stats"]) or {}).get("threads_alive"),
        "sampled_after_s": round(during["at_s"] - before["at_s"], 3),
    }


FOOTPRINT_FIGURES = ("rss_per_connection_bytes", "voluntary_switches_per_request", "involuntary_switches_per_request",
                     "fds_per_connection")


def summarize_footprint(runs: list["Run"]) -> dict | None:
    """A cell's footprint: each figure's median with min and max over repeats, and the repeats' own."""
    fps = [r.footprint for r in runs if r.footprint]
    if not fps:
        return None
    out = {"connections": fps[0]["connections"], "repeats": len(fps)}
    for k in FOOTPRINT_FIGURES:
        mid, lo, hi = spread([f.get(k) for f in fps])
        out[k], out[k + "_min"], out[k + "_max"] = _round(mid, 4), _round(lo, 4), _round(hi, 4)
    for k in ("rss_before_bytes", "rss_during_bytes", "threads_alive", "threads_seen", "sampled_after_s"):
        out[k] = spread([f[k] for f in fps])[0]
    switches = [f["voluntary_switches_per_request"] + f["involuntary_switches_per_request"] for f in fps
                if f["voluntary_switches_per_request"] is not None]
    mid, lo, hi = spread(switches)
    out["switches_per_request"], out["switches_per_request_min"], out["switches_per_request_max"] = (
        _round(mid, 4), _round(lo, 4), _round(hi, 4))
    return out


def pool_delta(before: dict | None, after: dict | None) -> dict | None:
    """The offload pool's ``rejected`` and ``completed`` counts between two ``/stats`` snapshots.

    None where either snapshot has no pool (every model but offload, the stub's other modes).
    """
    old, new = (before or {}).get("pool"), (after or {}).get("pool")
    if not old or not new:
        return None
    return {k: int(new.get(k, 0)) - int(old.get(k, 0)) for k in ("rejected", "completed")}


#: The counters of a /stats ``downstream`` pool (counts since the server started), and its gauges (now).
DOWNSTREAM_COUNTERS = ("created", "reused", "waited", "retried")
DOWNSTREAM_GAUGES = ("capacity", "open", "idle", "in_use", "waiting")


def downstream_delta(before: dict | None, after: dict | None, key: str = "downstream") -> dict | None:
    """A front server's downstream pools (``/stats`` ``downstream``, or with ``key="database"`` its
    database pools, which have the same fields: docs/API.md) between two snapshots.

    Counters (DOWNSTREAM_COUNTERS, and ``faults`` by kind) grow between the snapshots and are
    summed over the pools; gauges (DOWNSTREAM_GAUGES) are the second snapshot's, summed, with
    each pool's ``open`` beside them (``open_per_pool``).  A pool absent before counts from 0.
    None where either snapshot has no downstream (a server started without ``--upstream``).
    """
    old, new = (before or {}).get(key), (after or {}).get(key)
    if not old or not new:
        return None
    prev = {pool["name"]: pool for pool in old.get("pools", [])}
    pools = new.get("pools", [])
    out: dict = {"origin": new.get("origin"), "pools": len(pools)}
    for k in DOWNSTREAM_COUNTERS:
        out[k] = sum(int(pool.get(k, 0)) - int(prev.get(pool["name"], {}).get(k, 0)) for pool in pools)
    for k in DOWNSTREAM_GAUGES:
        out[k] = sum(int(pool.get(k, 0)) for pool in pools)
    out["open_per_pool"] = {pool["name"]: int(pool.get("open", 0)) for pool in pools}
    faults: dict[str, int] = {}
    for pool in pools:
        was = prev.get(pool["name"], {}).get("faults") or {}
        for kind, n in (pool.get("faults") or {}).items():
            faults[kind] = faults.get(kind, 0) + int(n) - int(was.get(kind, 0))
    out["faults"] = faults
    out["faults_total"] = sum(faults.values())
    return out


def summarize_downstream(runs: list["Run"]) -> dict | None:
    """A cell's downstream figures over its repeats (each run's ``downstream``: :func:`downstream_delta`
    of the front's /stats, and the downstream server's CPU over the run, ``server_cpu_s``).

    ``created`` and ``open`` (the pools' size after each run: the most connections the run had
    in use at once, the pools never shrinking) as median with min and max; ``waited``,
    ``retried`` and ``faults`` summed over the repeats; the downstream server's CPU per request
    of the front and the CPUs it kept busy, medians.  None where no run has any.
    """
    ds = [(r, r.downstream) for r in runs if r.downstream]
    if not ds:
        return None
    out: dict = {"repeats": len(ds), "origin": ds[-1][1].get("origin"), "pools": ds[-1][1].get("pools"),
                 "capacity": ds[-1][1].get("capacity"), "open_per_pool": ds[-1][1].get("open_per_pool")}
    for k in ("created", "open", "reused"):
        mid, lo, hi = spread([d.get(k) for _, d in ds])
        out[k], out[k + "_min"], out[k + "_max"] = mid, lo, hi
    for k in ("waited", "retried", "faults_total"):
        values = [d[k] for _, d in ds if d.get(k) is not None]
        out[k] = sum(values) if values else None
    faults: dict[str, int] = {}
    for _, d in ds:
        for kind, n in (d.get("faults") or {}).items():
            faults[kind] = faults.get(kind, 0) + n
    out["faults"] = faults if any(d.get("faults") is not None for _, d in ds) else None
    cpu = [(r, d["server_cpu_s"]) for r, d in ds if d.get("server_cpu_s") is not None]
    per_request, _, _ = spread([c * 1e6 / r.server_requests for r, c in cpu if r.server_requests > 0])
    busy, _, _ = spread([c / (r.server_wall_s or r.duration_s) for r, c in cpu if (r.server_wall_s or r.duration_s) > 0])
    out["server_cpu_us_per_request"] = _round(per_request, 2)
    out["server_cpus_busy"] = _round(busy, 3)
    out["server_cpus"] = ds[-1][1].get("server_cpus")
    return out


def sum_per_worker(runs: list[list[dict] | None]) -> list[dict] | None:
    """Adds per-worker deltas over repeats (by worker id; a null counter stays null)."""
    runs = [r for r in runs if r]
    if not runs:
        return None
    total: dict[int, dict] = {}
    for run in runs:
        for w in run:
            t = total.setdefault(w["id"], {"id": w["id"], "kind": w.get("kind"), "cpu": w.get("cpu"),
                                           **dict.fromkeys(WORKER_COUNTERS)})
            for k in WORKER_COUNTERS:
                if w.get(k) is not None:
                    t[k] = (t[k] or 0) + w[k]
    return [total[k] for k in sorted(total)]


def loop_imbalance(per_worker: list[dict], key: str) -> float | None:
    """max / mean of ``key`` over the workers of kind loop: 1.0 is perfectly even."""
    values = [w[key] for w in per_worker if w.get("kind") == "loop" and w.get(key) is not None]
    if not values or sum(values) == 0:
        return None
    return max(values) / (sum(values) / len(values))


@dataclass
class Run:
    """One measured repeat of one wrk stream."""

    repeat: int
    rps: float
    requests: int
    duration_s: float
    latency_us: dict
    errors: dict
    client_cpu: float  # share of the client CPUs used by every wrk of this run
    client_cpu_s: float  # this stream's wrk
    server_cpu_s: float | None  # the server's CPU over the run (all streams)
    server_requests: int  # requests of all streams, to divide server CPU by
    raw: list[str] = field(default_factory=list)
    per_worker: list[dict] | None = None
    background_cpus: float | None = None  # CPUs other processes on the machine used meanwhile
    pool: dict | None = None  # offload: the pool's rejected and completed counts over the run, from /stats
    server_wall_s: float | None = None  # between the two readings of the server's CPU around the run
    model: dict | None = None  # model_facts of the /stats read after the run
    footprint: dict | None = None  # footprint_delta, for io at the most connections
    # a front server with an upstream: downstream_delta of its /stats, and the downstream server's CPU over the run
    downstream: dict | None = None
    open_loop: dict | None = None  # an open-loop run (cvp-load): openloop.to_result's extras
    after_run: dict | None = None  # what the cell's scenario read from the server after the run (Scenario.after_run)

    def to_json(self) -> dict:
        out = {"repeat": self.repeat, "rps": round(self.rps, 1), "requests": self.requests,
               "duration_s": round(self.duration_s, 3), "latency_us": self.latency_us, "errors": self.errors,
               "client_cpu": round(self.client_cpu, 3), "client_cpu_s": round(self.client_cpu_s, 3),
               "server_cpu_s": None if self.server_cpu_s is None else round(self.server_cpu_s, 4),
               "server_cpu_us_per_request": _round(self.server_cpu_us_per_request, 2),
               "background_cpus": _round(self.background_cpus, 3), "raw": self.raw, "per_worker": self.per_worker,
               "server_wall_s": _round(self.server_wall_s, 3), "server_cpus_busy": _round(self.server_cpus_busy, 3),
               "threads_alive": (self.model or {}).get("threads_alive")}
        if self.pool is not None:
            out["pool"] = self.pool
        if self.footprint is not None:
            out["footprint"] = self.footprint
        if self.downstream is not None:
            out["downstream"] = self.downstream
        if self.open_loop is not None:
            out["open_loop"] = self.open_loop
        if self.after_run is not None:
            out["after_run"] = self.after_run
        return out

    @property
    def successes(self) -> int:
        """Responses with a status below 400 (wrk's rule): what goodput counts."""
        return self.requests - self.errors.get("status", 0)

    @property
    def non2xx_rps(self) -> float | None:
        """Responses with a status of 400 or more per second of wrk's run."""
        return self.errors.get("status", 0) / self.duration_s if self.duration_s > 0 else None

    @property
    def server_cpu_us_per_success(self) -> float | None:
        """Server CPU over the run ÷ successful responses: what each useful answer cost, refusals included.

        Only meaningful for a cell with one stream (overload's): the server's CPU is the run's.
        """
        if self.server_cpu_s is None or self.successes <= 0:
            return None
        return self.server_cpu_s * 1e6 / self.successes

    @property
    def server_cpus_busy(self) -> float | None:
        """CPUs the server kept busy on average over the run (1.0 = one CPU all the time).

        Server CPU ÷ the wall time between the two readings around the run (every stream's
        wrk inside it), or ÷ wrk's run time where that was not recorded.
        """
        wall = self.server_wall_s or self.duration_s
        if self.server_cpu_s is None or wall <= 0:
            return None
        return self.server_cpu_s / wall

    @property
    def server_cpu_us_per_request(self) -> float | None:
        if self.server_cpu_s is None or self.server_requests <= 0:
            return None
        return self.server_cpu_s * 1e6 / self.server_requests


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def summarize(runs: list[Run], *, connections: int, bound_rps: float | None) -> dict:
    """Folds repeats into a cell's figures: medians with min and max, summed errors, checks."""
    rps, rps_min, rps_max = spread([r.rps for r in runs])
    lat = {k: spread([r.latency_us.get(k) for r in runs]) for k in LATENCY_KEYS}
    errors = {k: sum(r.errors.get(k, 0) for r in runs) for k in ERROR_KINDS}
    errors["total"] = sum(errors.values())
    cpu_per_req, _, _ = spread([r.server_cpu_us_per_request for r in runs])
    busy, _, _ = spread([r.server_cpus_busy for r in runs])
    _, _, background = spread([r.background_cpus for r in runs])
    client_cpu, _, client_cpu_max = spread([r.client_cpu for r in runs])
    implied = implied_concurrency(rps or 0.0, lat["mean"][0])
    steady = steady_state_rps(connections, lat["mean"][0])
    return {
        "rps": _round(rps, 1), "rps_min": _round(rps_min, 1), "rps_max": _round(rps_max, 1),
        "requests": sum(r.requests for r in runs),
        "latency_us": {k: _round(v[0], 1) for k, v in lat.items()},
        "latency_us_min": {k: _round(v[1], 1) for k, v in lat.items()},
        "latency_us_max": {k: _round(v[2], 1) for k, v in lat.items()},
        "errors": errors,
        "server_cpu_us_per_request": _round(cpu_per_req, 2),
        "server_cpus_busy": _round(busy, 3),
        "client_cpu": _round(client_cpu, 3),
        "client_cpu_max": _round(client_cpu_max, 3),
        "client_saturated": is_saturated(client_cpu),
        "background_cpus_max": _round(background, 3),
        "littles_law_bound_rps": _round(bound_rps, 1),
        "littles_law": {
            "bound_share": _round(rps / bound_rps, 4) if bound_rps and rps is not None else None,
            "steady_rps": _round(steady, 1),
            "steady_bound_share": _round(steady / bound_rps, 4) if bound_rps and steady is not None else None,
            "implied_connections": _round(implied, 1),
            "concurrency_ratio": _round(implied / connections, 4) if implied is not None and connections else None,
        },
        "per_worker": sum_per_worker([r.per_worker for r in runs]),
        "model": next((r.model for r in reversed(runs) if r.model), None),
        "footprint": summarize_footprint(runs),
        "runs": [r.to_json() for r in runs],
    }


def summarize_overload(runs: list[Run]) -> dict:
    """The overload scenario's figures beside :func:`summarize`'s (whose ``rps`` is the goodput).

    ``non2xx_rps``: wrk's responses with a status of 400 or more (the 503s of a full pool
    queue) per second, median with min and max; ``pool_rejected``: the server's own count
    of refusals from ``/stats`` over every repeat, and per second of wrk's run;
    ``server_cpu_us_per_success``: server CPU ÷ successful responses.
    """
    rate, rate_min, rate_max = spread([r.non2xx_rps for r in runs])
    per_ok, per_ok_min, per_ok_max = spread([r.server_cpu_us_per_success for r in runs])
    pools = [r.pool for r in runs if r.pool is not None]
    rejected_rps, _, _ = spread([r.pool["rejected"] / r.duration_s for r in runs
                                 if r.pool is not None and r.duration_s > 0])
    return {
        "successes": sum(r.successes for r in runs),
        "non2xx": sum(r.errors.get("status", 0) for r in runs),
        "non2xx_rps": _round(rate, 1), "non2xx_rps_min": _round(rate_min, 1), "non2xx_rps_max": _round(rate_max, 1),
        "pool_rejected": sum(p["rejected"] for p in pools) if pools else None,
        "pool_rejected_rps": _round(rejected_rps, 1),
        "pool_completed": sum(p["completed"] for p in pools) if pools else None,
        "server_cpu_us_per_success": _round(per_ok, 2),
        "server_cpu_us_per_success_min": _round(per_ok_min, 2),
        "server_cpu_us_per_success_max": _round(per_ok_max, 2),
    }


#: The overload figures of a cell whose every repeat failed.
OVERLOAD_EMPTY = dict.fromkeys(summarize_overload([]))


def summarize_idle(runs: list[dict]) -> dict:
    """Folds the repeats of an idle cell (overhead): RSS per connection as median with min and max."""
    per, per_min, per_max = spread([r["rss_per_connection_bytes"] for r in runs])
    fds, fds_min, fds_max = spread([r.get("fds_per_connection") for r in runs])
    before, _, _ = spread([r["rss_before_bytes"] for r in runs])
    after, _, _ = spread([r["rss_after_bytes"] for r in runs])
    cpu_per_conn, _, _ = spread([r["server_cpu_us_per_connection"] for r in runs])
    client_cpu, _, client_cpu_max = spread([r["client_cpu"] for r in runs])
    _, _, background = spread([r["background_cpus"] for r in runs])
    errors = {k: sum(r["errors"].get(k, 0) for r in runs) for k in ERROR_KINDS}
    errors["total"] = sum(errors.values())
    return {
        "rps": None, "rps_min": None, "rps_max": None,
        "requests": sum(r["connections_held"] + r["errors"].get("status", 0) for r in runs),
        "latency_us": None, "latency_us_min": None, "latency_us_max": None,
        "errors": errors,
        "server_cpu_us_per_request": _round(cpu_per_conn, 2),
        "server_cpus_busy": None,
        "client_cpu": _round(client_cpu, 3), "client_cpu_max": _round(client_cpu_max, 3),
        "client_saturated": None,
        "background_cpus_max": _round(background, 3),
        "littles_law_bound_rps": None, "littles_law": None, "per_worker": None,
        "idle_connections": min(r["connections_held"] for r in runs),
        "idle_connections_wanted": max(r["connections_wanted"] for r in runs),
        "rss_per_connection_bytes": _round(per, 1),
        "rss_per_connection_bytes_min": _round(per_min, 1),
        "rss_per_connection_bytes_max": _round(per_max, 1),
        "rss_before_bytes": before, "rss_after_bytes": after,
        "fds_per_connection": _round(fds, 3), "fds_per_connection_min": _round(fds_min, 3),
        "fds_per_connection_max": _round(fds_max, 3),
        "runs": runs,
    }
