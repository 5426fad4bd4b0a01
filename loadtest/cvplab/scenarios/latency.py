"""latency: latency against offered load, open loop (cvp-load); queueing theory; coordinated omission.

Three parts, all driven by cvp-load (:mod:`cvplab.openloop`), which sends on a schedule and
times each request from its scheduled send:

- **the sweep**: for each workload (PBKDF2 ``cpu``, ``/io/sleep`` ``io``, and a ``mixed`` of both)
  and each model, the capacity is measured closed-loop (wrk, many connections), then Poisson
  arrivals are offered at fractions of it (:class:`~cvplab.openloop.RateOf`, resolved by the
  runner), interleaved across models: p50, p99 and p99.9 against the offered rate, and each
  model's knee (:func:`cvplab.queueing.knee`);
- **the theory check**: ``single`` on one CPU, a PBKDF2 request of fixed cost S, Poisson arrivals
  at ρ = 0.5 and 0.8: an M/D/1 queue, whose mean wait is ρ·S / (2(1−ρ)).  The low-rate reference
  (10% of capacity) and the loads are one point, so the runner interleaves their repeats; each
  row pools its repeats (:mod:`cvplab.latency_report`).  S is the server's CPU per request
  (``/proc``), ρ = λ·S with λ the rate achieved, and the measured wait is the mean latency less
  the reference's, plus the formula's small wait there.  While these runs last the lab holds
  ``/dev/cpu_dma_latency`` at 0 (:mod:`cvplab.pmqos`), so that no request pays a CPU's wake-up
  from deep idle, and records whether it could in each run's ``after_run``.  ``offload`` (its c
  pool threads) from the sweep's cpu cells, as an M/D/c;
- **coordinated omission**: ``single`` serving ``/plaintext`` while ``/io/block?ms=200`` stalls
  it once a second, measured by wrk closed-loop well below capacity (each connection pausing
  before each request: ``paced.lua``) and by cvp-load open-loop at the rate wrk achieved.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..cells import Measured
from ..checks import Check, noise
from ..stats import NOISY_CPUS
from ..fmt import fmt_pct, fmt_rps, fmt_us, join
from ..openloop import OpenStream, RateOf
from ..pmqos import DEVICE, LatencyHold
from ..plan import Cell, Group, Load, Settings, models_of, overlap_note, spec, widest, wrk_threads
from ..render import Block, h, img, p, table
from ..servers import Server
from ..wrk import Stream
from .. import latency_report as lr
from ..verdict import HIGHER, Figure, Row
from .base import ReportContext, Scenario

#: The workloads of the sweep, in report order.
WORKLOADS = ("cpu", "io", "mixed")
#: The theory check's tolerance: measured mean wait within this share of the formula.
THEORY_TOLERANCE = 0.15


@dataclass(frozen=True)
class Params:
    workloads: tuple[str, ...]  # of WORKLOADS, in report order
    fractions: tuple[float, ...]  # offered rates, as shares of each model's capacity
    # the workloads also offered the fractions above 1: past a server's own limit the queue only grows, and a
    # run's p99 there measures the run's length; io's closed-loop capacity is wrk's connections ÷ the wait instead
    beyond_capacity: tuple[str, ...]
    repeats: int | None  # repeats of every latency cell; None: the profile's
    duration_s: int  # each open-loop run of the sweep
    capacity_duration_s: int  # each wrk run measuring a capacity
    cpu_connections: int  # wrk's connections for the cpu capacity
    io_connections: int  # wrk's connections for the io and mixed capacities
    io_wait_ms: int  # /io/sleep's wait (io and mixed)
    mix_io_weight: int  # mixed: /io/sleep requests per PBKDF2 request
    max_connections: int  # cvp-load's most connections
    generators: int  # cvp-load processes per load, each at rate/N, their histograms merged
    theory_rhos: tuple[float, ...]  # the M/D/1 loads, as shares of single's capacity
    theory_base: float  # the low-load reference, as a share of single's capacity
    theory_work_share: float  # the theory's PBKDF2 cost, as a share of the calibrated iterations
    theory_duration_s: int
    theory_repeats: int  # rounds of the reference and the loads, interleaved; each row pools them
    co_block_ms: int  # the stall, once a second
    co_connections: int  # wrk's connections for /plaintext (its capacity, and the paced closed loop)
    co_delay_ms: int  # the paced closed loop: each connection's pause before each request (wrk's delay())
    co_duration_s: int


class Latency(Scenario):
    name = "latency"
    calibrated = True
    profiles = {
        # quick: one repeat of three rates (four for io, whose 110% is still below the servers' limit), 1-s runs
        # (hundreds of PBKDF2 arrivals, thousands of the others); the theory's reference and loads three
        # interleaved rounds of 4 s (a few thousand arrivals at ~1 ms each round)
        "quick": Params(workloads=WORKLOADS, fractions=(0.1, 0.5, 0.8, 1.1), beyond_capacity=("io",), repeats=1,
                        duration_s=1, capacity_duration_s=1,
                        cpu_connections=8, io_connections=256, io_wait_ms=10, mix_io_weight=9, max_connections=1000,
                        generators=1, theory_rhos=(0.5, 0.8), theory_base=0.1, theory_work_share=0.2,
                        theory_duration_s=4, theory_repeats=3, co_block_ms=200, co_connections=16, co_delay_ms=1,
                        co_duration_s=2),
        "full": Params(workloads=WORKLOADS, fractions=tuple(round(0.1 * k, 1) for k in range(1, 13)),
                       beyond_capacity=WORKLOADS, repeats=3, duration_s=10,
                       capacity_duration_s=5, cpu_connections=16, io_connections=1000, io_wait_ms=10,
                       mix_io_weight=9, max_connections=2000, generators=1, theory_rhos=(0.5, 0.8), theory_base=0.1,
                       theory_work_share=0.2, theory_duration_s=30, theory_repeats=3, co_block_ms=200,
                       co_connections=16, co_delay_ms=1, co_duration_s=10),
        # smoke: the cpu workload at one rate, the theory at one ρ, two generators merged
        "smoke": Params(workloads=("cpu",), fractions=(0.5,), beyond_capacity=(), repeats=1, duration_s=1,
                        capacity_duration_s=1, cpu_connections=2,
                        io_connections=16, io_wait_ms=5, mix_io_weight=3, max_connections=32, generators=2,
                        theory_rhos=(0.5,), theory_base=0.05, theory_work_share=0.5, theory_duration_s=1,
                        theory_repeats=1, co_block_ms=50, co_connections=2, co_delay_ms=1, co_duration_s=1),
    }
    def __init__(self) -> None:
        # The theory runs' request that CPUs wake within 0 µs (a test may give it a file of its own).
        self.hold = LatencyHold(0, DEVICE)

    def connections_wanted(self, params: Params, placement) -> int:
        return max(params.io_connections, params.max_connections * params.generators) + params.co_connections

    def plan(self, s: Settings, params: Params, skipped: list[dict]) -> list[Group]:
        if s.open_loop_left_out:
            skipped.append({"scenario": self.name, "what": "the scenario", "reason": s.open_loop_left_out})
            return []
        groups = [self.sweep(s, params)]
        if s.target is not None:
            skipped.append({"scenario": self.name, "what": "the theory check and coordinated omission",
                            "reason": "they start single on a CPU of its own; a remote target cannot be"})
        elif "single" not in s.models:
            skipped.append({"scenario": self.name, "what": "the theory check and coordinated omission",
                            "reason": "single was not chosen"})
        else:
            groups.append(self.single_apart(s, params))
        return groups

    def open_stream(self, params: Params, paths: tuple[tuple[int, str], ...], rate, arrival: str = "poisson",
                    name: str = "main") -> OpenStream:
        """A cvp-load stream with the profile's connections and generators."""
        return OpenStream(name, paths, rate, arrival=arrival, max_connections=params.max_connections,
                          initial_connections=min(8, params.max_connections), timeout_s=10.0,
                          generators=params.generators)

    def sweep(self, s: Settings, params: Params) -> Group:
        """Every model at full width: each workload's capacity, then each fraction of it, interleaved."""
        workers = widest(s)
        cpus = s.placement.server_cpus_for(workers)
        specs = [spec(s, m, workers, cpus) for m in models_of(s)]
        it, wait = s.pbkdf2_iterations, params.io_wait_ms
        cpu_path, io_path = f"/cpu/pbkdf2?iterations={it}", f"/io/sleep?ms={wait}"
        ioc = params.io_connections
        capacity_streams = {
            "cpu": (Stream("main", "cpu.lua", (f"iterations={it}",), params.cpu_connections,
                           wrk_threads(s, params.cpu_connections), 30), ((1, cpu_path),)),
            "io": (Stream("main", "io.lua", ("endpoint=sleep", f"ms={wait}",
                                             f"stagger={math.ceil(ioc / wrk_threads(s, ioc))}"), ioc,
                          wrk_threads(s, ioc), 30), ((1, io_path),)),
            "mixed": (Stream("main", "mix.lua", (f"ms={wait}", f"iterations={it}",
                                                 f"io_weight={params.mix_io_weight}"), ioc, wrk_threads(s, ioc), 30),
                      ((params.mix_io_weight, io_path), (1, cpu_path))),
        }
        notes = overlap_note(s, cpus)
        figures = {"iterations": it, "wait_ms": wait, "mix_io_weight": params.mix_io_weight}
        capacity: dict[tuple[str, object], Cell] = {}
        points = []
        for w in params.workloads:
            stream, paths = capacity_streams[w]
            point = []
            for sp in specs:
                capacity[w, sp] = cell = Cell(self.name, sp, (Load(stream, w, describe(paths)),),
                                              params.capacity_duration_s, workers,
                                              dict(figures, workload=w, point="capacity", fraction=None),
                                              notes=notes, repeats=params.repeats)
                point.append(cell)
            points.append(tuple(point))
        for f in params.fractions:
            for w in params.workloads:
                if f > 1 and w not in params.beyond_capacity:
                    continue
                paths = capacity_streams[w][1]
                points.append(tuple(
                    Cell(self.name, sp, (Load(self.open_stream(params, paths, RateOf(capacity[w, sp], f)), w,
                                              describe(paths)),),
                         params.duration_s, workers, dict(figures, workload=w, point=point_of(f), fraction=f),
                         notes=notes, repeats=params.repeats) for sp in specs))
        return Group(self.name, tuple(specs), tuple(points))

    def single_apart(self, s: Settings, params: Params) -> Group:
        """single on the server CPU, cvp-load and wrk on the client CPU: the theory check, then the stall."""
        sp = spec(s, "single", 1, s.placement.server_cpus_for(1))
        it = max(1, round(s.pbkdf2_iterations * params.theory_work_share))
        path = f"/cpu/pbkdf2?iterations={it}"
        notes = overlap_note(s, sp.cpus)
        base = {"iterations": it, "workload": "theory"}
        cap = Cell(self.name, sp, (Load(Stream("main", "cpu.lua", (f"iterations={it}",), params.cpu_connections,
                                               wrk_threads(s, params.cpu_connections), 30), "theory", path),),
                   params.capacity_duration_s, 1, dict(base, point="capacity", fraction=None), notes=notes,
                   repeats=params.repeats)
        points = [(cap,)]
        # The reference and the loads in one point: the runner interleaves their repeats, round after round.
        theory = []
        for role, f in [("base", params.theory_base)] + [("rho", r) for r in params.theory_rhos]:
            stream = self.open_stream(params, ((1, path),), RateOf(cap, f))
            theory.append(Cell(self.name, sp, (Load(stream, "theory", path),), params.theory_duration_s, 1,
                               dict(base, point=point_of(f), fraction=f, role=role), notes=notes,
                               repeats=params.theory_repeats))
        points.append(tuple(theory))
        # Coordinated omission: /plaintext's capacity, then beside a stall once a second, closed (paced well below
        # the capacity) and open at the rate wrk achieved.
        block = f"/io/block?ms={params.co_block_ms}"
        stall = Load(self.open_stream(params, ((1, block),), 1.0, arrival="constant", name="block"), "co-block", block)
        co = {"block_ms": params.co_block_ms, "workload": "co"}
        conns = params.co_connections
        wrk_plain = Stream("main", "plaintext.lua", (), conns, 1, 30)
        co_cap = Cell(self.name, sp, (Load(wrk_plain, "co", "/plaintext"),), params.capacity_duration_s, 1,
                      dict(co, point="capacity", tool="wrk"), notes=notes, repeats=params.repeats)
        wrk_paced = Stream("main", "paced.lua", (f"delay_ms={params.co_delay_ms}",), conns, 1, 30)
        closed = Cell(self.name, sp, (Load(wrk_paced, "co", "/plaintext"), stall), params.co_duration_s, 1,
                      dict(co, point="closed", tool="wrk", delay_ms=params.co_delay_ms), notes=notes,
                      repeats=params.repeats)
        open_ = Cell(self.name, sp, (Load(self.open_stream(params, ((1, "/plaintext"),), RateOf(closed, 1.0),
                                                           arrival="constant"), "co", "/plaintext"), stall),
                     params.co_duration_s, 1, dict(co, point="open", tool="cvp-load"), notes=notes,
                     repeats=params.repeats)
        points += [(co_cap,), (closed,), (open_,)]
        return Group(self.name, (sp,), tuple(points))

    # -- around each run: /dev/cpu_dma_latency held for the theory's reference and loads -------------------

    def before_run(self, cell: Cell, server: Server) -> None:
        """Holds the CPUs' wake-up latency at 0 during a theory run (pmqos); releases what a failed run left."""
        self.hold.release()
        if holds_cpu_latency(cell):
            self.hold.acquire()

    def after_run(self, cell: Cell, server: Server) -> dict | None:
        """Releases the hold after a theory run and says whether it was held (the run's ``after_run``)."""
        if not holds_cpu_latency(cell):
            return None
        record = dict(self.hold.record)
        self.hold.release()
        return {"cpu_dma_latency": record}

    def point_title(self, cell: Cell) -> str:
        return cell.params["point"]

    def point_id(self, cell: Cell, load: Load) -> str:
        return cell.params["point"]

    def summary_point(self, c: Measured) -> str:
        return c.params.get("point", "")

    def summary_flags(self, c: Measured) -> list[str]:
        ol = c.open_loop or {}
        flags = [f"asked {fmt_rps(ol['rate_asked'])}/s"] if ol.get("rate_asked") else []
        flags += [f"{k} {ol[k]:,}" for k in ("late", "dropped") if ol.get(k)]
        return flags + (["behind"] if ol.get("behind") else [])

    def checks(self, cells: list[Measured]) -> list[Check]:
        mine = [c for c in cells if c.scenario == self.name]
        return [check_theory(mine), check_co(mine), check_schedule(mine)]

    def verdict(self, cells: list[Measured]) -> list[Row]:
        """Open loop: for each workload, the most each model served with its p99 within one budget for all."""
        rows = []
        for w in WORKLOADS:
            sweep = [c for c in cells if c.scenario == self.name and c.rps is not None
                     and c.params.get("workload") == w]
            under = lr.served_under_budget(lr.curves(sweep))
            if under is None:
                continue
            budget, served = under
            rows.append(Row("open loop", f"the {w} workload, `{sweep[0].path}`, sent at Poisson rates (shares of "
                            "each model's capacity)", f"the most req/s served with p99 within {fmt_us(budget)}", HIGHER,
                            {m: Figure(tp or 0.0, fmt_rps(tp) if tp else "none") for m, tp in served}))
        return rows

    def section(self, ctx: ReportContext) -> list[Block]:
        cells = [c for c in ctx.cells if c.scenario == self.name and c.rps is not None]
        if not cells:
            return []
        blocks = [h(2, "latency: latency against offered load (open loop)"),
                  p("cvp-load sends each request at its scheduled time, whatever the server is doing, and times it "
                    "from that time: a server that stalls is still sent its load, and the wait shows in full. "
                    "Arrivals are Poisson. Each model's capacity for each workload is measured first, closed-loop "
                    f"(wrk over many connections); then {offered_rates(cells)} of it are offered, interleaved across "
                    "models. The knee is the highest offered rate whose p99 "
                    f"stays within {lr.KNEE_FACTOR:g}× the model's unloaded p50 (its p50 at the lowest rate), every "
                    "lower rate's too: past it, queueing and not the work sets the tail.")]
        if priority := generator_priority(cells):
            blocks.append(p(priority))
        for w in WORKLOADS:
            sweep = [c for c in cells if c.params.get("workload") == w]
            if not any(c.open_loop for c in sweep):
                continue
            chart = f"latency_{w}.png"
            lr.chart_sweep(sweep, ctx.out_dir / chart, f"latency: {w} ({sweep[0].path})")
            blocks += [h(3, f"{w}: `{sweep[0].path}`"), img(chart, f"{w} latency against offered load"),
                       *map(p, lr.sweep_text(sweep))]
        blocks += theory_blocks(cells)
        blocks += co_blocks(cells, ctx)
        return blocks


