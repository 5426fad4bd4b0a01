"""The latency scenario's figures, sentences and charts, computed from its cells.

What is derived here: each model's curve (offered rate, throughput, p50/p99/p99.9) and its knee,
the theory check's rows (M/D/1 on single, M/D/c on offload) and the coordinated-omission pair.
The scenario module (``cvplab/scenarios/latency.py``) plans the runs and lays out the section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .cells import Measured
from .charts import color, panel_grid, plain_log_ticks, pyplot, save
from .fmt import fmt_pct, fmt_rps, fmt_us, join, poss
from .query import is_model, modes_of
from .queueing import KNEE_FACTOR, is_finite, knee, md1_wait, mdc_wait, most_under_budget, nearest

#: The offered load the sentences compare models at (the nearest measured share of capacity).
COMPARE_AT = 0.8
#: The ρ the M/D/c rows read from the sweep where the run has no theory cells.
DEFAULT_RHOS = (0.5, 0.8)
#: The percentiles charted, with their labels.
CHARTED = (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"))

__all__ = ["KNEE_FACTOR", "Curve", "TheoryRow", "Pooled", "curves", "chart_sweep", "sweep_text", "pooled",
           "served_under_budget", "cpu_per_request", "pool_busy_per_task", "md1_rows", "mdc_rows", "theory_sentence", "cpu_latency_held",
           "co_pair", "co_capacity", "chart_co", "co_text"]


@dataclass
class Curve:
    """One model's open-loop cells of one workload, lowest rate first, and what they say."""

    mode: str
    cells: list[Measured]
    capacity: Measured | None

    @property
    def unloaded_p50(self) -> float | None:
        """The p50 at the lowest offered rate: the latency of the work without queueing."""
        return self.cells[0].latency_us.get("p50") if self.cells else None

    @property
    def budget(self) -> float | None:
        """The knee's p99 budget: KNEE_FACTOR × the unloaded p50."""
        return None if self.unloaded_p50 is None else KNEE_FACTOR * self.unloaded_p50

    def points(self) -> list[tuple[float, float, float | None]]:
        """(offered rate, throughput, p99) of each cell."""
        return [(offered(c), c.rps, c.latency_us.get("p99")) for c in self.cells]

    @property
    def knee(self) -> float | None:
        """The highest offered rate within the budget (queueing.knee)."""
        if self.budget is None:
            return None
        return knee([(r, p99) for r, _, p99 in self.points()], self.budget)

    def at(self, fraction: float) -> Measured | None:
        """The cell offered the share of capacity nearest ``fraction``."""
        share = nearest([c.params["fraction"] for c in self.cells], fraction)
        return next((c for c in self.cells if c.params["fraction"] == share), None)


def offered(c: Measured) -> float:
    """The rate asked of cvp-load (req/s)."""
    return (c.open_loop or {}).get("rate_asked") or 0.0


def curves(sweep: list[Measured]) -> list[Curve]:
    """Each model's curve in one workload's cells (capacity cells apart), in the catalog's order."""
    out = []
    for m in [x for x in modes_of(sweep) if is_model(x)]:
        mine = [c for c in sweep if c.mode == m]
        rates = sorted((c for c in mine if c.open_loop and c.latency_us and c.params.get("fraction") is not None),
                       key=lambda c: c.params["fraction"])
        cap = next((c for c in mine if c.params.get("point") == "capacity"), None)
        if rates:
            out.append(Curve(m, rates, cap))
    return out


#: How each charted percentile is drawn in a model's panel.
PERCENTILE_STYLES = ({"linestyle": ":", "marker": "o", "markersize": 3, "linewidth": 1.0},
                     {"linestyle": "-", "marker": "o", "markersize": 5, "linewidth": 2.0},
                     {"linestyle": "--", "marker": "^", "markersize": 4, "linewidth": 1.0})


