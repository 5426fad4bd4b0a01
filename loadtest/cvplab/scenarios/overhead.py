"""overhead: cvp's own cost per request and per idle connection, against nginx and Node.js on the same CPUs.

/plaintext and /json over keep-alive connections, /plaintext pipelined, then idle keep-alive
connections (RSS and descriptors per connection, each run on a fresh server), then PBKDF2
with the lab's CPUs against Node's libuv pool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..cells import Measured
from ..charts import color, errbar, plain_log_ticks, pyplot, save
from ..checks import Check, check_against, check_descriptors, cpu_per_request
from ..fmt import CLOSED_LOOP, fmt_bytes, fmt_rps, join, n_of, poss
from ..idle import Hold
from ..plan import Cell, Group, Load, Settings, overlap_note, spec, wrk_threads
from ..query import is_model, mode_rank, key_range, modes_of, one, par, ratio_range, rps_range, select, times
from ..render import Block, h, img, p, table
from ..servers import ServerSpec
from ..wrk import Stream
from .base import ReportContext, Scenario
from .io import fmt_fds


@dataclass(frozen=True)
class Params:
    connections: int  # /plaintext and /json, keep-alive
    pipeline_connections: tuple[int, ...]  # /plaintext pipelined, one point per count
    pipeline_depth: int  # requests per pipelined batch
    duration_s: int  # each wrk run of the scenario
    idle_connections: int  # idle keep-alive connections held open for the RSS and descriptor figures
    idle_settle_s: float  # wait after the last answer before reading the RSS again
    pbkdf2_iterations: int  # fixed, not calibrated: the figure is compared with Node's
    pbkdf2_connections: int


class Overhead(Scenario):
    name = "overhead"
    apart = True
    apart_note = " (and overhead's PBKDF2 point)"
    profiles = {
        # 10,000 idle connections in full; 2,000 gave cvp the same figure, in a fifth of the time
        "quick": Params(64, (16, 64), 16, 1, 2_000, 0.2, 8800, 8),
        "full": Params(64, (16, 64), 16, 10, 10_000, 1.0, 8800, 8),
        "smoke": Params(8, (8,), 16, 1, 100, 0.1, 8800, 2),
    }

    def connections_wanted(self, params: Params, placement) -> int:
        return params.idle_connections

    def plan(self, s: Settings, params: Params, skipped: list[dict]) -> list[Group]:
        """cvp's own cost per request and per idle connection, against nginx and Node on the same CPUs.

        One group on the server CPUs, as plaintext's (with two CPUs: one worker each, nginx with
        one worker process, Node with its one event loop), wrk on the client CPUs: /plaintext and
        /json, /plaintext pipelined, then the idle-connection count, every idle run on a fresh
        server.  A second group gives the models that can hash on several threads (those the
        server lets you size: :func:`pbkdf2_models`) and Node as many workers as the lab has CPUs,
        for PBKDF2.
        """
        if s.target is not None:
            skipped.append({"scenario": "overhead", "what": "the scenario",
                            "reason": "it compares cvp's models with peers started on this machine, and reads the "
                                      "server's memory from /proc; neither works for a remote target"})
            return []
        for peer, why in s.peers_left_out:
            skipped.append({"scenario": "overhead", "what": peer, "reason": why})
        cpus = s.placement.server
        width = len(cpus)
        specs = [spec(s, m, width, cpus) for m in s.models]
        if s.nginx:
            specs.append(ServerSpec("nginx", (), cpus, width))
        if s.node:
            specs.append(ServerSpec("node", (), cpus, width))
        depth = params.pipeline_depth

        def wrk_cell(spec: ServerSpec, variant: str, c: int, script: str, args: tuple[str, ...], path: str,
                     figures: dict) -> Cell:
            load = Load(Stream("main", script, args, c, wrk_threads(s, c), 10), variant, path,
                        latency="pipeline" not in figures)
            return Cell("overhead", spec, (load,), params.duration_s, width, figures)

        c = params.connections
        points = [tuple(wrk_cell(sp, name, c, "overhead.lua", (f"path={path}",), path, {})
                        for sp in specs) for name, path in (("plaintext", "/plaintext"), ("json", "/json"))]
        for pc in params.pipeline_connections:
            points.append(tuple(wrk_cell(sp, "pipeline", pc, "pipeline.lua", ("path=/plaintext", f"depth={depth}"),
                                         "/plaintext", {"pipeline": depth}) for sp in specs))
        n = params.idle_connections
        if n > s.max_connections:
            skipped.append({"scenario": "overhead", "what": f"{n - s.max_connections:,} of {n:,} idle connections",
                            "reason": f"the open-file limit allows {s.max_connections} connections per process"})
            n = s.max_connections
        hold = Hold(n, "/plaintext", params.idle_settle_s)
        notes = () if n == params.idle_connections else (
            f"{n:,} idle connections instead of {params.idle_connections:,}: the open-file limit",)
        # A fresh server for every idle run: memory a server has freed stays in its RSS (malloc keeps it
        # for reuse), so on a server that has already held these connections the figure would be near 0.
        points.append(tuple(Cell("overhead", sp, (Load(hold, "idle", "/plaintext"),), 0, width,
                                 {"idle_connections": n, "settle_s": hold.settle_s}, fresh_server=True,
                                 read_stats=False, notes=notes) for sp in specs))
        groups = [Group("overhead", tuple(specs), tuple(points))]

        workers = len(s.placement.all)
        pcpus = s.placement.server_cpus_for(workers)
        sized = pbkdf2_models(s)
        pspecs = [spec(s, m, workers, pcpus) for m in s.models if m in sized]
        if s.node:
            pspecs.append(ServerSpec("node", (), pcpus, workers))
        if not any(sp.label in sized for sp in pspecs):
            skipped.append({"scenario": "overhead", "what": "PBKDF2",
                            "reason": f"none of {', '.join(sized)} was chosen"})
        else:
            iterations, pc = params.pbkdf2_iterations, params.pbkdf2_connections
            load = Load(Stream("main", "cpu.lua", (f"iterations={iterations}",), pc, wrk_threads(s, pc), 30), "pbkdf2",
                        f"/cpu/pbkdf2?iterations={iterations}")
            cells = tuple(Cell("overhead", sp, (load,), params.duration_s, workers, {"iterations": iterations},
                               notes=overlap_note(s, pcpus)) for sp in pspecs)
            groups.append(Group("overhead", tuple(pspecs), (cells,)))
        return groups

    def summary_point(self, c: Measured) -> str:
        if c.variant == "idle":
            return f"N={c.connections:,}"
        return (f"c={c.connections}" + (f" ×{c.params['pipeline']}" if c.params.get("pipeline") else "")
                + (f" w={c.workers}" if c.variant == "pbkdf2" else ""))

    def checks(self, cells: list[Measured]) -> list[Check]:
        return overhead_checks(cells)

    def section(self, ctx: ReportContext) -> list[Block]:
        ov = ctx.mine("overhead")
        if not (select(ov) or select_idle(ov)):
            return []
        pt_ov = select(ov, variant="plaintext") or select(ov)
        blocks = [h(2, "overhead: cvp against nginx and Node.js"),
                  p(f"Per-request cost on the same CPU: every server on CPU {pt_ov[0].server['cpus']} (nginx with "
                     f"one worker, Node with its one event loop), wrk `-t{pt_ov[0].wrk_threads or 1}` on CPU "
                     f"{pt_ov[0].client_cpus}; `/plaintext` and `/json` over keep-alive connections, and `/plaintext` "
                     "pipelined as in TechEmpower (each batch written whole; wrk's latency figures mean nothing there, "
                     "so none are shown). Then idle "
                     "keep-alive connections: each sends one request, reads the answer and stays open while the "
                     "server's RSS is read, on a fresh server each time (freed memory stays in a process's RSS, so a "
                     "second count on the same server would find the memory already there). Then PBKDF2 with the "
                     "lab's CPUs: the models that can hash on several threads against Node's libuv pool of the same "
                     "size.")]
        chart_overhead(ov, ctx.out_dir / "overhead.png")
        blocks += [img("overhead.png", "overhead: throughput, CPU per request, RSS per idle connection, PBKDF2"),
                   *map(p, overhead_text(ov)), *map(p, model_sentences(ov)), p(CLOSED_LOOP)]
        if select_idle(ov):
            blocks += [h(3, "overhead: RSS and descriptors per idle connection"),
                       table(IDLE_HEADER, idle_rows(ov)), p(IDLE_METHOD)]
        return blocks


SCENARIO = Overhead()


def pbkdf2_models(s: Settings) -> tuple[str, ...]:
    """The models PBKDF2 runs on: those the server lets you size (one loop has nothing to size)."""
    return tuple(m.name for m in s.catalog.models if m.sizing_flags)


def select_idle(cells: list[Measured]) -> list[Measured]:
    """overhead's idle-connection cells that measured something, in mode order."""
    out = [c for c in cells if c.scenario == "overhead" and c.variant == "idle"
           and c.rss_per_connection_bytes is not None]
    return sorted(out, key=lambda c: mode_rank(c.mode))


