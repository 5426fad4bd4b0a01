"""split: parallelism inside one request.  One connection sends /cpu/primes split into K chunks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..cells import Measured
from ..charts import color, dodge, linestyle, marker, pyplot, save
from ..checks import Check
from ..fmt import fmt_us, join
from ..plan import Cell, Group, Load, Settings, models_of, overlap_note, spec, widest
from ..query import by_mode, cpus_of, par, parallel_cap, select
from ..render import Block, h, img, p
from ..servers import ServerSpec
from ..timeline import TIMELINE_FLAGS, Window
from ..timeline_report import timeline_blocks, timeline_checks
from ..watch import Watch
from ..wrk import Stream
from .base import ReportContext
from .watched import Watched


#: The timeline's window: 200 ms from the middle of a run, a few requests' chunks.
WINDOW = Window(span_ms=200)


@dataclass(frozen=True)
class Params:
    limit: int
    values: tuple[int, ...]  # the K of each point
    duration_s: int


class Split(Watched):
    name = "split"
    profiles = {
        # quick: 1, 2, 4 before pool and threads; 4 is past the pool of 2 on two CPUs
        "quick": Params(limit=20_000_000, values=(1, 4), duration_s=1),
        "full": Params(limit=20_000_000, values=(1, 2, 4, 8, 16, 32, 64), duration_s=5),
        "smoke": Params(limit=2_000_000, values=(2,), duration_s=1),
    }

    def plan(self, s: Settings, params: Params, skipped: list[dict]) -> list[Group]:
        workers = widest(s)
        cpus = s.placement.server_cpus_for(workers)
        # Every model records its work intervals alike (--timeline), for the timeline drawn of the window.
        specs = [spec(s, m, workers, cpus, TIMELINE_FLAGS) for m in models_of(s)]

        def cell(server: ServerSpec, k: int) -> Cell:
            stream = Stream("main", "split.lua", (f"limit={params.limit}", f"split={k}"), 1, 1, 60)
            load = Load(stream, None, f"/cpu/primes?limit={params.limit}&split={k}")
            return Cell("split", server, (load,), params.duration_s, workers,
                        {"split": k, "limit": params.limit}, notes=overlap_note(s, cpus))

        return [Group("split", tuple(specs), tuple(tuple(cell(sp, k) for sp in specs) for k in params.values))]

    def point_title(self, cell: Cell) -> str:
        return f"K={cell.params['split']}"

    def point_id(self, cell: Cell, load: Load) -> str:
        return f"k{cell.params['split']}"

    def summary_point(self, c: Measured) -> str:
        return f"K={c.params.get('split')}"

    def __init__(self) -> None:
        # A timeline of every run that splits (K >= 2); the report draws the K nearest the workers.
        self.watch = Watch(lambda cell: WINDOW if cell.params["split"] >= 2 else None)

    def checks(self, cells: list[Measured]) -> list[Check]:
        # One connection: where a model runs a request's chunks on one thread, nothing overlaps.
        return timeline_checks(drawn(select(cells, scenario="split")), "split", parallel=False)

    def section(self, ctx: ReportContext) -> list[Block]:
        cells = ctx.cells
        sp = select(cells, scenario="split")
        if not sp:
            return []
        blocks = [h(2, "split: parallelism inside one request"),
                  p("One connection sends `/cpu/primes` again and again; the server splits each request into K "
                    "chunks.")]
        chart_split(sp, ctx.out_dir / "split.png")
        blocks += [img("split.png", "latency against split"), *map(p, split_text(sp))]
        shown = drawn(sp)
        if shown:
            blocks += timeline_blocks(ctx, shown, "timeline-split", f"split, K={shown[0].params['split']}")
        return blocks


SCENARIO = Split()


def drawn(cells: list[Measured]) -> list[Measured]:
    """The cells of the point whose timeline the report draws: the K nearest the workers (K chunks on K
    workers), the larger of two as near."""
    ks = sorted({c.params["split"] for c in cells if c.timeline})
    if not ks:
        return []
    workers = max(c.workers for c in cells)
    k = min(ks, key=lambda k: (abs(k - workers), -k))
    return [c for c in cells if c.params["split"] == k]


def chart_split(cells: list[Measured], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    groups = by_mode(cells)
    for mode, cs in groups.items():
        cs = sorted(cs, key=lambda c: c.params["split"])
        ys = [c.latency_us["p50"] / 1000 for c in cs]
        lo = [max(0.0, (c.latency_us["p50"] - c.latency_us_min["p50"]) / 1000) for c in cs]
        hi = [max(0.0, (c.latency_us_max["p50"] - c.latency_us["p50"]) / 1000) for c in cs]
        # Side by side at each K (models with the same latency would hide each other), each its own mark.
        xs = [c.params["split"] * 2 ** dodge(mode, list(groups), 0.05) for c in cs]
        ax.errorbar(xs, ys, yerr=[lo, hi], marker=marker(mode), linestyle=linestyle(mode), color=color(mode),
                    label=mode, capsize=3)
    ks = sorted({c.params["split"] for c in cells})
    off = sorted((c for c in cells if c.mode == "offload"), key=lambda c: c.params["split"])
    if off and off[0].params["split"] == 1 and parallel_cap(off[0]):
        t1 = off[0].latency_us["p50"] / 1000
        threads = min(off[0].parallelism, cpus_of(off[0]))
        ax.plot(ks, [t1 / min(k, threads) for k in ks], color=color("offload"), linestyle=":",
                label=f"offload ideal: K=1 ÷ min(K, parallelism {off[0].parallelism}, CPUs {cpus_of(off[0])})")
    ax.set_xscale("log", base=2)
    ax.set_xlim(min(ks) / 1.5, max(ks) * 1.5)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("split = K chunks of one request")
    ax.set_ylabel("latency of one request, p50 (ms)")
    ax.set_title(f"split: /cpu/primes?limit={cells[0].params['limit']:,} over one connection")
    ax.legend()
    save(fig, path)


#: split: a model whose K=1 ÷ largest-K latency is at least this spread a request's chunks over threads.
SPLIT_SPEEDUP = 1.2


def split_text(cells: list[Measured]) -> list[str]:
    parts, best_text, spread_, serial = [], "", [], []
    for mode, cs in by_mode(cells).items():
        cs = sorted(cs, key=lambda c: c.params["split"])
        if len(cs) < 2:
            continue
        first, last = cs[0], cs[-1]
        t1, tk = first.latency_us["p50"], last.latency_us["p50"]
        parts.append(f"{mode} {fmt_us(t1)} → {fmt_us(tk)} ({t1 / tk:.2f}×)")
        (spread_ if t1 / tk >= SPLIT_SPEEDUP else serial).append(mode)
        if mode == "offload":
            best = min(cs, key=lambda c: c.latency_us["p50"])
            best_text = (f" The best for offload was K={best.params['split']}, {fmt_us(best.latency_us['p50'])} "
                         f"({t1 / best.latency_us['p50']:.2f}× faster than K=1) with {par(best)}.")
    if not parts:
        return []
    ks = sorted({c.params["split"] for c in cells})
    out = [f"Latency of one request from K={ks[0]} to K={ks[-1]}: {join(parts)}.{best_text}"]
    if spread_:
        out.append(f"{join(spread_)} ran one request's chunks on several threads at once (at least "
                   f"{SPLIT_SPEEDUP}× faster at K={ks[-1]}).")
    if serial:
        out.append(f"{join(serial)} did not get {SPLIT_SPEEDUP}× faster: there the chunks ran one after another on "
                   "the thread that serves the connection, and K changed little but noise.")
    return out


