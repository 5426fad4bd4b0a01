"""The parameter sets behind ``--quick``, ``--full`` and ``--smoke``.

wrk takes whole seconds for ``-d`` and ``--timeout``, so every duration here is an
integer number of seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Profile:
    """Everything that sizes a run.  Scenario-specific values carry the scenario's name."""

    name: str
    repeats: int
    warmup_s: int  # thrown away, once per server before its first measured run
    duration_s: int  # measured wrk run, unless a scenario says otherwise
    # plaintext: per-request overhead
    plaintext_connections: int
    plaintext_duration_s: int
    # io: /io/sleep and /io/block swept across connections
    io_connections: tuple[int, ...]
    io_wait_ms: int
    io_wait_spread_ms: int  # /io/sleep waits are drawn from wait ± spread (mean wait); see scripts/io.lua
    io_duration_s: int  # a run loses about one round of requests at its end; the steady-state share does not
    block_duration_s: int  # /io/block collapses to threads / wait; a second shows it
    # cpu: PBKDF2 swept across workers; None means "1, 2, then up to the usable CPUs"
    cpu_workers: tuple[int, ...] | None
    cpu_work_ms: float  # PBKDF2 iterations are calibrated to take about this long
    cpu_connections_per_worker: int
    cpu_duration_s: int
    # mixed: an /io/sleep stream beside a PBKDF2 stream
    mixed_io_connections: int
    mixed_io_wait_ms: int
    mixed_cpu_connections_per_cpu: int
    # imbalance: a few connections of PBKDF2 beside many light /io/sleep connections, two wrk processes at once
    imbalance_light_connections_per_cpu: int  # many: eight per CPU the server has
    imbalance_light_wait_ms: int
    imbalance_heavy_connections: int | None  # None: half the server's CPUs, at least 1 (fewer than its workers)
    # split: one connection, /cpu/primes with split=K
    split_limit: int
    split_values: tuple[int, ...]
    split_duration_s: int
    # accept: reactors with round-robin against reuseport, over short timer waits
    accept_connections: int
    accept_wait_ms: int
    accept_duration_s: int
    # overhead: cvp's own per-request cost and idle-connection memory against nginx and Node
    overhead_connections: int  # /plaintext and /json, keep-alive
    overhead_pipeline_connections: tuple[int, ...]  # /plaintext pipelined, one point per count
    overhead_pipeline_depth: int  # requests per pipelined batch
    overhead_duration_s: int  # each wrk run of the scenario
    overhead_idle_connections: int  # idle keep-alive connections held open for the RSS figure
    overhead_idle_settle_s: float  # wait after the last answer before reading the RSS again
    overhead_pbkdf2_iterations: int  # fixed, not calibrated: the figure is compared with Node's
    overhead_pbkdf2_connections: int
    # overload: offload's goodput under a flood of PBKDF2 requests against its goodput at saturation
    overload_pool_threads: int
    overload_pool_queue: int  # the server admits pool threads + queue requests; beyond them, 503
    overload_saturation_connections: int  # enough to keep the pool busy, fewer than it admits
    overload_flood_connections: int  # about 10× what it admits
    overload_control_pause: str  # --overload-pause of the control flood: the pause effectively off
    overload_duration_s: int

    def with_overrides(self, *, repeats: int | None = None, duration_s: int | None = None,
                       warmup_s: int | None = None) -> "Profile":
        """The profile with the command line's ``--repeats``/``--duration``/``--warmup`` applied.

        ``--duration`` sets every measured run's length, whatever the scenario.
        """
        p = self
        if repeats is not None:
            p = replace(p, repeats=repeats)
        if warmup_s is not None:
            p = replace(p, warmup_s=warmup_s)
        if duration_s is not None:
            p = replace(p, duration_s=duration_s, plaintext_duration_s=duration_s, io_duration_s=duration_s,
                        block_duration_s=duration_s, cpu_duration_s=duration_s, split_duration_s=duration_s,
                        accept_duration_s=duration_s, overhead_duration_s=duration_s,
                        overload_duration_s=duration_s)
        return p