def chart_sweep(sweep: list[Measured], path: Path, title: str) -> None:
    """p50, p99 and p99.9 against the offered rate, a panel per model on shared axes (models whose curves are
    alike would hide each other in one), each model's knee starred on its p99."""
    cs = curves(sweep)
    fig, panels, key = panel_grid(len(cs))
    for ax, curve in zip(panels, cs):
        xs = [offered(c) for c in curve.cells]
        for (k, _), style in zip(CHARTED, PERCENTILE_STYLES):
            ax.plot(xs, [(c.latency_us.get(k) or float("nan")) / 1000 for c in curve.cells], color=color(curve.mode),
                    **style)
        if curve.knee is not None:
            at = next(c for c in curve.cells if offered(c) == curve.knee)
            ax.plot([curve.knee], [at.latency_us["p99"] / 1000], marker="*", markersize=15, color=color(curve.mode),
                    markeredgecolor="black", linestyle="none")
        ax.set_title(curve.mode, color=color(curve.mode), fontsize=10, fontweight="bold")
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
        ax.grid(True, alpha=0.3)
    handles = [key.plot([], [], color="gray", label=label, **style)[0] for (_, label), style in zip(CHARTED,
                                                                                                   PERCENTILE_STYLES)]
    handles.append(key.plot([], [], marker="*", markersize=15, color="gray", markeredgecolor="black",
                            linestyle="none", label="the knee (on p99)")[0])
    key.legend(handles=handles, loc="center", fontsize=8, frameon=False)
    fig.supxlabel("offered rate (req/s, Poisson)", fontsize=9)
    fig.supylabel("latency from the scheduled send (ms, log)", fontsize=9)
    fig.suptitle(title, fontsize=11)
    save(fig, path)


def sweep_text(sweep: list[Measured]) -> list[str]:
    """Each model's capacity and knee; p99s at 80% of capacity; the most throughput under one p99 budget."""
    cs = curves(sweep)
    if not cs:
        return []
    out = []
    knees = []
    for cv in cs:
        cap = f"capacity {fmt_rps(cv.capacity.rps)} req/s" if cv.capacity and cv.capacity.rps else "capacity unknown"
        if cv.knee is None:
            knees.append(f"{cv.mode} ({cap}) none: its p99 was over {fmt_us(cv.budget)} already at the lowest rate")
        else:
            share = next(c.params["fraction"] for c in cv.cells if offered(c) == cv.knee)
            knees.append(f"{cv.mode} ({cap}) at {fmt_rps(cv.knee)} req/s ({fmt_pct(share, 0)} of it; p99 within "
                         f"{fmt_us(cv.budget)}, {KNEE_FACTOR:g}× its unloaded p50 of {fmt_us(cv.unloaded_p50)})")
    out.append("Knees: " + join(knees) + ".")
    at = [(cv.mode, cv.at(COMPARE_AT)) for cv in cs]
    at = [(m, c) for m, c in at if c is not None and c.latency_us.get("p99") is not None]
    if at:
        share = at[0][1].params["fraction"]
        parts = [f"{poss(m)} p99 was {fmt_us(c.latency_us['p99'])} (at {fmt_rps(offered(c))} req/s)" for m, c in at]
        out.append(f"At {fmt_pct(share, 0)} of its capacity, {join(parts)}.")
    under = served_under_budget(cs)
    if under is not None:
        budget, served = under
        ok = sorted([(tp, m) for m, tp in served if tp], reverse=True)
        none = [m for m, tp in served if not tp]
        text = f"Under one p99 budget of {fmt_us(budget)} ({KNEE_FACTOR:g}× the lowest unloaded p50), "
        if ok:
            text += (f"{ok[0][1]} served the most: {fmt_rps(ok[0][0])} req/s"
                     + (f"; then {join([f'{m} {fmt_rps(tp)}' for tp, m in ok[1:]])}" if len(ok) > 1 else ""))
        else:
            text += "no model kept its p99 within it at any rate"
        out.append(text + (f"; {join(none)} not even at the lowest rate" if ok and none else "") + ".")
    late = [c for cv in cs for c in cv.cells if (c.open_loop or {}).get("dropped") or (c.open_loop or {}).get("behind")]
    if late:
        out.append("Where the generator could not keep its schedule (requests dropped, or cvp-load behind): "
                   + join([f"{c.mode} at {fmt_pct(c.params['fraction'], 0)} ({c.open_loop.get('dropped', 0):,} "
                           f"dropped{', behind' if c.open_loop.get('behind') else ''})" for c in late]) + ".")
    return out