OVERHEAD_POINTS = (("plaintext", "/plaintext"), ("json", "/json"), ("pipeline", "/plaintext pipelined"))


def overhead_points(cells: list[Measured]) -> list[tuple[str, int, str, list[Measured]]]:
    """overhead's wrk points present in ``cells``: (variant, connections, label, cells in mode order)."""
    out = []
    for variant, label in OVERHEAD_POINTS:
        cs = select(cells, scenario="overhead", variant=variant)
        for c in sorted({x.connections for x in cs}):
            at = [x for x in cs if x.connections == c]
            depth = at[0].params.get("pipeline")
            out.append((variant, c, f"{label}{f' ×{depth}' if depth else ''}, {c} conns", at))
    return out


def chart_overhead(cells: list[Measured], path: Path) -> None:
    plt = pyplot()
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
                c = next((x for x in cs if x.mode == mode), None)
                if c is None or not c.figure(key):
                    continue
                xs.append(j + (i - (len(modes) - 1) / 2) * width)
                ys.append(c.figure(key))
                lo, hi = ([c.rps - (c.rps_min or c.rps)], [(c.rps_max or c.rps) - c.rps]) \
                    if key == "rps" else ([0.0], [0.0])
                errs[0] += lo
                errs[1] += hi
                hatches.append("//" if c.client_saturated else "")
            bars = ax.bar(xs, ys, width, yerr=errs if key == "rps" else None, capsize=2, label=mode,
                          color=color(mode))
            for bar, hatch in zip(bars, hatches):
                bar.set_hatch(hatch)
        ax.set_xticks(range(len(points)), [label.replace("/plaintext pipelined", "pipelined").replace(", ", "\n")
                                           for _, _, label, _ in points], fontsize=8)
        ax.set_ylabel(label)
    ax_rps.set_ylim(bottom=0)
    from matplotlib.ticker import FuncFormatter
    ax_rps.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    cpu_values = [c.server_cpu_us_per_request for _, _, _, cs in points for c in cs
                  if c.server_cpu_us_per_request]
    if cpu_values:
        ax_cpu.set_yscale("log")
        ax_cpu.set_ylim(bottom=10 ** math.floor(math.log10(min(cpu_values))), top=max(cpu_values) * 1.5)
        plain_log_ticks(ax_cpu.yaxis)
    ax_rps.set_title("throughput (hatched: wrk saturated, so the figure is wrk's limit)", fontsize=10)
    ax_cpu.set_title("server CPU time per request (all of its threads)", fontsize=10)
    ax_rps.legend(fontsize=8)
    if idle:
        names = [c.mode for c in idle]
        ys = [c.rss_per_connection_bytes / 1024 for c in idle]
        lo = [max(0.0, (c.rss_per_connection_bytes - c.rss_per_connection_bytes_min) / 1024) for c in idle]
        hi = [max(0.0, (c.rss_per_connection_bytes_max - c.rss_per_connection_bytes) / 1024) for c in idle]
        ax_rss.bar(names, ys, yerr=[lo, hi], capsize=4, color=[color(n) for n in names])
        for i, c in enumerate(idle):
            ax_rss.annotate(fmt_bytes(c.rss_per_connection_bytes), (i, ys[i]), ha="center", va="bottom",
                            fontsize=8, xytext=(0, 4), textcoords="offset points")
        ax_rss.axhline(1.0, color="black", linestyle=":", label="target for cvp: 1 KiB")
        ax_rss.legend(fontsize=8)
        ax_rss.margins(y=0.15)
        ax_rss.set_title(f"RSS per idle keep-alive connection, {idle[0].idle_connections_wanted:,} connections",
                         fontsize=10)
    ax_rss.set_ylabel("KiB per connection")
    if pbkdf2:
        names = [f"{c.mode}\n{par(c).replace('parallelism', 'par.')}" for c in pbkdf2]
        ys = [c.rps for c in pbkdf2]
        ax_pb.bar(names, ys, yerr=errbar(pbkdf2), capsize=4, color=[color(c.mode) for c in pbkdf2])
        for i, v in enumerate(ys):
            ax_pb.annotate(fmt_rps(v), (i, v), ha="center", va="bottom", fontsize=8, xytext=(0, 4),
                           textcoords="offset points")
        ax_pb.margins(y=0.15)
        ax_pb.set_title(f"{pbkdf2[0].path} over {pbkdf2[0].connections} connections", fontsize=10)
    ax_pb.set_ylabel("requests per second")
    fig.suptitle("overhead: cvp against nginx and Node.js (median, min–max)")
    save(fig, path)