SCENARIO = Latency()


def holds_cpu_latency(cell: Cell) -> bool:
    """The theory's reference and loads: the runs during which /dev/cpu_dma_latency is held at 0."""
    return cell.params.get("workload") == "theory" and cell.params.get("role") is not None


def point_of(fraction: float) -> str:
    """A rate's point: ``f80`` for 80% of the capacity."""
    return f"f{round(fraction * 100)}"


def offered_rates(cells: list[Measured]) -> str:
    """The sweep's rates as shares of capacity: ``rates from 10%, 50% and 80%``, and those some workloads alone ran."""
    by = {w: {c.params["fraction"] for c in cells if c.params.get("workload") == w and c.params.get("fraction")}
          for w in WORKLOADS}
    by = {w: f for w, f in by.items() if f}
    if not by:
        return "rates"
    common = set.intersection(*by.values())
    text = f"rates from {join([fmt_pct(f, 0) for f in sorted(common)])}"
    extra = {w: sorted(f - common) for w, f in by.items() if f - common}
    if extra:
        text += " (" + "; ".join(f"{join([fmt_pct(x, 0) for x in fs])} for {w} alone" for w, fs in extra.items()) + \
            ": past a server's own limit the queue only grows, and a run's p99 there measures the run's length; " \
            "io's closed-loop capacity is wrk's connections ÷ the wait, below the servers' limit)"
    return text


