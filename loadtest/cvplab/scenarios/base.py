"""The contract every scenario module fulfils (docs/architecture.md, "How to add a scenario").

A scenario is one module in this package holding everything about it: its parameters
(a frozen dataclass, with a value for each profile), its plan (the cells), what it adds to
the generic summary of a cell, its section of the report, its rows of the verdict matrix
and its rows of expected results.  :mod:`cvplab.scenarios` lists the modules in report order; the CLI, the
profiles, the plan, the results and the report read that list and name no scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar

from ..cells import Measured
from ..checks import Check
from ..cpus import Placement
from ..plan import Cell, Group, Load, Settings
from ..render import Block
from ..servers import Server
from ..verdict import Row

#: The profiles every scenario has parameters for.
PROFILE_NAMES = ("quick", "full", "smoke")


@dataclass(frozen=True)
class ReportContext:
    """What a scenario's report section is built from."""

    doc: dict  # results.json as loaded
    cells: list[Measured]  # every cell of the run
    out_dir: Path  # charts are drawn here

    def mine(self, scenario: str) -> list[Measured]:
        """The cells of one scenario, in the order they were measured."""
        return [c for c in self.cells if c.scenario == scenario]


def with_duration(params: Any, seconds: int) -> Any:
    """``params`` with every measured run's length (each field ending in ``duration_s``) set to ``seconds``."""
    changes = {f.name: seconds for f in fields(params) if f.name.endswith("duration_s")}
    return replace(params, **changes) if changes else params


class Scenario:
    """One scenario.  Subclasses set the class attributes and override what they need."""

    #: The name on the command line, in cell ids and results.json.
    name: ClassVar[str] = ""
    #: Its parameters, one value per profile: {"quick": Params(...), "full": ..., "smoke": ...}.
    profiles: ClassVar[dict[str, Any]] = {}
    #: Its plan uses the PBKDF2 iterations the lab calibrates to the profile's ``cpu_work_ms``.
    calibrated: ClassVar[bool] = False
    #: Its server runs on the server CPUs and wrk on the client CPUs (per-request overhead), rather than
    #: the server getting a CPU per worker; ``apart_note`` says what in it does not.
    apart: ClassVar[bool] = False
    apart_note: ClassVar[str] = ""
    #: A scenario about one model's own mechanism: (the model, why no other runs it); None for every model.
    one_model: ClassVar[tuple[str, str] | None] = None

    # -- planning ------------------------------------------------------------------------

    def connections_wanted(self, params: Any, placement: Placement) -> int:
        """The most connections one of its servers holds, for the open-file limit."""
        return 0

    def plan(self, s: Settings, params: Any, skipped: list[dict]) -> list[Group]:
        """Its groups of cells; what it cannot run goes to ``skipped`` ({"scenario", "what", "reason"})."""
        raise NotImplementedError

    def point_title(self, cell: Cell) -> str:
        """The point in a cell's title: ``c=100``, ``N=2000``."""
        if cell.idle:
            return f"N={cell.connections}"
        return "c=" + "+".join(str(l.stream.connections) for l in cell.loads)

    def point_id(self, cell: Cell, load: Load) -> str:
        """The point in a cell's id: ``c100``, ``n2000``."""
        return f"{'n' if cell.idle else 'c'}{load.stream.connections}"

    # -- around each run ------------------------------------------------------------------

    def before_run(self, cell: Cell, server: Server) -> None:
        """Acts on the server before each run of one of its cells, warm-ups included: after the runner's
        settle, before /stats and the server's CPU are read and wrk starts (shared-state resets its counters)."""

    def after_run(self, cell: Cell, server: Server) -> dict | None:
        """What it reads from the server after each run of one of its cells, once wrk has finished and the
        server's CPU and /stats are read (shared-state: its counters).  Kept as the run's ``after_run``,
        which :meth:`summarize` gets with the runs; None keeps nothing."""
        return None

    # -- results -------------------------------------------------------------------------

    def summarize(self, cell: Cell, load: Load, runs: list) -> dict:
        """Figures beyond the generic summary of a cell (added to its entry in results.json)."""
        return {}

    def summary_point(self, c: Measured) -> str:
        """The point in the summary table."""
        return f"N={c.connections:,}" if c.idle else f"c={c.connections}"

    def summary_flags(self, c: Measured) -> list[str]:
        """Flags of its own for the summary table."""
        return []

    def problem_errors(self, c: Measured) -> dict:
        """The errors of a cell that are problems (some scenarios expect some by design)."""
        return dict(c.errors or {})

    # -- the report ----------------------------------------------------------------------

    def checks(self, cells: list[Measured]) -> list[Check]:
        """Its rows of the expected results."""
        return []

    def verdict(self, cells: list[Measured]) -> list[Row]:
        """Its rows of the verdict matrix the report opens with (:mod:`cvplab.verdict`): for each kind of work it
        measures, the figure that answers "which model for this work", per model; none without its cells."""
        return []

    def section(self, ctx: ReportContext) -> list[Block]:
        """Its section of the report (charts are drawn into ``ctx.out_dir``); empty when it has no cells."""
        return []


def one_model_note(model: str, why: str) -> str:
    """The sentence a scenario about one model's own mechanism ends with."""
    return f"Only {model} runs this scenario: {why}."