def overhead_text(cells: list[Measured]) -> list[str]:
    out = []
    for variant, conns, label, cs in overhead_points(cells):
        cvp = [c for c in cs if is_model(c.mode)]
        if not cvp:
            continue
        best = max(cvp, key=lambda c: c.rps)
        peers = [c for c in cs if not is_model(c.mode) and c.rps]
        text = f"{label}: cvp's best was {best.mode} at {rps_range(best)}"
        if peers:
            text += ", " + join([f"{ratio_range(best, c)[0]:.2f}× {c.mode} ({fmt_rps(c.rps)})" for c in peers])
        text += f". Server CPU per request: {cpu_per_request(cs)}."
        sat = [c.mode for c in cs if c.client_saturated]
        if sat:
            text += (f" wrk was saturated for {join(sat)}: there the throughput is wrk's limit, and CPU per request "
                     "compares the servers better.")
        out.append(text)
    idle = select_idle(cells)
    if idle:
        n = idle[0].idle_connections_wanted
        out.append(f"Memory per idle keep-alive connection, (RSS after − RSS before) ÷ connections held, at {n:,} "
                   "connections, each on a fresh server after one priming request: "
                   + join([f"{c.mode} {fmt_bytes(c.rss_per_connection_bytes)}"
                            + (f" ({c.idle_connections:,} held)" if c.idle_connections < n else "")
                            for c in idle]) + ".")
    pb = select(cells, scenario="overhead", variant="pbkdf2")
    node = one(pb, mode="node")
    if pb:
        text = f"`{pb[0].path}` over {pb[0].connections} connections on {n_of(pb[0].workers, 'CPU')}: " \
               + join([f"{c.mode} {rps_range(c)}" for c in pb]) + "."
        if node:
            text += " Against Node's libuv pool of " + str(node.parallelism or node.workers) + ": " + join(
                [f"{c.mode} {ratio_range(c, node)[0]:.2f}×" for c in pb if is_model(c.mode)]) + "."
        busy = [f"{c.mode} {c.server_cpus_busy:.2f}" for c in pb if c.server_cpus_busy is not None]
        if busy:
            text += f" CPUs kept busy: {join(busy)}; wrk shares CPU {pb[0].client_cpus} with the servers."
        out.append(text)
    return out