def describe(paths: tuple[tuple[int, str], ...]) -> str:
    """The request a load sends: its path, or its weighted mix (``9×/io/sleep?ms=10 + /cpu/pbkdf2?...``)."""
    return " + ".join((f"{w}×" if w != 1 else "") + path for w, path in paths)


def theory_blocks(cells: list[Measured]) -> list[Block]:
    """The M/D/1 table (single on one CPU) and the M/D/c table (offload, from the sweep's cpu cells)."""
    md1 = lr.md1_rows(cells)
    mdc = lr.mdc_rows(cells, "offload")
    if not md1 and not mdc:
        return []
    blocks = [h(3, "Queueing theory: M/D/1 and M/D/c"),
              p("single hashes on its one loop, one request at a time: with Poisson arrivals and a fixed cost S it is "
                "an M/D/1 queue, whose mean wait is ρ·S / (2(1−ρ)) (Pollaczek–Khinchine). S is the server's CPU per "
                "request from /proc (below the table: why not its loop's busy time from /stats); single runs on a "
                "CPU of its own, cvp-load on another; ρ = λ·S with λ the rate cvp-load achieved, and the "
                "measured wait is the mean latency less the mean at 10% of capacity, plus the formula's small wait "
                "there (network, parsing and the work itself cancel). The order in which a loop serves waiting "
                "requests does not change the mean wait, only its spread."),
              p(pooling_text(cells)), p(cpu_latency_text(cells))]
    head = ["ρ asked", "λ (req/s)", "S", "ρ = λ·S", "mean W", "mean at 10%", "measured Wq", "theory Wq",
            "difference", "each round"]
    if md1:
        blocks += [table(head, [r.cells() for r in md1]), p(lr.theory_sentence(md1, THEORY_TOLERANCE))]
    if mdc:
        blocks += [p("offload runs the hashes on its pool of c threads, a shared queue: an M/D/c queue. M/D/c has no "
                     "closed form; the standard approximation halves the M/M/c wait from Erlang C, Wq ≈ C(c, a)·S / "
                     "(2(c − a)) with a = λ·S, exact for c = 1 (Cosmetatos's refinement multiplies it by "
                     "1 + (1−ρ)(c−1)(√(4+5c) − 2)/(16ρc): 1.05 for c = 2 at ρ = 0.5, 1.01 at 0.8). Its figures come "
                     "from the sweep's cpu cells, where the pool shares the CPUs with its loop and the generator, "
                     "and S is its pool threads' busy time per task from /stats (below the table: why)."),
                   table(["c"] + head, [[str(r.servers)] + r.cells() for r in mdc]),
                   p(lr.theory_sentence(mdc, THEORY_TOLERANCE))]
    return blocks


