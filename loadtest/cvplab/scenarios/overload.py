"""overload: offload's goodput under a flood of PBKDF2 requests, against its goodput at saturation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..cells import Measured
from ..checks import Check, noise
from ..fmt import fmt_pct, fmt_rps, fmt_us, join, n_of
from ..plan import Cell, Group, Load, Settings, overlap_note, spec, wrk_threads
from ..query import ratio_range, rps_range, select
from ..charts import errbar, pyplot, save
from ..render import Block, h, img, p, table
from ..servers import ServerSpec
from ..stats import OVERLOAD_EMPTY, summarize_overload
from ..wrk import Stream
from .base import ReportContext, Scenario, one_model_note
from .cpu import work_ms

#: The model this scenario is about, and why no other runs it.
ONE_MODEL = ("offload", "only offload has a pool queue that refuses work beyond it; the other models run "
                        "the work where the connection is and have nothing to refuse from")
#: Its variants, in the order of its point: saturation, the flood, the flood without the pause.
VARIANTS = ("saturation", "flood", "flood-nopause")


@dataclass(frozen=True)
class Params:
    pool_threads: int
    pool_queue: int  # the server admits pool threads + queue requests; beyond them, 503
    saturation_connections: int  # enough to keep the pool busy, fewer than it admits
    flood_connections: int  # about 10× what it admits
    control_pause: str  # --overload-pause of the control flood: the pause effectively off
    duration_s: int


class Overload(Scenario):
    name = "overload"
    one_model = ONE_MODEL
    calibrated = True
    profiles = {
        # quick: 10 s in full; a second is ~400 answers at 5 ms on 2 threads, and what the budget had left
        "quick": Params(2, 16, 8, 200, "1ms", 1),
        "full": Params(2, 16, 8, 200, "1ms", 10),
        "smoke": Params(2, 16, 8, 200, "1ms", 1),
    }

    def connections_wanted(self, params: Params, placement) -> int:
        return params.flood_connections

    def plan(self, s: Settings, params: Params, skipped: list[dict]) -> list[Group]:
        """offload's goodput under a flood against its goodput at saturation, with and without the pause.

        One point, its three cells interleaved repeat after repeat: PBKDF2 (the calibrated
        iterations, as cpu's) over enough connections to keep the pool busy without a refusal,
        then over about 10× what the server admits (pool threads + queue), on a server with the
        default ``--overload-pause`` and, as the control, on one with the pause effectively off.
        The servers get a CPU per pool thread, as cpu's; wrk keeps the client CPUs and is watched.
        """
        if s.target is not None:
            skipped.append({"scenario": "overload", "what": "the scenario",
                            "reason": "it starts offload servers with its own --pool-queue and --overload-pause, "
                                      "which a remote target cannot be given"})
            return []
        if ONE_MODEL[0] not in s.models:
            skipped.append({"scenario": "overload", "what": "the scenario", "reason": "offload was not chosen"})
            return []
        threads, queue = params.pool_threads, params.pool_queue
        cpus = s.placement.server_cpus_for(threads)
        pool = ("--pool-queue", str(queue))
        default = spec(s, "offload", threads, cpus, pool)
        control = spec(s, "offload", threads, cpus, pool + ("--overload-pause", params.control_pause))
        iterations = s.pbkdf2_iterations
        path = f"/cpu/pbkdf2?iterations={iterations}"
        base = {"iterations": iterations, "pool_threads": threads, "pool_queue": queue, "admitted": threads + queue}

        def cell(server: ServerSpec, variant: str, c: int, pause: str) -> Cell:
            stream = Stream("main", "cpu.lua", (f"iterations={iterations}",), c, wrk_threads(s, c), 30)
            return Cell("overload", server, (Load(stream, variant, path),), params.duration_s, threads,
                        dict(base, overload_pause=pause), notes=overlap_note(s, cpus))

        sat, flood = params.saturation_connections, params.flood_connections
        point = (cell(default, "saturation", sat, "default"), cell(default, "flood", flood, "default"),
                 cell(control, "flood-nopause", flood, params.control_pause))
        return [Group("overload", (default, control), (point,))]

    def summarize(self, cell: Cell, load: Load, runs: list) -> dict:
        return summarize_overload(runs) if runs else dict(OVERLOAD_EMPTY)

    def summary_flags(self, c: Measured) -> list[str]:
        return [f"non-2xx {fmt_rps(c.non2xx_rps)}/s"] if c.non2xx_rps is not None else []

    def problem_errors(self, c: Measured) -> dict:
        # A flood is refused by design: its 503s are this scenario's figures, so only its other errors are problems.
        e = dict(c.errors or {})
        if c.variant != "saturation" and e:
            e["total"] -= e.get("status", 0)
            e["status"] = 0
        return e

    def checks(self, cells: list[Measured]) -> list[Check]:
        return [check_overload(cells)]

    def section(self, ctx: ReportContext) -> list[Block]:
        cells, doc = ctx.cells, ctx.doc
        ovl = select_overload(cells)
        if not ovl:
            return []
        first = next(iter(ovl.values()))
        pr = first.params
        blocks = [h(2, "overload: goodput under a flood"),
                  p(f"offload with {pr['pool_threads']} pool threads and `--pool-queue {pr['pool_queue']}` admits "
                    f"{pr['admitted']} requests at once; beyond them it answers 503 with `Retry-After` and reads "
                    "that connection's next request only after `--overload-pause`. "
                    f"`{first.path}` (about {work_ms(doc)} of CPU each) at saturation, over fewer connections "
                    "than it admits, then flooded by about ten times more, once with the default pause and once "
                    "with the pause effectively off (the control); the three are interleaved, repeat after repeat. "
                    f"The servers get CPUs {first.server['cpus']}, a CPU per pool thread, as in cpu; wrk runs "
                    f"on CPU {first.client_cpus}. Goodput counts only successful responses: (requests − "
                    "non-2xx) ÷ run time.")]
        chart_overload(cells, ctx.out_dir / "overload.png")
        blocks += [img("overload.png", "overload: goodput at saturation and under a flood, refusals, wrk's CPU"),
                   table(OVERLOAD_HEADER, overload_rows(cells)), *map(p, overload_text(cells)),
                   p(one_model_note(*ONE_MODEL))]
        return blocks



SCENARIO = Overload()


#: The issue's target: offload's goodput under a 10× flood, as a share of its goodput at saturation.
OVERLOAD_TARGET = 0.8
OVERLOAD_LABELS = {"saturation": "saturation", "flood": "flood, default pause", "flood-nopause": "flood, pause off"}
#: Names in sentences and lists, where the labels' commas would confuse.
OVERLOAD_NAMES = {"saturation": "saturation", "flood": "flood", "flood-nopause": "control"}
OVERLOAD_COLORS = {"saturation": "tab:green", "flood": "tab:olive", "flood-nopause": "tab:red"}


def select_overload(cells: list[Measured]) -> dict[str, Measured]:
    """overload's measured cells by variant: saturation, flood, flood-nopause (those present)."""
    out = {}
    for c in select(cells, scenario="overload"):
        out.setdefault(c.variant, c)
    return {v: out[v] for v in OVERLOAD_LABELS if v in out}


def _pause(c: Measured) -> str:
    pause = c.params.get("overload_pause")
    return "the default `--overload-pause`" if pause == "default" else f"`--overload-pause {pause}`"


def chart_overload(cells: list[Measured], path: Path) -> None:
    plt = pyplot()
    by = select_overload(cells)
    cs = list(by.values())
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    names = [OVERLOAD_LABELS[c.variant].replace(", ", "\n") + f"\nc={c.connections}" for c in cs]
    colors = [OVERLOAD_COLORS[c.variant] for c in cs]
    bars = ax.bar(names, [c.rps for c in cs], yerr=errbar(cs), capsize=4, color=colors)
    for bar, c in zip(bars, cs):
        bar.set_hatch("//" if c.client_saturated else "")
    sat = by.get("saturation")
    for i, c in enumerate(cs):
        label = fmt_rps(c.rps)
        if sat and c is not sat and sat.rps:
            label += f"\n{c.rps / sat.rps:.2f}×"
        ax.annotate(label, (i, c.rps), ha="center", va="bottom", fontsize=8, xytext=(0, 4),
                    textcoords="offset points")
    if sat:
        ax.axhline(OVERLOAD_TARGET * sat.rps, color="black", linestyle=":",
                   label=f"target: {OVERLOAD_TARGET}× saturation")
        ax.legend(fontsize=8, loc="lower left")
    ax.margins(y=0.2)
    ax.set_ylabel("goodput: 2xx responses per second")
    ax.set_title("goodput (hatched: wrk saturated)", fontsize=10)
    rates = [c.non2xx_rps or 0 for c in cs]
    ax2.bar(names, rates, yerr=errbar(cs, key="non2xx_rps") if any(rates) else None, capsize=4, color=colors)
    for i, c in enumerate(cs):
        ax2.annotate(f"{fmt_rps(c.non2xx_rps)}/s\nwrk CPU {fmt_pct(c.client_cpu, 0)}",
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
    fig.suptitle(f"overload: offload, {first.params['pool_threads']} pool threads + queue of "
                 f"{first.params['pool_queue']}, {first.path} (median, min–max)", fontsize=11)
    save(fig, path)


def _x(r: float, target: float = OVERLOAD_TARGET) -> str:
    """A ratio with two decimals, or three where two would hide which side of ``target`` it is on."""
    return f"{r:.3f}" if abs(r - target) < 0.005 and r != target else f"{r:.2f}"


def _admits(c: Measured) -> str:
    pr = c.params
    return f"the {pr['admitted']} requests it admits ({pr['pool_threads']} running, {pr['pool_queue']} queued)"


def _end_loss(sat: Measured, flood: Measured) -> float | None:
    """How much more of the flood's count than the saturation's a run loses when wrk stops mid-request.

    wrk counts only answers that came back: at the end each admitted request still in flight
    is lost, at most min(connections, admitted) of them.  Returned as a share of the flood's
    successes per run.
    """
    admitted = flood.params["admitted"]
    extra = min(flood.connections, admitted) - min(sat.connections, admitted)
    per_run = flood.rps * (flood.duration_s or 0)
    return extra / per_run if per_run > 0 and extra > 0 else None


def _pool_count(c: Measured) -> str:
    """The server's own count of refusals beside wrk's, and why they differ."""
    pool, wrk = c.pool_rejected_rps, c.non2xx_rps
    if pool is None or wrk is None:
        return ""
    text = f"; the pool counted {fmt_rps(pool)} rejections a second"
    if pool > wrk * 1.01:
        text += ", also those whose answer wrk no longer read once it had stopped"
    elif pool < wrk * 0.99:
        text += ": the other refusals were not the pool's"
    return text


def overload_rows(cells: list[Measured]) -> list[list[str]]:
    by = select_overload(cells)
    sat = by.get("saturation")
    rows = []
    for v, c in by.items():
        ratio = "-"
        if sat and c is not sat and sat.rps:
            r, lo, hi = ratio_range(c, sat)
            ratio = f"{_x(r)}× ({_x(lo)}–{_x(hi)})"
        pause = c.params.get("overload_pause")
        rows.append([OVERLOAD_LABELS[v], str(c.connections), "default" if pause == "default" else pause,
                     rps_range(c), ratio,
                     f"{fmt_rps(c.non2xx_rps)} ({fmt_rps(c.non2xx_rps_min)}–"
                     f"{fmt_rps(c.non2xx_rps_max)})",
                     fmt_rps(c.pool_rejected_rps),
                     fmt_us(c.server_cpu_us_per_success), fmt_us(c.server_cpu_us_per_request),
                     fmt_pct(c.client_cpu, 0) + (" (saturated)" if c.client_saturated else "")])
    return rows


OVERLOAD_HEADER = ["point", "conns", "--overload-pause", "goodput req/s (min–max)", "× saturation (range)",
                   "non-2xx/s (min–max)", "pool rejected/s", "srv CPU per 2xx", "srv CPU per response", "wrk CPU"]


def overload_text(cells: list[Measured]) -> list[str]:
    by = select_overload(cells)
    sat, flood, ctrl = by.get("saturation"), by.get("flood"), by.get("flood-nopause")
    out = []
    if sat:
        refused = (f"and {sat.non2xx:,} refused over {n_of(sat.repeats, 'repeat')}: more than it admits were in "
                   "flight, so this is not a clean saturation point" if sat.non2xx else "and no refusal")
        out.append(f"At saturation, over {sat.connections} connections, fewer than {_admits(sat)}, offload "
                   f"answered {rps_range(sat)} {refused}; server CPU per answer "
                   f"{fmt_us(sat.server_cpu_us_per_success)}.")
    for c in (flood, ctrl):
        if not c:
            continue
        text = (f"Flooded by {c.connections} connections, {c.connections / c.params['admitted']:.0f}× "
                f"{_admits(c)}, with {_pause(c)}"
                + (" (the control)" if c is ctrl else "") + f", its goodput was {rps_range(c)}")
        if sat and sat.rps:
            r, lo, hi = ratio_range(c, sat)
            text += f", {_x(r)}× saturation ({_x(lo)}–{_x(hi)})"
        text += (f", while it refused {fmt_rps(c.non2xx_rps)} requests a second (wrk's non-2xx responses"
                 + _pool_count(c) + f"). Server CPU per successful answer: "
                 f"{fmt_us(c.server_cpu_us_per_success)}"
                 + (f" against {fmt_us(sat.server_cpu_us_per_success)} at saturation" if sat else "") + ".")
        out.append(text)
    if flood and ctrl and ctrl.rps:
        r, lo, hi = ratio_range(flood, ctrl)
        text = (f"What the pause buys: under the same flood, goodput with the default pause is {r:.2f}× ({lo:.2f}–"
                f"{hi:.2f}) that with the pause off, and the refusals go from {fmt_rps(ctrl.non2xx_rps)} to "
                f"{fmt_rps(flood.non2xx_rps)} a second")
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
        text = (f"wrk (`-t{cs[0].wrk_threads}` on CPU {cs[0].client_cpus}) shares a CPU with the server "
                f"(CPUs {cs[0].server['cpus']}) and used " if cs[0].notes else
                f"wrk (`-t{cs[0].wrk_threads}` on CPU {cs[0].client_cpus}) used ")
        text += join([f"{fmt_pct(c.client_cpu, 0)} ({OVERLOAD_NAMES[c.variant]})" for c in cs]) + " of it"
        sat_wrk = [OVERLOAD_NAMES[c.variant] for c in cs if c.client_saturated]
        text += (f"; it was saturated for {join(sat_wrk)}, so there the client, not the server, may be the limit."
                 if sat_wrk else ".")
        out.append(text)
    if sat and flood:
        loss = _end_loss(sat, flood)
        if loss is not None and loss >= 0.01:
            out.append(f"Each run is {flood.duration_s} s and wrk drops the requests still in flight when it stops: "
                       f"up to {min(flood.connections, flood.params['admitted'])} at the flood against "
                       f"{min(sat.connections, flood.params['admitted'])} at saturation, about {loss:.1%} of "
                       "the flood's count, which lowers its ratio by as much.")
    return out


def check_overload(cells: list[Measured]) -> Check:
    name = "overload"
    want = f"offload goodput under a 10× flood ≥ {OVERLOAD_TARGET}× goodput at saturation"
    by = select_overload(cells)
    sat, flood, ctrl = by.get("saturation"), by.get("flood"), by.get("flood-nopause")
    if not sat or not flood or not sat.rps:
        missing = [v for v, c in (("saturation", sat), ("flood", flood)) if not c]
        return Check(name, want, "-", "not measured",
                     [f"needs measured overload cells: {join(missing) or 'saturation with a goodput above 0'}"])
    r, lo, hi = ratio_range(flood, sat)
    figure = (f"{_x(r)}× ({_x(lo)}–{_x(hi)}): flood ({flood.connections} conns) {rps_range(flood)} against "
              f"saturation ({sat.connections} conns) {rps_range(sat)}")
    if ctrl:
        cr, clo, chi = ratio_range(ctrl, sat)
        figure += f"; control, `--overload-pause {ctrl.params['overload_pause']}`: {cr:.2f}× ({clo:.2f}–{chi:.2f})"
    else:
        figure += "; control not measured"
    why = [f"{flood.connections} connections are {flood.connections / flood.params['admitted']:.0f}× "
           f"{_admits(flood)}; the flood was refused {fmt_rps(flood.non2xx_rps)} times a second"
           + (f", the control {fmt_rps(ctrl.non2xx_rps)}" if ctrl else "")]
    if not flood.non2xx:
        why.append("the flood got no refusal: it did not exceed what the server admits")
    if sat.non2xx:
        why.append(f"the saturation point had {sat.non2xx:,} refusals: it was not below what the server admits")
    cpu = [f"{OVERLOAD_NAMES[c.variant]} {fmt_us(c.server_cpu_us_per_success)}" for c in (sat, flood, ctrl)
           if c and c.server_cpu_us_per_success is not None]
    if cpu:
        why.append("server CPU per successful answer: " + join(cpu))
    a, b = sat.server_cpu_us_per_success, flood.server_cpu_us_per_success
    if a and b and b > a * 1.02:
        why.append(f"under the flood {1 - a / b:.0%} of the server's CPU per successful answer went beyond what "
                   "saturation spent: refusing, and the extra connections")
    nice = str((flood.server.get("startup") or {}).get("pool_nice"))
    if r < OVERLOAD_TARGET and nice.isdigit() and int(nice) > 0:
        why.append(f"the pool threads run `--pool-nice {nice}` below the loop, so on the CPUs they share with the "
                   "loop answering refusals, and with wrk, both come first")
    why.append("wrk's CPU: " + join([f"{OVERLOAD_NAMES[c.variant]} {fmt_pct(c.client_cpu, 0)}"
                                      for c in (sat, flood, ctrl) if c])
               + ("; wrk shares a CPU with the server" if flood.notes else ""))
    sat_wrk = [OVERLOAD_NAMES[c.variant] for c in (sat, flood, ctrl) if c and c.client_saturated]
    if sat_wrk:
        why.append(f"wrk was saturated for {join(sat_wrk)}: the client may be the limit there")
    if lo < OVERLOAD_TARGET <= hi:
        why.append(f"the repeats' range straddles {OVERLOAD_TARGET}×: within this run's noise")
    loss = _end_loss(sat, flood)
    if loss is not None and loss >= 0.01:
        why.append(f"{flood.duration_s}-s runs: the requests in flight when wrk stops cost the flood about "
                   f"{loss:.1%} more than saturation")
    return Check(name, want, figure, "met" if r >= OVERLOAD_TARGET else "missed",
                 why + noise([c for c in (sat, flood, ctrl) if c]))

