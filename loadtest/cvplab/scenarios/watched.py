"""A scenario that watches its runs (:mod:`cvplab.watch`): a timeline window mid-run, its loops' health, or both.

Its ``before_run`` and ``after_run`` start and end the watch, and ``summarize`` folds what the repeats kept into
the cell's ``timeline`` and ``loop_health``; a subclass sets ``self.watch`` in its ``__init__``.
"""

from __future__ import annotations

from ..plan import Cell, Load
from ..servers import Server
from ..watch import Watch, summarize
from .base import Scenario


class Watched(Scenario):
    """A :class:`Scenario` whose runs a :class:`Watch` watches."""

    watch: Watch

    def before_run(self, cell: Cell, server: Server) -> None:
        self.watch.begin(cell, server)

    def after_run(self, cell: Cell, server: Server) -> dict | None:
        return self.watch.end(cell, server)

    def summarize(self, cell: Cell, load: Load, runs: list) -> dict:
        return summarize(runs)
