"""plaintext: per-request overhead, every model (and nginx) on the same CPUs with wrk beside them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..cells import Measured
from ..charts import color, errbar, plain_log_ticks, pyplot, save
from ..fmt import CLOSED_LOOP, fmt_rps, fmt_us, join, poss
from ..plan import Cell, Group, Load, Settings, models_of, spec, wrk_threads
from ..query import is_model, key_range, par, ratio_text, reference, rps_range, select, times
from ..render import Block, h, img, p
from ..servers import ServerSpec
from ..wrk import Stream
from .base import ReportContext, Scenario


@dataclass(frozen=True)
class Params:
    connections: int
    duration_s: int


class Plaintext(Scenario):
    name = "plaintext"
    apart = True
    profiles = {
        # a second is tens of thousands of requests; the time went to overhead
        "quick": Params(connections=64, duration_s=1),
        "full": Params(connections=64, duration_s=10),
        "smoke": Params(connections=8, duration_s=1),
    }

    def connections_wanted(self, params: Params, placement) -> int:
        return params.connections

    def plan(self, s: Settings, params: Params, skipped: list[dict]) -> list[Group]:
        cpus = s.placement.server
        c = params.connections
        load = Load(Stream("main", "plaintext.lua", (), c, wrk_threads(s, c), 10), None, "/plaintext")
        specs = [spec(s, m, len(cpus), cpus) for m in models_of(s)]
        if s.nginx and s.target is None:
            specs.append(ServerSpec("nginx", (), cpus, len(cpus)))
        cells = tuple(Cell("plaintext", sp, (load,), params.duration_s, sp.workers) for sp in specs)
        return [Group("plaintext", tuple(specs), (cells,))]

    def section(self, ctx: ReportContext) -> list[Block]:
        pt = select(ctx.cells, scenario="plaintext")
        if not pt:
            return []
        blocks = [h(2, "plaintext: per-request overhead"),
                  p(f"`/plaintext` over {pt[0].connections} keep-alive connections; the server on CPU "
                    f"{pt[0].server['cpus']} and wrk on CPU {pt[0].client_cpus}.")]
        chart_plaintext(pt, ctx.out_dir / "plaintext.png")
        blocks += [img("plaintext.png", "plaintext throughput per model"), *map(p, plaintext_text(pt)),
                   *map(p, model_sentences(pt))]
        chart_latency(pt, ctx.out_dir / "latency.png", "plaintext: latency percentiles per model")
        blocks += [img("latency.png", "latency percentiles per model"), *map(p, latency_text(pt))]
        return blocks


SCENARIO = Plaintext()


def chart_plaintext(cells: list[Measured], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    names = [c.mode for c in cells]
    values = [c.rps for c in cells]
    ax.bar(names, values, color=[color(n) for n in names], yerr=errbar(cells), capsize=4)
    for i, v in enumerate(values):
        ax.annotate(fmt_rps(v), (i, v), ha="center", va="bottom", fontsize=9,
                    xytext=(0, 6), textcoords="offset points")
    ax.set_ylabel("requests per second")
    ax.set_title(f"plaintext, {cells[0].connections} connections (median, min–max)")
    ax.margins(y=0.15)
    save(fig, path)


def chart_latency(cells: list[Measured], path: Path, title: str) -> None:
    plt = pyplot()
    keys = [("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9")]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / max(1, len(cells))
    for i, c in enumerate(cells):
        ys = [(c.latency_us.get(k) or 0) / 1000 for k, _ in keys]
        xs = [j + (i - (len(cells) - 1) / 2) * width for j in range(len(keys))]
        ax.bar(xs, ys, width, label=c.mode, color=color(c.mode))
    ax.set_xticks(range(len(keys)), [label for _, label in keys])
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title(title)
    ax.legend()
    save(fig, path)

def plaintext_text(cells: list[Measured]) -> list[str]:
    if not cells:
        return []
    best = max(cells, key=lambda c: c.rps)
    cvp = [c for c in cells if is_model(c.mode)]
    out = [f"{best.mode} was fastest at {fmt_rps(best.rps)} req/s "
           f"(min–max {fmt_rps(best.rps_min)}–{fmt_rps(best.rps_max)})."]
    if len(cvp) > 1:
        slow = min(cvp, key=lambda c: c.rps)
        fast = max(cvp, key=lambda c: c.rps)
        overlap = fast.rps_min <= slow.rps_max
        out.append(f"Among cvp's models, {ratio_text(fast, slow, 'plaintext')}"
                   + (", but their min–max ranges overlap: within this run's noise" if overlap else "")
                   + "; server CPU per request: "
                   + join([f"{c.mode} {c.server_cpu_us_per_request:.1f} µs" for c in cvp
                            if c.server_cpu_us_per_request is not None]) + ".")
    nginx = next((c for c in cells if c.mode == "nginx"), None)
    if nginx and cvp:
        fast = max(cvp, key=lambda c: c.rps)
        out.append(f"nginx (`return 200`, one worker on the same CPU) did {fmt_rps(nginx.rps)} req/s: "
                   f"cvp's best is {fast.rps / nginx.rps:.0%} of it.")
    sat = [c.mode for c in cells if c.client_saturated]
    if sat:
        out.append(f"wrk was saturated for {join(sat)}: those figures are wrk's limit, not the server's.")
    return out


def latency_text(cells: list[Measured]) -> list[str]:
    if not cells:
        return []
    return [("p99 latency: " + join([f"{c.mode} {fmt_us(c.latency_us['p99'])}" for c in cells])
             + "; p99.9: " + join([f"{c.mode} {fmt_us(c.latency_us['p999'])}" for c in cells]) + "."),
            CLOSED_LOOP]

def model_sentences(cells: list[Measured]) -> list[str]:
    """Every model beside its reference (reactors, or single for reactors): throughput and CPU per request."""
    out = []
    for c in cells:
        ref = reference(cells, c.mode)
        if not is_model(c.mode) or not ref:
            continue
        whose = poss(ref.mode)
        text = (f"{c.mode} ({par(c)}) served {rps_range(c)}, "
                f"{times(key_range(c, ref, 'rps'), whose, 'faster', 'slower')}")
        if c.server_cpu_us_per_request and ref.server_cpu_us_per_request:
            text += (f"; server CPU per request {c.server_cpu_us_per_request:.1f} µs against "
                     f"{ref.server_cpu_us_per_request:.1f} µs")
        out.append(text + ".")
    return out