def served_under_budget(cs: list[Curve]) -> tuple[float, list[tuple[str, float | None]]] | None:
    """One p99 budget for every model, KNEE_FACTOR × the lowest unloaded p50, and the most throughput each model
    served within it (None for a model over it at every rate); None where no curve has a budget."""
    budgets = [cv.budget for cv in cs if cv.budget is not None]
    if not budgets:
        return None
    budget = min(budgets)
    return budget, [(cv.mode, most_under_budget(cv.points(), budget)) for cv in cs]


#: Where S comes from, and why, for each kind of row.
MD1_SOURCE = ("server's CPU per request from /proc (its CPU over the runs ÷ the requests answered): single's one "
              "loop parses each request, makes its system calls and writes its answer as well as hashing, and all "
              "of it keeps the one server busy, while the loop's /stats busy time covers the hash alone and would "
              "make ρ too low")
MDC_SOURCE = ("pool threads' busy time per task from /stats: they run the hash and nothing else, while the "
              "process's CPU also counts the loop's parsing and writes, which occupy no pool thread")
MDC_FALLBACK = "server's CPU per request from /proc (the runs have no pool threads' busy time from /stats)"


@dataclass
class TheoryRow:
    """One load of the theory check: what was measured and what the formula says.

    A row pools its cell's repeats (:func:`pooled`); ``rounds`` holds one row per round, each
    repeat against the reference's repeat of the same number (the runner ran them in one
    interleaved round), to show the spread the pooled figure averages over.
    """

    rho_asked: float
    rate: float  # λ, the rate cvp-load achieved (the mean over the repeats)
    service_us: float  # S, pooled over the repeats
    mean_us: float  # mean latency at this load, request-weighted over the repeats
    base_us: float  # mean latency at the low rate, the same way
    theory_us: float  # the formula's mean wait
    requests: int
    servers: int = 1
    source: str = ""  # where S came from
    base_theory_us: float = 0.0  # the formula's mean wait at the low rate, which its mean holds too
    background_cpus: float | None = None  # the most CPUs other processes kept busy in a run of the row or its reference
    rounds: list["TheoryRow"] = field(default_factory=list)

    @property
    def rho(self) -> float:
        """ρ = λ·S / c."""
        return self.rate * self.service_us / 1e6 / self.servers

    @property
    def measured_us(self) -> float:
        """The mean latency less the low rate's, whose own small wait (the formula's) is given back."""
        return self.mean_us - self.base_us + self.base_theory_us

    @property
    def diff(self) -> float:
        """(measured − theory) ÷ theory."""
        return (self.measured_us - self.theory_us) / self.theory_us if self.theory_us else float("nan")

    def round_diffs(self) -> str:
        """Each round's difference, ``−5%, +30%, −6%``; ``-`` with one round or none."""
        return ", ".join(f"{r.diff:+.0%}" for r in self.rounds) if len(self.rounds) > 1 else "-"

    def cells(self) -> list[str]:
        return [f"{self.rho_asked:.2f}", fmt_rps(self.rate), fmt_us(self.service_us), f"{self.rho:.3f}",
                fmt_us(self.mean_us), fmt_us(self.base_us), fmt_us(self.measured_us), fmt_us(self.theory_us),
                f"{self.diff:+.1%}", self.round_diffs()]


@dataclass
class Pooled:
    """A cell's repeats taken together: every request counts once, whichever repeat it was in."""

    mean_us: float  # Σ (each run's mean latency × its requests) ÷ Σ requests
    service_us: float | None  # S from the runs (cpu_per_request or pool_busy_per_task)
    rate: float  # the mean of the runs' achieved rates (runs of one length: the pooled rate)
    requests: int
    background_cpus: float | None  # the most of any run


def cpu_per_request(runs: list[dict]) -> float | None:
    """The server's CPU from /proc over the runs ÷ the requests answered in them (µs).

    The theory cells have one stream, so a run's ``requests`` are every request the server
    answered in it (``runs[].server_cpu_s`` is the server's CPU around the whole run).
    """
    mine = [r for r in runs if r.get("server_cpu_s") is not None and r.get("requests")]
    total = sum(r["requests"] for r in mine)
    return sum(r["server_cpu_s"] for r in mine) * 1e6 / total if total else None


