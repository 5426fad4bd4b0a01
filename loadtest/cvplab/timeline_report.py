"""The report's timelines and loop-lag parts: a scenario's own (inside its section), the one or two that follow
the verdict matrix, the sentences beside them, and the self-check rows they answer.

A cell's ``timeline`` and ``loop_health`` come from :mod:`cvplab.watch`; the figures and captions from
:mod:`cvplab.timeline_figures`, the charts from :mod:`cvplab.timeline_charts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cells import Measured
from .checks import Check
from .fmt import fmt_pct, join, poss
from .query import is_model
from .render import Block, h, img, p, ul
from .timeline import recorded
from .timeline_charts import gantt, lag_chart
from .timeline_figures import caption, figures

if TYPE_CHECKING:
    from .scenarios.base import ReportContext

#: The models whose CPU bars should overlap across rows where the server has two or more CPUs.
PARALLEL_MODELS = ("reactors", "offload", "pool")
#: How the lag figures were taken, said once under each lag chart.
LAG_METHOD = ("Lag over each run is the difference of the loops' `/metrics` histograms (`cvp_loop_lag_seconds`) "
              "read just before and just after it: quantiles interpolated within Prometheus's buckets (0.1, 0.25, "
              "0.5, 1, 2.5, 5, 10, 25 ms, ...), the maximum exact where it set the server's since-start maximum, "
              "else the bound of its bucket; utilization is the loops' threads' time outside their event wait over "
              "the run (`workers[].lived_ns` and `event_wait_ns` of `/stats`); each figure the median of the "
              "repeats.")


def with_timeline(cells: list[Measured]) -> list[Measured]:
    """The cells of cvp's models that kept a timeline, in mode order."""
    return [c for c in cells if c.timeline and c.timeline.get("workers") and is_model(c.mode)]


def timeline_blocks(ctx: ReportContext, cells: list[Measured], name: str, what: str) -> list[Block]:
    """A scenario's timeline chart (one panel per model) and the captions; nothing without timelines."""
    shown = with_timeline(cells)
    if not shown:
        return []
    span = shown[0].timeline["span_ms"]
    panels = [(c.mode, c.timeline, caption(c.mode, c.scenario, c.timeline, c.params.get("split"))) for c in shown]
    gantt(panels, f"{what}: {span} ms from the middle of a run, a row per worker", ctx.out_dir / f"{name}.png")
    return [h(3, f"Timeline: {what}"),
            p(f"A {span} ms window from the middle of one run (the middle repeat) of each model: a row per worker, "
              "a bar per piece of work the server recorded (`--timeline`), red for CPU work, brown for blocking "
              "work, thin blue for a wait on a timer. The captions are counted from the bars in the window."),
            img(f"{name}.png", f"timeline of {what} per model"), ul([text for _, _, text in panels])]


#: The pairs the timeline after the verdict matrix compares, the first the run has both of.
LEAD_PAIRS = (("single", "offload"), ("single", "reactors"), ("single", "pool"), ("single", "threads"))


def lead_blocks(ctx: ReportContext) -> list[Block]:
    """The one or two timelines after the verdict matrix: single against offload on mixed (one cook whose timers
    wait behind the hashing, against a loop that hands the hashing to a pool), on cpu where mixed did not run;
    without those models, the first two the run has."""
    for scenario, variant in (("mixed", "io"), ("cpu", None)):
        cells = [c for c in with_timeline(ctx.cells) if c.scenario == scenario and c.variant == variant]
        widest = max((c.workers for c in cells), default=0)
        by = {c.mode: c for c in cells if c.workers == widest}
        pair = next((p for p in LEAD_PAIRS if all(m in by for m in p)), tuple(by)[:2])
        if len(pair) < 2:
            continue
        panels = [(m, by[m].timeline, caption(m, scenario, by[m].timeline)) for m in pair]
        gantt(panels, f"{scenario}: {' against '.join(pair)}", ctx.out_dir / "timeline-lead.png")
        return [h(2, f"What the models do with the work: {' and '.join(pair)} on {scenario}"),
                img("timeline-lead.png", f"{scenario} timeline of {' and '.join(pair)}"),
                ul([text for _, _, text in panels]),
                p("Each scenario's section below has every model's timeline.")]
    return []


