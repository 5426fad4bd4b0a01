"""downstream: a real call to a second server, through a pool of keep-alive connections.

Each request is ``/io/http?ms=W``: the front server (every model) GETs ``/io/sleep?ms=W`` from
one downstream cvp-server the lab starts for the scenario, and answers once the downstream has.
The front servers are started with ``--upstream`` pointing at it (the runner starts it first:
``ServerSpec.upstream``), swept across connections against the Little's-law bound
(connections ÷ W).  After each run the front's ``/stats`` ``downstream`` says how many
connections its pools opened and hold, how many calls queued for one and how many failed;
the downstream's CPU is read around each run, beside the front's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from ..cells import Measured
from ..charts import color, pyplot, save
from ..checks import Check, noise
from ..cpus import format_cpu_list
from ..fmt import fmt_pct, fmt_rps, fmt_us, join, n_of, poss
from ..plan import Cell, Group, Load, Settings, models_of, overlap_note, spec, widest, wrk_threads
from ..query import is_model, modes_of, one, reference
from ..render import Block, h, img, p, table
from ..servers import ServerSpec
from ..stats import littles_law_bound, summarize_downstream
from ..wrk import Stream
from ..verdict import HIGHER, Row, at_most, figures_of
from .base import ReportContext, Scenario

#: The downstream's model.  It serves only timer waits, whose cost is parsing a request and writing
#: its answer: an event loop's work.  reactors runs one loop per CPU it is given, pinned, with nothing
#: shared between loops, so it serves the most such requests per CPU and scales if given more; single is
#: the same on one CPU but cannot use a second.  The others would spend threads (offload's pool,
#: threads' thread per connection) or locks (pool's shared loop) on waits that need neither.
DOWNSTREAM_MODES = ("reactors", "single")
#: The downstream closes a connection idle this long (--idle-timeout).  While one model runs, the
#: other front servers' pools sit idle: without it the downstream would hold every model's pool at
#: once (models × connections).  A front whose idle connections the downstream closed finds out at
#: its next call, drops them all and sends that call again on a new connection (one ``retried``), so
#: each run's pools hold what that run needed.
DOWNSTREAM_IDLE_TIMEOUT = "2s"
#: The issue's target for single: this share of the Little's-law bound, at this point.
TARGET_SHARE, TARGET_CONNECTIONS, TARGET_WAIT_MS = 0.97, 1000, 100


@dataclass(frozen=True)
class Params:
    connections: tuple[int, ...]
    wait_ms: int  # the downstream's wait, the W of the bound
    wait_spread_ms: int  # each wait drawn from W ± spread (mean W), as in io (see scripts/io.lua)
    duration_s: int


class Downstream(Scenario):
    name = "downstream"
    profiles = {
        "quick": Params(connections=(100, 1000), wait_ms=100, wait_spread_ms=5, duration_s=2),
        "full": Params(connections=(100, 1000, 4000), wait_ms=100, wait_spread_ms=5, duration_s=10),
        "smoke": Params(connections=(10,), wait_ms=20, wait_spread_ms=1, duration_s=1),
    }

    def connections_wanted(self, params: Params, placement) -> int:
        # A front holds wrk's connections and, at most, a pool of as many per CPU (per-loop pools).
        return max(params.connections) * (1 + len(placement.all))

    def plan(self, s: Settings, params: Params, skipped: list[dict]) -> list[Group]:
        if s.target is not None:
            skipped.append({"scenario": self.name, "what": "the scenario",
                            "reason": "the lab starts the downstream and the front servers that call it "
                                      "(--upstream); a remote target cannot be started with one"})
            return []
        front_cpus, down_cpus = cpus_for(s)
        workers = len(front_cpus)
        conns = []
        for c in params.connections:
            # Its connections, and its pools' (at most one per worker, each up to c): the front's descriptors.
            if c * (1 + workers) > s.max_connections:
                skipped.append({"scenario": self.name, "what": f"{c} connections",
                                "reason": f"a front server holds them and up to {workers} pool(s) of as many "
                                          f"downstream connections; the open-file limit allows "
                                          f"{s.max_connections} per process"})
            else:
                conns.append(c)
        if not conns:
            return []
        top = max(conns)
        mode = next((m for m in DOWNSTREAM_MODES if m in s.catalog.names), s.catalog.names[0])
        # The downstream: every connection the open-file limit allows (the running front's pools, and
        # the last one's until the idle timeout closes them).
        downstream = ServerSpec(mode, s.catalog.model(mode).worker_flags(len(down_cpus))
                                + ("--max-connections", str(s.max_connections),
                                   "--idle-timeout", DOWNSTREAM_IDLE_TIMEOUT), down_cpus, len(down_cpus))
        # Each pool may open as many connections as the most wrk holds, so no pool caps the calls: every
        # request in flight can have its own downstream connection, whichever loop it is on.
        pool_flags = ("--upstream-connections", str(top))
        specs = [replace(spec(s, m, workers, front_cpus, pool_flags), upstream=downstream) for m in models_of(s)]
        wait, spread = params.wait_ms, params.wait_spread_ms
        notes = overlap_note(s, front_cpus) + downstream_note(s, front_cpus, down_cpus, mode)
        figures = {"wait_ms": wait, "spread_ms": spread, "upstream_connections": top, "downstream_mode": mode,
                   "downstream_cpus": format_cpu_list(down_cpus),
                   "downstream_shares": bool(set(down_cpus) & (set(front_cpus) | set(s.placement.client)))}
        timeout = max(10, math.ceil(4 * wait / 1000))
        path = f"/io/http?ms={wait - spread}..{wait + spread}" if spread else f"/io/http?ms={wait}"

        def cell(sp: ServerSpec, c: int) -> Cell:
            # At the most connections, /proc and /stats are also read while wrk holds them (the footprint):
            # the threads each model keeps alive then, and its context switches per request.
            threads = wrk_threads(s, c)
            # As io's timer waits: connections start spread over one wait, each wait varies a little.
            stream = Stream("main", "io.lua", ("endpoint=http", f"ms={wait}", f"spread={spread}",
                                               f"stagger={math.ceil(c / threads)}"), c, threads, timeout)
            return Cell(self.name, sp, (Load(stream, None, path, littles_law_bound(c, wait)),), params.duration_s,
                        workers, figures, notes=notes, footprint=c == top)

        return [Group(self.name, tuple(specs), tuple(tuple(cell(sp, c) for sp in specs) for c in conns))]

    def summarize(self, cell: Cell, load: Load, runs: list) -> dict:
        return {"downstream": summarize_downstream(runs)}

    def summary_flags(self, c: Measured) -> list[str]:
        d = c.downstream or {}
        flags = [f"ds-conns {d['open']:,.0f}"] if d.get("open") is not None else []
        if d.get("faults_total"):
            flags.append(f"ds-faults {d['faults_total']:,}")
        return flags

    def checks(self, cells: list[Measured]) -> list[Check]:
        return [check_single(cells)]

    def verdict(self, cells: list[Measured]) -> list[Row]:
        """Downstream: the steady rate at the most connections, as a share of the Little's-law bound."""
        top = at_most(select_cells(cells), "connections")
        if not top:
            return []
        return [Row("downstream", f"`{top[0].path}` over {top[0].connections:,} connections, each a call to a "
                    "downstream server", "share of connections ÷ wait, in steady state", HIGHER,
                    figures_of(top, steady_share, lambda c: fmt_pct(steady_share(c))))]

    def section(self, ctx: ReportContext) -> list[Block]:
        cells = select_cells(ctx.cells)
        if not cells:
            return []
        first = cells[0]
        prm = first.params
        spread = prm.get("spread_ms", 0)
        up = first.server.get("upstream") or {}
        blocks = [h(2, "downstream: a real call through a pool of keep-alive connections"),
                  p(f"Each request is `{first.path}`: the front server GETs `/io/sleep` with that wait "
                    f"({prm['wait_ms']}" + (f" ± {spread}" if spread else "") + " ms) from one downstream "
                    f"cvp-server, `--mode {prm['downstream_mode']}` on CPU {prm['downstream_cpus']}, through a "
                    "pool of keep-alive connections, and answers once the downstream has. The pools live where "
                    "the model's connections do: one per loop in single, reactors and offload, one shared in pool "
                    f"and threads; each may open `--upstream-connections {prm['upstream_connections']}`, the most "
                    "connections of the sweep, so no pool caps the calls. The dotted line is the Little's-law "
                    "bound, connections ÷ wait; each bar is the rate a run sustained, connections ÷ mean latency "
                    "(as in io), as a share of it. The downstream closes connections idle for "
                    f"{DOWNSTREAM_IDLE_TIMEOUT} (`--idle-timeout`), so each front's pools hold what its own run "
                    "needed, not what the other models' runs left." + (f" Downstream: {up['description']}."
                                                                        if up.get("description") else ""))]
        chart(cells, ctx.out_dir / "downstream.png")
        blocks += [img("downstream.png", "downstream: throughput as a share of the Little's-law bound, and p99"),
                   table(TABLE_HEADER, table_rows(cells)), *map(p, sentences(cells))]
        return blocks