OVERHEAD_CONNECTIONS, OVERHEAD_PIPELINE_CONNECTIONS = 64, (16, 64)


def overhead_checks(cells: list[Measured]) -> list[Check]:
    """One row per target of the overhead scenario: cvp's best model against the peer."""
    checks = []
    for variant, path in (("plaintext", "/plaintext"), ("json", "/json")):
        cs = select(cells, scenario="overhead", variant=variant)
        conns = max((c.connections for c in cs), default=OVERHEAD_CONNECTIONS)
        checks.append(check_against(cs, f"overhead {path}", f"{path} over {conns} keep-alive connections: cvp's "
                                     "best model ≥ 1.0× nginx (1 worker)", "nginx"))
    pipe = select(cells, scenario="overhead", variant="pipeline")
    counts = sorted({c.connections for c in pipe}) or list(OVERHEAD_PIPELINE_CONNECTIONS)
    depth = pipe[0].params.get("pipeline", 16) if pipe else 16
    for conns in counts:
        cs = [c for c in pipe if c.connections == conns]
        checks.append(check_against(cs, f"overhead pipelined c{conns}", f"/plaintext pipelined ×{depth} over "
                                     f"{conns} connections: cvp's best model ≥ 1.0× nginx", "nginx"))
    checks.append(check_idle(cells))
    idle = [c for c in select_idle(cells) if is_model(c.mode)]
    n = max((c.idle_connections_wanted for c in idle), default=0)
    checks.append(check_descriptors("overhead idle descriptors", f"{n:,} idle keep-alive connections" if n else
                                    "idle keep-alive connections",
                                    [(c.mode, c.fds_per_connection) for c in idle]))
    pb = select(cells, scenario="overhead", variant="pbkdf2")
    node = one(pb, mode="node")
    pool = (node.parallelism or node.workers) if node else 2
    iterations = pb[0].params["iterations"] if pb else 8800
    for mode in ("offload", "reactors"):
        cs = [c for c in pb if c.mode in (mode, "node")]
        par = getattr(one(cs, mode=mode), "parallelism", None) or pool
        checks.append(check_against(cs, f"overhead PBKDF2 {mode}", f"PBKDF2 {iterations:,} iterations: {mode} with "
                                     f"parallelism {par} ≥ 1.0× Node's libuv pool of {pool}", "node", models=(mode,)))
    return checks

