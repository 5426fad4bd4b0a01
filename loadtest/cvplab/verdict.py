"""The verdict matrix the report opens with: a row per kind of work, a column per model, in each cell the
figure that matters for that work, measured in this run, and the best model of each row marked.

A row is built by the scenario that measured it (:meth:`cvplab.scenarios.base.Scenario.verdict`): the
scenario knows which of its figures answers "which model for this work".  What is generic lives here:
the row, the order of the kinds of work, choosing the best model, and the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .cells import Measured
from .fmt import fmt_rps, fmt_us
from .query import is_model, mode_rank
from .render import Block, h, p, table

#: The kinds of work, in the matrix's order; a row names one of them.
WORKLOADS = ("CPU-bound", "I/O-bound", "blocking I/O", "mixed", "imbalanced", "downstream", "database", "open loop",
             "shared state")
HIGHER, LOWER = "higher", "lower"
#: The mark of a row's best model (with bold).
STAR = "★"


@dataclass(frozen=True)
class Figure:
    """One model's figure in a row: the number the best is chosen by, and the text the cell shows."""

    value: float
    text: str


@dataclass(frozen=True)
class Row:
    """One kind of work: the load that was run, the figure that matters for it, and each model's figure."""

    workload: str  # one of WORKLOADS
    load: str  # what was run, stated: "PBKDF2 (5.2 ms of CPU each) over 8 connections, 2 workers"
    figure: str  # the figure and its unit: "req/s", "p99 of the I/O stream"
    better: str  # HIGHER or LOWER
    figures: dict[str, Figure]  # model -> its figure; a model without one is left blank

    def __post_init__(self) -> None:
        if self.workload not in WORKLOADS:
            raise ValueError(f"unknown workload {self.workload!r}: one of {', '.join(WORKLOADS)}")
        if self.better not in (HIGHER, LOWER):
            raise ValueError(f"better must be {HIGHER!r} or {LOWER!r}, not {self.better!r}")


def figures_of(cells: list[Measured], value: Callable[[Measured], float | None],
               text: Callable[[Measured], str]) -> dict[str, Figure]:
    """Each model's figure from its cell (peers left out, and cells whose ``value`` is None)."""
    out = {}
    for c in cells:
        v = value(c)
        if v is not None and is_model(c.mode):
            out[c.mode] = Figure(v, text(c))
    return out


def rps_figures(cells: list[Measured]) -> dict[str, Figure]:
    """Each model's requests per second (wrk's, over whole runs)."""
    return figures_of(cells, lambda c: c.rps, lambda c: fmt_rps(c.rps))


def p99_figures(cells: list[Measured]) -> dict[str, Figure]:
    """Each model's p99 latency."""
    return figures_of(cells, lambda c: (c.latency_us or {}).get("p99"), lambda c: fmt_us(c.latency_us["p99"]))


def at_most(cells: list[Measured], key: str) -> list[Measured]:
    """The cells at the largest value of ``key`` among them (``workers``, ``connections``)."""
    top = max((c.figure(key) for c in cells), default=None)
    return [c for c in cells if c.figure(key) == top]


def best(row: Row) -> tuple[str, ...]:
    """The models with the row's best figure: the highest or lowest value, and every model whose figure reads the
    same as it (a tie at the precision shown)."""
    if not row.figures:
        return ()
    pick = max if row.better == HIGHER else min
    top = pick(row.figures.values(), key=lambda f: f.value)
    return tuple(m for m, f in row.figures.items() if f.value == top.value or f.text == top.text)


def ordered(rows: list[Row]) -> list[Row]:
    """The rows in WORKLOADS order; rows of one kind keep the order they came in."""
    return sorted(rows, key=lambda r: WORKLOADS.index(r.workload))


def columns(rows: list[Row]) -> list[str]:
    """The models that have a figure in some row, in the run's order."""
    return sorted({m for r in rows for m in r.figures}, key=mode_rank)


def cell_text(row: Row, model: str, marked: tuple[str, ...]) -> str:
    """A cell: the figure, bold and starred for the row's best; ``-`` where the model has none."""
    f = row.figures.get(model)
    if f is None:
        return "-"
    return f"**{STAR} {f.text}**" if model in marked else f.text


def matrix(rows: list[Row]) -> list[Block]:
    """The matrix's heading, how to read it, and the table (its HTML ``id`` is ``verdict``); nothing without rows."""
    rows = ordered([r for r in rows if r.figures])
    if not rows:
        return []
    models = columns(rows)
    body = []
    for r in rows:
        marked = best(r)
        body.append([f"{r.workload}: {r.load}", f"{r.figure}; {r.better} is better",
                     *(cell_text(r, m, marked) for m in models)])
    return [h(2, "Which model for which work"),
            p(f"Each row is one kind of work this run measured; each cell is the figure that matters for it, the "
              f"median of the repeats, and {STAR} in bold marks the best model of the row (every model whose figure "
              "reads the same as the best, where they tie). The sections below give the ranges and say why; the "
              "lab's check of the project's own expectations closes the report."),
            table(["workload", "figure", *models], body, id="verdict")]
