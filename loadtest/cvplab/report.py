"""The report: charts (matplotlib, Agg), sentences computed from the data, Markdown and HTML.

The report is built as a list of blocks (headings, paragraphs, lists, tables,
images) and rendered twice: report.md with the PNGs beside it, and a
self-contained report.html that refers to the same PNGs.
"""

from __future__ import annotations

import html
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from .cpus import parse_cpu_list
from .plan import ONE_MODEL
from .stats import NOISY_CPUS, loop_imbalance

MODE_ORDER = ("single", "reactors", "offload", "pool", "threads", "nginx", "node")
CVP_MODES = ("single", "reactors", "offload", "pool", "threads")
#: The models added beside the first three: each scenario's report says what they show.
NEW_MODELS = ("pool", "threads")
COLORS = {"single": "tab:blue", "reactors": "tab:orange", "offload": "tab:green", "pool": "tab:purple",
          "threads": "tab:brown", "nginx": "tab:gray", "node": "tab:red"}
OTHER_COLOR = "tab:pink"
CLOSED_LOOP = ("wrk is closed-loop: each connection waits for its reply before sending the next request, so "
               "queueing delay is partly hidden (coordinated omission) and these latencies are best cases.")


# -- blocks -----------------------------------------------------------------------------

@dataclass
class Block:
    kind: str  # h1, h2, h3, p, ul, table, img
    text: str = ""
    items: list | None = None  # ul: strings; table: rows (first row is the header)


def h(level: int, text: str) -> Block:
    return Block(f"h{level}", text)


def p(text: str) -> Block:
    return Block("p", text)


def ul(items: list[str]) -> Block:
    return Block("ul", items=items)


def table(header: list[str], rows: list[list[str]]) -> Block:
    return Block("table", items=[header, *rows])


def img(path: str, alt: str) -> Block:
    return Block("img", path, [alt])


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for b in blocks:
        if b.kind.startswith("h"):
            out.append("#" * int(b.kind[1]) + " " + b.text)
        elif b.kind == "p":
            out.append(b.text)
        elif b.kind == "ul":
            out.append("\n".join(f"- {i}" for i in b.items))
        elif b.kind == "table":
            header, *rows = b.items
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
            out.append("\n".join(lines))
        elif b.kind == "img":
            out.append(f"![{b.items[0]}]({b.text})")
    return "\n\n".join(out) + "\n"


HTML_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; margin: 1rem 0; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child, th:first-child {{ text-align: left; }}
img {{ max-width: 100%; border: 1px solid #eee; }}
code {{ background: #f3f3f3; padding: 0 3px; }}
</style></head><body>
"""


def _inline(text: str) -> str:
    """Escapes text and renders `code` spans."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{s}</code>" if i % 2 else s for i, s in enumerate(parts))


def to_html(blocks: list[Block], title: str) -> str:
    out = [HTML_HEAD.format(title=html.escape(title))]
    for b in blocks:
        if b.kind.startswith("h"):
            out.append(f"<{b.kind}>{_inline(b.text)}</{b.kind}>")
        elif b.kind == "p":
            out.append(f"<p>{_inline(b.text)}</p>")
        elif b.kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table":
            header, *rows = b.items
            out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in header) + "</tr>"
                       + "".join("<tr>" + "".join(f"<td>{_inline(str(c))}</td>" for c in r) + "</tr>" for r in rows)
                       + "</table>")
        elif b.kind == "img":
            out.append(f'<p><img src="{html.escape(b.text)}" alt="{html.escape(b.items[0])}"></p>')
    out.append("</body></html>\n")
    return "\n".join(out)


# -- formatting ------------------------------------------------------------------------

def fmt_rps(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def fmt_us(us: float | None) -> str:
    if us is None:
        return "-"
    if us >= 1_000_000:
        return f"{us / 1e6:.2f} s"
    if us >= 1000:
        return f"{us / 1000:.1f} ms"
    return f"{us:.0f} µs"


def fmt_bytes(b: float | None) -> str:
    """``570 B``, ``8.4 KiB``."""
    if b is None:
        return "-"
    return f"{b:,.0f} B" if abs(b) < 1024 else f"{b / 1024:.1f} KiB"


def fmt_pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def _n(count: int, noun: str) -> str:
    """``1 worker``, ``2 workers``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# -- selecting cells -------------------------------------------------------------------

def select(cells: list[dict], **where) -> list[dict]:
    """Cells matching every key=value, measured ones only, in mode order."""
    out = [c for c in cells if c.get("rps") is not None and all(c.get(k) == v for k, v in where.items())]
    return sorted(out, key=lambda c: (_mode_rank(c["mode"]), c.get("connections", 0), c.get("workers", 0)))


def _mode_rank(mode: str) -> int:
    return MODE_ORDER.index(mode) if mode in MODE_ORDER else len(MODE_ORDER)


def modes_of(cells: list[dict]) -> list[str]:
    return sorted({c["mode"] for c in cells}, key=_mode_rank)


def by_mode(cells: list[dict]) -> dict[str, list[dict]]:
    return {m: [c for c in cells if c["mode"] == m] for m in modes_of(cells)}


def one(cells: list[dict], **where) -> dict | None:
    found = select(cells, **where)
    return found[0] if found else None


def cpus_of(c: dict) -> int:
    """How many CPUs the cell's server was given."""
    return len(parse_cpu_list(c["server"]["cpus"]))


def parallel_cap(c: dict) -> int | None:
    """What the cell's model could run at once: min(its parallelism, its CPUs, the run's connections).

    The parallelism is the server's own (its start-up line); thread-per-connection's is its
    connection limit, which the CPUs and the connections bound long before.
    """
    par = c.get("parallelism")
    if not par:
        return None
    conns = c["connections"] + sum(o["connections"] for o in c["params"].get("concurrent_streams", []))
    return min(par, cpus_of(c), conns)


def _par(c: dict) -> str:
    """``parallelism 2`` (or ``parallelism unknown``)."""
    return f"parallelism {c['parallelism']:,}" if c.get("parallelism") else "parallelism unknown"


def select_idle(cells: list[dict]) -> list[dict]:
    """overhead's idle-connection cells that measured something, in mode order."""
    out = [c for c in cells if c.get("scenario") == "overhead" and c.get("variant") == "idle"
           and c.get("rss_per_connection_bytes") is not None]
    return sorted(out, key=lambda c: _mode_rank(c["mode"]))


# -- charts ----------------------------------------------------------------------------

def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _errbar(cells: list[dict], scale: float = 1.0, key: str = "rps") -> list[list[float]]:
    """Asymmetric error bars (median to min, median to max)."""
    lo = [max(0.0, (c[key] - (c.get(key + "_min") or c[key])) * scale) for c in cells]
    hi = [max(0.0, ((c.get(key + "_max") or c[key]) - c[key]) * scale) for c in cells]
    return [lo, hi]


def _plain_log_ticks(axis) -> None:
    """Plain numbers (2, 5, 100) on a log axis instead of 2×10⁰."""
    from matplotlib.ticker import FuncFormatter
    fmt = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    axis.set_major_formatter(fmt)
    axis.set_minor_formatter(fmt)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)


def chart_plaintext(cells: list[dict], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    names = [c["mode"] for c in cells]
    values = [c["rps"] for c in cells]
    ax.bar(names, values, color=[COLORS.get(n, OTHER_COLOR) for n in names], yerr=_errbar(cells), capsize=4)
    for i, v in enumerate(values):
        ax.annotate(fmt_rps(v), (i, v), ha="center", va="bottom", fontsize=9,
                    xytext=(0, 6), textcoords="offset points")
    ax.set_ylabel("requests per second")
    ax.set_title(f"plaintext, {cells[0]['connections']} connections (median, min–max)")
    ax.margins(y=0.15)
    _save(fig, path)


def chart_latency(cells: list[dict], path: Path, title: str) -> None:
    plt = _pyplot()
    keys = [("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9")]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / max(1, len(cells))
    for i, c in enumerate(cells):
        ys = [(c["latency_us"].get(k) or 0) / 1000 for k, _ in keys]
        xs = [j + (i - (len(cells) - 1) / 2) * width for j in range(len(keys))]
        ax.bar(xs, ys, width, label=c["mode"], color=COLORS.get(c["mode"], OTHER_COLOR))
    ax.set_xticks(range(len(keys)), [label for _, label in keys])
    ax.set_yscale("log")
    _plain_log_ticks(ax.yaxis)
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title(title)
    ax.legend()
    _save(fig, path)


def chart_io(sleep: list[dict], block: list[dict], path: Path, lockstep: list[dict] = ()) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 4.5))
    # One legend entry per model (its colour) and one per kind of mark: five models would bury the plot.
    handles = []
    for mode in modes_of(sleep + block):
        handles.append(ax.plot([], [], color=COLORS.get(mode, OTHER_COLOR), linewidth=6, label=mode)[0])
    for mode, cs in by_mode(sleep).items():
        xs = [c["connections"] for c in cs]
        steady = [_steady(c) for c in cs]
        # Little's law over the run's middle: connections ÷ mean latency, with the spread of the mean.
        lo = [max(0.0, y - c["connections"] / (c["latency_us_max"]["mean"] / 1e6)) for y, c in zip(steady, cs)]
        hi = [max(0.0, c["connections"] / (c["latency_us_min"]["mean"] / 1e6) - y) for y, c in zip(steady, cs)]
        ax.errorbar(xs, steady, yerr=[lo, hi], marker="o", color=COLORS.get(mode, OTHER_COLOR), capsize=3)
        ax.plot(xs, [c["rps"] for c in cs], marker="o", markerfacecolor="none", linestyle="none",
                color=COLORS.get(mode, OTHER_COLOR))
    if sleep:
        handles.append(ax.plot([], [], marker="o", color="gray", label="/io/sleep: connections ÷ mean latency")[0])
        handles.append(ax.plot([], [], marker="o", markerfacecolor="none", linestyle="none", color="gray",
                               label="/io/sleep: wrk's whole-run figure")[0])
    for c in lockstep:
        handles.append(ax.plot([c["connections"]], [_steady(c)], marker="x", markersize=9, linestyle="none",
                               color=COLORS.get(c["mode"], OTHER_COLOR),
                               label=f"{c['mode']}, every wait exactly {c['params']['wait_ms']} ms")[0])
    for mode, cs in by_mode(block).items():
        ax.errorbar([c["connections"] for c in cs], [c["rps"] for c in cs], yerr=_errbar(cs), marker="s",
                    linestyle="--", color=COLORS.get(mode, OTHER_COLOR), capsize=3)
    if block:
        handles.append(ax.plot([], [], marker="s", linestyle="--", color="gray", label="/io/block (wrk)")[0])
    bound_pts = sorted({(c["connections"], c["littles_law_bound_rps"]) for c in sleep if c["littles_law_bound_rps"]})
    if bound_pts:
        handles.append(ax.plot(*zip(*bound_pts), color="black", linestyle=":", linewidth=1.5,
                               label="Little's-law bound, connections ÷ wait")[0])
    ax.set_xscale("log")
    ax.set_yscale("log")
    # A log axis has no zero: runs where nothing finished are marked at the bottom.
    for c in block + sleep:
        if not c["rps"]:
            ax.annotate(f"{c['mode']}: 0", (c["connections"], ax.get_ylim()[0]), xytext=(0, 4),
                        textcoords="offset points", ha="center", fontsize=8, color=COLORS.get(c["mode"], OTHER_COLOR))
    # Where the parallelism is below the connections the bound is threads ÷ wait; elsewhere it is
    # connections ÷ wait, the dotted line.
    block_bounds = sorted({(c["littles_law_bound_rps"], c["parallelism"]) for c in block
                           if c.get("parallelism") and c["littles_law_bound_rps"] and c["connections"] > c["parallelism"]})
    for b, threads in block_bounds:
        ax.axhline(b, color="gray", linestyle=(0, (1, 3)), linewidth=1)
        ax.text(0.99, b, f"{_n(threads, 'thread')} ÷ wait = {fmt_rps(b)} req/s", transform=ax.get_yaxis_transform(),
                ha="right", va="bottom", fontsize=8, color="gray")
    ax.set_xlabel("connections (log)")
    ax.set_ylabel("requests per second (log)")
    wait = (sleep or block)[0]["params"].get("wait_ms")
    spread = max((c["params"].get("spread_ms", 0) for c in sleep), default=0)
    ax.set_title(f"io: throughput against concurrency, each request waits {wait}"
                 + (f" ± {spread}" if spread else "") + " ms")
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)


def _steady(cell: dict) -> float:
    """Steady-state throughput (connections ÷ mean latency), or wrk's figure where there is none."""
    return (cell.get("littles_law") or {}).get("steady_rps") or cell["rps"]


def chart_cpu(cells: list[dict], path: Path) -> None:
    plt = _pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    groups = by_mode(cells)
    base = _cpu_base(cells)
    workers = sorted({c["workers"] for c in cells})
    for mode, cs in groups.items():
        cs = sorted(cs, key=lambda c: c["workers"])
        ax.errorbar([c["workers"] for c in cs], [c["rps"] for c in cs], yerr=_errbar(cs), marker="o",
                    color=COLORS.get(mode, OTHER_COLOR), label=mode, capsize=3)
        effs = [(c["workers"], _efficiency(c, base)) for c in cs]
        effs = [(w, e) for w, e in effs if e is not None]
        if effs:
            ax2.plot(*zip(*[(w, 100 * e) for w, e in effs]), marker="o", color=COLORS.get(mode, OTHER_COLOR),
                     label=mode)
        if mode in base and any((parallel_cap(c) or c["workers"]) < c["workers"] for c in cs):
            # a model that cannot use every CPU it is given (single): its own, lower ideal
            pts = [(c["workers"], base[mode] * parallel_cap(c)) for c in cs if parallel_cap(c)]
            ax.plot(*zip(*pts), color=COLORS.get(mode, OTHER_COLOR), linestyle=":",
                    label=f"{mode}'s ideal: 1-worker × min(parallelism, CPUs, connections)")
    uncapped = [b for m, b in base.items() if all(parallel_cap(c) in (None, c["workers"]) for c in groups[m])]
    if uncapped:
        ideal = statistics.mean(uncapped)
        ax.plot(workers, [ideal * w for w in workers], color="black", linestyle=":", label="ideal (1-worker × n)")
    ax2.axhline(100, color="black", linestyle=":", label="ideal")
    for a in (ax, ax2):
        a.set_xticks(workers)
        a.set_xlabel("workers n: n CPUs, each model started with n (see the text)")
        a.legend(fontsize=7)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("requests per second")
    ax.set_title("cpu: throughput against workers")
    ax2.set_ylabel("scaling efficiency (%)")
    ax2.set_ylim(0, 120)
    ax2.set_title("rps ÷ (own 1-worker rps × min(parallelism, CPUs, conns))", fontsize=9)
    _save(fig, path)