def pooling_text(cells: list[Measured]) -> str:
    """How the rows were computed from the repeats, and what that can and cannot remove."""
    theory = [c for c in cells if c.params.get("workload") == "theory" and c.params.get("role")]
    rounds = max((c.repeats for c in theory), default=0)
    duration = theory[0].duration_s if theory else None
    return (f"The reference and the loads ran in {rounds} interleaved round{'s' if rounds != 1 else ''}"
            + (f" of {duration} s" if duration else "") + " (each round runs each of them once, in a rotated "
            "order). Each row pools its rounds: the mean latency weighted by each run's requests, S the server's CPU "
            "over every run ÷ every request, λ the mean of the achieved rates; the reference is pooled the same "
            "way. The last column gives each round on its own, against the reference of the same round. Pooling "
            "discards nothing: a round that a disturbance of the host (another process, the hypervisor) slowed still "
            "counts, with the weight of its requests, and can move the pooled figure outside the tolerance; the "
            "rounds show whether one round or every round was off. ρ = 0.5 is the most exposed: its wait, about S/2, "
            "is the smallest being measured, so the same added delay is a larger share of it.")


def cpu_latency_text(cells: list[Measured]) -> str:
    """Whether /dev/cpu_dma_latency was held at 0 during the theory runs, and why it matters."""
    held, recorded, reasons = lr.cpu_latency_held(cells)
    why = ("a request that finds the server's CPU idle pays the CPU's wake-up before any work, and how often it does "
           "depends on the load (nine requests in ten at 10% of capacity, one in two at ρ = 0.5), so the wake-up "
           "does not cancel against the reference and biases the measured wait")
    if not recorded:
        return ("Whether /dev/cpu_dma_latency was held during these runs was not recorded (a run from before the lab "
                f"held it): {why}.")
    if held == recorded:
        return (f"During every one of these {recorded} runs the lab held /dev/cpu_dma_latency at 0 (the kernel's PM "
                "QoS: no CPU enters an idle state it cannot leave at once while the file is open, as cyclictest and "
                f"tuned's latency-performance profile do): without it {why}.")
    return (f"The lab held /dev/cpu_dma_latency at 0 in {held} of these {recorded} runs only "
            f"({'; '.join(reasons)}): in the others {why}.")


