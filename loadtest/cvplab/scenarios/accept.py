"""accept: how reactors spreads connections over its loops, round-robin against SO_REUSEPORT."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..cells import Measured
from ..charts import pyplot, save
from ..fmt import fmt_rps
from ..plan import Cell, Group, Load, Settings, overlap_note, spec, wrk_threads
from ..query import select
from ..render import Block, h, img, p
from ..stats import loop_imbalance
from ..wrk import Stream
from .base import ReportContext, Scenario, one_model_note

#: The model this scenario is about, and why no other runs it.
ONE_MODEL = ("reactors", "it compares the two ways reactors hands connections to its loops (round-robin and "
                         "SO_REUSEPORT); the other models have one acceptor, so there is nothing to compare")


@dataclass(frozen=True)
class Params:
    connections: int
    wait_ms: int
    duration_s: int


class Accept(Scenario):
    name = "accept"
    one_model = ONE_MODEL
    profiles = {
        # quick: 2 s before pool and threads; a second is 3,200 requests over 32 connections
        "quick": Params(connections=32, wait_ms=10, duration_s=1),
        "full": Params(connections=32, wait_ms=10, duration_s=10),
        "smoke": Params(connections=8, wait_ms=10, duration_s=1),
    }

    def plan(self, s: Settings, params: Params, skipped: list[dict]) -> list[Group]:
        c = params.connections
        if s.target is not None:
            if s.target.label != "reactors":
                skipped.append({"scenario": "accept", "what": "accept strategies",
                                "reason": f"the target runs {s.target.label}, not reactors"})
                return []
            specs = [(s.target, s.target_accept)]
        elif ONE_MODEL[0] not in s.models:
            skipped.append({"scenario": "accept", "what": "accept strategies", "reason": "reactors was not chosen"})
            return []
        else:
            workers = len(s.placement.all)
            cpus = s.placement.server_cpus_for(workers)
            specs = [(spec(s, ONE_MODEL[0], workers, cpus, ("--accept", a)), a)
                     for a in ("round-robin", "reuseport")]
        cells = []
        wait = params.wait_ms
        for server, strategy in specs:
            stream = Stream("main", "accept.lua", (f"ms={wait}",), c, wrk_threads(s, c), 10)
            cells.append(Cell("accept", server, (Load(stream, strategy, f"/io/sleep?ms={wait}"),), params.duration_s,
                              server.workers, {"accept": strategy, "wait_ms": wait}, notes=overlap_note(s, server.cpus)))
        return [Group("accept", tuple(sp for sp, _ in specs), (tuple(cells),))]

    def section(self, ctx: ReportContext) -> list[Block]:
        cells = ctx.cells
        acc = select(cells, scenario="accept")
        if not (acc and any(c.per_worker for c in acc)):
            return []
        blocks = [h(2, "accept: how reactors spreads connections"),
                  p(f"`{acc[0].path}` over {acc[0].connections} connections: a short wait keeps every loop "
                    "lightly loaded, so the requests a loop serves follow the connections it was handed. "
                    "Per-worker counts are deltas of `/stats` around each run, summed over repeats (wrk opens one "
                    "extra connection per run to check the address).")]
        chart_accept(acc, ctx.out_dir / "accept.png")
        blocks += [img("accept.png", "connections and requests per worker"), *map(p, accept_text(acc)),
                   p(one_model_note(*ONE_MODEL))]
        return blocks


SCENARIO = Accept()


def chart_accept(cells: list[Measured], path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    variants = [c for c in cells if c.per_worker]
    width = 0.8 / max(1, len(variants))
    for ax, key, label in ((axes[0], "connections_total", "connections accepted"), (axes[1], "requests", "requests")):
        for i, c in enumerate(variants):
            loops = [w for w in c.per_worker if w.get("kind") == "loop"]
            xs = [w["id"] + (i - (len(variants) - 1) / 2) * width for w in loops]
            ax.bar(xs, [w[key] for w in loops], width, label=c.variant or c.mode,
                   color=["tab:orange", "tab:purple", "tab:cyan"][i % 3])
        ids = sorted({w["id"] for c in variants for w in c.per_worker if w.get("kind") == "loop"})
        ax.set_xticks(ids, [f"loop {i}" for i in ids])
        ax.set_ylabel(f"{label} (all repeats)")
        ax.set_title(f"{label} per worker")
        ax.legend(fontsize=8)
    save(fig, path)


def accept_text(cells: list[Measured]) -> list[str]:
    out = []
    for c in cells:
        pw = c.per_worker
        if not pw:
            continue
        loops = [w for w in pw if w.get("kind") == "loop"]
        conns = "/".join(str(w["connections_total"]) for w in loops)
        reqs = "/".join(f"{w['requests']:,}" for w in loops)
        ic, ir = loop_imbalance(pw, "connections_total"), loop_imbalance(pw, "requests")
        out.append(f"{c.variant or c.mode}: connections per loop {conns} (max ÷ mean "
                   f"{'-' if ic is None else f'{ic:.2f}'}), requests {reqs} "
                   f"(max ÷ mean {'-' if ir is None else f'{ir:.2f}'}), {fmt_rps(c.rps)} req/s.")
    if out:
        out.append("Round-robin hands connections to the loops in turn; with SO_REUSEPORT the kernel hashes each "
                   "connection's addresses and ports, which can pile connections onto one loop.")
    return out