def _efficiency(c: dict, base: dict[str, float]) -> float | None:
    """rps ÷ (the model's own 1-worker rps × what it could run at once): 1.0 is ideal scaling."""
    cap = parallel_cap(c)
    if c["mode"] not in base or not cap:
        return None
    return c["rps"] / (base[c["mode"]] * cap)


def by_mode_first(cells: list[dict]) -> dict[str, dict]:
    """Each model's cell with the fewest workers."""
    return {m: min(cs, key=lambda c: c["workers"]) for m, cs in by_mode(cells).items()}


def _cpu_base(cells: list[dict]) -> dict[str, float]:
    """Each model's 1-worker throughput (the smallest worker count measured)."""
    return {m: c["rps"] for m, c in by_mode_first(cells).items() if c["workers"] == 1 and c["rps"]}


def chart_mixed(io_cells: list[dict], alone: list[dict], path: Path) -> None:
    plt = _pyplot()
    wait_ms = io_cells[0]["params"]["wait_ms"]
    keys = [("p50", "p50"), ("p90", "p90"), ("p99", "p99")]
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(keys)
    for j, (k, label) in enumerate(keys):
        xs = [i + (j - (len(keys) - 1) / 2) * width for i in range(len(io_cells))]
        ys = [(c["latency_us"].get(k) or 0) / 1000 for c in io_cells]
        ax.bar(xs, ys, width, label=label, color=["#9ecae1", "#4292c6", "#08519c"][j])
        if k == "p99":
            for x, y in zip(xs, ys):
                ax.annotate(f"{y:.0f}", (x, y), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                            textcoords="offset points")
    alone_by_mode = {c["mode"]: c for c in alone}
    xs = [i for i, c in enumerate(io_cells) if c["mode"] in alone_by_mode]
    if xs:
        ax.plot(xs, [alone_by_mode[io_cells[i]["mode"]]["latency_us"]["p99"] / 1000 for i in xs], marker="D",
                linestyle="none", color="tab:orange", label="p99 of the I/O stream alone")
    ax.axhline(wait_ms, color="black", linestyle=":", label=f"the sleep, {wait_ms} ms")
    ax.axhline(wait_ms * 1.1, color="tab:red", linestyle="--", linewidth=1, label="sleep + 10%")
    ax.set_xticks(range(len(io_cells)), [c["mode"] for c in io_cells])
    # Log scale: the sleep and a p99 many times longer both stay readable.
    ax.set_yscale("log")
    ax.set_ylim(bottom=wait_ms * 0.8)
    _plain_log_ticks(ax.yaxis)
    ax.set_ylabel("I/O stream latency (ms, log scale)")
    ax.set_title("mixed: /io/sleep latency while a PBKDF2 stream loads the CPU")
    ax.legend(fontsize=8)
    _save(fig, path)


