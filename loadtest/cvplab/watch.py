"""What a scenario watches around each run of its cells: a timeline window mid-run, and its loops' health.

A scenario holds a :class:`Watch` and calls :meth:`Watch.begin` from its ``before_run`` and returns
:meth:`Watch.end` from its ``after_run``; the runner keeps that as the run's ``after_run``
(``{"timeline": ..., "loop_health": ...}``), and :func:`summarize` folds the repeats into the cell's
``timeline`` (the middle repeat's window) and ``loop_health`` (the median of each figure).
"""

from __future__ import annotations

import http.client
import urllib.request
from collections.abc import Callable

from .loop_health import delta, median_health, snapshot
from .plan import Cell
from .servers import Server
from .timeline import Probe, Window, chosen, start_probe


def read_snapshot(server: Server) -> dict | None:
    """/stats and /metrics now, as :func:`cvplab.loop_health.snapshot`; None if either cannot be read."""
    try:
        with urllib.request.urlopen(server.base_url + "/metrics", timeout=5.0) as resp:
            text = resp.read().decode("utf-8", "replace")
        return snapshot(server.stats(), text)
    except (OSError, ValueError, KeyError, TypeError, http.client.HTTPException):
        return None


class Watch:
    """The timeline probe (for the cells ``wants`` picks, when ``window`` is set) and the loop health snapshots
    (when ``health`` is true, or says so of the cell) of one scenario's runs, warm-ups included (a warm-up's probe
    is called off if it ends before the probe is due)."""

    def __init__(self, window: Callable[[Cell], Window | None] | None = None,
                 health: bool | Callable[[Cell], bool] = False) -> None:
        self.window = window
        self.health = health
        self._pending: dict[Cell, tuple[Probe | None, dict | None]] = {}

    def begin(self, cell: Cell, server: Server) -> None:
        """Before a run: the first snapshot, and the probe set to fire in the middle of it."""
        if not server.has_stats:
            return
        wants_health = self.health(cell) if callable(self.health) else self.health
        before = read_snapshot(server) if wants_health else None
        window = self.window(cell) if self.window else None
        probe = start_probe(server, window, cell.duration_s) if window else None
        self._pending[cell] = (probe, before)

    def end(self, cell: Cell, server: Server) -> dict | None:
        """After the run: its timeline window and its loops' health; None when nothing was watched."""
        probe, before = self._pending.pop(cell, (None, None))
        out: dict = {}
        if probe is not None:
            timeline = probe.finish()
            if timeline is not None:
                out["timeline"] = timeline
        if before is not None:
            after = read_snapshot(server)
            if after is not None:
                out["loop_health"] = delta(before, after)
        return out or None


def summarize(runs: list) -> dict:
    """The cell's ``timeline`` and ``loop_health`` from its runs' ``after_run`` (absent where none was kept)."""
    kept = [getattr(r, "after_run", None) or {} for r in runs]
    out: dict = {}
    timeline = chosen([k.get("timeline") for k in kept])
    if timeline is not None:
        out["timeline"] = timeline
    health = median_health([k.get("loop_health") for k in kept])
    if health is not None:
        out["loop_health"] = health
    return out