#: The issue's target for cvp's memory per idle keep-alive connection.
IDLE_TARGET_BYTES = 1024


def check_idle(cells: list[Measured]) -> Check:
    name = "overhead idle"
    idle = select_idle(cells)
    n = max((c.idle_connections_wanted for c in idle), default=10_000)
    want = f"RSS per idle keep-alive connection at {n:,} connections: cvp's best model ≤ 1 KiB (nginx beside it)"
    cvp = [c for c in idle if is_model(c.mode)]
    if not cvp:
        return Check(name, want, "-", "not measured", ["needs an idle cell for a cvp model"])
    best = min(cvp, key=lambda c: c.rss_per_connection_bytes)
    figure = (f"{best.mode} {fmt_bytes(best.rss_per_connection_bytes)} "
              f"({fmt_bytes(best.rss_per_connection_bytes_min)}–{fmt_bytes(best.rss_per_connection_bytes_max)})")
    nginx = next((c for c in idle if c.mode == "nginx"), None)
    figure += (f"; nginx {fmt_bytes(nginx.rss_per_connection_bytes)} "
               f"({fmt_bytes(nginx.rss_per_connection_bytes_min)}–{fmt_bytes(nginx.rss_per_connection_bytes_max)})"
               if nginx else "; nginx not measured")
    why = [f"{n_of(best.repeats, 'repeat')}, every one on a fresh server: (RSS after − RSS before) ÷ connections "
           "held, after one priming request"]
    short = [c for c in idle if c.idle_connections < c.idle_connections_wanted]
    if short:
        why.append("fewer connections held than wanted: " + join(
            [f"{c.mode} {c.idle_connections:,} of {c.idle_connections_wanted:,}" for c in short])
            + " (see the cell's runs[].notes and errors)")
    others = [c for c in cvp if c is not best]
    if others:
        why.append("the other models: " + join([f"{c.mode} {fmt_bytes(c.rss_per_connection_bytes)}"
                                                  for c in others]))
    met = best.rss_per_connection_bytes <= IDLE_TARGET_BYTES
    return Check(name, want, figure, "met" if met else "missed", why)


def model_sentences(cells: list[Measured]) -> list[str]:
    """Every model against nginx at each point, and its memory and descriptors per idle connection."""
    out = []
    idle = select_idle(cells)
    for m in [m for m in modes_of(cells) if is_model(m)]:
        parts = []
        for _, _, label, cs in overhead_points(cells):
            c, nginx = one(cs, mode=m), one(cs, mode="nginx")
            if c and nginx and nginx.rps:
                parts.append(f"{label} {c.rps / nginx.rps:.2f}×")
        text = f"{m} against nginx: {join(parts)}" if parts else ""
        mine = next((c for c in idle if c.mode == m), None)
        others = [c for c in idle if is_model(c.mode) and c.mode != m]
        if mine:
            least = min(others, key=lambda c: c.rss_per_connection_bytes) if others else None
            text += ("; " if text else f"{m}: ") + f"RSS per idle connection {fmt_bytes(mine.rss_per_connection_bytes)}"
            if least and least.rss_per_connection_bytes > 0:
                text += ", " + times(key_range(mine, least, "rss_per_connection_bytes"), poss(least.mode),
                                     "more", "less")
        if text:
            out.append(text + ".")
    return out


IDLE_HEADER = ["model", "connections held", "RSS per conn (min–max)", "descriptors per conn"]
IDLE_METHOD = ("Each figure is (after − before) ÷ connections held, on a fresh server after one priming request: "
               "RSS is `VmRSS` of /proc/<pid>/status, descriptors are the entries of /proc/<pid>/fd, over the "
               "server's process group (nginx: master and worker).")


def idle_rows(cells: list[Measured]) -> list[list[str]]:
    """One row per server: connections held, RSS and descriptors per idle connection."""
    return [[c.mode, f"{c.idle_connections:,} of {c.idle_connections_wanted:,}",
             f"{fmt_bytes(c.rss_per_connection_bytes)} ({fmt_bytes(c.rss_per_connection_bytes_min)}–"
             f"{fmt_bytes(c.rss_per_connection_bytes_max)})",
             fmt_fds(c.fds_per_connection, c.fds_per_connection_min, c.fds_per_connection_max)] for c in select_idle(cells)]
