"""latency: latency against offered load, open loop (cvp-load); queueing theory; coordinated omission.

Three parts, all driven by cvp-load (:mod:`cvplab.openloop`), which sends on a schedule and
times each request from its scheduled send:

- **the sweep**: for each workload (PBKDF2 ``cpu``, ``/io/sleep`` ``io``, and a ``mixed`` of both)
  and each model, the capacity is measured closed-loop (wrk, many connections), then Poisson
  arrivals are offered at fractions of it (:class:`~cvplab.openloop.RateOf`, resolved by the
  runner), interleaved across models: p50, p99 and p99.9 against the offered rate, and each
  model's knee (:func:`cvplab.queueing.knee`);
- **the theory check**: ``single`` on one CPU, a PBKDF2 request of fixed cost S, Poisson arrivals
  at ρ = 0.5 and 0.8: an M/D/1 queue, whose mean wait is ρ·S / (2(1−ρ)).  S is the server's CPU
  per request (``/proc``), ρ = λ·S with λ the rate achieved, and the measured wait is the mean
  latency less the mean at 10% of capacity, plus the
  formula's small wait there.  ``offload`` (its c pool threads) from the sweep's
  cpu cells, as an M/D/c;
- **coordinated omission**: ``single`` serving ``/plaintext`` while ``/io/block?ms=200`` stalls
  it once a second, measured by wrk (closed) and by cvp-load (open) at wrk's throughput.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..cells import Measured
from ..checks import Check, noise
from ..fmt import fmt_pct, fmt_rps, fmt_us, join
from ..openloop import OpenStream, RateOf
from ..plan import Cell, Group, Load, Settings, models_of, overlap_note, spec, widest, wrk_threads
from ..render import Block, h, img, p, table
from ..wrk import Stream
from .. import latency_report as lr
from .base import ReportContext, Scenario

#: The workloads of the sweep, in report order.
WORKLOADS = ("cpu", "io", "mixed")
#: The theory check's tolerance: measured mean wait within this share of the formula.
THEORY_TOLERANCE = 0.15


@dataclass(frozen=True)
class Params:
    workloads: tuple[str, ...]  # of WORKLOADS, in report order
    fractions: tuple[float, ...]  # offered rates, as shares of each model's capacity
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
    co_block_ms: int  # the stall, once a second
    co_connections: int  # wrk's connections for the closed-loop /plaintext stream
    co_duration_s: int


class Latency(Scenario):
    name = "latency"
    calibrated = True
    profiles = {
        # quick: one repeat of four rates, 1-s runs (hundreds of PBKDF2 arrivals, thousands of the others); the
        # theory's runs 3 s (a few thousand arrivals at ~1 ms)
        "quick": Params(workloads=WORKLOADS, fractions=(0.1, 0.5, 0.8, 1.1), repeats=1, duration_s=1,
                        capacity_duration_s=1,
                        cpu_connections=8, io_connections=256, io_wait_ms=10, mix_io_weight=9, max_connections=1000,
                        generators=1, theory_rhos=(0.5, 0.8), theory_base=0.1, theory_work_share=0.2,
                        theory_duration_s=4, co_block_ms=200, co_connections=8, co_duration_s=2),
        "full": Params(workloads=WORKLOADS, fractions=tuple(round(0.1 * k, 1) for k in range(1, 13)), repeats=3, duration_s=10,
                       capacity_duration_s=5, cpu_connections=16, io_connections=1000, io_wait_ms=10,
                       mix_io_weight=9, max_connections=2000, generators=1, theory_rhos=(0.5, 0.8), theory_base=0.1,
                       theory_work_share=0.2, theory_duration_s=30, co_block_ms=200, co_connections=16,
                       co_duration_s=10),
        # smoke: the cpu workload at one rate, the theory at one ρ, two generators merged
        "smoke": Params(workloads=("cpu",), fractions=(0.5,), repeats=1, duration_s=1, capacity_duration_s=1, cpu_connections=2,
                        io_connections=16, io_wait_ms=5, mix_io_weight=3, max_connections=32, generators=2,
                        theory_rhos=(0.5,), theory_base=0.05, theory_work_share=0.5, theory_duration_s=1,
                        co_block_ms=50, co_connections=2, co_duration_s=1),
    }

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
        for role, f in [("base", params.theory_base)] + [("rho", r) for r in params.theory_rhos]:
            stream = self.open_stream(params, ((1, path),), RateOf(cap, f))
            points.append((Cell(self.name, sp, (Load(stream, "theory", path),), params.theory_duration_s, 1,
                                dict(base, point=point_of(f), fraction=f, role=role), notes=notes,
                                repeats=params.repeats),))
        # Coordinated omission: /plaintext beside a stall once a second, closed then open at wrk's throughput.
        block = f"/io/block?ms={params.co_block_ms}"
        stall = Load(self.open_stream(params, ((1, block),), 1.0, arrival="constant", name="block"), "co-block", block)
        co = {"block_ms": params.co_block_ms, "workload": "co"}
        wrk_plain = Stream("main", "plaintext.lua", (), params.co_connections, 1, 30)
        closed = Cell(self.name, sp, (Load(wrk_plain, "co", "/plaintext"), stall), params.co_duration_s, 1,
                      dict(co, point="closed", tool="wrk"), notes=notes, repeats=params.repeats)
        open_ = Cell(self.name, sp, (Load(self.open_stream(params, ((1, "/plaintext"),), RateOf(closed, 1.0),
                                                           arrival="constant"), "co", "/plaintext"), stall),
                     params.co_duration_s, 1, dict(co, point="open", tool="cvp-load"), notes=notes,
                     repeats=params.repeats)
        points += [(closed,), (open_,)]
        return Group(self.name, (sp,), tuple(points))

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

    def section(self, ctx: ReportContext) -> list[Block]:
        cells = [c for c in ctx.cells if c.scenario == self.name and c.rps is not None]
        if not cells:
            return []
        blocks = [h(2, "latency: latency against offered load (open loop)"),
                  p("cvp-load sends each request at its scheduled time, whatever the server is doing, and times it "
                    "from that time: a server that stalls is still sent its load, and the wait shows in full. "
                    "Arrivals are Poisson. Each model's capacity for each workload is measured first, closed-loop "
                    "(wrk over many connections); then rates from "
                    f"{join(sorted({fmt_pct(c.params['fraction'], 0) for c in cells if c.params.get('fraction') and c.params.get('workload') in WORKLOADS}))} "
                    "of it are offered, interleaved across models. The knee is the highest offered rate whose p99 "
                    f"stays within {lr.KNEE_FACTOR:g}× the model's unloaded p50 (its p50 at the lowest rate), every "
                    "lower rate's too: past it, queueing and not the work sets the tail.")]
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


def point_of(fraction: float) -> str:
    """A rate's point: ``f80`` for 80% of the capacity."""
    return f"f{round(fraction * 100)}"


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
                "request's work interval over each run (its loop's busy time per task from /stats, or its CPU per "
                "request from /proc where /stats has none; single on a CPU of its own, cvp-load on another), "
                "ρ = λ·S with λ "
                "the rate cvp-load achieved, and the measured wait is the mean latency less the mean at 10% of capacity, plus the formula's small wait "
                "there (network, parsing and the work itself cancel; a rarer rate leaves the CPU idle between "
                "requests, and waking it costs more than the wait being measured). The order in which a loop serves waiting "
                "requests does not change the mean wait, only its spread.")]
    head = ["ρ asked", "λ (req/s)", "S", "ρ = λ·S", "mean W", "mean at 10%", "measured Wq", "theory Wq",
            "difference"]
    if md1:
        blocks += [table(head, [r.cells() for r in md1]), p(lr.theory_sentence(md1, THEORY_TOLERANCE))]
    if mdc:
        blocks += [p("offload runs the hashes on its pool of c threads, a shared queue: an M/D/c queue. M/D/c has no "
                     "closed form; the standard approximation halves the M/M/c wait from Erlang C, Wq ≈ C(c, a)·S / "
                     "(2(c − a)) with a = λ·S, exact for c = 1 (Cosmetatos's refinement multiplies it by "
                     "1 + (1−ρ)(c−1)(√(4+5c) − 2)/(16ρc): 1.05 for c = 2 at ρ = 0.5, 1.01 at 0.8). Its figures come "
                     "from the sweep's cpu cells, where the pool shares the CPUs with its loop and the generator, "
                     "and S is its pool threads' busy time per task."),
                   table(["c"] + head, [[str(r.servers)] + r.cells() for r in mdc]),
                   p(lr.theory_sentence(mdc, THEORY_TOLERANCE))]
    return blocks


