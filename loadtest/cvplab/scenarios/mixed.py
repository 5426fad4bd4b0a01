"""mixed: I/O latency beside CPU work.  An /io/sleep stream and a PBKDF2 stream at once, and the I/O stream alone."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..cells import Measured
from ..charts import plain_log_ticks, pyplot, save
from ..checks import Check, noise
from ..fmt import CLOSED_LOOP, fmt_rps, fmt_us, join, poss
from ..plan import Cell, Group, Load, Settings, models_of, overlap_note, spec, widest, wrk_threads
from ..query import is_model, key_range, modes_of, one, par, select, times
from ..render import Block, h, img, p
from ..stats import littles_law_bound
from ..timeline import TIMELINE_FLAGS, Window
from ..timeline_report import lag_blocks, timeline_blocks, timeline_checks
from ..watch import Watch
from ..wrk import Stream
from ..verdict import LOWER, Row, p99_figures
from .base import ReportContext
from .watched import Watched

#: Seconds between starting the I/O (light) stream and the CPU (heavy) stream (mixed and imbalance).
CPU_START_S = 0.3
#: The timeline's window: 100 ms from the middle of the part of the run where both streams run.
WINDOW = Window(span_ms=100, from_s=CPU_START_S)


@dataclass(frozen=True)
class Params:
    io_connections: int
    io_wait_ms: int
    cpu_connections_per_cpu: int
    duration_s: int  # each run


class Mixed(Watched):
    name = "mixed"
    calibrated = True
    profiles = {
        # quick: 1-s runs (2 s before the latency scenario): 2,000 I/O requests, 1,400 of them beside the CPU stream
        "quick": Params(io_connections=100, io_wait_ms=50, cpu_connections_per_cpu=4, duration_s=1),
        "full": Params(io_connections=100, io_wait_ms=50, cpu_connections_per_cpu=4, duration_s=10),
        "smoke": Params(io_connections=10, io_wait_ms=20, cpu_connections_per_cpu=1, duration_s=1),
    }

    def connections_wanted(self, params: Params, placement) -> int:
        return params.io_connections + params.cpu_connections_per_cpu * len(placement.all)

    def plan(self, s: Settings, params: Params, skipped: list[dict]) -> list[Group]:
        workers = widest(s)
        cpus = s.placement.server_cpus_for(workers)
        wait, c_io = params.io_wait_ms, params.io_connections
        c_cpu = params.cpu_connections_per_cpu * workers
        io_stream = sleep_stream(s, "io", c_io, wait)
        cpu_stream = pbkdf2_stream(s, "cpu", c_cpu, s.pbkdf2_iterations)
        io_path, bound = f"/io/sleep?ms={wait}", littles_law_bound(c_io, wait)
        # The CPU stream starts once the I/O stream's connections are open: a loop busy hashing
        # also accepts late, and a run's first requests would otherwise dominate its tail.
        loads = (Load(io_stream, "io", io_path, bound),
                 Load(cpu_stream, "cpu", f"/cpu/pbkdf2?iterations={s.pbkdf2_iterations}",
                      start_after_s=CPU_START_S))
        alone = (Load(io_stream, "io-alone", io_path, bound),)
        # Every model records its work intervals alike (--timeline), for the timeline drawn of the window.
        specs = [spec(s, m, workers, cpus, TIMELINE_FLAGS) for m in models_of(s)]
        figures = {"wait_ms": wait, "iterations": s.pbkdf2_iterations}
        points = tuple(tuple(Cell("mixed", sp, lds, params.duration_s, workers, figures,
                                  notes=overlap_note(s, cpus))
                             for sp in specs) for lds in (alone, loads))
        return [Group("mixed", tuple(specs), points)]

    def __init__(self) -> None:
        # The timeline of the runs beside the CPU stream; every run's loop lag.
        self.watch = Watch(lambda cell: WINDOW if len(cell.loads) > 1 else None, health=True)

    def checks(self, cells: list[Measured]) -> list[Check]:
        return [check_mixed(cells), *timeline_checks(select(cells, scenario="mixed", variant="io"), "mixed")]

    def verdict(self, cells: list[Measured]) -> list[Row]:
        """Mixed: the I/O stream's p99 beside the CPU stream."""
        mio, mcpu = select(cells, scenario="mixed", variant="io"), select(cells, scenario="mixed", variant="cpu")
        if not mio:
            return []
        return [Row("mixed", two_streams(mio, mcpu), "p99 of the I/O stream", LOWER, p99_figures(mio))]

    def section(self, ctx: ReportContext) -> list[Block]:
        cells = ctx.cells
        mio, mcpu = select(cells, scenario="mixed", variant="io"), select(cells, scenario="mixed", variant="cpu")
        malone = select(cells, scenario="mixed", variant="io-alone")
        if not mio:
            return []
        blocks = [h(2, "mixed: I/O latency beside CPU work"),
                  p(f"Two wrk processes at once: `{mio[0].path}` over {mio[0].connections} connections and "
                    f"`{mcpu[0].path if mcpu else 'PBKDF2'}` over "
                    f"{mcpu[0].connections if mcpu else '?'} connections, started 0.3 s later, once the I/O "
                    "connections are open (a loop busy hashing also accepts late). The I/O stream also runs alone, "
                    "for a baseline.")]
        chart_mixed(mio, malone, ctx.out_dir / "mixed.png")
        blocks += [img("mixed.png", "mixed-load I/O latency per model"), *map(p, mixed_text(mio, mcpu, malone)),
                   p(CLOSED_LOOP)]
        blocks += lag_blocks(ctx, mio, "lag-mixed", "mixed")
        blocks += timeline_blocks(ctx, mio, "timeline-mixed", "mixed, beside the PBKDF2 stream")
        return blocks


