"""io: concurrency without threads.

Each request waits on a timer (``/io/sleep``) or blocks a thread for as long (``/io/block``),
swept across connections, against the Little's-law bound.  At the most connections it also
reads, from /proc while wrk holds its connections, the server's RSS and open descriptors per
connection and its context switches per request (the footprint).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..cells import Measured
from ..charts import color, pyplot, save
from ..checks import Check, noise
from ..checks import check_descriptors as check_against_one
from ..fmt import fmt_bytes, fmt_pct, fmt_rps, fmt_us, join, poss
from ..io_charts import chart_io, steady
from ..plan import Cell, Group, Load, Settings, models_of, overlap_note, spec, widest, wrk_threads
from ..query import is_model, key_range, modes_of, one, par, reference, rps_range, select, times
from ..render import Block, h, img, p, table
from ..servers import ServerSpec
from ..stats import littles_law_bound
from ..timeline_report import lag_blocks
from ..verdict import HIGHER, Row, at_most, figures_of, rps_figures
from ..watch import Watch
from ..wrk import Stream
from .base import ReportContext
from .watched import Watched


@dataclass(frozen=True)
class Params:
    connections: tuple[int, ...]
    wait_ms: int
    wait_spread_ms: int  # /io/sleep waits are drawn from wait ± spread (mean wait); see scripts/io.lua
    duration_s: int  # a run loses about one round of requests at its end; the steady-state share does not
    block_duration_s: int  # /io/block collapses to threads / wait; a second shows it


class Io(Watched):
    name = "io"
    profiles = {
        # quick: 10 too before pool and threads: the full profile sweeps 10 to 10,000
        "quick": Params(connections=(1000,), wait_ms=100, wait_spread_ms=5, duration_s=2, block_duration_s=1),
        "full": Params(connections=(10, 100, 1000, 3000, 10000), wait_ms=100, wait_spread_ms=5, duration_s=15,
                       block_duration_s=3),
        "smoke": Params(connections=(10,), wait_ms=20, wait_spread_ms=1, duration_s=1, block_duration_s=1),
    }

    def connections_wanted(self, params: Params, placement) -> int:
        return max(params.connections)

    def plan(self, s: Settings, params: Params, skipped: list[dict]) -> list[Group]:
        workers = widest(s)
        cpus = s.placement.server_cpus_for(workers)
        wait = params.wait_ms
        conns = []
        for c in params.connections:
            if c > s.max_connections:
                skipped.append({"scenario": "io", "what": f"{c} connections",
                                "reason": f"the open-file limit allows {s.max_connections} connections per process"})
            else:
                conns.append(c)
        specs = [spec(s, m, workers, cpus) for m in models_of(s)]
        timeout = max(10, math.ceil(4 * wait / 1000))
        notes = overlap_note(s, cpus)
        local = s.target is None

        def cell(spec: ServerSpec, c: int, endpoint: str, spread: int = 0, variant: str | None = None,
                 footprint: bool = False) -> Cell:
            threads = wrk_threads(s, c)
            args = [f"endpoint={endpoint}", f"ms={wait}"]
            figures = {"wait_ms": wait}
            path = f"/io/{endpoint}?ms={wait}"
            if endpoint == "sleep":
                # Timer waits: connections start spread over one wait, not in lockstep (see common.lua),
                # and each wait varies a little around its mean, as a downstream's does (see io.lua).
                args += [f"spread={spread}", f"stagger={math.ceil(c / threads)}"]
                figures["spread_ms"] = spread
                if spread:
                    path = f"/io/{endpoint}?ms={wait - spread}..{wait + spread}"
            stream = Stream("main", "io.lua", tuple(args), c, threads, timeout)
            if endpoint == "block":
                load = Load(stream, variant or endpoint, path, blocking_wait_ms=wait)
            else:
                load = Load(stream, variant or endpoint, path, littles_law_bound(c, wait))
            duration = params.duration_s if endpoint == "sleep" else params.block_duration_s
            # A fresh server for /io/block (it leaves a backlog of blocked requests), and for the most
            # connections: their RSS is read from /proc, and memory an earlier run has freed stays in it.
            fresh = local and (endpoint == "block" or c == conns[-1])
            return Cell("io", spec, (load,), duration, workers, figures, fresh_server=fresh,
                        read_stats=endpoint == "sleep", notes=notes, footprint=footprint and local)

        top = conns[-1] if conns else None
        points = [tuple(cell(sp, c, "sleep", params.wait_spread_ms, footprint=c == top) for sp in specs) for c in conns]
        if conns and params.wait_spread_ms > 0:
            # The control: every wait exactly the same, at the most connections, on single (one loop),
            # or on the first model chosen when single is not.
            one_loop = [sp for sp in specs if sp.label == "single"] or specs[:1]
            points.append(tuple(cell(sp, top, "sleep", 0, "sleep-lockstep") for sp in one_loop))
        if conns and not local:
            skipped.append({"scenario": "io", "what": "RSS per connection and context switches per request",
                            "reason": "they are read from the server's /proc, which a remote target's is not"})
        groups = [Group("io", tuple(specs), tuple(points))]
        if s.target is not None:
            skipped.append({"scenario": "io", "what": "/io/block",
                            "reason": "it leaves a backlog of blocked requests, and the lab cannot restart a remote server"})
        else:
            groups.append(Group("io", (), tuple(tuple(cell(sp, c, "block") for sp in specs) for c in conns)))
        return groups

    def problem_errors(self, c: Measured) -> dict:
        # /io/block is expected to time out and shed load; io_text describes it.
        return {} if c.variant == "block" else dict(c.errors or {})

    def __init__(self) -> None:
        # Each run's loop lag, utilization and (offload) pool queue wait; not /io/block's: the read after the
        # run waits behind the requests still queued on a blocked loop (about 5 s a run on single, reactors
        # and pool, 45 s of the quick profile).
        self.watch = Watch(health=lambda cell: cell.loads[0].variant != "block")

    def checks(self, cells: list[Measured]) -> list[Check]:
        return [check_io(cells), check_block_threads(cells), check_footprint(cells), check_descriptors(cells)]

    def verdict(self, cells: list[Measured]) -> list[Row]:
        """I/O-bound: the steady rate at the most connections of timer waits; blocking I/O: wrk's rate at the
        most connections of /io/block."""
        rows = []
        sleep = at_most(select(cells, scenario="io", variant="sleep"), "connections")
        if sleep:
            rows.append(Row("I/O-bound", f"`{sleep[0].path}` over {sleep[0].connections:,} connections (a timer wait)",
                            "req/s in steady state (share of connections ÷ wait)", HIGHER,
                            figures_of(sleep, steady, lambda c: f"{fmt_rps(steady(c))} "
                                       f"({fmt_pct((c.littles_law or {}).get('steady_bound_share'))})")))
        block = at_most(select(cells, scenario="io", variant="block"), "connections")
        if block:
            rows.append(Row("blocking I/O", f"`{block[0].path}` over {block[0].connections:,} connections (the wait "
                            "blocks a thread)", "req/s", HIGHER, rps_figures(block)))
        return rows

    def section(self, ctx: ReportContext) -> list[Block]:
        cells = ctx.cells
        sleep, block = select(cells, scenario="io", variant="sleep"), select(cells, scenario="io", variant="block")
        lockstep = select(cells, scenario="io", variant="sleep-lockstep")
        if not (sleep or block):
            return []
        spread = max((c.params.get("spread_ms", 0) for c in sleep), default=0)
        varied = (f" Each timer wait is drawn from {sleep[0].params['wait_ms']} ± {spread} ms (mean "
                  f"{sleep[0].params['wait_ms']} ms), as a downstream's latency varies"
                  + ("; the crosses are the control, every wait exactly the same." if lockstep else ".")) if spread else ""
        blocks = [h(2, "io: concurrency without threads"),
                   p("Each request waits on a timer (`/io/sleep`), or blocks a thread for the same time "
                     "(`/io/block`, the anti-pattern)." + varied + " The dotted line is the Little's-law bound, connections ÷ "
                     "wait; with blocking the bound is threads ÷ wait. For `/io/sleep` the solid points are the "
                     "rate each run sustained, connections ÷ mean latency (Little's law for a closed loop); the "
                     "hollow ones are wrk's whole-run figures, which also lose the requests in flight when a short "
                     "run stops. `/io/block` shows wrk's figures: there most requests never finish within a run.")]
        chart_io(sleep, block, ctx.out_dir / "io.png", lockstep)
        blocks += [img("io.png", "io throughput against connections"), *map(p, io_text(sleep, block, lockstep)),
                   *map(p, model_sentences(sleep, block))]
        for variant, cs in (("sleep", sleep), ("block", block)):
            top = at_most(cs, "connections")
            if top:
                blocks += lag_blocks(ctx, top, f"lag-io-{variant}",
                                     f"io, `{top[0].path}` over {top[0].connections:,} connections")
        if select_footprint(cells):
            blocks.append(h(3, "io: RSS and descriptors per connection, context switches per request"))
            chart_footprint(cells, ctx.out_dir / "io_footprint.png")
            blocks += [img("io_footprint.png", "io: RSS per connection and context switches per request"),
                       table(FOOTPRINT_HEADER, footprint_rows(cells)), *map(p, footprint_text(cells))]
        return blocks


SCENARIO = Io()


def io_text(sleep: list[Measured], block: list[Measured], lockstep: list[Measured] = ()) -> list[str]:
    out = []
    if sleep:
        top = max(c.connections for c in sleep)
        at_top = [c for c in sleep if c.connections == top]
        out.append(f"At {top:,} connections, with a timer wait that holds no thread, "
                   + join([f"{c.mode} reached {fmt_pct(c.littles_law.get('steady_bound_share'))} of the "
                            f"Little's-law bound in steady state ({fmt_pct(c.littles_law['bound_share'])} over "
                            f"whole runs: {fmt_rps(c.rps)} of {fmt_rps(c.littles_law_bound_rps)} req/s)"
                            for c in at_top]) + ".")
        ratios = [c.littles_law["concurrency_ratio"] for c in sleep if c.littles_law["concurrency_ratio"]]
        if ratios:
            out.append(f"Little's-law check, throughput × mean latency ÷ connections: between "
                       f"{min(ratios):.3f} and {max(ratios):.3f} over all sleep cells (1.0 means every connection "
                       "always had a request in flight).")
    out += _lockstep_text(sleep, lockstep)
    if block:
        top = max(c.connections for c in block)
        at_top = [c for c in block if c.connections == top]
        out.append(f"With /io/block the wait holds a thread, so throughput is bounded by min(connections, "
                   f"parallelism) ÷ wait; at {top:,} connections: "
                   + join([f"{c.mode} {fmt_rps(c.rps)} req/s (bound {fmt_rps(c.littles_law_bound_rps)}, "
                            f"{par(c)})" for c in at_top]) + ".")
        shed = [c for c in block if c.errors["status"]]
        if shed:
            out.append("Some requests were refused rather than queued (status 400 or more, usually 503 from a full "
                       "queue): " + join([f"{c.mode} at {c.connections:,} connections, "
                                           f"{c.errors['status']:,} of {c.requests:,}" for c in shed]) + ".")
        short = [c for c in block if c.parallelism and c.connections > c.parallelism
                 and not c.errors["status"] and c.littles_law_bound_rps
                 and c.rps < 0.5 * c.littles_law_bound_rps]
        if short:
            out.append("Far below threads ÷ wait, with nothing refused: "
                       + join([f"{c.mode} at {c.connections:,} connections ({fmt_rps(c.rps)} of "
                                f"{fmt_rps(c.littles_law_bound_rps)} req/s)" for c in short])
                       + ". With threads free every wait's length, responses should have come back at the bound; "
                         "they did not, so finished work waited for something else before its response went out.")
    return out


# How much lower (as a share of the bound) the identical-wait control must come out before
# the report explains the gap by lockstep; smaller gaps are within run-to-run noise.
LOCKSTEP_GAP = 0.02


def _lockstep_text(sleep: list[Measured], lockstep: list[Measured]) -> list[str]:
    """What identical waits did, against the same connections with waits that vary a little."""
    out = []
    for c in lockstep:
        varied = one(sleep, mode=c.mode, connections=c.connections)
        if not varied or not c.latency_us.get("mean") or not varied.latency_us.get("mean"):
            continue
        wait_us = c.params["wait_ms"] * 1000
        spread = varied.params.get("spread_ms", 0)
        same, diff = c.littles_law.get("steady_bound_share"), varied.littles_law.get("steady_bound_share")
        text = (f"With every wait exactly {c.params['wait_ms']} ms instead of "
                f"{c.params['wait_ms']} ± {spread} ms, {c.mode} at {c.connections:,} connections reached "
                f"{fmt_pct(same)} of the bound in steady state instead of {fmt_pct(diff)}, with a mean latency "
                f"{c.latency_us['mean'] / wait_us - 1:+.1%} over the wait instead of "
                f"{varied.latency_us['mean'] / wait_us - 1:+.1%}.")
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


def check_io(cells: list[Measured]) -> Check:
    name = "io"
    want = "single ≥ 97% of the Little's-law bound on io at 1,000 connections"
    cs = select(cells, scenario="io", variant="sleep", mode="single")
    cs = [c for c in cs if c.connections <= 1000]
    if not cs:
        return Check(name, want, "-", "not measured", ["needs io sleep cells for single"])
    c = max(cs, key=lambda c: c.connections)
    ll = c.littles_law
    steady, whole = ll.get("steady_bound_share"), ll.get("bound_share")
    figure = (f"{fmt_pct(steady)} in steady state, {fmt_pct(whole)} over whole runs, at {c.connections:,} "
              f"connections ({fmt_rps(c.rps)} of {fmt_rps(c.littles_law_bound_rps)} req/s)")
    if c.connections != 1000:
        return Check(name, want, figure, "not measured", ["the sweep did not reach 1,000 connections"])
    notes = []
    mean = c.latency_us.get("mean")
    wait_us = c.params["wait_ms"] * 1000
    spread = c.params.get("spread_ms", 0)
    if spread:
        control = one(select(cells, scenario="io", variant="sleep-lockstep"), mode="single",
                      connections=c.connections)
        share = control and control.littles_law.get("steady_bound_share")
        notes.append(f"each wait is drawn from {c.params['wait_ms']} ± {spread} ms, as a downstream's latency "
                     "varies" + (f"; the control with every wait exactly {c.params['wait_ms']} ms reached "
                                 f"{fmt_pct(share)}" if share is not None else ""))
    if mean and whole is not None and steady is not None and whole < steady - 0.003:
        rounds = c.duration_s * 1e6 / mean
        notes.append(f"the whole-run share is lower because each {c.duration_s}-s run is only {rounds:.0f} "
                     f"rounds of {fmt_us(mean)} per connection, and wrk drops the requests still in flight when it "
                     f"stops (about one round, {1 / rounds:.1%}); the steady-state share is connections ÷ mean "
                     "latency, Little's law for a closed loop")
    if steady is not None and steady >= 0.97:
        return Check(name, want, figure, "met", notes)
    why = []
    if mean:
        why.append(f"mean latency {fmt_us(mean)} against a {fmt_us(wait_us)} wait: "
                   f"{mean / wait_us - 1:+.1%} per request")
    busy = c.server_cpus_busy
    if busy is not None:
        why.append(f"single's one loop was {busy:.0%} busy ({c.server_cpu_us_per_request:.0f} µs of CPU per "
                   "request); timers that expire while it works on other requests complete late, and more so the "
                   "busier it is")
    if c.client_saturated:
        why.append("wrk was saturated")
    if c.errors["total"]:
        why.append(f"{c.errors['total']} errors")
    return Check(name, want, figure, "missed", why + notes + noise([c]))


def model_sentences(sleep: list[Measured], block: list[Measured]) -> list[str]:
    """Every model at the most connections: its steady-state share beside its reference's, and /io/block."""
    out = []
    if sleep:
        top = max(c.connections for c in sleep)
        at_top = [c for c in sleep if c.connections == top]
        for m in [x for x in modes_of(at_top) if is_model(x)]:
            c, ref = one(at_top, mode=m), reference(at_top, m)
            if not c or not ref:
                continue
            mine, theirs = (c.littles_law.get("steady_bound_share"), ref.littles_law.get("steady_bound_share"))
            out.append(f"With timer waits at {top:,} connections, {m} ({par(c)}) reached {fmt_pct(mine)} of the bound "
                       f"in steady state, against {poss(ref.mode)} {fmt_pct(theirs)}"
                       + (f"; p99 {fmt_us(c.latency_us['p99'])} against {fmt_us(ref.latency_us['p99'])}"
                          if c.latency_us.get("p99") and ref.latency_us.get("p99") else "") + ".")
    if block:
        top = max(c.connections for c in block)
        at_top = [c for c in block if c.connections == top]
        pooled = [c for c in at_top if c.parallelism and c.parallelism < c.connections
                  and c.littles_law_bound_rps]
        most = max(pooled, key=lambda c: c.littles_law_bound_rps) if pooled else None
        for m in [x for x in modes_of(at_top) if is_model(x)]:
            c = one(at_top, mode=m)
            if not c or not c.littles_law_bound_rps:
                continue
            share = c.rps / c.littles_law_bound_rps
            if c.parallelism and c.parallelism >= c.connections:
                text = (f"With /io/block at {top:,} connections {m} answered {fmt_rps(c.rps)} req/s, {fmt_pct(share)} "
                        f"of its bound, {fmt_rps(c.littles_law_bound_rps)} (connections ÷ wait: its {par(c)} is "
                        "above the connections)")
                if most:
                    r = c.rps / most.littles_law_bound_rps
                    text += (f", {r:.1f}× the most a model held to a pool of threads could reach here "
                             f"({most.mode}, {fmt_rps(most.littles_law_bound_rps)} req/s, threads ÷ wait)")
                    text += (": a thread per connection is not bounded by a pool size." if r > 1.5 else
                             ": here it did not get clearly past a pool's bound.")
                else:
                    text += "."
            else:
                text = (f"With /io/block at {top:,} connections {m} ({par(c)}) answered {fmt_rps(c.rps)} req/s, "
                        f"{fmt_pct(share)} of its threads ÷ wait, {fmt_rps(c.littles_law_bound_rps)}: blocking "
                        "work waits for one of its threads, as in the other pooled models.")
            out.append(text)
    return out