def pool_busy_per_task(runs: list[dict]) -> float | None:
    """The pool threads' /stats busy time over the runs ÷ their tasks (µs); None without pool threads."""
    mine = [w for r in runs for w in (r.get("per_worker") or []) if w.get("kind") == "pool-thread" and w.get("tasks")]
    tasks = sum(w["tasks"] for w in mine)
    return sum(w.get("busy_ns") or 0 for w in mine) / tasks / 1000 if tasks else None


def pooled(runs: list[dict], service) -> Pooled | None:
    """The runs of one cell pooled: request-weighted mean latency, ``service(runs)`` as S, the mean achieved rate.

    None where no run has a mean latency, requests and an achieved rate.
    """
    ok = [r for r in runs if is_finite((r.get("latency_us") or {}).get("mean")) and r.get("requests")
          and (r.get("open_loop") or {}).get("rate_achieved")]
    if not ok:
        return None
    n = sum(r["requests"] for r in ok)
    mean = sum(r["latency_us"]["mean"] * r["requests"] for r in ok) / n
    rate = sum(r["open_loop"]["rate_achieved"] for r in ok) / len(ok)
    background = max((r["background_cpus"] for r in ok if r.get("background_cpus") is not None), default=None)
    return Pooled(mean, service(ok), rate, n, background)


def _row(runs: list[dict], base_runs: list[dict], servers: int, rho_asked: float,
         services: tuple[tuple[object, str], ...]) -> TheoryRow | None:
    """A theory row from the runs of one loaded cell and those of the low-rate one; None where a figure is
    missing or ρ ≥ 1.  ``services`` are (how S is taken from runs, what to call it), the first that gives one."""
    for service, source in services:
        at, base = pooled(runs, service), pooled(base_runs, service)
        if at is not None and base is not None and at.service_us:
            break
    else:
        return None
    s = at.service_us / 1e6
    a = at.rate * s
    if a >= servers:
        return None
    theory = md1_wait(a, s) if servers == 1 else mdc_wait(servers, a, s)
    # The low rate is not quite no load: its own wait by the formula, at its rate and S.
    base_s = (base.service_us or at.service_us) / 1e6
    base_a = base.rate * base_s
    base_theory = (md1_wait(base_a, base_s) if servers == 1 else mdc_wait(servers, base_a, base_s)) \
        if 0 < base_a < servers else 0.0
    backgrounds = [b for b in (at.background_cpus, base.background_cpus) if b is not None]
    return TheoryRow(rho_asked, at.rate, at.service_us, at.mean_us, base.mean_us, theory * 1e6, at.requests, servers,
                     source, base_theory * 1e6, max(backgrounds) if backgrounds else None)


def _pooled_row(c: Measured, base: Measured, servers: int, services) -> TheoryRow | None:
    """The row of ``c`` against ``base``, its repeats pooled, with one row per round (repeats of one number)."""
    row = _row(c.runs, base.runs, servers, c.params["fraction"], services)
    if row is None:
        return None
    base_by = {r.get("repeat"): r for r in base.runs}
    rounds = [_row([r], [base_by[r.get("repeat")]], servers, c.params["fraction"], services)
              for r in c.runs if r.get("repeat") in base_by]
    row.rounds = [r for r in rounds if r is not None]
    return row


def md1_rows(cells: list[Measured]) -> list[TheoryRow]:
    """single on one CPU at each ρ of the theory cells, against its low-rate cell; S its CPU per request (/proc)."""
    theory = [c for c in cells if c.params.get("workload") == "theory" and c.open_loop and c.mode == "single"]
    base = next((c for c in theory if c.params.get("role") == "base"), None)
    if base is None:
        return []
    rows = [_pooled_row(c, base, 1, ((cpu_per_request, MD1_SOURCE),))
            for c in sorted(theory, key=lambda c: c.params["fraction"]) if c.params.get("role") == "rho"]
    return [r for r in rows if r is not None]