SCENARIO = Mixed()


def two_streams(first: list[Measured], second: list[Measured]) -> str:
    """``/io/sleep?ms=50 over 100 connections beside /cpu/pbkdf2?... over 8``: the two streams a row is about."""
    beside = f"`{second[0].path}` over {second[0].connections}" if second else "a PBKDF2 stream"
    return f"`{first[0].path}` over {first[0].connections} connections beside {beside}"


def sleep_stream(s: Settings, name: str, connections: int, wait_ms: int) -> Stream:
    """One of two wrk processes at once (mixed.lua): timer waits, the connections' starts staggered."""
    threads = wrk_threads(s, connections)
    return Stream(name, "mixed.lua", ("stream=io", f"ms={wait_ms}", f"stagger={math.ceil(connections / threads)}"),
                  connections, threads, 30)


def pbkdf2_stream(s: Settings, name: str, connections: int, iterations: int) -> Stream:
    """The other one: PBKDF2 requests."""
    return Stream(name, "mixed.lua", ("stream=cpu", f"iterations={iterations}"), connections,
                  wrk_threads(s, connections), 30)


def chart_mixed(io_cells: list[Measured], alone: list[Measured], path: Path) -> None:
    plt = pyplot()
    wait_ms = io_cells[0].params["wait_ms"]
    keys = [("p50", "p50"), ("p90", "p90"), ("p99", "p99")]
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(keys)
    for j, (k, label) in enumerate(keys):
        xs = [i + (j - (len(keys) - 1) / 2) * width for i in range(len(io_cells))]
        ys = [(c.latency_us.get(k) or 0) / 1000 for c in io_cells]
        ax.bar(xs, ys, width, label=label, color=["#9ecae1", "#4292c6", "#08519c"][j])
        if k == "p99":
            for x, y in zip(xs, ys):
                ax.annotate(f"{y:.0f}", (x, y), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                            textcoords="offset points")
    alone_by_mode = {c.mode: c for c in alone}
    xs = [i for i, c in enumerate(io_cells) if c.mode in alone_by_mode]
    if xs:
        ax.plot(xs, [alone_by_mode[io_cells[i].mode].latency_us["p99"] / 1000 for i in xs], marker="D",
                linestyle="none", color="tab:orange", label="p99 of the I/O stream alone")
    ax.axhline(wait_ms, color="black", linestyle=":", label=f"the sleep, {wait_ms} ms")
    ax.axhline(wait_ms * 1.1, color="tab:red", linestyle="--", linewidth=1, label="sleep + 10%")
    ax.set_xticks(range(len(io_cells)), [c.mode for c in io_cells])
    # Log scale: the sleep and a p99 many times longer both stay readable.
    ax.set_yscale("log")
    ax.set_ylim(bottom=wait_ms * 0.8)
    plain_log_ticks(ax.yaxis)
    ax.set_ylabel("I/O stream latency (ms, log scale)")
    ax.set_title("mixed: /io/sleep latency while a PBKDF2 stream loads the CPU")
    ax.legend(fontsize=8)
    save(fig, path)


