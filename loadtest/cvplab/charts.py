"""The charts' shared style: matplotlib (Agg), each mode's colour, marker and line style, error bars, log ticks,
direct labels, saving.

Five models' lines often lie on top of each other (they serve the same waits at the same rate), so a mode is
told apart by more than its colour: its marker and line style, a small sideways dodge where x is a count, and
a label at the end of its line instead of a legend to look up."""

from __future__ import annotations

from pathlib import Path

from .cells import Measured
from .models import OTHER_COLOR
from .query import catalog


def color(mode: str) -> str:
    """The mode's colour: the catalog's (models in order, peers as declared)."""
    cat = catalog()
    return cat.color(mode) if cat is not None else OTHER_COLOR


#: Markers and line styles, one per mode by its place in the run's catalog (models, then peers).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2)), (0, (3, 1, 1, 1)))


def _rank(mode: str) -> int:
    cat = catalog()
    return cat.rank(mode) if cat is not None else 0


def marker(mode: str) -> str:
    """The mode's marker."""
    return MARKERS[_rank(mode) % len(MARKERS)]


def linestyle(mode: str):
    """The mode's line style."""
    return LINESTYLES[_rank(mode) % len(LINESTYLES)]


def dodge(mode: str, modes: list[str], step: float) -> float:
    """How far to shift the mode's points sideways among ``modes``, ``step`` apart and centred on zero, so that
    equal figures at one x stay visible side by side."""
    return (modes.index(mode) - (len(modes) - 1) / 2) * step


def label_ends(ax, ends: list[tuple[str, float, float, str]], gap_pt: float = 10.0) -> None:
    """Labels each line at its last point, ``(mode, x, y, text)``: one column right of the rightmost point, each
    label in the mode's colour and joined to its point by a thin line.  Labels that would overlap are pushed
    apart (at least ``gap_pt`` points) and kept within the axes' height.  Call it once the axes' limits are final.
    """
    if not ends:
        return
    fig = ax.figure
    fig.tight_layout()
    to_pt = 72.0 / fig.dpi
    points = sorted(((*(ax.transData.transform((x, y)) * to_pt), mode, x, y, text) for mode, x, y, text in ends),
                    key=lambda e: e[1])
    bottom, top = (v * to_pt for v in ax.transAxes.transform([(0, 0), (0, 1)])[:, 1])
    right = max(e[0] for e in points) + 12
    # Up from the lowest, each at its point's height or gap_pt above the one below; then down from the top.
    at: list[float] = []
    for _, y_pt, *_ in points:
        at.append(max(y_pt, bottom + gap_pt / 2, at[-1] + gap_pt if at else y_pt))
    limit = top - gap_pt / 2
    for i in reversed(range(len(at))):
        limit = min(at[i], limit)
        at[i], limit = limit, limit - gap_pt
    for (x_pt, y_pt, mode, x, y, text), a in zip(points, at):
        ax.annotate(text, (x, y), xytext=(right - x_pt, a - y_pt), textcoords="offset points", va="center",
                    ha="left", fontsize=8, color=color(mode), annotation_clip=False,
                    arrowprops={"arrowstyle": "-", "color": color(mode), "linewidth": 0.6, "shrinkA": 0,
                                "shrinkB": 3})


def panel_grid(count: int, columns: int = 3):
    """A figure of ``count`` panels on shared axes, ``columns`` to a row, and one panel more for the legend:
    ``(fig, panels, key)``; panels left over are hidden.  Small multiples: one model a panel, where five models'
    lines would lie on top of each other in one."""
    import math
    cols = min(columns, count + 1)
    rows = math.ceil((count + 1) / cols)
    fig, axes = pyplot().subplots(rows, cols, figsize=(3.3 * cols + 0.5, 2.9 * rows + 1.0), sharex=True,
                                  sharey=True, squeeze=False)
    panels = list(axes.flat)
    for ax in panels[count:]:
        ax.axis("off")
    return fig, panels[:count], panels[count]


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def errbar(cells: list[Measured], scale: float = 1.0, key: str = "rps") -> list[list[float]]:
    """Asymmetric error bars (median to min, median to max)."""
    lo = [max(0.0, (c.figure(key) - (c.figure(key + "_min") or c.figure(key))) * scale) for c in cells]
    hi = [max(0.0, ((c.figure(key + "_max") or c.figure(key)) - c.figure(key)) * scale) for c in cells]
    return [lo, hi]


def plain_log_ticks(axis) -> None:
    """Plain numbers (2, 5, 100) on a log axis instead of 2×10⁰."""
    from matplotlib.ticker import FuncFormatter
    fmt = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    axis.set_major_formatter(fmt)
    axis.set_minor_formatter(fmt)


def save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)


