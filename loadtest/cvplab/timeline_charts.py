"""The timeline (Gantt) chart of a window per model, and the loop-lag chart per model.

A timeline stacks one panel per model on a shared time axis, one row per worker, one bar per interval in the
colour of its kind: CPU work and blocking work fill the row, the I/O waits (many at once on one loop) are thin,
translucent bars along its bottom, so that where they pile up the strip darkens.  ``threads`` lists a worker per
connection: only the rows that had an interval are drawn, at most :data:`MAX_ROWS`.
"""

from __future__ import annotations

from pathlib import Path

from .charts import color, plain_log_ticks, pyplot, save
from .timeline_figures import WORK, bars, requests

#: The colour of each kind of interval.
KIND_COLORS = {"cpu": "#d62728", "blocking": "#8c564b", "io-wait": "#1f77b4"}
#: CPU work of every other request, so that one request's bars (split's chunks) read as one.
CPU_ALTERNATE = "#f28e8e"
#: The tick where a wait ended (its handler ran).
WAIT_END = "#08306b"
#: The most rows one model's panel draws (threads has one per connection).
MAX_ROWS = 12


def _rows(timeline: dict) -> tuple[list[dict], int]:
    """The workers a panel draws, and how many it leaves out (threads: the idle connection threads)."""
    workers = timeline["workers"]
    if len(workers) <= MAX_ROWS:
        return workers, 0
    busy = [w for w in workers if w["events"]]
    shown = sorted(busy, key=lambda w: -sum(1 for e in w["events"] if e[2] != "io-wait"))[:MAX_ROWS]
    shown.sort(key=lambda w: w["id"])
    return shown, len(workers) - len(shown)


def _shades(timeline: dict) -> dict[tuple[int, float, float], int]:
    """0 or 1 for each bar of work, by (row, start, end) clipped to the window: where a request ran as several
    bars (split's chunks), requests in turn, so that one request's chunks share a shade; else each row's bars
    in turn, so that back-to-back bars stay apart."""
    work = bars(timeline, WORK)
    groups = sorted(requests(work), key=lambda g: min(b.start for b in g))
    if any(len(g) > 1 for g in groups):
        return {(b.row, b.start, b.end): i % 2 for i, g in enumerate(groups) for b in g}
    out: dict[tuple[int, float, float], int] = {}
    for row in {b.row for b in work}:
        for i, b in enumerate(sorted((b for b in work if b.row == row), key=lambda b: b.start)):
            out[(b.row, b.start, b.end)] = i % 2
    return out


def gantt(panels: list[tuple[str, dict, str]], title: str, path: Path) -> None:
    """Draws one panel per ``(model, timeline, caption)``, stacked, to ``path`` (the caption goes in the text)."""
    plt = pyplot()
    layouts = [_rows(t) for _, t, _ in panels]
    heights = [max(1, len(rows)) * 0.32 + 0.45 for rows, _ in layouts]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10.5, sum(heights) + 0.9), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    span = max(float(t["span_ms"]) for _, t, _ in panels)
    for ax, (model, timeline, _), (rows, left_out) in zip(axes[:, 0], panels, layouts):
        shade = _shades(timeline)
        for y, w in enumerate(rows):
            for start, end, kind, _conn in w["events"]:
                s, e = max(0.0, start), min(span, end)
                if e <= s:
                    continue
                if kind == "io-wait":
                    ax.broken_barh([(s, e - s)], (y - 0.4, 0.22), facecolors=KIND_COLORS[kind], alpha=0.12,
                                   linewidth=0)
                    if end <= span:  # where the wait ended: its timer's handler ran
                        ax.plot([end, end], [y - 0.42, y - 0.16], color=WAIT_END, linewidth=0.8)
                else:
                    alternate = kind == "cpu" and shade.get((w["id"], float(s), float(e))) == 1
                    ax.broken_barh([(s, e - s)], (y - 0.12, 0.5),
                                   facecolors=CPU_ALTERNATE if alternate else KIND_COLORS.get(kind, "grey"),
                                   edgecolor="white", linewidth=0.6)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_yticks(range(len(rows)), [f"{w['kind'] or 'worker'} {w['id']}" for w in rows], fontsize=7)
        name = model + (f" (+{left_out} idle rows)" if left_out else "")
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9, color=color(model), fontweight="bold")
        ax.grid(axis="x", linestyle=":", linewidth=0.5)
        ax.set_xlim(0, span)
    axes[-1, 0].set_xlabel("ms into the window (taken from the middle of the run)")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    handles = [Patch(facecolor=KIND_COLORS["cpu"], label="CPU work (two shades, in turn)"),
               Patch(facecolor=KIND_COLORS["blocking"], label="blocking work"),
               Patch(facecolor=KIND_COLORS["io-wait"], alpha=0.35, label="waiting on a timer (darker: more at once)"),
               Line2D([], [], color=WAIT_END, linewidth=0.8, label="a wait ends")]
    top = axes[0, 0]
    top.set_title(title, fontsize=10, loc="left", pad=22)
    top.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=4, fontsize=7.5, frameon=False,
               borderaxespad=0.2)
    save(fig, path)


def lag_chart(rows: list[tuple[str, dict]], title: str, path: Path) -> None:
    """Loop lag p50/p99/max per model (log scale, left) and loop utilization with offload's pool queue wait
    (right), from each model's :func:`cvplab.loop_health.median_health`."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    modes = [m for m, _ in rows]
    keys = (("p50_ms", "p50", 0.35), ("p99_ms", "p99", 0.7), ("max_ms", "max", 1.0))
    width = 0.8 / len(keys)
    floor = 0.001
    for j, (key, label, alpha) in enumerate(keys):
        xs = [i + (j - 1) * width for i in range(len(rows))]
        ys = [max(floor, (h["lag"] or {}).get(key) or floor) for _, h in rows]
        left.bar(xs, ys, width, color=[color(m) for m in modes], alpha=alpha, edgecolor="black", linewidth=0.4,
                 label=label)
        for x, y in zip(xs, ys):
            left.annotate(f"{y:.2g}", (x, y), ha="center", va="bottom", fontsize=7, xytext=(0, 1),
                          textcoords="offset points")
    left.set_yscale("log")
    plain_log_ticks(left.yaxis)
    left.set_xticks(range(len(rows)), modes)
    left.set_ylabel("loop lag (ms, log scale)")
    left.set_title("how late the loop's 10 ms timer fired: p50, p99, max", fontsize=9)
    left.legend(fontsize=7, title="bars, left to right", title_fontsize=7)
    util = [100 * (h.get("utilization") or 0) for _, h in rows]
    right.bar(range(len(rows)), util, color=[color(m) for m in modes])
    for i, (m, h) in enumerate(rows):
        text = f"{util[i]:.0f}%"
        if h.get("queue_wait"):
            text += f"\npool queue p99\n{h['queue_wait']['p99_ms']:.3g} ms"
        right.annotate(text, (i, util[i]), ha="center", va="bottom", fontsize=7, xytext=(0, 1),
                       textcoords="offset points")
    right.set_ylim(0, 135)
    right.set_yticks([0, 25, 50, 75, 100])
    right.set_xticks(range(len(rows)), modes)
    right.set_ylabel("loop utilization (%)")
    right.set_title("share of the loop's time outside its event wait", fontsize=9)
    fig.suptitle(title, fontsize=10)
    save(fig, path)