SCENARIO = Downstream()


def cpus_for(s: Settings) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(the front servers' CPUs, the downstream's).

    With three CPUs or more the downstream gets one of its own, the last server CPU, and the
    fronts every other (each a worker per CPU, as io's); with fewer none is spare: the fronts
    get every CPU, as io's, and the downstream shares the last client CPU with wrk, which is
    less busy there than a front server's loop (on 2 CPUs, single at 1,000 connections: 99.5%
    of the bound beside wrk against 96.7% on the front's first CPU, p99 106 against 128 ms).
    """
    spare = s.placement.server[-1]
    if len(s.placement.all) >= 3:
        return tuple(c for c in s.placement.all if c != spare), (spare,)
    return s.placement.server_cpus_for(widest(s)), s.placement.client[-1:]


def downstream_note(s: Settings, front_cpus: tuple[int, ...], down_cpus: tuple[int, ...], mode: str) -> tuple[str, ...]:
    """The cell note saying what the downstream shares its CPU with, where it shares it."""
    with_front = sorted(set(down_cpus) & set(front_cpus))
    with_wrk = sorted(set(down_cpus) & set(s.placement.client))
    whom = (["the front server"] if with_front else []) + (["wrk"] if with_wrk else [])
    if not whom:
        return ()
    return (f"the downstream ({mode}) shares CPU {format_cpu_list(tuple(sorted(set(with_front + with_wrk))))} with "
            f"{join(whom)}: no CPU is spare; its CPU use is measured",)


def select_cells(cells: list[Measured]) -> list[Measured]:
    """The scenario's measured cells, in mode order."""
    return [c for c in cells if c.scenario == "downstream" and c.rps is not None]


def steady_share(c: Measured) -> float | None:
    """connections ÷ mean latency, as a share of the bound (io's steady state)."""
    return (c.littles_law or {}).get("steady_bound_share")


def chart(cells: list[Measured], path: Path) -> None:
    plt = pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    points = sorted({c.connections for c in cells})
    modes = modes_of(cells)
    width = 0.8 / max(1, len(modes))
    handles = []
    for j, mode in enumerate(modes):
        xs = [i + (j - (len(modes) - 1) / 2) * width for i in range(len(points))]
        mine = {c.connections: c for c in cells if c.mode == mode}
        share = [100 * (steady_share(mine[c]) or 0) if c in mine else 0 for c in points]
        p99 = [((mine[c].latency_us or {}).get("p99") or 0) if c in mine else 0 for c in points]
        handles.append(ax.bar(xs, share, width, color=color(mode), label=mode))
        ax2.bar(xs, [v / 1000 for v in p99], width, color=color(mode))
        for x, y in zip(xs, share):
            if y:
                ax.annotate(f"{y:.1f}", (x, y), ha="center", va="bottom", fontsize=7, xytext=(0, 2),
                            textcoords="offset points")
    handles.append(ax.axhline(100, color="black", linestyle=":", linewidth=1.5,
                              label="the bound, connections ÷ wait"))
    handles.append(ax.axhline(100 * TARGET_SHARE, color="tab:red", linestyle="--", linewidth=1,
                              label=f"{TARGET_SHARE:.0%} of the bound"))
    low = min((100 * (steady_share(c) or 0) for c in cells), default=0)
    ax.set_ylim(max(0, min(90, low - 5)), 102)
    ax.set_xticks(range(len(points)), [f"c={c:,}" for c in points])
    ax.set_ylabel("% of the Little's-law bound")
    ax.set_title("connections ÷ mean latency, as a share of the bound", fontsize=10)
    wait = cells[0].params["wait_ms"]
    handles.append(ax2.axhline(wait, color="black", linestyle=(0, (1, 3)), linewidth=1,
                               label=f"the downstream's wait, {wait} ms"))
    ax2.set_xticks(range(len(points)), [f"c={c:,}" for c in points])
    ax2.set_ylabel("p99 latency (ms)")
    ax2.set_title("p99 latency", fontsize=10)
    ax2.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"downstream: {cells[0].path} through each model's pools to one downstream", fontsize=11)
    save(fig, path)