def lag_blocks(ctx: ReportContext, cells: list[Measured], name: str, what: str) -> list[Block]:
    """Loop lag and utilization per model beside a scenario's results (a chart and sentences)."""
    rows = [(c.mode, c.loop_health) for c in cells if c.loop_health and c.loop_health.get("lag") and is_model(c.mode)]
    if not rows:
        return []
    lag_chart(rows, f"{what}: loop lag and utilization per model", ctx.out_dir / f"{name}.png")
    return [h(3, f"Loop lag: {what}"), img(f"{name}.png", f"loop lag per model, {what}"),
            *map(p, lag_sentences(what, rows)), p(LAG_METHOD)]


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g} ms"


def _lag(health: dict) -> str:
    """``8.18 ms (p50 3.21 ms, max 8.36 ms)``: a model's p99, with its median and maximum."""
    lag = health["lag"]
    most = "" if lag["max_ms"] is None else f", max {'' if lag['max_exact'] else '≤ '}{_ms(lag['max_ms'])}"
    return f"{_ms(lag['p99_ms'])} (p50 {_ms(lag['p50_ms'])}{most})"


def lag_sentences(what: str, rows: list[tuple[str, dict]]) -> list[str]:
    """The sentences beside a lag chart: the first model's p99 against offload's (or reactors'), what it means,
    the others', utilization and offload's pool queue wait."""
    by = dict(rows)
    ref_mode = next((m for m in ("offload", "reactors") if m in by), None)
    first = next((m for m, _ in rows if m != ref_mode), rows[0][0])
    text = f"During {what}, {poss(first)} loop lag p99 was {_lag(by[first])} — a timer due then waited that long"
    if ref_mode and ref_mode != first:
        text += f" — against {poss(ref_mode)} {_lag(by[ref_mode])}"
    out = [text + "."]
    others = [f"{m} {_lag(h)}" for m, h in rows if m not in (first, ref_mode)]
    if others:
        out.append("Loop lag p99 of the others: " + join(others) + ".")
    util = [f"{m} {fmt_pct(h.get('utilization'), 0)}" for m, h in rows if h.get("utilization") is not None]
    if util:
        out.append("Loop utilization over the run (busy share of the loops' threads): " + join(util) + ".")
    off = by.get("offload")
    if off and off.get("queue_wait"):
        q = off["queue_wait"]
        out.append(f"In offload the pool's queue wait plays the part of the lag for the CPU work: p50 "
                   f"{_ms(q['p50_ms'])}, p99 {_ms(q['p99_ms'])} over {q['tasks']:,.0f} tasks a run — how long a "
                   "hash waited for a pool thread while the loop stayed free.")
    return out


def timeline_checks(cells: list[Measured], scenario: str, parallel: bool = True) -> list[Check]:
    """The self-check rows of a scenario's timelines: single's CPU bars never overlap; with ``parallel``, in
    reactors, offload and pool bars overlap across rows (where the server had two CPUs or more)."""
    mine = [c for c in cells if c.scenario == scenario]
    if not any(recorded(c.server.get("flags") or ()) for c in mine):
        return []  # its servers recorded nothing: results from before timelines, or a remote target
    shown = with_timeline(mine)
    widest = max((c.workers for c in shown), default=0)
    shown = [c for c in shown if c.workers == widest]
    single = next((c for c in shown if c.mode == "single"), None)
    want = "timeline: single's CPU bars never overlap (one cook)"
    name = f"{scenario} timeline single"
    if single is None:
        out = [Check(name, want, "-", "not measured", ["needs single's timeline"])]
    else:
        f = figures(single.timeline)
        out = [Check(name, want, f"max overlap {f['max_overlap']} ({f['work']} bars in {f['span_ms']:.0f} ms)",
                     "met" if f["max_overlap"] <= 1 and f["work"] else "missed",
                     [] if f["work"] else ["no work bar fell in the window"])]
    if not parallel:
        return out
    want = "timeline: in reactors, offload and pool, bars overlap across rows"
    name = f"{scenario} timeline parallel"
    par = [c for c in shown if c.mode in PARALLEL_MODELS]
    if not par or widest < 2:
        return out + [Check(name, want, "-", "not measured",
                            ["needs their timelines with two workers or more" if par or not shown else
                             "needs a timeline of reactors, offload or pool"])]
    figs = {c.mode: figures(c.timeline) for c in par}
    missed = [m for m, f in figs.items() if f["max_overlap"] < 2]
    figure = join([f"{m} {fmt_pct(f['side_by_side'], 0)} of the window" for m, f in figs.items()])
    why = [f"{m}: no two bars ran at once in the window" for m in missed]
    return out + [Check(name, want, figure, "missed" if missed else "met", why)]