def mdc_rows(cells: list[Measured], model: str) -> list[TheoryRow]:
    """``model``'s sweep cpu cells at the theory's ρ as M/D/c, c its parallelism, against its lowest rate;
    S its pool threads' busy time per task."""
    mine = sorted((c for c in cells if c.params.get("workload") == "cpu" and c.mode == model and c.open_loop
                   and c.params.get("fraction") is not None), key=lambda c: c.params["fraction"])
    if len(mine) < 2 or not mine[0].parallelism:
        return []
    rhos = sorted({c.params["fraction"] for c in cells if c.params.get("role") == "rho"}) or DEFAULT_RHOS
    services = ((pool_busy_per_task, MDC_SOURCE), (cpu_per_request, MDC_FALLBACK))
    rows = [_pooled_row(c, mine[0], mine[0].parallelism, services) for c in mine[1:] if c.params["fraction"] in rhos]
    return [r for r in rows if r is not None]


def theory_sentence(rows: list[TheoryRow], tolerance: float) -> str:
    """How far each measured wait was from the formula, and how far each round was."""
    parts = []
    for r in rows:
        spread = (f"; its {len(r.rounds)} rounds {r.round_diffs()}, {sum(abs(x.diff) <= tolerance for x in r.rounds)} "
                  f"of them within" if len(r.rounds) > 1 else "")
        parts.append(f"at ρ = {r.rho:.2f} the mean wait was {fmt_us(r.measured_us)} against {fmt_us(r.theory_us)} "
                     f"({r.diff:+.0%}, {'within' if abs(r.diff) <= tolerance else 'outside'} {tolerance:.0%}; "
                     f"{r.requests:,} requests{spread})")
    lead = f"With c = {rows[0].servers}, " if rows[0].servers > 1 else ""
    text = lead + join(parts) + f". S is the {rows[0].source}."
    return text[0].upper() + text[1:]


def cpu_latency_held(cells: list[Measured]) -> tuple[int, int, list[str]]:
    """Over the theory cells' runs: how many held /dev/cpu_dma_latency, of how many recorded, and why the
    others did not (each reason once)."""
    records = [(r.get("after_run") or {}).get("cpu_dma_latency") for c in cells
               if c.params.get("workload") == "theory" and c.params.get("role") for r in c.runs]
    records = [x for x in records if x]
    reasons = sorted({x.get("error") or "not held" for x in records if not x.get("held")})
    return sum(1 for x in records if x.get("held")), len(records), reasons


def co_pair(cells: list[Measured]) -> tuple[Measured, Measured] | None:
    """The coordinated-omission /plaintext cells: (wrk's closed run, cvp-load's open run)."""
    co = [c for c in cells if c.variant == "co" and c.latency_us]
    closed = next((c for c in co if c.params.get("point") == "closed"), None)
    open_ = next((c for c in co if c.params.get("point") == "open"), None)
    return (closed, open_) if closed and open_ else None


def co_capacity(cells: list[Measured]) -> Measured | None:
    """single's /plaintext capacity, measured by wrk without a pause or a stall (None in runs from before it)."""
    return next((c for c in cells if c.variant == "co" and c.params.get("point") == "capacity" and c.rps), None)


def co_stalls(cells: list[Measured], point: str) -> int | None:
    """The stalls (``/io/block`` requests answered) during a coordinated-omission cell's runs."""
    block = next((c for c in cells if c.variant == "co-block" and c.params.get("point") == point), None)
    return block.requests if block is not None else None


def wrk_correction_interval_us(closed: Measured) -> float | None:
    """The interval wrk 4.1's stats_correct assumes between a connection's requests: run time ÷ (requests ÷
    connections), per run (µs)."""
    if not closed.requests or not closed.repeats or not closed.duration_s:
        return None
    per_run = closed.requests / closed.repeats
    return closed.duration_s * 1e6 / (per_run / closed.connections) if per_run >= closed.connections else None


