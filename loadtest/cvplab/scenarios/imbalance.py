"""imbalance: a few heavy connections (PBKDF2) among many light ones (/io/sleep), two wrk processes at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..cells import Measured
from ..charts import color, plain_log_ticks, pyplot, save
from ..checks import Check, noise
from ..fmt import CLOSED_LOOP, fmt_rps, fmt_us, join
from ..plan import Cell, Group, Load, Settings, models_of, overlap_note, spec, widest
from ..query import cpus_of, is_model, key_range, one, select, times
from ..render import Block, h, img, p, table
from ..stats import littles_law_bound, loop_imbalance
from ..verdict import LOWER, Row, p99_figures
from .base import ReportContext, Scenario
from .cpu import work_ms
from .mixed import CPU_START_S, pbkdf2_stream, sleep_stream, two_streams


@dataclass(frozen=True)
class Params:
    light_connections_per_cpu: int  # many: eight per CPU the server has
    light_wait_ms: int
    heavy_connections: int | None  # None: half the server's CPUs, at least 1 (fewer than its workers)
    duration_s: int  # each run


class Imbalance(Scenario):
    name = "imbalance"
    calibrated = True
    profiles = {
        # quick: 1-s runs (2 s before the latency scenario): thousands of 2-ms waits beside the heavy stream
        "quick": Params(light_connections_per_cpu=8, light_wait_ms=2, heavy_connections=None, duration_s=1),
        "full": Params(light_connections_per_cpu=8, light_wait_ms=2, heavy_connections=None, duration_s=10),
        "smoke": Params(light_connections_per_cpu=2, light_wait_ms=2, heavy_connections=1, duration_s=1),
    }

    def plan(self, s: Settings, params: Params, skipped: list[dict]) -> list[Group]:
        """A few connections of heavy CPU requests beside many light ones, two wrk processes at once.

        The heavy stream (PBKDF2 with the calibrated iterations) has fewer connections than the
        server has CPUs, so a model that lets any free thread serve any connection keeps the light
        stream (a short timer wait, ``/io/sleep``) moving; one that shards connections over loops
        leaves the light connections on a loop running PBKDF2 waiting behind it.  The heavy stream
        starts once the light stream's connections are open, as in mixed.  Every CPU for the server.
        """
        workers = widest(s)
        cpus = s.placement.server_cpus_for(workers)
        iterations, wait = s.pbkdf2_iterations, params.light_wait_ms
        heavy_c = params.heavy_connections or max(1, workers // 2)
        light_c = params.light_connections_per_cpu * workers
        light = sleep_stream(s, "light", light_c, wait)
        heavy = pbkdf2_stream(s, "heavy", heavy_c, iterations)
        loads = (Load(light, "light", f"/io/sleep?ms={wait}", littles_law_bound(light_c, wait)),
                 Load(heavy, "heavy", f"/cpu/pbkdf2?iterations={iterations}", start_after_s=CPU_START_S))
        specs = [spec(s, m, workers, cpus) for m in models_of(s)]
        figures = {"wait_ms": wait, "iterations": iterations, "light_connections": light_c,
                   "heavy_connections": heavy_c}
        cells = tuple(Cell("imbalance", sp, loads, params.duration_s, workers, figures,
                           notes=overlap_note(s, cpus))
                      for sp in specs)
        return [Group("imbalance", tuple(specs), (cells,))]

    def checks(self, cells: list[Measured]) -> list[Check]:
        return [check_imbalance(cells)]

    def verdict(self, cells: list[Measured]) -> list[Row]:
        """Imbalanced: the light stream's p99 beside the heavy connections."""
        light, heavy = select_imbalance(cells)
        if not light:
            return []
        return [Row("imbalanced", two_streams(light, heavy), "p99 of the light stream", LOWER, p99_figures(light))]

    def section(self, ctx: ReportContext) -> list[Block]:
        cells, doc = ctx.cells, ctx.doc
        light, heavy = select_imbalance(cells)
        if not light:
            return []
        pr = light[0].params
        blocks = [h(2, "imbalance: a few heavy connections among many light ones"),
                  p(f"Two wrk processes at once on CPUs {light[0].server['cpus']}: `{light[0].path}` over "
                    f"{pr['light_connections']} light connections and `{heavy[0].path if heavy else 'PBKDF2'}` "
                    f"(about {work_ms(doc)} of CPU each) over {pr['heavy_connections']} heavy one(s), fewer than "
                    "the CPUs, started 0.3 s later once the light connections are open. Sharded loops leave the "
                    "light connections that share a loop with a heavy one waiting behind its hashes; a model whose "
                    "free threads take any connection's next request need not. The light stream's latency is the "
                    "figure; CPUs kept busy is the server's CPU time ÷ the wall time of the run.")]
        chart_imbalance(cells, ctx.out_dir / "imbalance.png")
        blocks += [img("imbalance.png", "imbalance: light-stream latency and CPUs kept busy per model"),
                   table(IMBALANCE_HEADER, imbalance_rows(cells)), *map(p, imbalance_text(cells)), p(CLOSED_LOOP)]
        return blocks