def co_blocks(cells: list[Measured], ctx: ReportContext) -> list[Block]:
    """The coordinated-omission runs: wrk and cvp-load on the same stalled server, their p99s and a chart."""
    co = lr.co_pair(cells)
    if co is None:
        return []
    closed, open_ = co
    lr.chart_co(closed, open_, ctx.out_dir / "latency_co.png")
    delay = closed.params.get("delay_ms")
    paced = (f", each connection pausing {delay} ms before each of its requests (wrk's delay(); its timers count "
             "whole milliseconds, so a pause lasts about that long), so that the closed loop sends well below what "
             "the server can answer and both tools see a server with time to drain its queue after each stall"
             if delay else "")
    return [h(3, "Coordinated omission, shown"),
            p(f"single serves `/plaintext` while `{open_.params.get('block_ms')} ms` of `/io/block` stalls its loop once "
              "a second (a separate cvp-load at 1 request per second). First wrk measures the stream closed-loop over "
              f"{closed.connections} connections{paced}; then cvp-load sends it open-loop at the rate wrk achieved."),
            img("latency_co.png", "the same stalled server measured closed and open"),
            *map(p, lr.co_text(closed, open_, lr.co_capacity(cells), lr.co_stalls(cells, "closed")))]


def check_theory(cells: list[Measured]) -> Check:
    """M/D/1 on single: the measured mean wait, pooled over the rounds, within 15% of the formula at every ρ."""
    name = "latency theory"
    want = f"single as M/D/1: measured mean wait within {THEORY_TOLERANCE:.0%} of ρ·S / (2(1−ρ)) at each ρ"
    rows = lr.md1_rows(cells)
    if not rows:
        return Check(name, want, "-", "not measured", ["needs the theory cells on single (a capacity, a low rate, ρ)"])
    figure = join([f"ρ {r.rho:.2f}: {fmt_us(r.measured_us)} against {fmt_us(r.theory_us)} ({r.diff:+.0%}"
                   + (f"; rounds {r.round_diffs()}" if len(r.rounds) > 1 else "") + ")" for r in rows])
    off = [r for r in rows if abs(r.diff) > THEORY_TOLERANCE]
    why = [theory_why(r) for r in rows if r in off or any(abs(x.diff) > THEORY_TOLERANCE for x in r.rounds)]
    held, recorded, reasons = lr.cpu_latency_held(cells)
    if off and recorded and held < recorded:
        why.append(f"/dev/cpu_dma_latency was not held in {recorded - held} of {recorded} runs ({'; '.join(reasons)}): "
                   "requests that found the CPU idle paid its wake-up, more often at the lower loads")
    return Check(name, want, figure, "missed" if off else "met",
                 why + (noise([c for c in cells if c.params.get("workload") == "theory"]) if off else []))