FOOTPRINT_HEADER = ["model", "conns", "RSS before → during", "RSS per conn (min–max)", "descriptors per conn",
                    "voluntary switches/req", "involuntary switches/req", "threads alive"]


def select_footprint(cells: list[Measured]) -> list[Measured]:
    """io sleep cells with RSS and context-switch figures (the most connections), in mode order."""
    return [c for c in select(cells, scenario="io", variant="sleep") if c.footprint]


def _switches(fp: dict) -> str:
    v, i = fp.get("voluntary_switches_per_request"), fp.get("involuntary_switches_per_request")
    return "-" if v is None else f"{v:.2f} + {i:.2f}"


def fmt_fds(mid: float | None, lo: float | None = None, hi: float | None = None) -> str:
    """Descriptors per connection with its range over repeats, ``1.00 (1.00–1.01)``; ``-`` where not counted."""
    if mid is None:
        return "-"
    return f"{mid:.2f}" + (f" ({lo:.2f}–{hi:.2f})" if lo is not None and hi is not None and lo != hi else "")


def check_descriptors(cells: list[Measured]) -> Check:
    """One descriptor per connection at io's most connections (the footprint cells), every model."""
    cs = [c for c in select_footprint(cells) if is_model(c.mode)]
    where = f"io at {cs[0].footprint['connections']:,} connections" if cs else "io at the most connections"
    return check_against_one("io descriptors", where, [(c.mode, c.footprint.get("fds_per_connection"))
                                                      for c in cs])