def chart_co(closed: Measured, open_: Measured, path: Path) -> None:
    """Percentile bars: wrk (closed), cvp-load from the scheduled send (open), and from the actual send."""
    plt = pyplot()
    keys = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max"))
    service = (open_.open_loop or {}).get("service_us") or {}
    series = [("wrk, closed loop", closed.latency_us, "#9ecae1"),
              ("cvp-load, from the scheduled send", open_.latency_us, "#08519c"),
              ("cvp-load, from the actual send", service, "#fdae6b")]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(series)
    for j, (label, lat, col) in enumerate(series):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(keys))]
        ys = [max((lat.get(k) or 0) / 1000, 1e-3) for k, _ in keys]
        ax.bar(xs, ys, width, label=label, color=col)
    ax.axhline(open_.params.get("block_ms", 0), color="tab:red", linestyle="--", linewidth=1, label="the stall")
    ax.set_xticks(range(len(keys)), [label for _, label in keys])
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title("single stalled once a second: closed loop against open loop, same throughput")
    ax.legend(fontsize=8)
    save(fig, path)


def co_text(closed: Measured, open_: Measured, capacity: Measured | None = None,
            stalls: int | None = None) -> list[str]:
    """Both p99s, their difference, what each tool saw, and what wrk's own correction did."""
    c99, o99 = closed.latency_us.get("p99"), open_.latency_us.get("p99")
    if c99 is None or o99 is None:
        return []
    ol = open_.open_loop or {}
    s99 = (ol.get("service_us") or {}).get("p99")
    share = (f" ({fmt_pct(closed.rps / capacity.rps, 0)} of single's capacity, {fmt_rps(capacity.rps)} req/s "
             "measured without the pause or the stall)" if capacity and capacity.rps and closed.rps else "")
    more = f"{fmt_us(o99 - c99)} more ({o99 / c99:.1f}×)" if o99 >= c99 else f"{fmt_us(c99 - o99)} less"
    out = [f"wrk measured {fmt_rps(closed.rps)} req/s{share} with a p99 of {fmt_us(c99)}; at that rate "
           f"({fmt_rps(ol.get('rate_asked'))} asked, {fmt_rps(ol.get('rate_achieved'))} sent) cvp-load measured a p99 "
           f"of {fmt_us(o99)}: {more}. Timed from the actual send, as a closed loop times it, cvp-load's own p99 was "
           f"{fmt_us(s99)}: the difference is the time requests spent scheduled but not yet sendable, waiting "
           "behind the stall."]
    text = ("A closed loop stops sending while the server stalls: each connection records one slow request per "
            "stall and none of those it would have sent meanwhile")
    hidden = False  # whether, uncorrected, too few of wrk's samples were slow for its p99 to show a stall
    if stalls and closed.requests:
        slow = stalls * closed.connections
        hidden = slow < 0.01 * closed.requests
        text += (f"; here at most {slow:,} of wrk's {closed.requests:,} requests ({fmt_pct(slow / closed.requests)}) "
                 f"over {stalls} stalls" + (", fewer than the 1% a p99 needs" if hidden else ""))
    interval = wrk_correction_interval_us(closed)
    text += (". Debian's wrk 4.1 corrects its histogram before reporting it (stats_correct): taking the run time ÷ "
             "(requests ÷ connections)" + (f", here {fmt_us(interval)}," if interval else "") + " as the time between "
             "a connection's requests, it adds for every latency of at least twice that a synthetic sample at that "
             "latency less one interval, less two, and so on: the requests the connection would have sent while it "
             "waited. The p99 wrk reports is the corrected one")
    if o99 > 0:
        gap = (o99 - c99) / o99
        text += f", {fmt_pct(abs(gap), 0)} {'below' if gap >= 0 else 'above'} cvp-load's"
        if hidden:
            text += (": uncorrected it could not have shown the stall at all, so the synthetic samples put "
                     + ("most of the tail back" if abs(gap) <= 0.2 else "part of the tail back" if gap > 0 else
                        "more in the tail than the open loop saw"))
    out.append(text + ". An open loop needs no correction: its requests are timed from when they were due. "
               f"cvp-load sent {ol.get('late', 0):,} of {ol.get('scheduled', 0):,} requests more than "
               f"{fmt_us(ol.get('late_after_us'))} late and dropped {ol.get('dropped', 0):,}.")
    return out