def chart_split(cells: list[dict], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for mode, cs in by_mode(cells).items():
        cs = sorted(cs, key=lambda c: c["params"]["split"])
        ys = [c["latency_us"]["p50"] / 1000 for c in cs]
        lo = [max(0.0, (c["latency_us"]["p50"] - c["latency_us_min"]["p50"]) / 1000) for c in cs]
        hi = [max(0.0, (c["latency_us_max"]["p50"] - c["latency_us"]["p50"]) / 1000) for c in cs]
        ax.errorbar([c["params"]["split"] for c in cs], ys, yerr=[lo, hi], marker="o", color=COLORS.get(mode),
                    label=mode, capsize=3)
    ks = sorted({c["params"]["split"] for c in cells})
    off = sorted((c for c in cells if c["mode"] == "offload"), key=lambda c: c["params"]["split"])
    if off and off[0]["params"]["split"] == 1 and parallel_cap(off[0]):
        t1 = off[0]["latency_us"]["p50"] / 1000
        threads = min(off[0]["parallelism"], cpus_of(off[0]))
        ax.plot(ks, [t1 / min(k, threads) for k in ks], color=COLORS["offload"], linestyle=":",
                label=f"offload ideal: K=1 ÷ min(K, parallelism {off[0]['parallelism']}, CPUs {cpus_of(off[0])})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("split = K chunks of one request")
    ax.set_ylabel("latency of one request, p50 (ms)")
    ax.set_title(f"split: /cpu/primes?limit={cells[0]['params']['limit']:,} over one connection")
    ax.legend()
    _save(fig, path)


def chart_accept(cells: list[dict], path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    variants = [c for c in cells if c.get("per_worker")]
    width = 0.8 / max(1, len(variants))
    for ax, key, label in ((axes[0], "connections_total", "connections accepted"), (axes[1], "requests", "requests")):
        for i, c in enumerate(variants):
            loops = [w for w in c["per_worker"] if w.get("kind") == "loop"]
            xs = [w["id"] + (i - (len(variants) - 1) / 2) * width for w in loops]
            ax.bar(xs, [w[key] for w in loops], width, label=c["variant"] or c["mode"],
                   color=["tab:orange", "tab:purple", "tab:cyan"][i % 3])
        ids = sorted({w["id"] for c in variants for w in c["per_worker"] if w.get("kind") == "loop"})
        ax.set_xticks(ids, [f"loop {i}" for i in ids])
        ax.set_ylabel(f"{label} (all repeats)")
        ax.set_title(f"{label} per worker")
        ax.legend(fontsize=8)
    _save(fig, path)


#: overhead's wrk points, in the order the report shows them: (variant, label).
OVERHEAD_POINTS = (("plaintext", "/plaintext"), ("json", "/json"), ("pipeline", "/plaintext pipelined"))


def overhead_points(cells: list[dict]) -> list[tuple[str, int, str, list[dict]]]:
    """overhead's wrk points present in ``cells``: (variant, connections, label, cells in mode order)."""
    out = []
    for variant, label in OVERHEAD_POINTS:
        cs = select(cells, scenario="overhead", variant=variant)
        for c in sorted({x["connections"] for x in cs}):
            at = [x for x in cs if x["connections"] == c]
            depth = at[0]["params"].get("pipeline")
            out.append((variant, c, f"{label}{f' ×{depth}' if depth else ''}, {c} conns", at))
    return out


def chart_overhead(cells: list[dict], path: Path) -> None:
    plt = _pyplot()
    points = overhead_points(cells)
    idle = select_idle(cells)
    pbkdf2 = select(cells, scenario="overhead", variant="pbkdf2")
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    (ax_rps, ax_cpu), (ax_rss, ax_pb) = axes
    modes = modes_of([c for _, _, _, cs in points for c in cs])
    width = 0.8 / max(1, len(modes))
    for ax, key, label in ((ax_rps, "rps", "requests per second"),
                           (ax_cpu, "server_cpu_us_per_request", "server CPU per request, µs (log)")):
        for i, mode in enumerate(modes):
            xs, ys, errs, hatches = [], [], [[], []], []
            for j, (_, _, _, cs) in enumerate(points):
                c = next((x for x in cs if x["mode"] == mode), None)
                if c is None or not c.get(key):
                    continue
                xs.append(j + (i - (len(modes) - 1) / 2) * width)
                ys.append(c[key])
                lo, hi = ([c[key] - (c.get("rps_min") or c[key])], [(c.get("rps_max") or c[key]) - c[key]]) \
                    if key == "rps" else ([0.0], [0.0])
                errs[0] += lo
                errs[1] += hi
                hatches.append("//" if c.get("client_saturated") else "")
            bars = ax.bar(xs, ys, width, yerr=errs if key == "rps" else None, capsize=2, label=mode,
                          color=COLORS.get(mode, OTHER_COLOR))
            for bar, hatch in zip(bars, hatches):
                bar.set_hatch(hatch)
        ax.set_xticks(range(len(points)), [label.replace("/plaintext pipelined", "pipelined").replace(", ", "\n")
                                           for _, _, label, _ in points], fontsize=8)
        ax.set_ylabel(label)
    ax_rps.set_ylim(bottom=0)
    from matplotlib.ticker import FuncFormatter
    ax_rps.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    cpu_values = [c["server_cpu_us_per_request"] for _, _, _, cs in points for c in cs
                  if c.get("server_cpu_us_per_request")]
    if cpu_values:
        ax_cpu.set_yscale("log")
        ax_cpu.set_ylim(bottom=10 ** math.floor(math.log10(min(cpu_values))), top=max(cpu_values) * 1.5)
        _plain_log_ticks(ax_cpu.yaxis)
    ax_rps.set_title("throughput (hatched: wrk saturated, so the figure is wrk's limit)", fontsize=10)
    ax_cpu.set_title("server CPU time per request (all of its threads)", fontsize=10)
    ax_rps.legend(fontsize=8)
    if idle:
        names = [c["mode"] for c in idle]
        ys = [c["rss_per_connection_bytes"] / 1024 for c in idle]
        lo = [max(0.0, (c["rss_per_connection_bytes"] - c["rss_per_connection_bytes_min"]) / 1024) for c in idle]
        hi = [max(0.0, (c["rss_per_connection_bytes_max"] - c["rss_per_connection_bytes"]) / 1024) for c in idle]
        ax_rss.bar(names, ys, yerr=[lo, hi], capsize=4, color=[COLORS.get(n, OTHER_COLOR) for n in names])
        for i, c in enumerate(idle):
            ax_rss.annotate(fmt_bytes(c["rss_per_connection_bytes"]), (i, ys[i]), ha="center", va="bottom",
                            fontsize=8, xytext=(0, 4), textcoords="offset points")
        ax_rss.axhline(1.0, color="black", linestyle=":", label="target for cvp: 1 KiB")
        ax_rss.legend(fontsize=8)
        ax_rss.margins(y=0.15)
        ax_rss.set_title(f"RSS per idle keep-alive connection, {idle[0]['idle_connections_wanted']:,} connections",
                         fontsize=10)
    ax_rss.set_ylabel("KiB per connection")
    if pbkdf2:
        names = [f"{c['mode']}\n{_par(c).replace('parallelism', 'par.')}" for c in pbkdf2]
        ys = [c["rps"] for c in pbkdf2]
        ax_pb.bar(names, ys, yerr=_errbar(pbkdf2), capsize=4, color=[COLORS.get(c["mode"]) for c in pbkdf2])
        for i, v in enumerate(ys):
            ax_pb.annotate(fmt_rps(v), (i, v), ha="center", va="bottom", fontsize=8, xytext=(0, 4),
                           textcoords="offset points")
        ax_pb.margins(y=0.15)
        ax_pb.set_title(f"{pbkdf2[0]['path']} over {pbkdf2[0]['connections']} connections", fontsize=10)
    ax_pb.set_ylabel("requests per second")
    fig.suptitle("overhead: cvp against nginx and Node.js (median, min–max)")
    _save(fig, path)


def _ratio_range(a: dict, b: dict, key: str = "rps") -> tuple[float, float, float]:
    """a ÷ b on medians, and its range over the repeats' extremes (a's min ÷ b's max, a's max ÷ b's min)."""
    lo = (a.get(key + "_min") or a[key]) / (b.get(key + "_max") or b[key])
    hi = (a.get(key + "_max") or a[key]) / (b.get(key + "_min") or b[key])
    return a[key] / b[key], lo, hi


def _rps_range(c: dict) -> str:
    return f"{fmt_rps(c['rps'])} req/s ({fmt_rps(c['rps_min'])}–{fmt_rps(c['rps_max'])})"


def _cpu_per_request(cells: list[dict]) -> str:
    return _join([f"{c['mode']} {c['server_cpu_us_per_request']:.1f} µs" for c in cells
                  if c.get("server_cpu_us_per_request") is not None])


def overhead_text(cells: list[dict]) -> list[str]:
    out = []
    for variant, conns, label, cs in overhead_points(cells):
        cvp = [c for c in cs if c["mode"] in CVP_MODES]
        if not cvp:
            continue
        best = max(cvp, key=lambda c: c["rps"])
        peers = [c for c in cs if c["mode"] not in CVP_MODES and c["rps"]]
        text = f"{label}: cvp's best was {best['mode']} at {_rps_range(best)}"
        if peers:
            text += ", " + _join([f"{_ratio_range(best, c)[0]:.2f}× {c['mode']} ({fmt_rps(c['rps'])})" for c in peers])
        text += f". Server CPU per request: {_cpu_per_request(cs)}."
        sat = [c["mode"] for c in cs if c.get("client_saturated")]
        if sat:
            text += (f" wrk was saturated for {_join(sat)}: there the throughput is wrk's limit, and CPU per request "
                     "compares the servers better.")
        out.append(text)
    idle = select_idle(cells)
    if idle:
        n = idle[0]["idle_connections_wanted"]
        out.append(f"Memory per idle keep-alive connection, (RSS after − RSS before) ÷ connections held, at {n:,} "
                   "connections, each on a fresh server after one priming request: "
                   + _join([f"{c['mode']} {fmt_bytes(c['rss_per_connection_bytes'])}"
                            + (f" ({c['idle_connections']:,} held)" if c["idle_connections"] < n else "")
                            for c in idle]) + ".")
    pb = select(cells, scenario="overhead", variant="pbkdf2")
    node = one(pb, mode="node")
    if pb:
        text = f"`{pb[0]['path']}` over {pb[0]['connections']} connections on {_n(pb[0]['workers'], 'CPU')}: " \
               + _join([f"{c['mode']} {_rps_range(c)}" for c in pb]) + "."
        if node:
            text += " Against Node's libuv pool of " + str(node.get("parallelism") or node["workers"]) + ": " + _join(
                [f"{c['mode']} {_ratio_range(c, node)[0]:.2f}×" for c in pb if c["mode"] in CVP_MODES]) + "."
        busy = [f"{c['mode']} {c['server_cpus_busy']:.2f}" for c in pb if c.get("server_cpus_busy") is not None]
        if busy:
            text += f" CPUs kept busy: {_join(busy)}; wrk shares CPU {pb[0]['client_cpus']} with the servers."
        out.append(text)
    return out


# -- sentences and checks --------------------------------------------------------------

def _ratio_text(a: dict, b: dict, what: str) -> str:
    return f"{a['mode']} served {a['rps'] / b['rps']:.2f}× {b['mode']} on {what}"


def plaintext_text(cells: list[dict]) -> list[str]:
    if not cells:
        return []
    best = max(cells, key=lambda c: c["rps"])
    cvp = [c for c in cells if c["mode"] != "nginx"]
    out = [f"{best['mode']} was fastest at {fmt_rps(best['rps'])} req/s "
           f"(min–max {fmt_rps(best['rps_min'])}–{fmt_rps(best['rps_max'])})."]
    if len(cvp) > 1:
        slow = min(cvp, key=lambda c: c["rps"])
        fast = max(cvp, key=lambda c: c["rps"])
        overlap = fast["rps_min"] <= slow["rps_max"]
        out.append(f"Among cvp's models, {_ratio_text(fast, slow, 'plaintext')}"
                   + (", but their min–max ranges overlap: within this run's noise" if overlap else "")
                   + "; server CPU per request: "
                   + _join([f"{c['mode']} {c['server_cpu_us_per_request']:.1f} µs" for c in cvp
                            if c.get("server_cpu_us_per_request") is not None]) + ".")
    nginx = next((c for c in cells if c["mode"] == "nginx"), None)
    if nginx and cvp:
        fast = max(cvp, key=lambda c: c["rps"])
        out.append(f"nginx (`return 200`, one worker on the same CPU) did {fmt_rps(nginx['rps'])} req/s: "
                   f"cvp's best is {fast['rps'] / nginx['rps']:.0%} of it.")
    sat = [c["mode"] for c in cells if c.get("client_saturated")]
    if sat:
        out.append(f"wrk was saturated for {_join(sat)}: those figures are wrk's limit, not the server's.")
    return out


def latency_text(cells: list[dict]) -> list[str]:
    if not cells:
        return []
    return [("p99 latency: " + _join([f"{c['mode']} {fmt_us(c['latency_us']['p99'])}" for c in cells])
             + "; p99.9: " + _join([f"{c['mode']} {fmt_us(c['latency_us']['p999'])}" for c in cells]) + "."),
            CLOSED_LOOP]


def io_text(sleep: list[dict], block: list[dict], lockstep: list[dict] = ()) -> list[str]:
    out = []
    if sleep:
        top = max(c["connections"] for c in sleep)
        at_top = [c for c in sleep if c["connections"] == top]
        out.append(f"At {top:,} connections, with a timer wait that holds no thread, "
                   + _join([f"{c['mode']} reached {fmt_pct(c['littles_law'].get('steady_bound_share'))} of the "
                            f"Little's-law bound in steady state ({fmt_pct(c['littles_law']['bound_share'])} over "
                            f"whole runs: {fmt_rps(c['rps'])} of {fmt_rps(c['littles_law_bound_rps'])} req/s)"
                            for c in at_top]) + ".")
        ratios = [c["littles_law"]["concurrency_ratio"] for c in sleep if c["littles_law"]["concurrency_ratio"]]
        if ratios:
            out.append(f"Little's-law check, throughput × mean latency ÷ connections: between "
                       f"{min(ratios):.3f} and {max(ratios):.3f} over all sleep cells (1.0 means every connection "
                       "always had a request in flight).")
    out += _lockstep_text(sleep, lockstep)
    if block:
        top = max(c["connections"] for c in block)
        at_top = [c for c in block if c["connections"] == top]
        out.append(f"With /io/block the wait holds a thread, so throughput is bounded by min(connections, "
                   f"parallelism) ÷ wait; at {top:,} connections: "
                   + _join([f"{c['mode']} {fmt_rps(c['rps'])} req/s (bound {fmt_rps(c['littles_law_bound_rps'])}, "
                            f"{_par(c)})" for c in at_top]) + ".")
        shed = [c for c in block if c["errors"]["status"]]
        if shed:
            out.append("Some requests were refused rather than queued (status 400 or more, usually 503 from a full "
                       "queue): " + _join([f"{c['mode']} at {c['connections']:,} connections, "
                                           f"{c['errors']['status']:,} of {c['requests']:,}" for c in shed]) + ".")
        short = [c for c in block if c.get("parallelism") and c["connections"] > c["parallelism"]
                 and not c["errors"]["status"] and c["littles_law_bound_rps"]
                 and c["rps"] < 0.5 * c["littles_law_bound_rps"]]
        if short:
            out.append("Far below threads ÷ wait, with nothing refused: "
                       + _join([f"{c['mode']} at {c['connections']:,} connections ({fmt_rps(c['rps'])} of "
                                f"{fmt_rps(c['littles_law_bound_rps'])} req/s)" for c in short])
                       + ". With threads free every wait's length, responses should have come back at the bound; "
                         "they did not, so finished work waited for something else before its response went out.")
    return out


# How much lower (as a share of the bound) the identical-wait control must come out before
# the report explains the gap by lockstep; smaller gaps are within run-to-run noise.
LOCKSTEP_GAP = 0.02


def _lockstep_text(sleep: list[dict], lockstep: list[dict]) -> list[str]:
    """What identical waits did, against the same connections with waits that vary a little."""
    out = []
    for c in lockstep:
        varied = one(sleep, mode=c["mode"], connections=c["connections"])
        if not varied or not c["latency_us"].get("mean") or not varied["latency_us"].get("mean"):
            continue
        wait_us = c["params"]["wait_ms"] * 1000
        spread = varied["params"].get("spread_ms", 0)
        same, diff = c["littles_law"].get("steady_bound_share"), varied["littles_law"].get("steady_bound_share")
        text = (f"With every wait exactly {c['params']['wait_ms']} ms instead of "
                f"{c['params']['wait_ms']} ± {spread} ms, {c['mode']} at {c['connections']:,} connections reached "
                f"{fmt_pct(same)} of the bound in steady state instead of {fmt_pct(diff)}, with a mean latency "
                f"{c['latency_us']['mean'] / wait_us - 1:+.1%} over the wait instead of "
                f"{varied['latency_us']['mean'] / wait_us - 1:+.1%}.")
        if same is None or diff is None:
            out.append(text)
            continue
        if same < diff - LOCKSTEP_GAP:
            text += (" Identical waits put closed-loop clients in step: the requests a loop reads in one batch "
                     "start their timers together, finish together and come back together, so the bursts grow "
                     "round after round, and the last request of a burst waits for the CPU of all the others. The "
                     "same loop at the same load keeps up once the waits vary by a few percent, as a real "
                     "downstream's do.")
        elif same > diff + LOCKSTEP_GAP:
            text += " Here identical waits did better than varied ones, which points at run-to-run noise."
        else:
            text += " Here identical waits made no clear difference."
        out.append(text)
    return out


def cpu_text(cells: list[dict]) -> list[str]:
    if not cells:
        return []
    out = []
    top = max(c["workers"] for c in cells)
    at_top = {c["mode"]: c for c in cells if c["workers"] == top}
    single = at_top.get("single")
    if single:
        for mode in ("reactors", "offload"):
            if mode in at_top:
                out.append(_ratio_text(at_top[mode], single, f"cpu with {_n(top, 'worker')}") + ".")
    started = [f"{m} " + (f"`{' '.join(c['server']['flags'])}`" if c["server"].get("flags") else "with no flag")
               + f" ({_par(c)})" for m, c in at_top.items() if "flags" in c["server"]]
    if started:
        out.append(f"At {_n(top, 'worker')} the models were started as: {_join(started)}.")
    base = _cpu_base(cells)
    if top > 1 and base:
        effs = [f"{m} {fmt_pct(_efficiency(c, base), 0)} (ideal ×{parallel_cap(c)})" for m, c in at_top.items()
                if _efficiency(c, base) is not None]
        if effs:
            out.append(f"Scaling efficiency at {_n(top, 'worker')}, rps ÷ (own 1-worker rps × min(parallelism, CPUs, "
                       f"connections)): {_join(effs)}.")
        held = [m for m, c in at_top.items() if parallel_cap(c) == 1]
        if held:
            out.append(f"{_join(held)} can run one request at a time ({_join([_par(at_top[m]) for m in held])}), "
                       "so its ideal stays at its 1-worker figure whatever the CPUs.")
    if top > 1 and any((_efficiency(c, base) or 0) > 1.05 for c in at_top.values()):
        per_req = [f"{m} {c['server_cpu_us_per_request'] / 1000:.1f} ms at 1 worker and "
                   f"{at_top[m]['server_cpu_us_per_request'] / 1000:.1f} ms at {top}"
                   for m, c in by_mode_first(cells).items()
                   if m in at_top and c.get("server_cpu_us_per_request") and at_top[m].get("server_cpu_us_per_request")]
        out.append("Efficiency above 100% is the machine, not the model: the CPU time one request took varied "
                   f"between runs ({_join(per_req)}).")
    busy = [f"{m} {c['server_cpus_busy']:.2f}" for m, c in at_top.items() if c.get("server_cpus_busy") is not None]
    if busy:
        out.append(f"CPUs the server kept busy at {_n(top, 'worker')}: {_join(busy)}. "
                   f"wrk used at most {fmt_pct(max(c.get('client_cpu_max') or 0 for c in cells), 0)} of its CPU"
                   + (", sharing it with the server" if any(c.get("notes") for c in cells) else "") + ".")
    return out


def mixed_text(io_cells: list[dict], cpu_cells: list[dict], alone: list[dict]) -> list[str]:
    if not io_cells:
        return []
    wait_us = io_cells[0]["params"]["wait_ms"] * 1000
    out = ["I/O stream p50/p99 beside the CPU stream: "
           + _join([f"{c['mode']} {fmt_us(c['latency_us']['p50'])}/{fmt_us(c['latency_us']['p99'])} "
                    f"(p99 {c['latency_us']['p99'] / wait_us - 1:+.0%} over the sleep)" for c in io_cells]) + "."]
    if alone:
        out.append("The same stream alone: p99 " + _join([f"{c['mode']} {fmt_us(c['latency_us']['p99'])} "
                                                         f"({c['latency_us']['p99'] / wait_us - 1:+.0%})"
                                                         for c in alone]) + ".")
    if cpu_cells:
        out.append("CPU stream throughput at the same time: "
                   + _join([f"{c['mode']} {fmt_rps(c['rps'])} req/s" for c in cpu_cells]) + ".")
    out.append("How each model runs the hashes: single on its only loop, so a timer that fires waits behind the "
               "queued hashes (head-of-line blocking); offload on its pool, leaving the loop free; reactors on the "
               "loop that holds the CPU request, so the I/O connections sharing that loop wait; pool inline on "
               "whichever of its threads runs that connection, so a timer waits only while every thread hashes; "
               "threads on each connection's own thread, leaving the I/O threads to the kernel's scheduler.")
    out += _new_models_mixed(io_cells)
    return out


#: split: a model whose K=1 ÷ largest-K latency is at least this spread a request's chunks over threads.
SPLIT_SPEEDUP = 1.2


def split_text(cells: list[dict]) -> list[str]:
    parts, best_text, spread_, serial = [], "", [], []
    for mode, cs in by_mode(cells).items():
        cs = sorted(cs, key=lambda c: c["params"]["split"])
        if len(cs) < 2:
            continue
        first, last = cs[0], cs[-1]
        t1, tk = first["latency_us"]["p50"], last["latency_us"]["p50"]
        parts.append(f"{mode} {fmt_us(t1)} → {fmt_us(tk)} ({t1 / tk:.2f}×)")
        (spread_ if t1 / tk >= SPLIT_SPEEDUP else serial).append(mode)
        if mode == "offload":
            best = min(cs, key=lambda c: c["latency_us"]["p50"])
            best_text = (f" The best for offload was K={best['params']['split']}, {fmt_us(best['latency_us']['p50'])} "
                         f"({t1 / best['latency_us']['p50']:.2f}× faster than K=1) with {_par(best)}.")
    if not parts:
        return []
    ks = sorted({c["params"]["split"] for c in cells})
    out = [f"Latency of one request from K={ks[0]} to K={ks[-1]}: {_join(parts)}.{best_text}"]
    if spread_:
        out.append(f"{_join(spread_)} ran one request's chunks on several threads at once (at least "
                   f"{SPLIT_SPEEDUP}× faster at K={ks[-1]}).")
    if serial:
        out.append(f"{_join(serial)} did not get {SPLIT_SPEEDUP}× faster: there the chunks ran one after another on "
                   "the thread that serves the connection, and K changed little but noise.")
    return out


def accept_text(cells: list[dict]) -> list[str]:
    out = []
    for c in cells:
        pw = c.get("per_worker")
        if not pw:
            continue
        loops = [w for w in pw if w.get("kind") == "loop"]
        conns = "/".join(str(w["connections_total"]) for w in loops)
        reqs = "/".join(f"{w['requests']:,}" for w in loops)
        ic, ir = loop_imbalance(pw, "connections_total"), loop_imbalance(pw, "requests")
        out.append(f"{c['variant'] or c['mode']}: connections per loop {conns} (max ÷ mean "
                   f"{'-' if ic is None else f'{ic:.2f}'}), requests {reqs} "
                   f"(max ÷ mean {'-' if ir is None else f'{ir:.2f}'}), {fmt_rps(c['rps'])} req/s.")
    if out:
        out.append("Round-robin hands connections to the loops in turn; with SO_REUSEPORT the kernel hashes each "
                   "connection's addresses and ports, which can pile connections onto one loop.")
    return out


@dataclass
class Check:
    """One of the issue's expected results, checked against this run."""

    name: str  # the scenario it is about
    expectation: str
    figure: str
    verdict: str  # "met", "missed", "not measured"
    why: list[str]  # why it was missed, or what to know about the figure


def expected_checks(cells: list[dict]) -> list[Check]:
    return [check_cpu(cells), check_cpu_new(cells), check_io(cells), check_block_threads(cells),
            check_footprint(cells), check_mixed(cells), check_imbalance(cells), *overhead_checks(cells),
            check_overload(cells)]


#: Where overhead's targets name a connection count, the issue's ("Fast path").
OVERHEAD_CONNECTIONS, OVERHEAD_PIPELINE_CONNECTIONS = 64, (16, 64)


def overhead_checks(cells: list[dict]) -> list[Check]:
    """One row per target of the overhead scenario: cvp's best model against the peer."""
    checks = []
    for variant, path in (("plaintext", "/plaintext"), ("json", "/json")):
        cs = select(cells, scenario="overhead", variant=variant)
        conns = max((c["connections"] for c in cs), default=OVERHEAD_CONNECTIONS)
        checks.append(_check_against(cs, f"overhead {path}", f"{path} over {conns} keep-alive connections: cvp's "
                                     "best model ≥ 1.0× nginx (1 worker)", "nginx"))
    pipe = select(cells, scenario="overhead", variant="pipeline")
    counts = sorted({c["connections"] for c in pipe}) or list(OVERHEAD_PIPELINE_CONNECTIONS)
    depth = pipe[0]["params"].get("pipeline", 16) if pipe else 16
    for conns in counts:
        cs = [c for c in pipe if c["connections"] == conns]
        checks.append(_check_against(cs, f"overhead pipelined c{conns}", f"/plaintext pipelined ×{depth} over "
                                     f"{conns} connections: cvp's best model ≥ 1.0× nginx", "nginx"))
    checks.append(check_idle(cells))
    pb = select(cells, scenario="overhead", variant="pbkdf2")
    node = one(pb, mode="node")
    pool = (node.get("parallelism") or node["workers"]) if node else 2
    iterations = pb[0]["params"]["iterations"] if pb else 8800
    for mode in ("offload", "reactors"):
        cs = [c for c in pb if c["mode"] in (mode, "node")]
        par = (one(cs, mode=mode) or {}).get("parallelism") or pool
        checks.append(_check_against(cs, f"overhead PBKDF2 {mode}", f"PBKDF2 {iterations:,} iterations: {mode} with "
                                     f"parallelism {par} ≥ 1.0× Node's libuv pool of {pool}", "node", models=(mode,)))
    return checks


def _check_against(cells: list[dict], name: str, want: str, peer_mode: str,
                   models: tuple[str, ...] = CVP_MODES) -> Check:
    """cvp's best of ``models`` against ``peer_mode`` in one point's cells: met at 1.0× or more."""
    peer = one(cells, mode=peer_mode)
    cvp = [c for c in cells if c["mode"] in models and c.get("rps")]
    if not cvp or not peer or not peer.get("rps"):
        missing = [what for what, ok in ((_join(list(models)), cvp), (peer_mode, peer and peer.get("rps"))) if not ok]
        return Check(name, want, "-", "not measured", [f"needs a measured cell for {_join(missing)}"])
    best = max(cvp, key=lambda c: c["rps"])
    ratio, lo, hi = _ratio_range(best, peer)
    figure = (f"{best['mode']} {_rps_range(best)} against {peer_mode} {_rps_range(peer)}: "
              f"{ratio:.2f}× ({lo:.2f}–{hi:.2f})")
    why = []
    cpu = _cpu_per_request([best, peer])
    if cpu:
        why.append(f"server CPU per request {cpu}")
    if lo < 1.0 <= hi:
        why.append("the repeats' ranges straddle 1.0×: within this run's noise")
    sat = [c["mode"] for c in (best, peer) if c.get("client_saturated")]
    if sat:
        why.append(f"wrk was saturated for {_join(sat)} (up to {fmt_pct(max(c['client_cpu'] for c in (best, peer)), 0)} "
                   "of its CPU): the throughput there is wrk's limit, not the server's")
    if any(c.get("notes") for c in (best, peer)):
        why.append("wrk shares a CPU with the servers here")
    return Check(name, want, figure, "met" if ratio >= 1.0 else "missed", why + _noise([best, peer]))


#: The issue's target for cvp's memory per idle keep-alive connection.
IDLE_TARGET_BYTES = 1024


def check_idle(cells: list[dict]) -> Check:
    name = "overhead idle"
    idle = select_idle(cells)
    n = max((c["idle_connections_wanted"] for c in idle), default=10_000)
    want = f"RSS per idle keep-alive connection at {n:,} connections: cvp's best model ≤ 1 KiB (nginx beside it)"
    cvp = [c for c in idle if c["mode"] in CVP_MODES]
    if not cvp:
        return Check(name, want, "-", "not measured", ["needs an idle cell for a cvp model"])
    best = min(cvp, key=lambda c: c["rss_per_connection_bytes"])
    figure = (f"{best['mode']} {fmt_bytes(best['rss_per_connection_bytes'])} "
              f"({fmt_bytes(best['rss_per_connection_bytes_min'])}–{fmt_bytes(best['rss_per_connection_bytes_max'])})")
    nginx = next((c for c in idle if c["mode"] == "nginx"), None)
    figure += (f"; nginx {fmt_bytes(nginx['rss_per_connection_bytes'])} "
               f"({fmt_bytes(nginx['rss_per_connection_bytes_min'])}–{fmt_bytes(nginx['rss_per_connection_bytes_max'])})"
               if nginx else "; nginx not measured")
    why = [f"{_n(best['repeats'], 'repeat')}, every one on a fresh server: (RSS after − RSS before) ÷ connections "
           "held, after one priming request"]
    short = [c for c in idle if c["idle_connections"] < c["idle_connections_wanted"]]
    if short:
        why.append("fewer connections held than wanted: " + _join(
            [f"{c['mode']} {c['idle_connections']:,} of {c['idle_connections_wanted']:,}" for c in short])
            + " (see the cell's runs[].notes and errors)")
    others = [c for c in cvp if c is not best]
    if others:
        why.append("the other models: " + _join([f"{c['mode']} {fmt_bytes(c['rss_per_connection_bytes'])}"
                                                  for c in others]))
    met = best["rss_per_connection_bytes"] <= IDLE_TARGET_BYTES
    return Check(name, want, figure, "met" if met else "missed", why)


def check_cpu(cells: list[dict]) -> Check:
    name = "cpu"
    want = "reactors or offload ≥ 1.8× single on cpu with 2 workers"
    cs = select(cells, scenario="cpu", workers=2)
    single = one(cs, mode="single")
    others = [c for c in cs if c["mode"] in ("reactors", "offload")]
    if not single or not others:
        return Check(name, want, "-", "not measured", ["needs cpu cells for single and reactors/offload at 2 workers"])
    best = max(others, key=lambda c: c["rps"])
    ratio = best["rps"] / single["rps"]
    figure = _join([f"{c['mode']} {c['rps'] / single['rps']:.2f}×" for c in others])
    if ratio >= 1.8:
        return Check(name, want, figure, "met", [])
    why = [f"{c['mode']} kept {c.get('server_cpus_busy') or 0:.2f} of 2 CPUs busy "
           f"({fmt_rps(c['rps'])} req/s against single's {fmt_rps(single['rps'])})" for c in others]
    why.append(f"wrk used up to {fmt_pct(max(c.get('client_cpu_max') or 0 for c in cs), 0)} of the CPU it shares "
               "with the server")
    if any(c.get("client_saturated") for c in cs):
        why.append("wrk was saturated")
    return Check(name, want, figure, "missed", why + _noise(cs))


def check_io(cells: list[dict]) -> Check:
    name = "io"
    want = "single ≥ 97% of the Little's-law bound on io at 1,000 connections"
    cs = select(cells, scenario="io", variant="sleep", mode="single")
    cs = [c for c in cs if c["connections"] <= 1000]
    if not cs:
        return Check(name, want, "-", "not measured", ["needs io sleep cells for single"])
    c = max(cs, key=lambda c: c["connections"])
    ll = c["littles_law"]
    steady, whole = ll.get("steady_bound_share"), ll.get("bound_share")
    figure = (f"{fmt_pct(steady)} in steady state, {fmt_pct(whole)} over whole runs, at {c['connections']:,} "
              f"connections ({fmt_rps(c['rps'])} of {fmt_rps(c['littles_law_bound_rps'])} req/s)")
    if c["connections"] != 1000:
        return Check(name, want, figure, "not measured", ["the sweep did not reach 1,000 connections"])
    notes = []
    mean = c["latency_us"].get("mean")
    wait_us = c["params"]["wait_ms"] * 1000
    spread = c["params"].get("spread_ms", 0)
    if spread:
        control = one(select(cells, scenario="io", variant="sleep-lockstep"), mode="single",
                      connections=c["connections"])
        share = control and control["littles_law"].get("steady_bound_share")
        notes.append(f"each wait is drawn from {c['params']['wait_ms']} ± {spread} ms, as a downstream's latency "
                     "varies" + (f"; the control with every wait exactly {c['params']['wait_ms']} ms reached "
                                 f"{fmt_pct(share)}" if share is not None else ""))
    if mean and whole is not None and steady is not None and whole < steady - 0.003:
        rounds = c["duration_s"] * 1e6 / mean
        notes.append(f"the whole-run share is lower because each {c['duration_s']}-s run is only {rounds:.0f} "
                     f"rounds of {fmt_us(mean)} per connection, and wrk drops the requests still in flight when it "
                     f"stops (about one round, {1 / rounds:.1%}); the steady-state share is connections ÷ mean "
                     "latency, Little's law for a closed loop")
    if steady is not None and steady >= 0.97:
        return Check(name, want, figure, "met", notes)
    why = []
    if mean:
        why.append(f"mean latency {fmt_us(mean)} against a {fmt_us(wait_us)} wait: "
                   f"{mean / wait_us - 1:+.1%} per request")
    busy = c.get("server_cpus_busy")
    if busy is not None:
        why.append(f"single's one loop was {busy:.0%} busy ({c['server_cpu_us_per_request']:.0f} µs of CPU per "
                   "request); timers that expire while it works on other requests complete late, and more so the "
                   "busier it is")
    if c.get("client_saturated"):
        why.append("wrk was saturated")
    if c["errors"]["total"]:
        why.append(f"{c['errors']['total']} errors")
    return Check(name, want, figure, "missed", why + notes + _noise([c]))


def _noise(cells: list[dict]) -> list[str]:
    """A note when other processes were busy during these cells' runs."""
    worst = max((c.get("background_cpus_max") or 0 for c in cells), default=0)
    if worst < NOISY_CPUS:
        return []
    return [f"other processes on this machine kept up to {worst:.2f} CPUs busy during these runs"]


def check_mixed(cells: list[dict]) -> Check:
    name = "mixed"
    want = "offload keeps mixed-load I/O p99 within 10% of the sleep; single's grows with the CPU queue"
    io_cells = select(cells, scenario="mixed", variant="io")
    off, single = one(io_cells, mode="offload"), one(io_cells, mode="single")
    if not off:
        return Check(name, want, "-", "not measured", ["needs a mixed cell for offload"])
    wait_us = off["params"]["wait_ms"] * 1000
    figure = f"offload p99 {fmt_us(off['latency_us']['p99'])} ({off['latency_us']['p99'] / wait_us - 1:+.1%})"
    why = []
    ok = off["latency_us"]["p99"] <= 1.1 * wait_us
    if single:
        figure += f"; single p99 {fmt_us(single['latency_us']['p99'])} " \
                  f"({single['latency_us']['p99'] / wait_us - 1:+.0%})"
        if single["latency_us"]["p99"] <= 1.1 * wait_us:
            ok = False
            why.append("single's p99 did not grow: the CPU stream did not queue work on its loop")
    if off["latency_us"]["p99"] > 1.1 * wait_us:
        alone = one(select(cells, scenario="mixed", variant="io-alone"), mode="offload")
        if alone:
            why.append(f"offload's I/O stream alone already had a p99 of {fmt_us(alone['latency_us']['p99'])} "
                       f"({alone['latency_us']['p99'] / wait_us - 1:+.1%}): its one loop completes timers late "
                       f"at {fmt_rps(alone['rps'])} req/s, {alone['server_cpu_us_per_request']:.0f} µs of CPU "
                       "per request")
        nice = str((off["server"].get("startup") or {}).get("pool_nice"))  # absent before --pool-nice existed
        below = ("" if not nice.isdigit() else " at its own priority (`--pool-nice 0`)" if int(nice) == 0
                 else f" (started with `--pool-nice {nice}`, below the loop's priority)")
        why.append(f"beside the CPU stream its loop shares CPUs {off['server']['cpus']} with its busy pool threads "
                   f"({_par(off)}){below} and with wrk, so each timer completion may also wait for the scheduler")
        why += _noise([off])
    return Check(name, want, figure, "met" if ok else "missed", why)


# -- overload ----------------------------------------------------------------------------

#: The issue's target: offload's goodput under a 10× flood, as a share of its goodput at saturation.
OVERLOAD_TARGET = 0.8
OVERLOAD_LABELS = {"saturation": "saturation", "flood": "flood, default pause", "flood-nopause": "flood, pause off"}
#: Names in sentences and lists, where the labels' commas would confuse.
OVERLOAD_NAMES = {"saturation": "saturation", "flood": "flood", "flood-nopause": "control"}
OVERLOAD_COLORS = {"saturation": "tab:green", "flood": "tab:olive", "flood-nopause": "tab:red"}


def select_overload(cells: list[dict]) -> dict[str, dict]:
    """overload's measured cells by variant: saturation, flood, flood-nopause (those present)."""
    out = {}
    for c in select(cells, scenario="overload"):
        out.setdefault(c["variant"], c)
    return {v: out[v] for v in OVERLOAD_LABELS if v in out}


def _pause(c: dict) -> str:
    pause = c["params"].get("overload_pause")
    return "the default `--overload-pause`" if pause == "default" else f"`--overload-pause {pause}`"


def chart_overload(cells: list[dict], path: Path) -> None:
    plt = _pyplot()
    by = select_overload(cells)
    cs = list(by.values())
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    names = [OVERLOAD_LABELS[c["variant"]].replace(", ", "\n") + f"\nc={c['connections']}" for c in cs]
    colors = [OVERLOAD_COLORS[c["variant"]] for c in cs]
    bars = ax.bar(names, [c["rps"] for c in cs], yerr=_errbar(cs), capsize=4, color=colors)
    for bar, c in zip(bars, cs):
        bar.set_hatch("//" if c.get("client_saturated") else "")
    sat = by.get("saturation")
    for i, c in enumerate(cs):
        label = fmt_rps(c["rps"])
        if sat and c is not sat and sat["rps"]:
            label += f"\n{c['rps'] / sat['rps']:.2f}×"
        ax.annotate(label, (i, c["rps"]), ha="center", va="bottom", fontsize=8, xytext=(0, 4),
                    textcoords="offset points")
    if sat:
        ax.axhline(OVERLOAD_TARGET * sat["rps"], color="black", linestyle=":",
                   label=f"target: {OVERLOAD_TARGET}× saturation")
        ax.legend(fontsize=8, loc="lower left")
    ax.margins(y=0.2)
    ax.set_ylabel("goodput: 2xx responses per second")
    ax.set_title("goodput (hatched: wrk saturated)", fontsize=10)
    rates = [c.get("non2xx_rps") or 0 for c in cs]
    ax2.bar(names, rates, yerr=_errbar(cs, key="non2xx_rps") if any(rates) else None, capsize=4, color=colors)
    for i, c in enumerate(cs):
        ax2.annotate(f"{fmt_rps(c.get('non2xx_rps'))}/s\nwrk CPU {fmt_pct(c.get('client_cpu'), 0)}",
                     (i, max(rates[i], 1)), ha="center", va="bottom", fontsize=8, xytext=(0, 4),
                     textcoords="offset points")
    if any(rates):
        from matplotlib.ticker import FuncFormatter, NullFormatter
        ax2.set_yscale("log")
        ax2.set_ylim(bottom=1, top=max(rates) * 10)
        ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax2.yaxis.set_minor_formatter(NullFormatter())  # decades only: the minor labels would overlap
    ax2.set_ylabel("refused (non-2xx) responses per second (log)")
    ax2.set_title("503s from the full pool queue, and wrk's CPU", fontsize=10)
    first = cs[0]
    fig.suptitle(f"overload: offload, {first['params']['pool_threads']} pool threads + queue of "
                 f"{first['params']['pool_queue']}, {first['path']} (median, min–max)", fontsize=11)
    _save(fig, path)


def _x(r: float, target: float = OVERLOAD_TARGET) -> str:
    """A ratio with two decimals, or three where two would hide which side of ``target`` it is on."""
    return f"{r:.3f}" if abs(r - target) < 0.005 and r != target else f"{r:.2f}"


def _admits(c: dict) -> str:
    pr = c["params"]
    return f"the {pr['admitted']} requests it admits ({pr['pool_threads']} running, {pr['pool_queue']} queued)"


def _end_loss(sat: dict, flood: dict) -> float | None:
    """How much more of the flood's count than the saturation's a run loses when wrk stops mid-request.

    wrk counts only answers that came back: at the end each admitted request still in flight
    is lost, at most min(connections, admitted) of them.  Returned as a share of the flood's
    successes per run.
    """
    admitted = flood["params"]["admitted"]
    extra = min(flood["connections"], admitted) - min(sat["connections"], admitted)
    per_run = flood["rps"] * (flood["duration_s"] or 0)
    return extra / per_run if per_run > 0 and extra > 0 else None


def _pool_count(c: dict) -> str:
    """The server's own count of refusals beside wrk's, and why they differ."""
    pool, wrk = c.get("pool_rejected_rps"), c.get("non2xx_rps")
    if pool is None or wrk is None:
        return ""
    text = f"; the pool counted {fmt_rps(pool)} rejections a second"
    if pool > wrk * 1.01:
        text += ", also those whose answer wrk no longer read once it had stopped"
    elif pool < wrk * 0.99:
        text += ": the other refusals were not the pool's"
    return text


def overload_rows(cells: list[dict]) -> list[list[str]]:
    by = select_overload(cells)
    sat = by.get("saturation")
    rows = []
    for v, c in by.items():
        ratio = "-"
        if sat and c is not sat and sat["rps"]:
            r, lo, hi = _ratio_range(c, sat)
            ratio = f"{_x(r)}× ({_x(lo)}–{_x(hi)})"
        pause = c["params"].get("overload_pause")
        rows.append([OVERLOAD_LABELS[v], str(c["connections"]), "default" if pause == "default" else pause,
                     _rps_range(c), ratio,
                     f"{fmt_rps(c.get('non2xx_rps'))} ({fmt_rps(c.get('non2xx_rps_min'))}–"
                     f"{fmt_rps(c.get('non2xx_rps_max'))})",
                     fmt_rps(c.get("pool_rejected_rps")),
                     fmt_us(c.get("server_cpu_us_per_success")), fmt_us(c.get("server_cpu_us_per_request")),
                     fmt_pct(c.get("client_cpu"), 0) + (" (saturated)" if c.get("client_saturated") else "")])
    return rows


OVERLOAD_HEADER = ["point", "conns", "--overload-pause", "goodput req/s (min–max)", "× saturation (range)",
                   "non-2xx/s (min–max)", "pool rejected/s", "srv CPU per 2xx", "srv CPU per response", "wrk CPU"]


def overload_text(cells: list[dict]) -> list[str]:
    by = select_overload(cells)
    sat, flood, ctrl = by.get("saturation"), by.get("flood"), by.get("flood-nopause")
    out = []
    if sat:
        refused = (f"and {sat['non2xx']:,} refused over {_n(sat['repeats'], 'repeat')}: more than it admits were in "
                   "flight, so this is not a clean saturation point" if sat.get("non2xx") else "and no refusal")
        out.append(f"At saturation, over {sat['connections']} connections, fewer than {_admits(sat)}, offload "
                   f"answered {_rps_range(sat)} {refused}; server CPU per answer "
                   f"{fmt_us(sat.get('server_cpu_us_per_success'))}.")
    for c in (flood, ctrl):
        if not c:
            continue
        text = (f"Flooded by {c['connections']} connections, {c['connections'] / c['params']['admitted']:.0f}× "
                f"{_admits(c)}, with {_pause(c)}"
                + (" (the control)" if c is ctrl else "") + f", its goodput was {_rps_range(c)}")
        if sat and sat["rps"]:
            r, lo, hi = _ratio_range(c, sat)
            text += f", {_x(r)}× saturation ({_x(lo)}–{_x(hi)})"
        text += (f", while it refused {fmt_rps(c.get('non2xx_rps'))} requests a second (wrk's non-2xx responses"
                 + _pool_count(c) + f"). Server CPU per successful answer: "
                 f"{fmt_us(c.get('server_cpu_us_per_success'))}"
                 + (f" against {fmt_us(sat.get('server_cpu_us_per_success'))} at saturation" if sat else "") + ".")
        out.append(text)
    if flood and ctrl and ctrl["rps"]:
        r, lo, hi = _ratio_range(flood, ctrl)
        text = (f"What the pause buys: under the same flood, goodput with the default pause is {r:.2f}× ({lo:.2f}–"
                f"{hi:.2f}) that with the pause off, and the refusals go from {fmt_rps(ctrl.get('non2xx_rps'))} to "
                f"{fmt_rps(flood.get('non2xx_rps'))} a second")
        if lo > 1.0:
            text += (": each refused connection waits before its next request is read, so refusals take less of the "
                     "CPU that the admitted work needs.")
        elif hi < 1.0:
            text += ": here the pause cost goodput instead of saving it."
        else:
            text += ": the ranges straddle 1.0×, so within this run's noise the pause made no difference to goodput."
        out.append(text)
    cs = list(by.values())
    if cs:
        text = (f"wrk (`-t{cs[0]['wrk_threads']}` on CPU {cs[0]['client_cpus']}) shares a CPU with the server "
                f"(CPUs {cs[0]['server']['cpus']}) and used " if cs[0].get("notes") else
                f"wrk (`-t{cs[0]['wrk_threads']}` on CPU {cs[0]['client_cpus']}) used ")
        text += _join([f"{fmt_pct(c.get('client_cpu'), 0)} ({OVERLOAD_NAMES[c['variant']]})" for c in cs]) + " of it"
        sat_wrk = [OVERLOAD_NAMES[c["variant"]] for c in cs if c.get("client_saturated")]
        text += (f"; it was saturated for {_join(sat_wrk)}, so there the client, not the server, may be the limit."
                 if sat_wrk else ".")
        out.append(text)
    if sat and flood:
        loss = _end_loss(sat, flood)
        if loss is not None and loss >= 0.01:
            out.append(f"Each run is {flood['duration_s']} s and wrk drops the requests still in flight when it stops: "
                       f"up to {min(flood['connections'], flood['params']['admitted'])} at the flood against "
                       f"{min(sat['connections'], flood['params']['admitted'])} at saturation, about {loss:.1%} of "
                       "the flood's count, which lowers its ratio by as much.")
    return out


def check_overload(cells: list[dict]) -> Check:
    name = "overload"
    want = f"offload goodput under a 10× flood ≥ {OVERLOAD_TARGET}× goodput at saturation"
    by = select_overload(cells)
    sat, flood, ctrl = by.get("saturation"), by.get("flood"), by.get("flood-nopause")
    if not sat or not flood or not sat["rps"]:
        missing = [v for v, c in (("saturation", sat), ("flood", flood)) if not c]
        return Check(name, want, "-", "not measured",
                     [f"needs measured overload cells: {_join(missing) or 'saturation with a goodput above 0'}"])
    r, lo, hi = _ratio_range(flood, sat)
    figure = (f"{_x(r)}× ({_x(lo)}–{_x(hi)}): flood ({flood['connections']} conns) {_rps_range(flood)} against "
              f"saturation ({sat['connections']} conns) {_rps_range(sat)}")
    if ctrl:
        cr, clo, chi = _ratio_range(ctrl, sat)
        figure += f"; control, `--overload-pause {ctrl['params']['overload_pause']}`: {cr:.2f}× ({clo:.2f}–{chi:.2f})"
    else:
        figure += "; control not measured"
    why = [f"{flood['connections']} connections are {flood['connections'] / flood['params']['admitted']:.0f}× "
           f"{_admits(flood)}; the flood was refused {fmt_rps(flood.get('non2xx_rps'))} times a second"
           + (f", the control {fmt_rps(ctrl.get('non2xx_rps'))}" if ctrl else "")]
    if not flood.get("non2xx"):
        why.append("the flood got no refusal: it did not exceed what the server admits")
    if sat.get("non2xx"):
        why.append(f"the saturation point had {sat['non2xx']:,} refusals: it was not below what the server admits")
    cpu = [f"{OVERLOAD_NAMES[c['variant']]} {fmt_us(c['server_cpu_us_per_success'])}" for c in (sat, flood, ctrl)
           if c and c.get("server_cpu_us_per_success") is not None]
    if cpu:
        why.append("server CPU per successful answer: " + _join(cpu))
    a, b = sat.get("server_cpu_us_per_success"), flood.get("server_cpu_us_per_success")
    if a and b and b > a * 1.02:
        why.append(f"under the flood {1 - a / b:.0%} of the server's CPU per successful answer went beyond what "
                   "saturation spent: refusing, and the extra connections")
    nice = str((flood["server"].get("startup") or {}).get("pool_nice"))
    if r < OVERLOAD_TARGET and nice.isdigit() and int(nice) > 0:
        why.append(f"the pool threads run `--pool-nice {nice}` below the loop, so on the CPUs they share with the "
                   "loop answering refusals, and with wrk, both come first")
    why.append("wrk's CPU: " + _join([f"{OVERLOAD_NAMES[c['variant']]} {fmt_pct(c.get('client_cpu'), 0)}"
                                      for c in (sat, flood, ctrl) if c])
               + ("; wrk shares a CPU with the server" if flood.get("notes") else ""))
    sat_wrk = [OVERLOAD_NAMES[c["variant"]] for c in (sat, flood, ctrl) if c and c.get("client_saturated")]
    if sat_wrk:
        why.append(f"wrk was saturated for {_join(sat_wrk)}: the client may be the limit there")
    if lo < OVERLOAD_TARGET <= hi:
        why.append(f"the repeats' range straddles {OVERLOAD_TARGET}×: within this run's noise")
    loss = _end_loss(sat, flood)
    if loss is not None and loss >= 0.01:
        why.append(f"{flood['duration_s']}-s runs: the requests in flight when wrk stops cost the flood about "
                   f"{loss:.1%} more than saturation")
    return Check(name, want, figure, "met" if r >= OVERLOAD_TARGET else "missed",
                 why + _noise([c for c in (sat, flood, ctrl) if c]))


# -- comparing models ------------------------------------------------------------------

def _key_range(a: dict, b: dict, key: str, sub: str | None = None) -> tuple[float, float, float] | None:
    """a ÷ b on medians and over the repeats' extremes, for ``key`` (``latency_us`` with ``sub``: a percentile;
    ``footprint`` with ``sub``: one of its figures).  None where either lacks it."""
    try:
        if key == "latency_us":
            mid, lo, hi = ((a[k][sub], b[k2][sub]) for k, k2 in
                           (("latency_us", "latency_us"), ("latency_us_min", "latency_us_max"),
                            ("latency_us_max", "latency_us_min")))
        elif sub is not None:
            fa, fb = a[key], b[key]
            mid, lo, hi = ((fa[sub], fb[sub]), (fa[sub + "_min"], fb[sub + "_max"]), (fa[sub + "_max"], fb[sub + "_min"]))
        else:
            return _ratio_range(a, b, key)
        return mid[0] / mid[1], lo[0] / lo[1], hi[0] / hi[1]
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def _times(r: tuple[float, float, float] | None, whom: str, more: str, less: str) -> str:
    """``1.52× reactors' (1.40–1.61): faster``; the word only where the range leaves 1.0 out."""
    if r is None:
        return f"not comparable with {whom}"
    ratio, lo, hi = r
    verdict = more if lo > 1.0 else less if hi < 1.0 else "the ranges overlap: within this run's noise"
    return f"{ratio:.2f}× {whom} ({lo:.2f}–{hi:.2f}; {verdict})"


def _poss(mode: str) -> str:
    """``single's``, ``reactors'``."""
    return mode + ("'" if mode.endswith("s") else "'s")


def _reference(cells: list[dict], model: str) -> dict | None:
    """What a new model is set beside: reactors (the other multi-threaded loop model), else single."""
    for ref in ("reactors", "single", "offload"):
        c = one(cells, mode=ref)
        if c is not None and ref != model:
            return c
    return None


def _new_models_plaintext(cells: list[dict]) -> list[str]:
    out = []
    for m in NEW_MODELS:
        c, ref = one(cells, mode=m), _reference(cells, m)
        if not c or not ref:
            continue
        whose = _poss(ref["mode"])
        text = f"{m} ({_par(c)}) served {_rps_range(c)}, {_times(_key_range(c, ref, 'rps'), whose, 'faster', 'slower')}"
        if c.get("server_cpu_us_per_request") and ref.get("server_cpu_us_per_request"):
            text += (f"; server CPU per request {c['server_cpu_us_per_request']:.1f} µs against "
                     f"{ref['server_cpu_us_per_request']:.1f} µs")
        out.append(text + ".")
    return out


def _new_models_overhead(cells: list[dict]) -> list[str]:
    out = []
    idle = select_idle(cells)
    for m in NEW_MODELS:
        parts = []
        for _, _, label, cs in overhead_points(cells):
            c, nginx = one(cs, mode=m), one(cs, mode="nginx")
            if c and nginx and nginx["rps"]:
                parts.append(f"{label} {c['rps'] / nginx['rps']:.2f}×")
        text = f"{m} against nginx: {_join(parts)}" if parts else ""
        mine = next((c for c in idle if c["mode"] == m), None)
        others = [c for c in idle if c["mode"] in CVP_MODES and c["mode"] not in NEW_MODELS]
        if mine:
            least = min(others, key=lambda c: c["rss_per_connection_bytes"]) if others else None
            text += ("; " if text else f"{m}: ") + f"RSS per idle connection {fmt_bytes(mine['rss_per_connection_bytes'])}"
            if least and least["rss_per_connection_bytes"] > 0:
                text += ", " + _times(_key_range(mine, least, "rss_per_connection_bytes"), _poss(least["mode"]),
                                      "more", "less")
        if text:
            out.append(text + ".")
    return out


def _new_models_io(sleep: list[dict], block: list[dict]) -> list[str]:
    out = []
    if sleep:
        top = max(c["connections"] for c in sleep)
        at_top = [c for c in sleep if c["connections"] == top]
        for m in NEW_MODELS:
            c, ref = one(at_top, mode=m), _reference(at_top, m)
            if not c or not ref:
                continue
            mine, theirs = (c["littles_law"].get("steady_bound_share"), ref["littles_law"].get("steady_bound_share"))
            out.append(f"With timer waits at {top:,} connections, {m} ({_par(c)}) reached {fmt_pct(mine)} of the bound "
                       f"in steady state, against {_poss(ref['mode'])} {fmt_pct(theirs)}"
                       + (f"; p99 {fmt_us(c['latency_us']['p99'])} against {fmt_us(ref['latency_us']['p99'])}"
                          if c["latency_us"].get("p99") and ref["latency_us"].get("p99") else "") + ".")
    if block:
        top = max(c["connections"] for c in block)
        at_top = [c for c in block if c["connections"] == top]
        pooled = [c for c in at_top if c.get("parallelism") and c["parallelism"] < c["connections"]
                  and c["littles_law_bound_rps"]]
        most = max(pooled, key=lambda c: c["littles_law_bound_rps"]) if pooled else None
        for m in NEW_MODELS:
            c = one(at_top, mode=m)
            if not c or not c["littles_law_bound_rps"]:
                continue
            share = c["rps"] / c["littles_law_bound_rps"]
            if c.get("parallelism") and c["parallelism"] >= c["connections"]:
                text = (f"With /io/block at {top:,} connections {m} answered {fmt_rps(c['rps'])} req/s, {fmt_pct(share)} "
                        f"of its bound, {fmt_rps(c['littles_law_bound_rps'])} (connections ÷ wait: its {_par(c)} is "
                        "above the connections)")
                if most:
                    r = c["rps"] / most["littles_law_bound_rps"]
                    text += (f", {r:.1f}× the most a model held to a pool of threads could reach here "
                             f"({most['mode']}, {fmt_rps(most['littles_law_bound_rps'])} req/s, threads ÷ wait)")
                    text += (": a thread per connection is not bounded by a pool size." if r > 1.5 else
                             ": here it did not get clearly past a pool's bound.")
                else:
                    text += "."
            else:
                text = (f"With /io/block at {top:,} connections {m} ({_par(c)}) answered {fmt_rps(c['rps'])} req/s, "
                        f"{fmt_pct(share)} of its threads ÷ wait, {fmt_rps(c['littles_law_bound_rps'])}: blocking "
                        "work waits for one of its threads, as in the other pooled models.")
            out.append(text)
    return out


def _new_models_cpu(cells: list[dict]) -> list[str]:
    out = []
    top = max(c["workers"] for c in cells)
    at_top = [c for c in cells if c["workers"] == top]
    single, reactors = one(at_top, mode="single"), one(at_top, mode="reactors")
    base = _cpu_base(cells)
    for m in NEW_MODELS:
        c = one(at_top, mode=m)
        if not c:
            continue
        parts = [_times(_key_range(c, ref, "rps"), _poss(ref["mode"]), "more", "less")
                 for ref in (single, reactors) if ref]
        eff = _efficiency(c, base) if top > 1 else None  # at one worker it is its own base
        out.append(f"At {_n(top, 'worker')} {m} ({_par(c)} on {_n(cpus_of(c), 'CPU')}) served {_rps_range(c)}"
                   + (f": {_join(parts)}" if parts else "")
                   + (f"; scaling efficiency {fmt_pct(eff, 0)}" if eff is not None else "") + ".")
    return out


def _new_models_mixed(io_cells: list[dict]) -> list[str]:
    out = []
    if not io_cells:
        return out
    wait_us = io_cells[0]["params"]["wait_ms"] * 1000
    for m in NEW_MODELS:
        c = one(io_cells, mode=m)
        if not c or not c["latency_us"].get("p99"):
            continue
        refs = [r for r in (one(io_cells, mode="offload"), one(io_cells, mode="reactors")) if r]
        parts = [_times(_key_range(c, r, "latency_us", "p99"), _poss(r["mode"]), "higher", "lower") for r in refs]
        out.append(f"{_poss(m)} I/O p99 beside the CPU stream was {fmt_us(c['latency_us']['p99'])} "
                   f"({c['latency_us']['p99'] / wait_us - 1:+.0%} over the sleep)"
                   + (f": {_join(parts)}" if parts else "") + ".")
    return out


# -- io at the most connections: RSS and context switches ------------------------------

FOOTPRINT_HEADER = ["model", "conns", "RSS before → during", "RSS per conn (min–max)", "voluntary switches/req",
                    "involuntary switches/req", "threads alive"]


def select_footprint(cells: list[dict]) -> list[dict]:
    """io sleep cells with RSS and context-switch figures (the most connections), in mode order."""
    return [c for c in select(cells, scenario="io", variant="sleep") if c.get("footprint")]


def _switches(fp: dict) -> str:
    v, i = fp.get("voluntary_switches_per_request"), fp.get("involuntary_switches_per_request")
    return "-" if v is None else f"{v:.2f} + {i:.2f}"


def footprint_rows(cells: list[dict]) -> list[list[str]]:
    rows = []
    for c in select_footprint(cells):
        fp = c["footprint"]
        mib = lambda b: "-" if b is None else f"{b / 2**20:.1f} MiB"  # noqa: E731
        rows.append([c["mode"], f"{fp['connections']:,}", f"{mib(fp['rss_before_bytes'])} → {mib(fp['rss_during_bytes'])}",
                     f"{fmt_bytes(fp['rss_per_connection_bytes'])} ({fmt_bytes(fp['rss_per_connection_bytes_min'])}–"
                     f"{fmt_bytes(fp['rss_per_connection_bytes_max'])})",
                     "-" if fp["voluntary_switches_per_request"] is None else f"{fp['voluntary_switches_per_request']:.3f}",
                     "-" if fp["involuntary_switches_per_request"] is None
                     else f"{fp['involuntary_switches_per_request']:.3f}",
                     "-" if fp.get("threads_alive") is None else f"{fp['threads_alive']:,.0f}"])
    return rows


def chart_footprint(cells: list[dict], path: Path) -> None:
    plt = _pyplot()
    cs = select_footprint(cells)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    names = [c["mode"] for c in cs]
    colors = [COLORS.get(n, OTHER_COLOR) for n in names]
    rss = [c["footprint"]["rss_per_connection_bytes"] / 1024 for c in cs]
    lo = [max(0.0, r - c["footprint"]["rss_per_connection_bytes_min"] / 1024) for r, c in zip(rss, cs)]
    hi = [max(0.0, c["footprint"]["rss_per_connection_bytes_max"] / 1024 - r) for r, c in zip(rss, cs)]
    ax.bar(names, rss, yerr=[lo, hi], capsize=4, color=colors)
    for i, c in enumerate(cs):
        ax.annotate(fmt_bytes(c["footprint"]["rss_per_connection_bytes"]), (i, max(rss[i], 0)), ha="center",
                    va="bottom", fontsize=8, xytext=(0, 4), textcoords="offset points")
    ax.margins(y=0.15)
    ax.set_ylabel("KiB per connection")
    ax.set_title("RSS per connection: (during − before) ÷ connections", fontsize=10)
    vol = [c["footprint"]["voluntary_switches_per_request"] or 0 for c in cs]
    inv = [c["footprint"]["involuntary_switches_per_request"] or 0 for c in cs]
    ax2.bar(names, vol, color=colors, label="voluntary (waited)")
    ax2.bar(names, inv, bottom=vol, color=colors, hatch="//", alpha=0.6, label="involuntary (preempted)")
    for i in range(len(cs)):
        ax2.annotate(f"{vol[i] + inv[i]:.2f}", (i, vol[i] + inv[i]), ha="center", va="bottom", fontsize=8,
                     xytext=(0, 4), textcoords="offset points")
    ax2.margins(y=0.15)
    ax2.set_ylabel("context switches per request")
    ax2.set_title("context switches per request, every thread (/proc)", fontsize=10)
    ax2.legend(fontsize=8)
    first = cs[0]
    fig.suptitle(f"io at {first['footprint']['connections']:,} connections, {first['path']}: sampled while wrk held them",
                 fontsize=11)
    _save(fig, path)


def footprint_text(cells: list[dict]) -> list[str]:
    cs = select_footprint(cells)
    if not cs:
        return []
    fp0 = cs[0]["footprint"]
    out = [f"At {fp0['connections']:,} connections, sampled {fp0['sampled_after_s']:.1f} s after wrk started, while "
           "it still held every connection, on a fresh server each repeat: RSS per connection "
           + _join([f"{c['mode']} {fmt_bytes(c['footprint']['rss_per_connection_bytes'])}" for c in cs])
           + "; context switches per request, voluntary + involuntary, "
           + _join([f"{c['mode']} {_switches(c['footprint'])}" for c in cs]) + "."]
    threads, ref = one(cs, mode="threads"), _reference(cs, "threads")
    if threads and ref:
        rss = _key_range(threads, ref, "footprint", "rss_per_connection_bytes")
        sw = _key_range(threads, ref, "footprint", "switches_per_request")
        whose = _poss(ref["mode"])
        alive = threads["footprint"].get("threads_alive")
        text = (f"threads{f', with {alive:,.0f} threads alive,' if alive is not None else ''} had "
                f"{_times(rss, whose, 'more', 'less')} RSS per connection and "
                f"{_times(sw, whose, 'more', 'less')} context switches per request.")
        if rss and sw and rss[1] > 1.0 and sw[1] > 1.0:
            text += (" That is where a thread per connection pays: each connection holds a thread with its own stack "
                     "(the pages it touched are resident), and each request wakes that thread and puts it to sleep "
                     "again.")
        out.append(text)
    pool, reactors = one(cs, mode="pool"), one(cs, mode="reactors")
    if pool and reactors:
        rss = _key_range(pool, reactors, "footprint", "rss_per_connection_bytes")
        sw = _key_range(pool, reactors, "footprint", "switches_per_request")
        theirs = "reactors'"
        out.append(f"pool had {_times(rss, theirs, 'more', 'less')} RSS per connection and "
                   f"{_times(sw, theirs, 'more', 'less')} context switches per request.")
    out.append("RSS is `VmRSS` of /proc/<pid>/status, before wrk starts and while it holds its connections; it leaves "
               "out what the kernel keeps for each thread (its kernel stack and task structure). Context switches "
               "are `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` of every thread alive at the second "
               "sample (/proc/<pid>/task/*/status), less their counts at the first, ÷ the requests /stats counted "
               "between the two; a thread that exited in between is missed.")
    return out


def check_footprint(cells: list[dict]) -> Check:
    name = "io footprint"
    want = "io at the most connections: threads' RSS per connection and context switches per request above reactors'"
    cs = select_footprint(cells)
    threads, reactors = one(cs, mode="threads"), one(cs, mode="reactors")
    if not threads or not reactors:
        return Check(name, want, "-", "not measured", ["needs io footprint cells for threads and reactors"])
    tf, rf = threads["footprint"], reactors["footprint"]
    rss = _key_range(threads, reactors, "footprint", "rss_per_connection_bytes")
    sw = _key_range(threads, reactors, "footprint", "switches_per_request")
    figure = (f"at {tf['connections']:,} connections, RSS per connection threads {fmt_bytes(tf['rss_per_connection_bytes'])}"
              f" against reactors {fmt_bytes(rf['rss_per_connection_bytes'])}; context switches per request threads "
              f"{_switches(tf)} against reactors {_switches(rf)}")
    if rss is None or sw is None:
        return Check(name, want, figure, "not measured", ["a figure is missing (no request counted, or no RSS growth)"])
    why = [f"threads ÷ reactors: RSS {rss[0]:.2f}× ({rss[1]:.2f}–{rss[2]:.2f}), switches {sw[0]:.2f}× "
           f"({sw[1]:.2f}–{sw[2]:.2f})"]
    for what, r in (("RSS", rss), ("switches", sw)):
        if r[1] <= 1.0 <= r[2]:
            why.append(f"the {what} ranges overlap: within this run's noise")
    if tf.get("threads_alive") is not None:
        why.append(f"{tf['threads_alive']:,.0f} threads alive in threads at the sample, {tf['threads_seen']:,.0f} read")
    met = rss[0] > 1.0 and sw[0] > 1.0
    return Check(name, want, figure, "met" if met else "missed", why + _noise([threads, reactors]))


def check_block_threads(cells: list[dict]) -> Check:
    name = "io block threads"
    want = "threads' /io/block throughput at the most connections above every pooled model's bound (threads ÷ wait)"
    block = select(cells, scenario="io", variant="block")
    if not block:
        return Check(name, want, "-", "not measured", ["needs io block cells"])
    top = max(c["connections"] for c in block)
    at_top = [c for c in block if c["connections"] == top]
    threads = one(at_top, mode="threads")
    pooled = [c for c in at_top if c.get("parallelism") and c["parallelism"] < c["connections"]
              and c["littles_law_bound_rps"]]
    if not threads or not pooled:
        return Check(name, want, "-", "not measured", ["needs io block cells for threads and a pooled model"])
    most = max(pooled, key=lambda c: c["littles_law_bound_rps"])
    bound = threads["littles_law_bound_rps"]
    figure = (f"threads {_rps_range(threads)} at {top:,} connections"
              + (f", {fmt_pct(threads['rps'] / bound)} of its bound {fmt_rps(bound)}" if bound else "")
              + f"; the pooled models' bound is at most {fmt_rps(most['littles_law_bound_rps'])} req/s "
                f"({most['mode']}, {_par(most)})")
    why = []
    e = threads.get("errors") or {}
    if e.get("total"):
        why.append(f"threads had {e['total']} errors (" + ", ".join(f"{k} {v}" for k, v in e.items()
                                                                    if k != "total" and v) + ")")
    if threads.get("parallelism") and threads["parallelism"] < top:
        why.append(f"threads' own {_par(threads)} is below the connections")
    met = threads["rps"] > most["littles_law_bound_rps"]
    return Check(name, want, figure, "met" if met else "missed", why + _noise([threads]))


def check_cpu_new(cells: list[dict]) -> Check:
    name = "cpu pool, threads"
    want = "pool and threads each ≥ 1.8× single on cpu with 2 workers"
    cs = select(cells, scenario="cpu", workers=2)
    single = one(cs, mode="single")
    new = [c for c in (one(cs, mode=m) for m in NEW_MODELS) if c]
    if not single or not new:
        return Check(name, want, "-", "not measured", ["needs cpu cells for single and pool or threads at 2 workers"])
    ratios = {c["mode"]: _ratio_range(c, single) for c in new}
    figure = _join([f"{m} {r:.2f}× ({lo:.2f}–{hi:.2f})" for m, (r, lo, hi) in ratios.items()])
    why = [f"{m} not measured" for m in NEW_MODELS if m not in ratios]
    low = [c for c in new if ratios[c["mode"]][0] < 1.8]
    for c in low:
        why.append(f"{c['mode']} ({_par(c)}) kept {c.get('server_cpus_busy') or 0:.2f} of 2 CPUs busy "
                   f"({fmt_rps(c['rps'])} req/s against single's {fmt_rps(single['rps'])})")
    if low and any(c.get("client_saturated") for c in cs):
        why.append("wrk was saturated")
    verdict = "not measured" if not ratios else "missed" if low else "met"
    return Check(name, want, figure, verdict, why + (_noise(cs) if low else []))


# -- imbalance --------------------------------------------------------------------------

IMBALANCE_HEADER = ["model", "light p50", "light p99 (min–max)", "light req/s", "heavy req/s", "CPUs kept busy",
                    "handler time per worker"]


def select_imbalance(cells: list[dict]) -> tuple[list[dict], list[dict]]:
    """imbalance's measured light and heavy cells, in mode order."""
    return select(cells, scenario="imbalance", variant="light"), select(cells, scenario="imbalance", variant="heavy")


def _busy_per_worker(c: dict) -> str:
    """Each worker's handler time (busy_ns) over the repeats, ``1.9/0.0 s``: every loop and pool thread, and
    the connection threads that ran some (threads mode lists one per connection slot)."""
    pw = [w for w in (c.get("per_worker") or []) if w.get("busy_ns") is not None
          and (w.get("busy_ns") or w.get("kind") in ("loop", "pool-thread"))]
    if not any(w["busy_ns"] for w in pw):
        return "-"
    return "/".join(f"{w['busy_ns'] / 1e9:.1f}" for w in pw) + " s"


def imbalance_rows(cells: list[dict]) -> list[list[str]]:
    light, heavy = select_imbalance(cells)
    rows = []
    for c in light:
        h = one(heavy, mode=c["mode"])
        lat, lo, hi = c["latency_us"], c["latency_us_min"], c["latency_us_max"]
        rows.append([c["mode"], fmt_us(lat.get("p50")), f"{fmt_us(lat.get('p99'))} ({fmt_us(lo.get('p99'))}–"
                                                         f"{fmt_us(hi.get('p99'))})",
                     fmt_rps(c["rps"]), fmt_rps(h["rps"]) if h else "-",
                     "-" if c.get("server_cpus_busy") is None else f"{c['server_cpus_busy']:.2f}",
                     _busy_per_worker(c)])
    return rows


def chart_imbalance(cells: list[dict], path: Path) -> None:
    plt = _pyplot()
    light, heavy = select_imbalance(cells)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    names = [c["mode"] for c in light]
    colors = [COLORS.get(n, OTHER_COLOR) for n in names]
    xs = list(range(len(light)))
    width = 0.38
    p50 = [c["latency_us"]["p50"] / 1000 for c in light]
    p99 = [c["latency_us"]["p99"] / 1000 for c in light]
    lo = [max(0.0, y - c["latency_us_min"]["p99"] / 1000) for y, c in zip(p99, light)]
    hi = [max(0.0, c["latency_us_max"]["p99"] / 1000 - y) for y, c in zip(p99, light)]
    ax.bar([x - width / 2 for x in xs], p50, width, color=colors, alpha=0.45, label="p50")
    ax.bar([x + width / 2 for x in xs], p99, width, color=colors, yerr=[lo, hi], capsize=3, label="p99 (min–max)")
    for x, y in zip(xs, p99):
        ax.annotate(f"{y:.1f}", (x + width / 2, y), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                    textcoords="offset points")
    wait = light[0]["params"]["wait_ms"]
    ax.axhline(wait, color="black", linestyle=":", label=f"the light request's wait, {wait} ms")
    ax.set_xticks(xs, names)
    ax.set_yscale("log")
    _plain_log_ticks(ax.yaxis)
    ax.set_ylim(bottom=wait * 0.8)
    ax.set_ylabel("light stream latency (ms, log scale)")
    ax.set_title(f"light stream, {light[0]['connections']} connections", fontsize=10)
    ax.legend(fontsize=8)
    busy = [c.get("server_cpus_busy") or 0 for c in light]
    ax2.bar(names, busy, color=colors)
    for i, c in enumerate(light):
        h = one(heavy, mode=c["mode"])
        ax2.annotate(f"{busy[i]:.2f}" + (f"\nheavy {fmt_rps(h['rps'])}/s" if h else ""), (i, busy[i]), ha="center",
                     va="bottom", fontsize=8, xytext=(0, 3), textcoords="offset points")
    ax2.axhline(cpus_of(light[0]), color="black", linestyle=":", label=f"the server's {cpus_of(light[0])} CPUs")
    ax2.margins(y=0.2)
    ax2.set_ylabel("CPUs kept busy: server CPU ÷ wall time")
    ax2.set_title("CPUs kept busy, and the heavy stream's throughput", fontsize=10)
    ax2.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"imbalance: {light[0]['params']['heavy_connections']} heavy connection(s) of PBKDF2 beside "
                 f"{light[0]['connections']} light ones (median over repeats)", fontsize=11)
    _save(fig, path)


def imbalance_text(cells: list[dict]) -> list[str]:
    light, heavy = select_imbalance(cells)
    if not light:
        return []
    wait_us = light[0]["params"]["wait_ms"] * 1000
    out = ["Light stream p50/p99: " + _join([f"{c['mode']} {fmt_us(c['latency_us']['p50'])}/"
                                              f"{fmt_us(c['latency_us']['p99'])} (p99 "
                                              f"{fmt_us(c['latency_us']['p99'] - wait_us)} over the wait)"
                                              for c in light]) + "."]
    reactors = one(light, mode="reactors")
    if reactors:
        others = [c for c in (one(light, mode=m) for m in ("pool", "offload", "threads", "single")) if c]
        if others:
            theirs = "reactors'"
            out.append(f"Beside reactors' light p99 of {fmt_us(reactors['latency_us']['p99'])}: "
                       + _join([f"{c['mode']} {_times(_key_range(c, reactors, 'latency_us', 'p99'), theirs, 'higher', 'lower')}"
                                for c in others]) + ".")
        busiest = [w for w in (reactors.get("per_worker") or []) if w.get("kind") == "loop" and w.get("busy_ns")]
        ratio = loop_imbalance(reactors.get("per_worker") or [], "busy_ns")
        if busiest and ratio is not None:
            text = (f"reactors' loops spent {_busy_per_worker(reactors)} on handler work over the repeats "
                    f"(max ÷ mean {ratio:.2f})")
            text += (": the heavy work sat on some loops, and the light connections sharing them waited behind each "
                     "PBKDF2 request, while those on the other loops did not." if ratio >= 1.3 else
                     ": the heavy work was spread over the loops, so every loop's light connections shared the wait.")
            out.append(text)
    busy = [f"{c['mode']} {c['server_cpus_busy']:.2f}" for c in light if c.get("server_cpus_busy") is not None]
    if busy:
        out.append(f"CPUs kept busy (server CPU ÷ wall time, both streams) of {cpus_of(light[0])}: {_join(busy)}"
                   + ("; heavy-stream throughput: " + _join([f"{c['mode']} {fmt_rps(c['rps'])} req/s" for c in heavy])
                      if heavy else "") + ".")
    out.append("A model that lets any free thread take any connection's next request (pool's shared io_context, "
               "offload's loop beside its pool, threads' scheduler) can keep the light stream moving while fewer "
               "heavy connections than CPUs hash; sharded loops (reactors) cannot move a light connection off a "
               "loop that is running PBKDF2, and single has one loop for all.")
    return out


def check_imbalance(cells: list[dict]) -> Check:
    name = "imbalance"
    want = "imbalance: pool's and offload's light-stream p99 below reactors'"
    light, _ = select_imbalance(cells)
    reactors = one(light, mode="reactors")
    mine = [c for c in (one(light, mode=m) for m in ("pool", "offload")) if c]
    if not reactors or not mine:
        return Check(name, want, "-", "not measured", ["needs imbalance cells for reactors and pool or offload"])
    ratios = {c["mode"]: _key_range(c, reactors, "latency_us", "p99") for c in mine}
    figure = (_join([f"{c['mode']} {fmt_us(c['latency_us']['p99'])}" for c in mine])
              + f" against reactors {fmt_us(reactors['latency_us']['p99'])}: "
              + _join([f"{m} {r[0]:.2f}× ({r[1]:.2f}–{r[2]:.2f})" for m, r in ratios.items() if r]))
    why = [f"{m} not measured" for m in ("pool", "offload") if m not in ratios]
    for m, r in ratios.items():
        if r and r[1] <= 1.0 <= r[2]:
            why.append(f"{m}'s range and reactors' overlap: within this run's noise")
    ratio = loop_imbalance(reactors.get("per_worker") or [], "busy_ns")
    if ratio is not None:
        why.append(f"reactors' loops' handler time {_busy_per_worker(reactors)} (max ÷ mean {ratio:.2f})")
    if any(c.get("notes") for c in light):
        why.append("wrk shares a CPU with the servers here")
    measured = [r for r in ratios.values() if r is not None]
    verdict = "not measured" if not measured else "met" if all(r[0] < 1.0 for r in measured) else "missed"
    return Check(name, want, figure, verdict, why + _noise(light))


# -- the report ------------------------------------------------------------------------

def summary_rows(cells: list[dict]) -> list[list[str]]:
    rows = []
    for c in cells:
        lat = c.get("latency_us") or {}
        idle = c["scenario"] == "overhead" and c.get("variant") == "idle"
        point = (f"w={c['workers']}" if c["scenario"] == "cpu" else
                 f"K={c['params'].get('split')}" if c["scenario"] == "split" else
                 f"N={c['connections']:,}" if idle else
                 f"c={c['connections']}" + (f" ×{c['params']['pipeline']}" if c["params"].get("pipeline") else "")
                 + (f" w={c['workers']}" if c.get("variant") == "pbkdf2" else ""))
        flags = []
        if idle and c.get("rss_per_connection_bytes") is not None:
            flags.append(f"RSS {fmt_bytes(c['rss_per_connection_bytes'])}/conn "
                         f"({fmt_bytes(c['rss_per_connection_bytes_min'])}–"
                         f"{fmt_bytes(c['rss_per_connection_bytes_max'])})"
                         + (f" {c['idle_connections']:,} held" if c["idle_connections"] < c["idle_connections_wanted"]
                            else ""))
        if c["scenario"] == "overload" and c.get("non2xx_rps") is not None:
            flags.append(f"non-2xx {fmt_rps(c['non2xx_rps'])}/s")
        if c.get("client_saturated"):
            flags.append("wrk-saturated")
        if c.get("failures"):
            flags.append(f"{len(c['failures'])} failed")
        if c.get("repeats", 0) < c.get("repeats_planned", 0):
            flags.append(f"{c.get('repeats')}/{c.get('repeats_planned')} repeats")
        share = (c.get("littles_law") or {}).get("bound_share")
        rows.append([c["scenario"], c.get("variant") or "", c["mode"], point, fmt_rps(c.get("rps")),
                     f"{fmt_rps(c.get('rps_min'))}–{fmt_rps(c.get('rps_max'))}" if c.get("rps") is not None else "-",
                     fmt_us(lat.get("p50")), fmt_us(lat.get("p99")), fmt_us(lat.get("p999")),
                     str((c.get("errors") or {}).get("total", "-")),
                     "-" if c.get("server_cpu_us_per_request") is None else f"{c['server_cpu_us_per_request']:.1f}",
                     fmt_pct(c.get("client_cpu"), 0), fmt_pct(share) if share is not None else "",
                     " ".join(flags)])
    return rows


SUMMARY_HEADER = ["scenario", "variant", "mode", "point", "req/s", "min–max", "p50", "p99", "p99.9", "errors",
                  "srv µs/req", "wrk CPU", "of bound", "flags"]


def summary_table(cells: list[dict]) -> str:
    """The terminal's summary: one aligned line per cell."""
    rows = [SUMMARY_HEADER, *summary_rows(cells)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(SUMMARY_HEADER))]
    lines = ["  ".join(v.ljust(w) if i < 4 or i == len(widths) - 1 else v.rjust(w)
                       for i, (v, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def build(doc: dict, out_dir: Path) -> list[Block]:
    """Draws the charts into ``out_dir`` and returns the report's blocks."""
    cells, m = doc["cells"], doc["manifest"]
    host = m["host"]
    blocks = [h(1, f"cvp load lab: {m['lab']['profile']['name']} profile")]
    cg = host["cgroup"]
    blocks.append(p(
        f"Measured {m['started_at']} on {host['cpu_model']}, {host['usable_cpus']} usable CPU(s) (allowed "
        f"{host['cpus_allowed']}; cgroup {cg['version']}, quota {cg['quota_cpus'] or 'none'}), Linux "
        f"{host['kernel']}. Server binary: {m['server']['binary'] or m['server']['target']} "
        f"({m['tools']['build_type'] or 'build type unknown'}), {m['tools']['wrk']}. "
        f"Each cell is the median of {m['lab']['profile']['repeats']} interleaved repeat(s), with min–max; "
        f"status: {m['status']}" + (f", {m['wall_s']:.0f} s of measuring." if m.get("wall_s") else ".")))

    background = [r["background_cpus"] for c in cells for r in c.get("runs", []) if r.get("background_cpus") is not None]
    if background:
        blocks.append(p(f"Other processes on the machine kept a median of {statistics.median(background):.2f} CPUs "
                        f"busy during the runs (at most {max(background):.2f}; "
                        f"{host.get('background_cpus_at_start', 0):.2f} just before the first); the lab subtracts the "
                        "server's and wrk's own CPU from the machine's total to get this."))

    checks = expected_checks(cells)
    blocks.append(h(2, "Expected results"))
    blocks.append(table(["expectation", "this run", "verdict"], [[c.expectation, c.figure, c.verdict] for c in checks]))
    whys = [f"{c.name} ({c.verdict}): {'; '.join(c.why)}." for c in checks if c.why and c.verdict != "not measured"]
    if whys:
        blocks.append(p("What the data says about these figures:"))
        blocks.append(ul(whys))

    pt = select(cells, scenario="plaintext")
    if pt:
        blocks += [h(2, "plaintext: per-request overhead"),
                   p(f"`/plaintext` over {pt[0]['connections']} keep-alive connections; the server on CPU "
                     f"{pt[0]['server']['cpus']} and wrk on CPU {pt[0]['client_cpus']}.")]
        chart_plaintext(pt, out_dir / "plaintext.png")
        blocks += [img("plaintext.png", "plaintext throughput per model"), *map(p, plaintext_text(pt)),
                   *map(p, _new_models_plaintext(pt))]
        chart_latency(pt, out_dir / "latency.png", "plaintext: latency percentiles per model")
        blocks += [img("latency.png", "latency percentiles per model"), *map(p, latency_text(pt))]

    ov = [c for c in cells if c["scenario"] == "overhead"]
    if select(ov) or select_idle(ov):
        pt_ov = select(ov, variant="plaintext") or select(ov)
        blocks += [h(2, "overhead: cvp against nginx and Node.js"),
                   p(f"Per-request cost on the same CPU: every server on CPU {pt_ov[0]['server']['cpus']} (nginx with "
                     f"one worker, Node with its one event loop), wrk `-t{pt_ov[0]['wrk_threads'] or 1}` on CPU "
                     f"{pt_ov[0]['client_cpus']}; `/plaintext` and `/json` over keep-alive connections, and `/plaintext` "
                     "pipelined as in TechEmpower (each batch written whole; wrk's latency figures mean nothing there, "
                     "so none are shown). Then idle "
                     "keep-alive connections: each sends one request, reads the answer and stays open while the "
                     "server's RSS is read, on a fresh server each time (freed memory stays in a process's RSS, so a "
                     "second count on the same server would find the memory already there). Then PBKDF2 with the "
                     "lab's CPUs: the models that can hash on several threads against Node's libuv pool of the same "
                     "size.")]
        chart_overhead(ov, out_dir / "overhead.png")
        blocks += [img("overhead.png", "overhead: throughput, CPU per request, RSS per idle connection, PBKDF2"),
                   *map(p, overhead_text(ov)), *map(p, _new_models_overhead(ov)), p(CLOSED_LOOP)]

    sleep, block = select(cells, scenario="io", variant="sleep"), select(cells, scenario="io", variant="block")
    lockstep = select(cells, scenario="io", variant="sleep-lockstep")
    if sleep or block:
        spread = max((c["params"].get("spread_ms", 0) for c in sleep), default=0)
        varied = (f" Each timer wait is drawn from {sleep[0]['params']['wait_ms']} ± {spread} ms (mean "
                  f"{sleep[0]['params']['wait_ms']} ms), as a downstream's latency varies"
                  + ("; the crosses are the control, every wait exactly the same." if lockstep else ".")) if spread else ""
        blocks += [h(2, "io: concurrency without threads"),
                   p("Each request waits on a timer (`/io/sleep`), or blocks a thread for the same time "
                     "(`/io/block`, the anti-pattern)." + varied + " The dotted line is the Little's-law bound, connections ÷ "
                     "wait; with blocking the bound is threads ÷ wait. For `/io/sleep` the solid points are the "
                     "rate each run sustained, connections ÷ mean latency (Little's law for a closed loop); the "
                     "hollow ones are wrk's whole-run figures, which also lose the requests in flight when a short "
                     "run stops. `/io/block` shows wrk's figures: there most requests never finish within a run.")]
        chart_io(sleep, block, out_dir / "io.png", lockstep)
        blocks += [img("io.png", "io throughput against connections"), *map(p, io_text(sleep, block, lockstep)),
                   *map(p, _new_models_io(sleep, block))]
        if select_footprint(cells):
            blocks.append(h(3, "io: RSS per connection and context switches per request"))
            chart_footprint(cells, out_dir / "io_footprint.png")
            blocks += [img("io_footprint.png", "io: RSS per connection and context switches per request"),
                       table(FOOTPRINT_HEADER, footprint_rows(cells)), *map(p, footprint_text(cells))]

    cpu = select(cells, scenario="cpu")
    if cpu:
        blocks += [h(2, "cpu: parallelism"),
                   p(f"`{cpu[0]['path']}` (about {_work_ms(doc)} of CPU each) over {cpu[0]['connections']} "
                     "connections; the server gets one CPU per worker.")]
        chart_cpu(cpu, out_dir / "cpu.png")
        blocks += [img("cpu.png", "cpu throughput and scaling efficiency"), *map(p, cpu_text(cpu)),
                   *map(p, _new_models_cpu(cpu))]

    mio, mcpu = select(cells, scenario="mixed", variant="io"), select(cells, scenario="mixed", variant="cpu")
    malone = select(cells, scenario="mixed", variant="io-alone")
    if mio:
        blocks += [h(2, "mixed: I/O latency beside CPU work"),
                   p(f"Two wrk processes at once: `{mio[0]['path']}` over {mio[0]['connections']} connections and "
                     f"`{mcpu[0]['path'] if mcpu else 'PBKDF2'}` over "
                     f"{mcpu[0]['connections'] if mcpu else '?'} connections, started 0.3 s later, once the I/O "
                     "connections are open (a loop busy hashing also accepts late). The I/O stream also runs alone, "
                     "for a baseline.")]
        chart_mixed(mio, malone, out_dir / "mixed.png")
        blocks += [img("mixed.png", "mixed-load I/O latency per model"), *map(p, mixed_text(mio, mcpu, malone)),
                   p(CLOSED_LOOP)]

    light, heavy = select_imbalance(cells)
    if light:
        pr = light[0]["params"]
        blocks += [h(2, "imbalance: a few heavy connections among many light ones"),
                   p(f"Two wrk processes at once on CPUs {light[0]['server']['cpus']}: `{light[0]['path']}` over "
                     f"{pr['light_connections']} light connections and `{heavy[0]['path'] if heavy else 'PBKDF2'}` "
                     f"(about {_work_ms(doc)} of CPU each) over {pr['heavy_connections']} heavy one(s), fewer than "
                     "the CPUs, started 0.3 s later once the light connections are open. Sharded loops leave the "
                     "light connections that share a loop with a heavy one waiting behind its hashes; a model whose "
                     "free threads take any connection's next request need not. The light stream's latency is the "
                     "figure; CPUs kept busy is the server's CPU time ÷ the wall time of the run.")]
        chart_imbalance(cells, out_dir / "imbalance.png")
        blocks += [img("imbalance.png", "imbalance: light-stream latency and CPUs kept busy per model"),
                   table(IMBALANCE_HEADER, imbalance_rows(cells)), *map(p, imbalance_text(cells)), p(CLOSED_LOOP)]

    sp = select(cells, scenario="split")
    if sp:
        blocks += [h(2, "split: parallelism inside one request"),
                   p("One connection sends `/cpu/primes` again and again; the server splits each request into K "
                     "chunks.")]
        chart_split(sp, out_dir / "split.png")
        blocks += [img("split.png", "latency against split"), *map(p, split_text(sp))]

    acc = select(cells, scenario="accept")
    if acc and any(c.get("per_worker") for c in acc):
        blocks += [h(2, "accept: how reactors spreads connections"),
                   p(f"`{acc[0]['path']}` over {acc[0]['connections']} connections: a short wait keeps every loop "
                     "lightly loaded, so the requests a loop serves follow the connections it was handed. "
                     "Per-worker counts are deltas of `/stats` around each run, summed over repeats (wrk opens one "
                     "extra connection per run to check the address).")]
        chart_accept(acc, out_dir / "accept.png")
        blocks += [img("accept.png", "connections and requests per worker"), *map(p, accept_text(acc)),
                   p(_one_model("accept"))]

    ovl = select_overload(cells)
    if ovl:
        first = next(iter(ovl.values()))
        pr = first["params"]
        blocks += [h(2, "overload: goodput under a flood"),
                   p(f"offload with {pr['pool_threads']} pool threads and `--pool-queue {pr['pool_queue']}` admits "
                     f"{pr['admitted']} requests at once; beyond them it answers 503 with `Retry-After` and reads "
                     "that connection's next request only after `--overload-pause`. "
                     f"`{first['path']}` (about {_work_ms(doc)} of CPU each) at saturation, over fewer connections "
                     "than it admits, then flooded by about ten times more, once with the default pause and once "
                     "with the pause effectively off (the control); the three are interleaved, repeat after repeat. "
                     f"The servers get CPUs {first['server']['cpus']}, a CPU per pool thread, as in cpu; wrk runs "
                     f"on CPU {first['client_cpus']}. Goodput counts only successful responses: (requests − "
                     "non-2xx) ÷ run time.")]
        chart_overload(cells, out_dir / "overload.png")
        blocks += [img("overload.png", "overload: goodput at saturation and under a flood, refusals, wrk's CPU"),
                   table(OVERLOAD_HEADER, overload_rows(cells)), *map(p, overload_text(cells)),
                   p(_one_model("overload"))]

    blocks += problems(doc)
    blocks += method(doc)
    blocks += [h(2, "All cells"), table(SUMMARY_HEADER, summary_rows(cells)),
               p("`srv µs/req`: server CPU time per request. `wrk CPU`: wrk's CPU use as a share of the CPUs it had "
                 "(flagged from 90%). `of bound`: throughput as a share of the Little's-law bound.")]
    return blocks


def _one_model(scenario: str) -> str:
    model, why = ONE_MODEL[scenario]
    return f"Only {model} runs this scenario: {why}."


def _work_ms(doc: dict) -> str:
    """The CPU one request took: measured in the cpu cells, else the calibration's estimate."""
    measured = [c["server_cpu_us_per_request"] for c in select(doc["cells"], scenario="cpu")
                if c.get("server_cpu_us_per_request")]
    if measured:
        return f"{statistics.median(measured) / 1000:.1f} ms"
    cal = doc["manifest"].get("calibration")
    return f"{cal['expected_ms']:.1f} ms" if cal else "a few ms"


def problems(doc: dict) -> list[Block]:
    items = []
    for c in doc["cells"]:
        for f in c.get("failures", []):
            items.append(f"{c['id']} repeat {f['repeat']}: {f['error'].splitlines()[0]}")
        if c.get("client_saturated"):
            items.append(f"{c['id']}: wrk was saturated ({fmt_pct(c['client_cpu'], 0)} of its CPU); "
                         "the server may have had more to give.")
        # /io/block is expected to time out and shed load; io_text describes it. A flood is refused by design:
        # its 503s are overload's figures, so only its other errors are problems.
        e = dict(c.get("errors") or {})
        if c.get("scenario") == "overload" and c.get("variant") != "saturation" and e:
            e["total"] -= e.get("status", 0)
            e["status"] = 0
        if e.get("total") and c.get("variant") != "block":
            items.append(f"{c['id']}: {e['total']} errors (" + ", ".join(f"{k} {v}" for k, v in e.items()
                                                                         if k != "total" and v) + ").")
    for c in doc["cells"]:
        notes = dict.fromkeys(n for r in c.get("runs", []) if isinstance(r, dict) for n in r.get("notes", []))
        items += [f"{c['id']}: {n}." for n in notes]
    noisy = [c for c in doc["cells"] if (c.get("background_cpus_max") or 0) >= NOISY_CPUS]
    if noisy:
        worst = max(c["background_cpus_max"] for c in noisy)
        items.append(f"{len(noisy)} of {len(doc['cells'])} cells had runs during which other processes on this "
                     f"machine kept at least {NOISY_CPUS} CPUs busy (up to {worst:.2f}); their figures are noisy: "
                     + ", ".join(c["id"] for c in noisy[:12]) + (", ..." if len(noisy) > 12 else "") + ".")
    for s in doc.get("skipped", []):
        items.append(f"skipped in {s['scenario']}: {s['what']} ({s['reason']}).")
    items += doc["manifest"]["limits"].get("notes", [])
    if not items:
        return []
    return [h(2, "Problems and notes"), ul(items)]


def method(doc: dict) -> list[Block]:
    m = doc["manifest"]
    pl = m["placement"]
    return [h(2, "Method"), ul([
        f"CPU placement: plaintext and overhead run the server on CPU {pl['server_cpus']} and wrk on CPU "
        f"{pl['client_cpus']}{'' if pl['disjoint'] else ' (they overlap)'}; the other scenarios (and overhead's "
        "PBKDF2 point) give the server one CPU per worker, taken from those CPUs in turn, and record wrk's CPU use.",
        f"A warm-up of {m['lab']['profile']['warmup_s']} s per server is thrown away; then the repeats are "
        "interleaved across models, each round starting with a different model.",
        "Throughput and latency come from wrk's Lua `done()`, printed as JSON (`scripts/common.lua`). " + CLOSED_LOOP,
        "Little's law: for a closed loop, connections ≈ throughput × mean latency; the `io` bound is connections ÷ "
        "wait, and threads ÷ wait when the wait blocks a thread.",
        f"Server CPU: {m['accounting']['server_cpu']}. Client CPU: {m['accounting']['client_cpu']}.",
        f"Open files: soft limit {m['limits']['nofile_soft']} (hard {m['limits']['nofile_hard']}), "
        f"{m['limits']['nofile_needed']} wanted.",
        f"Git commit: {m['git']['commit'] or m['git']['note']}{' (tree has changes)' if m['git']['dirty'] else ''}; "
        f"compiler: {m['tools']['compiler']}; Boost {m['tools']['boost']}.",
        "Raw wrk outputs are in `raw/`; every figure here is in `results.json` and `results.csv`.",
    ])]


def write(out_dir: Path, doc: dict) -> None:
    """Writes the charts, report.md and report.html into ``out_dir``."""
    blocks = build(doc, out_dir)
    (out_dir / "report.md").write_text(to_markdown(blocks))
    title = f"cvp load lab: {doc['manifest']['lab']['profile']['name']}"
    (out_dir / "report.html").write_text(to_html(blocks, title))