def footprint_rows(cells: list[Measured]) -> list[list[str]]:
    rows = []
    for c in select_footprint(cells):
        fp = c.footprint
        mib = lambda b: "-" if b is None else f"{b / 2**20:.1f} MiB"  # noqa: E731
        rows.append([c.mode, f"{fp['connections']:,}", f"{mib(fp['rss_before_bytes'])} → {mib(fp['rss_during_bytes'])}",
                     f"{fmt_bytes(fp['rss_per_connection_bytes'])} ({fmt_bytes(fp['rss_per_connection_bytes_min'])}–"
                     f"{fmt_bytes(fp['rss_per_connection_bytes_max'])})",
                     fmt_fds(fp.get("fds_per_connection"), fp.get("fds_per_connection_min"),
                             fp.get("fds_per_connection_max")),
                     "-" if fp["voluntary_switches_per_request"] is None else f"{fp['voluntary_switches_per_request']:.3f}",
                     "-" if fp["involuntary_switches_per_request"] is None
                     else f"{fp['involuntary_switches_per_request']:.3f}",
                     "-" if fp.get("threads_alive") is None else f"{fp['threads_alive']:,.0f}"])
    return rows


def chart_footprint(cells: list[Measured], path: Path) -> None:
    plt = pyplot()
    cs = select_footprint(cells)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    names = [c.mode for c in cs]
    colors = [color(n) for n in names]
    rss = [c.footprint["rss_per_connection_bytes"] / 1024 for c in cs]
    lo = [max(0.0, r - c.footprint["rss_per_connection_bytes_min"] / 1024) for r, c in zip(rss, cs)]
    hi = [max(0.0, c.footprint["rss_per_connection_bytes_max"] / 1024 - r) for r, c in zip(rss, cs)]
    ax.bar(names, rss, yerr=[lo, hi], capsize=4, color=colors)
    for i, c in enumerate(cs):
        ax.annotate(fmt_bytes(c.footprint["rss_per_connection_bytes"]), (i, max(rss[i], 0)), ha="center",
                    va="bottom", fontsize=8, xytext=(0, 4), textcoords="offset points")
    ax.margins(y=0.15)
    ax.set_ylabel("KiB per connection")
    ax.set_title("RSS per connection: (during − before) ÷ connections", fontsize=10)
    vol = [c.footprint["voluntary_switches_per_request"] or 0 for c in cs]
    inv = [c.footprint["involuntary_switches_per_request"] or 0 for c in cs]
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
    fig.suptitle(f"io at {first.footprint['connections']:,} connections, {first.path}: sampled while wrk held them",
                 fontsize=11)
    save(fig, path)


