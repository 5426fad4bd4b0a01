"""The io scenario's throughput chart: requests per second against connections, a panel per model.

In one panel the five models' lines lie on top of each other (they all reach connections ÷ wait with a
timer wait, and all but threads collapse to threads ÷ wait when the wait blocks), so each model gets its own
panel on shared axes, with its figures written beside its points.
"""

from __future__ import annotations

from pathlib import Path

from .cells import Measured
from .charts import color, errbar, panel_grid, save
from .fmt import fmt_pct, fmt_rps, n_of
from .query import modes_of

#: The marks, in grey for the legend: (what, plot keywords).
MARKS = (("/io/sleep: connections ÷ mean latency", {"marker": "o", "linestyle": "-", "color": "gray"}),
         ("/io/sleep: wrk's whole-run figure",
          {"marker": "o", "markerfacecolor": "none", "linestyle": "none", "color": "gray"}),
         ("/io/block (wrk)", {"marker": "s", "linestyle": "--", "color": "gray"}),
         ("Little's-law bound, connections ÷ wait",
          {"color": "black", "linestyle": ":", "linewidth": 1.5, "marker": "_", "markersize": 16}))


def steady(cell: Measured) -> float:
    """Steady-state throughput (connections ÷ mean latency), or wrk's figure where there is none."""
    return (cell.littles_law or {}).get("steady_rps") or cell.rps


def chart_io(sleep: list[Measured], block: list[Measured], path: Path, lockstep: list[Measured] = ()) -> None:
    """Throughput against connections (log-log), a panel per model on shared axes: the Little's-law bound,
    /io/sleep's steady and whole-run rates, the lockstep control, /io/block and its threads ÷ wait bound."""
    modes = modes_of(sleep + block)
    fig, panels, key = panel_grid(len(modes))
    bound = sorted({(c.connections, c.littles_law_bound_rps) for c in sleep if c.littles_law_bound_rps})
    for ax, mode in zip(panels, modes):
        _panel(ax, mode, [c for c in sleep if c.mode == mode], [c for c in block if c.mode == mode],
               [c for c in lockstep if c.mode == mode], bound)
    for ax in panels:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
    # Room above the highest point for its figure (the axes are shared).
    low, high = panels[0].get_ylim()
    panels[0].set_ylim(low, high * 3)
    _zeros(panels, modes, sleep + block)
    handles = [key.plot([], [], label=what, **kw)[0] for what, kw in MARKS]
    if lockstep:
        handles.append(key.plot([], [], marker="x", markersize=9, linestyle="none", color="gray",
                                label=f"every wait exactly {lockstep[0].params['wait_ms']} ms (the control)")[0])
    key.legend(handles=handles, loc="center", fontsize=8, frameon=False)
    wait = (sleep or block)[0].params.get("wait_ms")
    spread = max((c.params.get("spread_ms", 0) for c in sleep), default=0)
    fig.suptitle(f"io: throughput against connections, each request waits {wait}" + (f" ± {spread}" if spread else "")
                 + " ms; a panel per model", fontsize=11)
    fig.supxlabel("connections (log)", fontsize=9)
    fig.supylabel("requests per second (log)", fontsize=9)
    save(fig, path)


def _panel(ax, mode: str, sleep: list[Measured], block: list[Measured], lockstep: list[Measured],
           bound: list[tuple[int, float]]) -> None:
    """One model's panel, its figures written beside its last points."""
    if bound:
        # A dash at each point as well: with one connection count the line alone would not show.
        ax.plot(*zip(*bound), color="black", linestyle=":", linewidth=1.5, marker="_", markersize=16)
    sleep = sorted(sleep, key=lambda c: c.connections)
    if sleep:
        xs, ys = [c.connections for c in sleep], [steady(c) for c in sleep]
        # Little's law over the run's middle: connections ÷ mean latency, with the spread of the mean.
        lo = [max(0.0, y - c.connections / (c.latency_us_max["mean"] / 1e6)) for y, c in zip(ys, sleep)]
        hi = [max(0.0, c.connections / (c.latency_us_min["mean"] / 1e6) - y) for y, c in zip(ys, sleep)]
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", color=color(mode), capsize=3)
        ax.plot(xs, [c.rps for c in sleep], marker="o", markerfacecolor="none", linestyle="none", color=color(mode))
        last = sleep[-1]
        share = (last.littles_law or {}).get("steady_bound_share")
        ax.annotate(f"{fmt_rps(steady(last))}" + (f" ({fmt_pct(share)})" if share is not None else ""),
                    (xs[-1], ys[-1]), xytext=(-6, 7), textcoords="offset points", ha="right", fontsize=8,
                    color=color(mode))
    for c in lockstep:
        ax.plot([c.connections], [steady(c)], marker="x", markersize=9, linestyle="none", color=color(mode))
    block = sorted(block, key=lambda c: c.connections)
    if block:
        ax.errorbar([c.connections for c in block], [c.rps for c in block], yerr=errbar(block), marker="s",
                    linestyle="--", color=color(mode), capsize=3)
        last = block[-1]
        if last.rps:
            ax.annotate(fmt_rps(last.rps), (last.connections, last.rps), xytext=(6, -7), textcoords="offset points",
                        ha="left", va="top", fontsize=8, color=color(mode))
        # Where the parallelism is below the connections the bound is threads ÷ wait.
        for b, threads in sorted({(c.littles_law_bound_rps, c.parallelism) for c in block
                                  if c.parallelism and c.littles_law_bound_rps and c.connections > c.parallelism}):
            ax.axhline(b, color="gray", linestyle=(0, (1, 3)), linewidth=1)
            ax.text(0.02, b, f"{n_of(threads, 'thread')} ÷ wait", transform=ax.get_yaxis_transform(), ha="left",
                    va="top", fontsize=7, color="gray")
    ax.set_title(mode, color=color(mode), fontsize=10, fontweight="bold")


def _zeros(panels: list, modes: list[str], cells: list[Measured]) -> None:
    """A log axis has no zero: runs where nothing finished are marked at the bottom of their model's panel."""
    for ax, mode in zip(panels, modes):
        for c in cells:
            if c.mode == mode and not c.rps:
                ax.annotate("0", (c.connections, ax.get_ylim()[0]), xytext=(0, 4), textcoords="offset points",
                            ha="center", fontsize=8, color=color(mode))