SCENARIO = Imbalance()


IMBALANCE_HEADER = ["model", "light p50", "light p99 (min–max)", "light req/s", "heavy req/s", "CPUs kept busy",
                    "handler time per worker"]


def select_imbalance(cells: list[Measured]) -> tuple[list[Measured], list[Measured]]:
    """imbalance's measured light and heavy cells, in mode order."""
    return select(cells, scenario="imbalance", variant="light"), select(cells, scenario="imbalance", variant="heavy")


def _busy_per_worker(c: Measured) -> str:
    """Each worker's handler time (busy_ns) over the repeats, ``1.9/0.0 s``: every loop and pool thread, and
    the connection threads that ran some (threads mode lists one per connection slot)."""
    pw = [w for w in (c.per_worker or []) if w.get("busy_ns") is not None
          and (w.get("busy_ns") or w.get("kind") in ("loop", "pool-thread"))]
    if not any(w["busy_ns"] for w in pw):
        return "-"
    return "/".join(f"{w['busy_ns'] / 1e9:.1f}" for w in pw) + " s"


def imbalance_rows(cells: list[Measured]) -> list[list[str]]:
    light, heavy = select_imbalance(cells)
    rows = []
    for c in light:
        h = one(heavy, mode=c.mode)
        lat, lo, hi = c.latency_us, c.latency_us_min, c.latency_us_max
        rows.append([c.mode, fmt_us(lat.get("p50")), f"{fmt_us(lat.get('p99'))} ({fmt_us(lo.get('p99'))}–"
                                                         f"{fmt_us(hi.get('p99'))})",
                     fmt_rps(c.rps), fmt_rps(h.rps) if h else "-",
                     "-" if c.server_cpus_busy is None else f"{c.server_cpus_busy:.2f}",
                     _busy_per_worker(c)])
    return rows


def chart_imbalance(cells: list[Measured], path: Path) -> None:
    plt = pyplot()
    light, heavy = select_imbalance(cells)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    names = [c.mode for c in light]
    colors = [color(n) for n in names]
    xs = list(range(len(light)))
    width = 0.38
    p50 = [c.latency_us["p50"] / 1000 for c in light]
    p99 = [c.latency_us["p99"] / 1000 for c in light]
    lo = [max(0.0, y - c.latency_us_min["p99"] / 1000) for y, c in zip(p99, light)]
    hi = [max(0.0, c.latency_us_max["p99"] / 1000 - y) for y, c in zip(p99, light)]
    ax.bar([x - width / 2 for x in xs], p50, width, color=colors, alpha=0.45, label="p50")
    ax.bar([x + width / 2 for x in xs], p99, width, color=colors, yerr=[lo, hi], capsize=3, label="p99 (min–max)")
    for x, y in zip(xs, p99):
        ax.annotate(f"{y:.1f}", (x + width / 2, y), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                    textcoords="offset points")
    wait = light[0].params["wait_ms"]
    ax.axhline(wait, color="black", linestyle=":", label=f"the light request's wait, {wait} ms")
    ax.set_xticks(xs, names)
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    ax.set_ylim(bottom=wait * 0.8)
    ax.set_ylabel("light stream latency (ms, log scale)")
    ax.set_title(f"light stream, {light[0].connections} connections", fontsize=10)
    ax.legend(fontsize=8)
    busy = [c.server_cpus_busy or 0 for c in light]
    ax2.bar(names, busy, color=colors)
    for i, c in enumerate(light):
        h = one(heavy, mode=c.mode)
        ax2.annotate(f"{busy[i]:.2f}" + (f"\nheavy {fmt_rps(h.rps)}/s" if h else ""), (i, busy[i]), ha="center",
                     va="bottom", fontsize=8, xytext=(0, 3), textcoords="offset points")
    ax2.axhline(cpus_of(light[0]), color="black", linestyle=":", label=f"the server's {cpus_of(light[0])} CPUs")
    ax2.margins(y=0.2)
    ax2.set_ylabel("CPUs kept busy: server CPU ÷ wall time")
    ax2.set_title("CPUs kept busy, and the heavy stream's throughput", fontsize=10)
    ax2.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"imbalance: {light[0].params['heavy_connections']} heavy connection(s) of PBKDF2 beside "
                 f"{light[0].connections} light ones (median over repeats)", fontsize=11)
    save(fig, path)