def theory_why(r: lr.TheoryRow) -> str:
    """What a row's rounds say when the pooled figure or one of its rounds is outside the tolerance."""
    n = max(1, len(r.rounds))
    pooled = (f"at ρ {r.rho:.2f} the mean wait pooled over {n} round{'s' if n != 1 else ''} was {r.diff:+.0%} from "
              f"the formula ({r.requests:,} requests)")
    if len(r.rounds) < 2:
        return pooled + (f"; other processes on this machine kept {r.background_cpus:.2f} CPUs busy"
                         if r.background_cpus is not None else "")
    outside = [(i + 1, x) for i, x in enumerate(r.rounds) if abs(x.diff) > THEORY_TOLERANCE]
    detail = join([f"round {i} {x.diff:+.0%}" + (f" (other processes on this machine: {x.background_cpus:.2f} CPUs)"
                                                 if x.background_cpus is not None else "") for i, x in outside])
    if abs(r.diff) <= THEORY_TOLERANCE:
        return (f"{pooled[:1].upper()}{pooled[1:]}, within {THEORY_TOLERANCE:.0%}, but {detail} on its own: one "
                "round is not a reliable figure on this machine, the pooled one held")
    if len(outside) == len(r.rounds) and len({x.diff > 0 for _, x in outside}) == 1:
        busy = [x.background_cpus for _, x in outside if x.background_cpus is not None]
        if len(busy) == len(outside) and min(busy) >= NOISY_CPUS:
            return (f"{pooled}; every round was off ({r.round_diffs()}), and in each other processes on this machine "
                    f"kept at least {min(busy):.2f} CPUs busy: the machine was not quiet, and the figure says nothing "
                    "of the method")
        return (f"{pooled}; every round was off the same way ({r.round_diffs()}): a bias of the method or the "
                "machine, not one round's disturbance")
    k, others = len(outside), len(r.rounds) - len(outside)
    return (f"{pooled}; {detail}, the other{'s' if others > 1 else ''} within ({r.round_diffs()}): "
            + ("one disturbed round" if k == 1 else f"{k} disturbed rounds of {len(r.rounds)}")
            + " moved the pooled figure, which discards nothing; a longer or a quieter run is what would settle it, "
            "not a wider tolerance")