def co_blocks(cells: list[Measured], ctx: ReportContext) -> list[Block]:
    """The coordinated-omission runs: wrk and cvp-load on the same stalled server, their p99s and a chart."""
    co = lr.co_pair(cells)
    if co is None:
        return []
    closed, open_ = co
    lr.chart_co(closed, open_, ctx.out_dir / "latency_co.png")
    return [h(3, "Coordinated omission, shown"),
            p(f"single serves `/plaintext` while `{open_.params.get('block_ms')} ms` of `/io/block` stalls its loop once "
              "a second (a separate cvp-load at 1 request per second). First wrk measures the stream closed-loop over "
              f"{closed.connections} connections; then cvp-load sends it open-loop at the rate wrk achieved."),
            img("latency_co.png", "the same stalled server measured closed and open"), *map(p, lr.co_text(closed, open_))]


def check_theory(cells: list[Measured]) -> Check:
    """M/D/1 on single: the measured mean wait within 15% of the formula at every ρ."""
    name = "latency theory"
    want = f"single as M/D/1: measured mean wait within {THEORY_TOLERANCE:.0%} of ρ·S / (2(1−ρ)) at each ρ"
    rows = lr.md1_rows(cells)
    if not rows:
        return Check(name, want, "-", "not measured", ["needs the theory cells on single (a capacity, a low rate, ρ)"])
    figure = join([f"ρ {r.rho:.2f}: {fmt_us(r.measured_us)} against {fmt_us(r.theory_us)} ({r.diff:+.0%})"
                   for r in rows])
    off = [r for r in rows if abs(r.diff) > THEORY_TOLERANCE]
    why = [f"at ρ {r.rho:.2f} the measured wait was {r.diff:+.0%} off; {r.requests:,} requests measured" for r in off]
    return Check(name, want, figure, "missed" if off else "met",
                 why + (noise([c for c in cells if c.params.get("workload") == "theory"]) if off else []))


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
    figure = (f"wrk p99 {fmt_us(c99)} at {fmt_rps(closed.rps)} req/s; cvp-load p99 {fmt_us(o99)} at "
              f"{fmt_rps((open_.open_loop or {}).get('rate_asked'))} req/s asked ({fmt_us(o99 - c99)} more)")
    why = [] if o99 >= block_us / 2 else ["cvp-load's p99 stayed below half the stall: the stall did not happen "
                                          "as planned (see the co-block cells)"]
    return Check(name, want, figure, "met" if not why else "missed", why)


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

