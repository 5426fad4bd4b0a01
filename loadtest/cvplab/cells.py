"""The typed cell of results.json: one entry of ``cells[]``, as the results code writes it and the report reads it.

:func:`cvplab.results.make_cell` builds one from a plan's :class:`~cvplab.plan.Cell` and its
runs; results.json holds :meth:`Measured.to_json`; :func:`cvplab.results.load` turns every
entry back into a :class:`Measured`, whatever schema wrote it (docs/results-format.md).
A cell keeps the set of keys it was written with, so a cell reads back to the same JSON:
an idle cell has the idle figures and no footprint, an overload cell the refusal counts.
Nested figures (latency percentiles, Little's law, the footprint, per-worker counts,
``params``, ``server``) stay the JSON objects the format describes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Measured:
    """What was asked of one stream of one cell, and what was measured (docs/results-format.md, ``cells[]``)."""

    # what was run
    id: str
    scenario: str
    variant: str | None
    mode: str
    path: str
    connections: int
    wrk_threads: int | None = None
    workers: int = 0
    parallelism: int | None = None
    params: dict = field(default_factory=dict)
    duration_s: int | None = None
    repeats: int = 0
    repeats_planned: int = 0
    server: dict = field(default_factory=dict)
    client_cpus: str = ""
    notes: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    # what was measured, every cell
    rps: float | None = None
    rps_min: float | None = None
    rps_max: float | None = None
    requests: int | None = None
    latency_us: dict | None = None
    latency_us_min: dict | None = None
    latency_us_max: dict | None = None
    errors: dict | None = None
    server_cpu_us_per_request: float | None = None
    server_cpus_busy: float | None = None
    client_cpu: float | None = None
    client_cpu_max: float | None = None
    client_saturated: bool | None = None
    background_cpus_max: float | None = None
    littles_law_bound_rps: float | None = None
    littles_law: dict | None = None
    per_worker: list | None = None
    model: dict | None = None
    footprint: dict | None = None
    runs: list = field(default_factory=list)
    # cells whose server calls a downstream (the downstream scenario): its pools and the downstream server's CPU
    downstream: dict | None = None
    # open-loop cells (cvp-load): rates asked and achieved, late, dropped, lag, service time (openloop.summarize_open)
    open_loop: dict | None = None
    # shared-state cells: lost updates of the cell's strategy, or the transfers, deadlocks and accounts' totals
    # (scenarios.shared_state.summarize_state)
    shared_state: dict | None = None
    # cpu, mixed, split: a window of the middle repeat's work intervals from /stats/timeline (cvplab.timeline.cut)
    timeline: dict | None = None
    # mixed, io: loop lag, utilization and offload's queue wait over the runs (cvplab.loop_health.median_health)
    loop_health: dict | None = None
    # idle cells (overhead)
    idle_connections: int | None = None
    idle_connections_wanted: int | None = None
    rss_per_connection_bytes: float | None = None
    rss_per_connection_bytes_min: float | None = None
    rss_per_connection_bytes_max: float | None = None
    rss_before_bytes: float | None = None
    rss_after_bytes: float | None = None
    fds_per_connection: float | None = None
    fds_per_connection_min: float | None = None
    fds_per_connection_max: float | None = None
    # overload cells
    successes: int | None = None
    non2xx: int | None = None
    non2xx_rps: float | None = None
    non2xx_rps_min: float | None = None
    non2xx_rps_max: float | None = None
    pool_rejected: int | None = None
    pool_rejected_rps: float | None = None
    pool_completed: int | None = None
    server_cpu_us_per_success: float | None = None
    server_cpu_us_per_success_min: float | None = None
    server_cpu_us_per_success_max: float | None = None
    # the keys the cell was written with, in order, and any this lab does not know (kept as they are)
    written: tuple[str, ...] = field(default=(), repr=False, compare=False)
    unknown: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, entry: dict) -> "Measured":
        """A cell from its results.json entry (schema 2 or 3)."""
        known = {f.name for f in fields(cls)} - {"written", "unknown"}
        return cls(**{k: v for k, v in entry.items() if k in known}, written=tuple(entry),
                   unknown={k: v for k, v in entry.items() if k not in known})

    def to_json(self) -> dict:
        """The results.json entry: the keys it was written with, in their order."""
        return {k: (getattr(self, k) if k not in self.unknown else self.unknown[k]) for k in self.written}

    @property
    def idle(self) -> bool:
        """An idle-connection cell: memory and descriptors, not throughput."""
        return "idle_connections_wanted" in self.written

    def figure(self, name: str) -> Any:
        """A figure by name (``rps``, ``non2xx_rps_min``, ...), for code that picks one by name."""
        return getattr(self, name)