TABLE_HEADER = ["model", "conns", "req/s", "of bound (steady)", "p50", "p99", "front µs/req", "downstream µs/req",
                "ds conns open (created)", "pools", "waited", "faults", "threads alive"]


def _n(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def table_rows(cells: list[Measured]) -> list[list[str]]:
    rows = []
    for c in sorted(cells, key=lambda c: (c.connections, modes_of(cells).index(c.mode))):
        d, lat = c.downstream or {}, c.latency_us or {}
        rows.append([c.mode, f"{c.connections:,}", fmt_rps(c.rps), fmt_pct(steady_share(c)), fmt_us(lat.get("p50")),
                     fmt_us(lat.get("p99")),
                     "-" if c.server_cpu_us_per_request is None else f"{c.server_cpu_us_per_request:.1f}",
                     "-" if d.get("server_cpu_us_per_request") is None else f"{d['server_cpu_us_per_request']:.1f}",
                     f"{_n(d.get('open'))} ({_n(d.get('created'))})", _n(d.get("pools")), _n(d.get("waited")),
                     _n(d.get("faults_total")), _n(threads_alive(c))])
    return rows


def sentences(cells: list[Measured]) -> list[str]:
    """What the run says, computed from its cells: the bound, the pools, the CPU, the threads."""
    out = []
    wait_us = cells[0].params["wait_ms"] * 1000
    models = [m for m in modes_of(cells) if is_model(m)]
    # Little's law at each point, every model.
    for c_ in sorted({c.connections for c in cells}):
        at = [c for c in cells if c.connections == c_]
        bound = at[0].littles_law_bound_rps
        parts = []
        for c in at:
            mean = (c.latency_us or {}).get("mean")
            parts.append(f"{c.mode} {fmt_pct(steady_share(c))} ({fmt_rps(c.rps)} req/s over whole runs"
                         + (f", mean latency {fmt_us(mean)}, {mean / wait_us - 1:+.1%} over the wait" if mean else "")
                         + ")")
        out.append(f"At {c_:,} connections the bound is {fmt_rps(bound)} req/s ({c_:,} ÷ "
                   f"{cells[0].params['wait_ms']} ms); in steady state " + join(parts) + ".")
    top = max(c.connections for c in cells)
    at_top = [c for c in cells if c.connections == top]
    out += pool_sentences(at_top, models)
    out += cpu_sentences(at_top, models)
    out += threads_sentences(at_top, models)
    return out


def pool_sentences(at_top: list[Measured], models: list[str]) -> list[str]:
    """The downstream connections each model's pools held after a run at the most connections, and why."""
    out = []
    have = [(m, one(at_top, mode=m)) for m in models]
    have = [(m, c) for m, c in have if c and (c.downstream or {}).get("open") is not None]
    if not have:
        return ["The front servers' /stats had no downstream pools to read."] if at_top else []
    top = at_top[0].connections
    parts = []
    for m, c in have:
        d = c.downstream
        pools = d.get("pools") or 1
        per_pool = d.get("open_per_pool") or {}
        split = (f", the last repeat's {' + '.join(f'{v:,}' for v in per_pool.values())}" if len(per_pool) > 1
                 else "")
        parts.append(f"{m} {d['open']:,.0f} in {n_of(pools, 'pool')} ({d['open'] / top:.2f} per connection{split}; "
                     f"{d['created']:,.0f} opened during the run)")
    out.append(f"Downstream connections the front servers' pools held after a run at {top:,} connections (median "
               "over repeats; each pool keeps every connection it opened): " + join(parts) + ".")
    per_loop = [(m, c) for m, c in have if (c.downstream.get("pools") or 1) > 1]
    shared = [(m, c) for m, c in have if (c.downstream.get("pools") or 1) == 1]
    for m, c in per_loop:
        d = c.downstream
        text = (f"{poss(m)} {d['pools']} per-loop pools held {d['open'] / top:.2f} connections per request in "
                "flight")
        if shared:
            ref_m, ref = min(shared, key=lambda mc: mc[1].downstream["open"])
            more = d["open"] - ref.downstream["open"]
            text += (f", against {poss(ref_m)} one pool's {ref.downstream['open'] / top:.2f}: "
                     + (f"{more:,.0f} more, since a connection idle in one loop's pool cannot serve a call on "
                        "another loop, so each pool grows to its own loop's peak" if more > 0 else
                        "no more than one shared pool here, the loops' peaks coinciding"))
        out.append(text + ".")
    waited = [f"{m} {c.downstream['waited']:,}" for m, c in have if c.downstream.get("waited")]
    faults = [f"{m} {c.downstream['faults_total']:,} (" + ", ".join(f"{k} {v}" for k, v in
                                                                     (c.downstream.get("faults") or {}).items() if v)
              + ")" for m, c in have if c.downstream.get("faults_total")]
    retried = [f"{m} {c.downstream['retried']:,}" for m, c in have if c.downstream.get("retried")]
    out.append(("Calls that queued for a connection, over every repeat: " + join(waited) + "." if waited else
                "No call queued for a connection: the pools were large enough.")
               + (" Failed calls: " + join(faults) + "." if faults else " No call failed.")
               + (" Calls sent again after the downstream had closed an idle connection (the first of a run, "
                  f"after another model's): {join(retried)}." if retried else ""))
    return out


def cpu_sentences(at_top: list[Measured], models: list[str]) -> list[str]:
    """Where the CPU went at the most connections: each front's, and the downstream's behind it."""
    cs = [c for c in (one(at_top, mode=m) for m in models) if c]
    if not cs:
        return []
    top = cs[0].connections
    prm = cs[0].params
    parts = []
    for c in cs:
        d = c.downstream or {}
        front = "-" if c.server_cpu_us_per_request is None else f"{c.server_cpu_us_per_request:.0f} µs"
        down = "-" if d.get("server_cpu_us_per_request") is None else f"{d['server_cpu_us_per_request']:.0f} µs"
        busy = d.get("server_cpus_busy")
        parts.append(f"{c.mode} {front} in the front and {down} in the downstream"
                     + (f" (the downstream {busy:.2f} CPUs busy)" if busy is not None else ""))
    where = (f"The front servers ran on CPUs {cs[0].server['cpus']}, the downstream (`--mode {prm['downstream_mode']}`) "
             f"on CPU {prm['downstream_cpus']}" + (", shared" if prm.get("downstream_shares") else ", its own")
             + f", wrk on CPUs {cs[0].client_cpus}.")
    return [where + f" CPU per request at {top:,} connections: " + join(parts) + "."]


def threads_alive(c: Measured) -> float | None:
    """Threads the model ran while wrk held its connections (the footprint's /stats), else after the run."""
    during = (c.footprint or {}).get("threads_alive")
    return during if during is not None else (c.model or {}).get("threads_alive")


def threads_sentences(at_top: list[Measured], models: list[str]) -> list[str]:
    """What each model ran to make its calls, and what a thread per connection pays for it."""
    cs = [c for c in (one(at_top, mode=m) for m in models) if c and threads_alive(c) is not None]
    if not cs:
        return []
    top = cs[0].connections
    during = all((c.footprint or {}).get("threads_alive") is not None for c in cs)
    out = [f"Threads alive {'while wrk held' if during else 'after a run at'} {top:,} connections (/stats "
           "`model.threads_alive`): " + join([f"{c.mode} {threads_alive(c):,.0f}" for c in cs]) + "."]
    switches = [c for c in cs if (c.footprint or {}).get("switches_per_request") is not None]
    if switches:
        out.append("Context switches per request (every thread's, from /proc, voluntary + involuntary): "
                   + join([f"{c.mode} {c.footprint['switches_per_request']:.2f}" for c in switches]) + ".")
    threads, ref = one(cs, mode="threads"), reference(cs, "threads")
    if threads:
        paid = [f"{threads_alive(threads):,.0f} threads for {top:,} connections"]
        if ref and threads.server_cpu_us_per_request and ref.server_cpu_us_per_request:
            paid.append(f"{threads.server_cpu_us_per_request / ref.server_cpu_us_per_request:.2f}× "
                        f"{poss(ref.mode)} front CPU per request ({threads.server_cpu_us_per_request:.0f} against "
                        f"{ref.server_cpu_us_per_request:.0f} µs)")
        sw, ref_sw = ((threads.footprint or {}).get("switches_per_request"),
                      ((ref.footprint or {}).get("switches_per_request") if ref else None))
        if sw is not None and ref_sw:
            paid.append(f"{sw / ref_sw:.2f}× {poss(ref.mode)} context switches per request")
        out.append("threads makes each call on the connection's own thread, blocked in poll() on its downstream "
                   f"socket, and pays for it with {join(paid)}; the other models wait on their loops' sockets with "
                   "no thread held.")
    return out


def check_single(cells: list[Measured]) -> Check:
    name = "downstream"
    want = (f"/io/http at c={TARGET_CONNECTIONS:,} with a {TARGET_WAIT_MS} ms downstream: single reaches "
            f"≥ {TARGET_SHARE:.0%} of the Little's-law bound")
    c = one(select_cells(cells), mode="single", connections=TARGET_CONNECTIONS)
    if c is None or c.params.get("wait_ms") != TARGET_WAIT_MS:
        return Check(name, want, "-", "not measured",
                     [f"needs a downstream cell for single at {TARGET_CONNECTIONS:,} connections with a "
                      f"{TARGET_WAIT_MS} ms wait"])
    steady, whole = steady_share(c), (c.littles_law or {}).get("bound_share")
    figure = (f"{fmt_pct(steady)} in steady state, {fmt_pct(whole)} over whole runs ({fmt_rps(c.rps)} of "
              f"{fmt_rps(c.littles_law_bound_rps)} req/s)")
    d = c.downstream or {}
    notes = []
    if c.params.get("spread_ms"):
        notes.append(f"each wait is drawn from {c.params['wait_ms']} ± {c.params['spread_ms']} ms")
    notes.append("the steady-state share is connections ÷ mean latency (Little's law for a closed loop), as io's; "
                 "whole runs also lose the requests in flight when wrk stops")
    if steady is not None and steady >= TARGET_SHARE:
        return Check(name, want, figure, "met", notes)
    why = []
    mean = (c.latency_us or {}).get("mean")
    if mean:
        why.append(f"mean latency {fmt_us(mean)} against a {fmt_us(c.params['wait_ms'] * 1000)} wait: "
                   f"{mean / (c.params['wait_ms'] * 1000) - 1:+.1%} per request")
    if c.server_cpus_busy is not None:
        why.append(f"single's one loop was {c.server_cpus_busy:.0%} busy ({c.server_cpu_us_per_request:.0f} µs of CPU "
                   "per request: the call and the answer both)")
    if d.get("server_cpus_busy") is not None:
        why.append(f"the downstream was {d['server_cpus_busy']:.0%} busy on CPU {c.params.get('downstream_cpus')}"
                   + (", which it shares" if c.params.get("downstream_shares") else ""))
    if d.get("waited"):
        why.append(f"{d['waited']:,} calls queued for a downstream connection")
    if d.get("faults_total"):
        why.append(f"{d['faults_total']:,} calls failed")
    if c.client_saturated:
        why.append("wrk was saturated")
    if (c.errors or {}).get("total"):
        why.append(f"{c.errors['total']} errors")
    return Check(name, want, figure, "missed", why + notes + noise([c]))