def footprint_text(cells: list[Measured]) -> list[str]:
    cs = select_footprint(cells)
    if not cs:
        return []
    fp0 = cs[0].footprint
    out = [f"At {fp0['connections']:,} connections, sampled {fp0['sampled_after_s']:.1f} s after wrk started, while "
           "it still held every connection, on a fresh server each repeat: RSS per connection "
           + join([f"{c.mode} {fmt_bytes(c.footprint['rss_per_connection_bytes'])}" for c in cs])
           + "; context switches per request, voluntary + involuntary, "
           + join([f"{c.mode} {_switches(c.footprint)}" for c in cs]) + "."]
    fds = [c for c in cs if c.footprint.get("fds_per_connection") is not None]
    if fds:
        out.append("Open descriptors per connection, (descriptors during − before) ÷ connections, from "
                   "/proc/<pid>/fd: " + join([f"{c.mode} {fmt_fds(c.footprint['fds_per_connection'])}" for c in fds]) + ".")
    threads, ref = one(cs, mode="threads"), reference(cs, "threads")
    if threads and ref:
        rss = key_range(threads, ref, "footprint", "rss_per_connection_bytes")
        sw = key_range(threads, ref, "footprint", "switches_per_request")
        whose = poss(ref.mode)
        alive = threads.footprint.get("threads_alive")
        text = (f"threads{f', with {alive:,.0f} threads alive,' if alive is not None else ''} had "
                f"{times(rss, whose, 'more', 'less')} RSS per connection and "
                f"{times(sw, whose, 'more', 'less')} context switches per request.")
        if rss and sw and rss[1] > 1.0 and sw[1] > 1.0:
            text += (" That is where a thread per connection pays: each connection holds a thread with its own stack "
                     "(the pages it touched are resident), and each request wakes that thread and puts it to sleep "
                     "again.")
        out.append(text)
    pool, reactors = one(cs, mode="pool"), one(cs, mode="reactors")
    if pool and reactors:
        rss = key_range(pool, reactors, "footprint", "rss_per_connection_bytes")
        sw = key_range(pool, reactors, "footprint", "switches_per_request")
        theirs = "reactors'"
        out.append(f"pool had {times(rss, theirs, 'more', 'less')} RSS per connection and "
                   f"{times(sw, theirs, 'more', 'less')} context switches per request.")
    out.append("RSS is `VmRSS` of /proc/<pid>/status, before wrk starts and while it holds its connections; it leaves "
               "out what the kernel keeps for each thread (its kernel stack and task structure). Context switches "
               "are `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` of every thread alive at the second "
               "sample (/proc/<pid>/task/*/status), less their counts at the first, ÷ the requests /stats counted "
               "between the two; a thread that exited in between is missed.")
    return out