def check_co(cells: list[Measured]) -> Check:
    """cvp-load's p99 shows the stall (at least half of it) where wrk's may not."""
    name = "latency co"
    want = "coordinated omission: cvp-load's /plaintext p99 beside a stall each second ≥ half the stall"
    co = lr.co_pair(cells)
    if co is None:
        return Check(name, want, "-", "not measured", ["needs the closed and open /plaintext runs on single"])
    closed, open_ = co
    block_us = open_.params["block_ms"] * 1000
    c99, o99 = closed.latency_us.get("p99"), open_.latency_us.get("p99")
    if o99 is None or c99 is None:
        return Check(name, want, "-", "not measured", ["a run has no p99"])
    cap = lr.co_capacity(cells)
    share = f" ({fmt_pct(closed.rps / cap.rps, 0)} of capacity)" if cap and cap.rps and closed.rps else ""
    figure = (f"wrk p99 {fmt_us(c99)} at {fmt_rps(closed.rps)} req/s{share}; cvp-load p99 {fmt_us(o99)} at "
              f"{fmt_rps((open_.open_loop or {}).get('rate_asked'))} req/s asked "
              f"({fmt_us(abs(o99 - c99))} {'more' if o99 >= c99 else 'less'})")
    why = [] if o99 >= block_us / 2 else ["cvp-load's p99 stayed below half the stall: the stall did not happen "
                                          "as planned (see the co-block cells)"]
    dropped = (open_.open_loop or {}).get("dropped")
    if dropped:
        why.append(f"cvp-load dropped {dropped:,} requests: the open loop's queue did not drain between stalls")
    return Check(name, want, figure, "met" if o99 >= block_us / 2 else "missed", why)