QUICK = Profile(
    name="quick",
    repeats=3,
    warmup_s=1,
    duration_s=2,
    plaintext_connections=64,
    plaintext_duration_s=1,  # a second is tens of thousands of requests; the time went to overhead
    io_connections=(100, 1000),  # 10 too before pool and threads: the full profile sweeps 10 to 10,000
    io_wait_ms=100,
    io_wait_spread_ms=5,
    io_duration_s=2,
    block_duration_s=1,
    cpu_workers=None,
    cpu_work_ms=5.0,
    cpu_connections_per_worker=4,
    cpu_duration_s=1,  # 2 before pool and threads: 200-400 answers at 5 ms, every model losing as many at the end
    mixed_io_connections=100,
    mixed_io_wait_ms=50,
    mixed_cpu_connections_per_cpu=4,
    imbalance_light_connections_per_cpu=8,
    imbalance_light_wait_ms=2,
    imbalance_heavy_connections=None,
    split_limit=20_000_000,
    split_values=(1, 4),  # 1, 2, 4 before pool and threads; 4 is past the pool of 2 on two CPUs
    split_duration_s=1,
    accept_connections=32,
    accept_wait_ms=10,
    accept_duration_s=1,  # 2 before pool and threads; a second is 3,200 requests over 32 connections
    overhead_connections=64,
    overhead_pipeline_connections=(16, 64),
    overhead_pipeline_depth=16,
    overhead_duration_s=1,
    overhead_idle_connections=2_000,  # 10,000 in full; 2,000 gave cvp the same figure, in a fifth of the time
    overhead_idle_settle_s=0.2,
    overhead_pbkdf2_iterations=8800,
    overhead_pbkdf2_connections=8,
    overload_pool_threads=2,
    overload_pool_queue=16,
    overload_saturation_connections=8,
    overload_flood_connections=200,
    overload_control_pause="1ms",
    overload_duration_s=1,  # 10 in full; a second is ~400 answers at 5 ms on 2 threads, and what the budget had left
)

FULL = Profile(
    name="full",
    repeats=5,
    warmup_s=2,
    duration_s=10,
    plaintext_connections=64,
    plaintext_duration_s=10,
    io_connections=(10, 100, 1000, 3000, 10000),
    io_wait_ms=100,
    io_wait_spread_ms=5,
    io_duration_s=15,
    block_duration_s=3,
    cpu_workers=None,
    cpu_work_ms=5.0,
    cpu_connections_per_worker=4,
    cpu_duration_s=10,
    mixed_io_connections=100,
    mixed_io_wait_ms=50,
    mixed_cpu_connections_per_cpu=4,
    imbalance_light_connections_per_cpu=8,
    imbalance_light_wait_ms=2,
    imbalance_heavy_connections=None,
    split_limit=20_000_000,
    split_values=(1, 2, 4, 8, 16, 32, 64),
    split_duration_s=5,
    accept_connections=32,
    accept_wait_ms=10,
    accept_duration_s=10,
    overhead_connections=64,
    overhead_pipeline_connections=(16, 64),
    overhead_pipeline_depth=16,
    overhead_duration_s=10,
    overhead_idle_connections=10_000,
    overhead_idle_settle_s=1.0,
    overhead_pbkdf2_iterations=8800,
    overhead_pbkdf2_connections=8,
    overload_pool_threads=2,
    overload_pool_queue=16,
    overload_saturation_connections=8,
    overload_flood_connections=200,
    overload_control_pause="1ms",
    overload_duration_s=10,
)

SMOKE = Profile(
    name="smoke",
    repeats=1,
    warmup_s=0,
    duration_s=1,
    plaintext_connections=8,
    plaintext_duration_s=1,
    io_connections=(10,),
    io_wait_ms=20,
    io_wait_spread_ms=1,
    io_duration_s=1,
    block_duration_s=1,
    cpu_workers=(1,),
    cpu_work_ms=2.0,
    cpu_connections_per_worker=2,
    cpu_duration_s=1,
    mixed_io_connections=10,
    mixed_io_wait_ms=20,
    mixed_cpu_connections_per_cpu=1,
    imbalance_light_connections_per_cpu=2,
    imbalance_light_wait_ms=2,
    imbalance_heavy_connections=1,
    split_limit=2_000_000,
    split_values=(2,),
    split_duration_s=1,
    accept_connections=8,
    accept_wait_ms=10,
    accept_duration_s=1,
    overhead_connections=8,
    overhead_pipeline_connections=(8,),
    overhead_pipeline_depth=16,
    overhead_duration_s=1,
    overhead_idle_connections=100,
    overhead_idle_settle_s=0.1,
    overhead_pbkdf2_iterations=8800,
    overhead_pbkdf2_connections=2,
    overload_pool_threads=2,
    overload_pool_queue=16,
    overload_saturation_connections=8,
    overload_flood_connections=200,
    overload_control_pause="1ms",
    overload_duration_s=1,
)

PROFILES = {p.name: p for p in (QUICK, FULL, SMOKE)}


def cpu_worker_counts(profile: Profile, usable: int) -> tuple[int, ...]:
    """Worker counts for the cpu sweep: the profile's own, or 1, 2, 4, ... and ``usable``.

    The full profile takes every count up to 8 usable CPUs, and powers of two
    beyond that; the quick one takes 1, 2 and ``usable``.
    """
    if profile.cpu_workers is not None:
        return tuple(w for w in profile.cpu_workers if w <= usable) or (1,)
    if profile.name == "full" and usable <= 8:
        return tuple(range(1, usable + 1))
    counts = {1, usable}
    if profile.name == "full":
        w = 2
        while w < usable:
            counts.add(w)
            w *= 2
    elif usable >= 2:
        counts.add(2)
    return tuple(sorted(counts))