def check_footprint(cells: list[Measured]) -> Check:
    name = "io footprint"
    want = "io at the most connections: threads' RSS per connection and context switches per request above reactors'"
    cs = select_footprint(cells)
    threads, reactors = one(cs, mode="threads"), one(cs, mode="reactors")
    if not threads or not reactors:
        return Check(name, want, "-", "not measured", ["needs io footprint cells for threads and reactors"])
    tf, rf = threads.footprint, reactors.footprint
    rss = key_range(threads, reactors, "footprint", "rss_per_connection_bytes")
    sw = key_range(threads, reactors, "footprint", "switches_per_request")
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
    return Check(name, want, figure, "met" if met else "missed", why + noise([threads, reactors]))


def check_block_threads(cells: list[Measured]) -> Check:
    name = "io block threads"
    want = "threads' /io/block throughput at the most connections above every pooled model's bound (threads ÷ wait)"
    block = select(cells, scenario="io", variant="block")
    if not block:
        return Check(name, want, "-", "not measured", ["needs io block cells"])
    top = max(c.connections for c in block)
    at_top = [c for c in block if c.connections == top]
    threads = one(at_top, mode="threads")
    pooled = [c for c in at_top if c.parallelism and c.parallelism < c.connections
              and c.littles_law_bound_rps]
    if not threads or not pooled:
        return Check(name, want, "-", "not measured", ["needs io block cells for threads and a pooled model"])
    most = max(pooled, key=lambda c: c.littles_law_bound_rps)
    bound = threads.littles_law_bound_rps
    figure = (f"threads {rps_range(threads)} at {top:,} connections"
              + (f", {fmt_pct(threads.rps / bound)} of its bound {fmt_rps(bound)}" if bound else "")
              + f"; the pooled models' bound is at most {fmt_rps(most.littles_law_bound_rps)} req/s "
                f"({most.mode}, {par(most)})")
    why = []
    e = threads.errors or {}
    if e.get("total"):
        why.append(f"threads had {e['total']} errors (" + ", ".join(f"{k} {v}" for k, v in e.items()
                                                                    if k != "total" and v) + ")")
    if threads.parallelism and threads.parallelism < top:
        why.append(f"threads' own {par(threads)} is below the connections")
    met = threads.rps > most.littles_law_bound_rps
    return Check(name, want, figure, "met" if met else "missed", why + noise([threads]))

