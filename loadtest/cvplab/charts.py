"""The charts' shared style: matplotlib (Agg), each mode's colour, error bars, log ticks, saving."""

from __future__ import annotations

from pathlib import Path

from .cells import Measured
from .models import OTHER_COLOR
from .query import catalog


def color(mode: str) -> str:
    """The mode's colour: the catalog's (models in order, peers as declared)."""
    cat = catalog()
    return cat.color(mode) if cat is not None else OTHER_COLOR


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