def mixed_text(io_cells: list[Measured], cpu_cells: list[Measured], alone: list[Measured]) -> list[str]:
    if not io_cells:
        return []
    wait_us = io_cells[0].params["wait_ms"] * 1000
    out = ["I/O stream p50/p99 beside the CPU stream: "
           + join([f"{c.mode} {fmt_us(c.latency_us['p50'])}/{fmt_us(c.latency_us['p99'])} "
                    f"(p99 {c.latency_us['p99'] / wait_us - 1:+.0%} over the sleep)" for c in io_cells]) + "."]
    if alone:
        out.append("The same stream alone: p99 " + join([f"{c.mode} {fmt_us(c.latency_us['p99'])} "
                                                         f"({c.latency_us['p99'] / wait_us - 1:+.0%})"
                                                         for c in alone]) + ".")
    if cpu_cells:
        out.append("CPU stream throughput at the same time: "
                   + join([f"{c.mode} {fmt_rps(c.rps)} req/s" for c in cpu_cells]) + ".")
    out.append("How each model runs the hashes: single on its only loop, so a timer that fires waits behind the "
               "queued hashes (head-of-line blocking); offload on its pool, leaving the loop free; reactors on the "
               "loop that holds the CPU request, so the I/O connections sharing that loop wait; pool inline on "
               "whichever of its threads runs that connection, so a timer waits only while every thread hashes; "
               "threads on each connection's own thread, leaving the I/O threads to the kernel's scheduler.")
    out += model_sentences(io_cells)
    return out


def check_mixed(cells: list[Measured]) -> Check:
    name = "mixed"
    want = "offload keeps mixed-load I/O p99 within 10% of the sleep; single's grows with the CPU queue"
    io_cells = select(cells, scenario="mixed", variant="io")
    off, single = one(io_cells, mode="offload"), one(io_cells, mode="single")
    if not off:
        return Check(name, want, "-", "not measured", ["needs a mixed cell for offload"])
    wait_us = off.params["wait_ms"] * 1000
    figure = f"offload p99 {fmt_us(off.latency_us['p99'])} ({off.latency_us['p99'] / wait_us - 1:+.1%})"
    why = []
    ok = off.latency_us["p99"] <= 1.1 * wait_us
    if single:
        figure += f"; single p99 {fmt_us(single.latency_us['p99'])} " \
                  f"({single.latency_us['p99'] / wait_us - 1:+.0%})"
        if single.latency_us["p99"] <= 1.1 * wait_us:
            ok = False
            why.append("single's p99 did not grow: the CPU stream did not queue work on its loop")
    if off.latency_us["p99"] > 1.1 * wait_us:
        alone = one(select(cells, scenario="mixed", variant="io-alone"), mode="offload")
        if alone:
            why.append(f"offload's I/O stream alone already had a p99 of {fmt_us(alone.latency_us['p99'])} "
                       f"({alone.latency_us['p99'] / wait_us - 1:+.1%}): its one loop completes timers late "
                       f"at {fmt_rps(alone.rps)} req/s, {alone.server_cpu_us_per_request:.0f} µs of CPU "
                       "per request")
        nice = str((off.server.get("startup") or {}).get("pool_nice"))  # absent before --pool-nice existed
        below = ("" if not nice.isdigit() else " at its own priority (`--pool-nice 0`)" if int(nice) == 0
                 else f" (started with `--pool-nice {nice}`, below the loop's priority)")
        why.append(f"beside the CPU stream its loop shares CPUs {off.server['cpus']} with its busy pool threads "
                   f"({par(off)}){below} and with wrk, so each timer completion may also wait for the scheduler")
        why += noise([off])
    return Check(name, want, figure, "met" if ok else "missed", why)


def model_sentences(io_cells: list[Measured]) -> list[str]:
    """Every model's I/O p99 beside the CPU stream, against offload's and reactors'."""
    out = []
    if not io_cells:
        return out
    wait_us = io_cells[0].params["wait_ms"] * 1000
    for m in [x for x in modes_of(io_cells) if is_model(x)]:
        c = one(io_cells, mode=m)
        if not c or not c.latency_us.get("p99"):
            continue
        refs = [r for r in (one(io_cells, mode="offload"), one(io_cells, mode="reactors")) if r and r is not c]
        parts = [times(key_range(c, r, "latency_us", "p99"), poss(r.mode), "higher", "lower") for r in refs]
        out.append(f"{poss(m)} I/O p99 beside the CPU stream was {fmt_us(c.latency_us['p99'])} "
                   f"({c.latency_us['p99'] / wait_us - 1:+.0%} over the sleep)"
                   + (f": {join(parts)}" if parts else "") + ".")
    return out


