"""The shared-state scenario's charts: lost updates, the counter's throughput, transfers and deadlocks."""

from __future__ import annotations

from pathlib import Path

from .cells import Measured
from .charts import color, pyplot, save
from .fmt import fmt_pct, join, n_of
from .query import modes_of
from .shared_state_figures import ACCOUNT_A, ACCOUNT_B, ORDERS, STRATEGIES, compact, increments_per_s, widest_of


def log_axis(ax) -> None:
    """A log y axis labelled at its decades only, compactly (1k, 1M, 1G)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: compact(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.margins(y=0.3)


def _grouped_bars(ax, cells: list[Measured], keys: list[str], key_of, value_of, label_of=None) -> None:
    """Bars grouped by ``keys`` (strategies or orders), one per model in each group, annotated."""
    modes = modes_of(cells)
    width = 0.8 / max(1, len(modes))
    for j, mode in enumerate(modes):
        xs, ys, texts = [], [], []
        for i, k in enumerate(keys):
            c = next((c for c in cells if c.mode == mode and key_of(c) == k), None)
            if c is None or value_of(c) is None:
                continue
            xs.append(i + (j - (len(modes) - 1) / 2) * width)
            ys.append(value_of(c))
            texts.append(label_of(c) if label_of else None)
        ax.bar(xs, ys, width, color=color(mode), label=mode)
        for x, y, t in zip(xs, ys, texts):
            if t:
                ax.annotate(t, (x, y), ha="center", va="bottom", fontsize=6, rotation=90, xytext=(0, 2),
                            textcoords="offset points")
    ax.set_xticks(range(len(keys)), keys)


def chart_lost(cells: list[Measured], path: Path) -> None:
    """Lost updates as a share of the increments asked, per strategy and model; a panel per worker count."""
    plt = pyplot()
    counts = sorted({c.workers for c in cells})
    fig, axes = plt.subplots(1, len(counts), figsize=(6 * len(counts) + 1, 4.2), squeeze=False)
    for ax, w in zip(axes[0], counts):
        mine = [c for c in cells if c.workers == w]
        keys = [s for s in STRATEGIES if any(c.variant == s for c in mine)]
        _grouped_bars(ax, mine, keys, lambda c: c.variant, lambda c: 100 * (c.shared_state["lost_share"] or 0),
                      lambda c: fmt_pct(c.shared_state["lost_share"]) if c.shared_state["lost"] else "0")
        ax.set_ylim(0, 115)
        ax.set_ylabel("lost updates: % of the increments asked")
        ax.set_title(f"{n_of(w, 'worker')}, high contention, {mine[0].connections} connections", fontsize=10)
        ax.legend(fontsize=7, loc="upper center")
    fig.suptitle("shared-state: increments lost per strategy and model (await in single: one thread, yet lost)",
                 fontsize=11)
    save(fig, path)


def chart_throughput(cells: list[Measured], path: Path) -> None:
    """Increments per second per strategy and model (log scale), a panel per contention at the most workers."""
    plt = pyplot()
    w = widest_of(cells)
    mine = [c for c in cells if c.workers == w]
    levels = [lv for lv in ("high", "low") if any(c.params["contention"] == lv for c in mine)]
    fig, axes = plt.subplots(1, len(levels), figsize=(6 * len(levels) + 1, 4.2), squeeze=False)
    for ax, level in zip(axes[0], levels):
        at = [c for c in mine if c.params["contention"] == level]
        keys = [s for s in STRATEGIES if any(c.variant == s for c in at)]
        _grouped_bars(ax, at, keys, lambda c: c.variant, increments_per_s, lambda c: compact(increments_per_s(c)))
        log_axis(ax)
        ns = sorted({c.params["n"] for c in at if c.variant != "await"})
        ax.set_ylabel("increments per second (requests/s × n)")
        ax.set_title(f"{level} contention: n = {join([f'{n:,}' for n in ns])} a request"
                     + ("; await bound by its timers" if "await" in keys else ""), fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"shared-state: the counter's throughput, {n_of(w, 'worker')} (median over repeats)", fontsize=11)
    save(fig, path)


def chart_transfers(cells: list[Measured], path: Path) -> None:
    """Transfers and deadlocks detected per second, naive against ordered, at the most workers."""
    plt = pyplot()
    w = widest_of(cells)
    mine = [c for c in cells if c.workers == w]
    keys = [o for o in ORDERS if any(c.variant == o for c in mine)]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    _grouped_bars(ax, mine, keys, lambda c: c.variant, lambda c: c.rps, lambda c: compact(c.rps))
    log_axis(ax)
    ax.set_ylabel("transfers per second (200 answers)")
    ax.set_title("transfers made", fontsize=10)
    _grouped_bars(ax2, mine, keys, lambda c: c.variant, lambda c: c.shared_state["deadlocks_per_s"],
                  lambda c: f"{c.shared_state['deadlocks_per_s']:,.1f}")
    ax2.margins(y=0.2)
    ax2.set_ylabel("deadlocks detected per second (409)")
    ax2.set_title("deadlocks detected", fontsize=10)
    ax2.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"shared-state: opposite transfers between accounts {ACCOUNT_A} and {ACCOUNT_B}, "
                 f"{n_of(w, 'worker')}", fontsize=11)
    save(fig, path)