def imbalance_text(cells: list[Measured]) -> list[str]:
    light, heavy = select_imbalance(cells)
    if not light:
        return []
    wait_us = light[0].params["wait_ms"] * 1000
    out = ["Light stream p50/p99: " + join([f"{c.mode} {fmt_us(c.latency_us['p50'])}/"
                                              f"{fmt_us(c.latency_us['p99'])} (p99 "
                                              f"{fmt_us(c.latency_us['p99'] - wait_us)} over the wait)"
                                              for c in light]) + "."]
    reactors = one(light, mode="reactors")
    if reactors:
        others = [c for c in light if c is not reactors and is_model(c.mode)]
        if others:
            theirs = "reactors'"
            out.append(f"Beside reactors' light p99 of {fmt_us(reactors.latency_us['p99'])}: "
                       + join([f"{c.mode} {times(key_range(c, reactors, 'latency_us', 'p99'), theirs, 'higher', 'lower')}"
                                for c in others]) + ".")
        busiest = [w for w in (reactors.per_worker or []) if w.get("kind") == "loop" and w.get("busy_ns")]
        ratio = loop_imbalance(reactors.per_worker or [], "busy_ns")
        if busiest and ratio is not None:
            text = (f"reactors' loops spent {_busy_per_worker(reactors)} on handler work over the repeats "
                    f"(max ÷ mean {ratio:.2f})")
            text += (": the heavy work sat on some loops, and the light connections sharing them waited behind each "
                     "PBKDF2 request, while those on the other loops did not." if ratio >= 1.3 else
                     ": the heavy work was spread over the loops, so every loop's light connections shared the wait.")
            out.append(text)
    busy = [f"{c.mode} {c.server_cpus_busy:.2f}" for c in light if c.server_cpus_busy is not None]
    if busy:
        out.append(f"CPUs kept busy (server CPU ÷ wall time, both streams) of {cpus_of(light[0])}: {join(busy)}"
                   + ("; heavy-stream throughput: " + join([f"{c.mode} {fmt_rps(c.rps)} req/s" for c in heavy])
                      if heavy else "") + ".")
    out.append("A model that lets any free thread take any connection's next request (pool's shared io_context, "
               "offload's loop beside its pool, threads' scheduler) can keep the light stream moving while fewer "
               "heavy connections than CPUs hash; sharded loops (reactors) cannot move a light connection off a "
               "loop that is running PBKDF2, and single has one loop for all.")
    return out


def check_imbalance(cells: list[Measured]) -> Check:
    name = "imbalance"
    want = "imbalance: pool's and offload's light-stream p99 below reactors'"
    light, _ = select_imbalance(cells)
    reactors = one(light, mode="reactors")
    mine = [c for c in (one(light, mode=m) for m in ("pool", "offload")) if c]
    if not reactors or not mine:
        return Check(name, want, "-", "not measured", ["needs imbalance cells for reactors and pool or offload"])
    ratios = {c.mode: key_range(c, reactors, "latency_us", "p99") for c in mine}
    figure = (join([f"{c.mode} {fmt_us(c.latency_us['p99'])}" for c in mine])
              + f" against reactors {fmt_us(reactors.latency_us['p99'])}: "
              + join([f"{m} {r[0]:.2f}× ({r[1]:.2f}–{r[2]:.2f})" for m, r in ratios.items() if r]))
    why = [f"{m} not measured" for m in ("pool", "offload") if m not in ratios]
    for m, r in ratios.items():
        if r and r[1] <= 1.0 <= r[2]:
            why.append(f"{m}'s range and reactors' overlap: within this run's noise")
    ratio = loop_imbalance(reactors.per_worker or [], "busy_ns")
    if ratio is not None:
        why.append(f"reactors' loops' handler time {_busy_per_worker(reactors)} (max ÷ mean {ratio:.2f})")
    if any(c.notes for c in light):
        why.append("wrk shares a CPU with the servers here")
    measured = [r for r in ratios.values() if r is not None]
    verdict = "not measured" if not measured else "met" if all(r[0] < 1.0 for r in measured) else "missed"
    return Check(name, want, figure, verdict, why + noise(light))