def check_schedule(cells: list[Measured]) -> Check:
    """The instrument: below capacity, cvp-load dropped nothing and sent at most 1% of its requests late."""
    name = "latency schedule"
    want = "cvp-load kept its schedule below capacity: nothing dropped, at most 1% of requests late"
    below = [c for c in cells if c.open_loop and c.params.get("fraction") is not None and c.params["fraction"] <= 1.0]
    if not below:
        return Check(name, want, "-", "not measured", ["needs open-loop cells below capacity"])
    late = [(c, c.open_loop["late"] / max(1, c.open_loop["scheduled"])) for c in below]
    dropped = [c for c in below if c.open_loop.get("dropped")]
    worst, share = max(late, key=lambda x: x[1])
    figure = (f"{len(below)} cells; most late {fmt_pct(share)} ({worst.id}); "
              f"dropped {sum(c.open_loop['dropped'] for c in below):,}")
    why = [f"{c.id}: {c.open_loop['dropped']:,} dropped" for c in dropped]
    why += [f"{c.id}: {fmt_pct(s)} late (send lag p99 {fmt_us((c.open_loop.get('send_lag_us') or {}).get('p99'))})"
            for c, s in late if s > 0.01]
    behind = [c.id for c in below if c.open_loop.get("behind")]
    if behind:
        why.append(f"cvp-load said it fell behind in {join(behind)}")
    return Check(name, want, figure, "missed" if dropped or share > 0.01 else "met", why)


def generator_priority(cells: list) -> str | None:
    """How cvp-load's priority stood against the server's, from what the runs recorded (None when they did not)."""
    nices = {c.open_loop.get("generator_nice") for c in cells if c.open_loop}
    if not nices or None in nices:
        return None
    if nices == {0}:
        return ("cvp-load ran at the server's priority (this lab may not raise a child's: that needs root or "
                "CAP_SYS_NICE), so on a CPU it shares with a server thread a request that falls due while that "
                "thread works waits for the scheduler to switch: the late counts show how often.")
    levels = ", ".join(f"{n:+d}" for n in sorted(nices))
    return (f"cvp-load ran at nice {levels}, above the server's threads, so that a request falling due while a server "
            "thread works on the generator's CPU is still sent on time (at the same priority it waits for the "
            "scheduler to switch).")

