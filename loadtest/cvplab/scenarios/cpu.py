"""cpu: parallelism.  PBKDF2 (the calibrated iterations) swept across workers, a CPU per worker."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from ..cells import Measured
from ..charts import color, dodge, errbar, label_ends, linestyle, marker, pyplot, save
from ..checks import Check, noise
from ..fmt import fmt_pct, fmt_rps, join, n_of, poss
from ..plan import Cell, Group, Load, Settings, models_of, overlap_note, spec, wrk_threads
from ..query import (by_mode, ratio_text, cpus_of, is_model, key_range, modes_of, one, par, parallel_cap, ratio_range,
                     rps_range, select, times)
from ..render import Block, h, img, p
from ..timeline import TIMELINE_FLAGS, Window, recorded, without_timeline
from ..timeline_report import timeline_blocks, timeline_checks
from ..watch import Watch
from ..wrk import Stream
from ..verdict import HIGHER, Row, at_most, rps_figures
from .base import ReportContext
from .watched import Watched


#: The timeline's window: 100 ms from the middle of a run, some 20 hashes of 5 ms per worker.
WINDOW = Window(span_ms=100)


@dataclass(frozen=True)
class Params:
    workers: tuple[int, ...] | None  # None: 1, 2, then up to the usable CPUs (see worker_counts)
    every_count: bool  # every count up to 8 usable CPUs, powers of two beyond (full); else 1, 2 and usable
    connections_per_worker: int
    duration_s: int


class Cpu(Watched):
    name = "cpu"
    calibrated = True
    profiles = {
        # quick: a second, 2 before pool and threads: 200-400 answers at 5 ms, every model losing as many at the end
        "quick": Params(workers=None, every_count=False, connections_per_worker=4, duration_s=1),
        "full": Params(workers=None, every_count=True, connections_per_worker=4, duration_s=10),
        "smoke": Params(workers=(1,), every_count=False, connections_per_worker=2, duration_s=1),
    }

    def plan(self, s: Settings, params: Params, skipped: list[dict]) -> list[Group]:
        counts = (s.target.workers,) if s.target else worker_counts(params, len(s.placement.all))
        c = params.connections_per_worker * max(counts)
        stream = Stream("main", "cpu.lua", (f"iterations={s.pbkdf2_iterations}",), c, wrk_threads(s, c), 30)
        load = Load(stream, None, f"/cpu/pbkdf2?iterations={s.pbkdf2_iterations}")
        groups = []
        for w in counts:
            cpus = s.placement.server_cpus_for(w)
            # At the most workers every model records its work intervals alike (--timeline), for the timeline.
            specs = [spec(s, m, w, cpus, TIMELINE_FLAGS if w == max(counts) else ()) for m in models_of(s)]
            cells = tuple(Cell("cpu", sp, (load,), params.duration_s, w, {"iterations": s.pbkdf2_iterations},
                               notes=overlap_note(s, cpus)) for sp in specs)
            groups.append(Group("cpu", tuple(specs), (cells,)))
        return groups

    def point_title(self, cell: Cell) -> str:
        return f"w={cell.workers}"

    def point_id(self, cell: Cell, load: Load) -> str:
        return f"w{cell.workers}"

    def summary_point(self, c: Measured) -> str:
        return f"w={c.workers}"

    def __init__(self) -> None:
        # A timeline of the runs at the most workers (the servers started with --timeline).
        self.watch = Watch(lambda cell: WINDOW if recorded(cell.server.flags) else None)

    def checks(self, cells: list[Measured]) -> list[Check]:
        return [check_cpu(cells), check_cpu_new(cells), *timeline_checks(cells, "cpu")]

    def verdict(self, cells: list[Measured]) -> list[Row]:
        """CPU-bound: requests per second at the most workers."""
        top = at_most(select(cells, scenario="cpu"), "workers")
        if not top:
            return []
        load = f"`{top[0].path}` over {top[0].connections} connections, {n_of(top[0].workers, 'worker')}"
        return [Row("CPU-bound", load, "req/s", HIGHER, rps_figures(top))]

    def section(self, ctx: ReportContext) -> list[Block]:
        cells, doc = ctx.cells, ctx.doc
        cpu = select(cells, scenario="cpu")
        if not cpu:
            return []
        blocks = [h(2, "cpu: parallelism"),
                  p(f"`{cpu[0].path}` (about {work_ms(doc)} of CPU each) over {cpu[0].connections} "
                    "connections; the server gets one CPU per worker.")]
        chart_cpu(cpu, ctx.out_dir / "cpu.png")
        blocks += [img("cpu.png", "cpu throughput and scaling efficiency"), *map(p, cpu_text(cpu)),
                   *map(p, model_sentences(cpu))]
        widest = max(c.workers for c in cpu)
        blocks += timeline_blocks(ctx, [c for c in cpu if c.workers == widest], "timeline-cpu",
                                  f"cpu at {n_of(widest, 'worker')}")
        return blocks



SCENARIO = Cpu()


def worker_counts(params: Params, usable: int) -> tuple[int, ...]:
    """Worker counts for the sweep: the profile's own, or 1, 2, 4, ... and ``usable``.

    With ``every_count`` (the full profile) every count up to 8 usable CPUs, and powers of two
    beyond that; otherwise 1, 2 and ``usable``.
    """
    if params.workers is not None:
        return tuple(w for w in params.workers if w <= usable) or (1,)
    if params.every_count and usable <= 8:
        return tuple(range(1, usable + 1))
    counts = {1, usable}
    if params.every_count:
        w = 2
        while w < usable:
            counts.add(w)
            w *= 2
    elif usable >= 2:
        counts.add(2)
    return tuple(sorted(counts))


def work_ms(doc: dict) -> str:
    """The CPU one PBKDF2 request took: measured in the cpu cells, else the calibration's estimate."""
    measured = [c.server_cpu_us_per_request for c in select(doc["cells"], scenario="cpu")
                if c.server_cpu_us_per_request]
    if measured:
        return f"{statistics.median(measured) / 1000:.1f} ms"
    cal = doc["manifest"].get("calibration")
    return f"{cal['expected_ms']:.1f} ms" if cal else "a few ms"


def chart_cpu(cells: list[Measured], path: Path) -> None:
    """Throughput and scaling efficiency against workers: each model with its own marker and line style, nudged
    sideways, and labelled at its last point (the parallel models' lines lie on top of each other)."""
    plt = pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    groups = by_mode(cells)
    base = _cpu_base(cells)
    workers = sorted({c.workers for c in cells})
    modes = list(groups)
    ends = []
    for mode, cs in groups.items():
        cs = sorted(cs, key=lambda c: c.workers)
        xs = [c.workers + dodge(mode, modes, DODGE) for c in cs]
        ax.errorbar(xs, [c.rps for c in cs], yerr=errbar(cs), marker=marker(mode), linestyle=linestyle(mode),
                    color=color(mode), capsize=3)
        ends.append((mode, xs[-1], cs[-1].rps, f"{mode} {fmt_rps(cs[-1].rps)}"))
        effs = [(w, _efficiency(c, base)) for w, c in zip(xs, cs)]
        effs = [(w, e) for w, e in effs if e is not None]
        if effs:
            ax2.plot(*zip(*[(w, 100 * e) for w, e in effs]), marker=marker(mode), linestyle=linestyle(mode),
                     color=color(mode), label=mode)
        if mode in base and any((parallel_cap(c) or c.workers) < c.workers for c in cs):
            # a model that cannot use every CPU it is given (single): its own, lower ideal
            pts = [(c.workers, base[mode] * parallel_cap(c)) for c in cs if parallel_cap(c)]
            ax.plot(*zip(*pts), color=color(mode), linestyle=":",
                    label=f"{mode}'s ideal: 1-worker × min(parallelism, CPUs, connections)")
    uncapped = [b for m, b in base.items() if all(parallel_cap(c) in (None, c.workers) for c in groups[m])]
    if uncapped:
        ideal = statistics.mean(uncapped)
        ax.plot(workers, [ideal * w for w in workers], color="black", linestyle=":", label="ideal (1-worker × n)")
    ax2.axhline(100, color="black", linestyle=":", label="ideal")
    for a in (ax, ax2):
        a.set_xticks(workers)
        a.set_xlabel("workers n: n CPUs, each model started with n (see the text)")
        a.legend(fontsize=7, loc="lower left")
    # Room on the right for the labels at the lines' ends.
    ax.set_xlim(workers[0] - 0.3, workers[-1] + 0.3 + 0.3 * max(1, workers[-1] - workers[0]))
    ax2.set_xlim(workers[0] - 0.3, workers[-1] + 0.3)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("requests per second")
    ax.set_title("cpu: throughput against workers")
    ax2.set_ylabel("scaling efficiency (%)")
    ax2.set_ylim(0, 120)
    ax2.set_title("rps ÷ (own 1-worker rps × min(parallelism, CPUs, conns))", fontsize=9)
    label_ends(ax, ends)
    save(fig, path)


#: How far apart (in workers) the models' points are drawn at one worker count.
DODGE = 0.04


def _efficiency(c: Measured, base: dict[str, float]) -> float | None:
    """rps ÷ (the model's own 1-worker rps × what it could run at once): 1.0 is ideal scaling."""
    cap = parallel_cap(c)
    if c.mode not in base or not cap:
        return None
    return c.rps / (base[c.mode] * cap)


def by_mode_first(cells: list[Measured]) -> dict[str, Measured]:
    """Each model's cell with the fewest workers."""
    return {m: min(cs, key=lambda c: c.workers) for m, cs in by_mode(cells).items()}


def _cpu_base(cells: list[Measured]) -> dict[str, float]:
    """Each model's 1-worker throughput (the smallest worker count measured)."""
    return {m: c.rps for m, c in by_mode_first(cells).items() if c.workers == 1 and c.rps}


def cpu_text(cells: list[Measured]) -> list[str]:
    if not cells:
        return []
    out = []
    top = max(c.workers for c in cells)
    at_top = {c.mode: c for c in cells if c.workers == top}
    single = at_top.get("single")
    if single:
        for mode in ("reactors", "offload"):
            if mode in at_top:
                out.append(ratio_text(at_top[mode], single, f"cpu with {n_of(top, 'worker')}") + ".")
    flags = {m: without_timeline(c.server["flags"]) for m, c in at_top.items() if "flags" in c.server}
    started = [f"{m} " + (f"`{' '.join(flags[m])}`" if flags[m] else "with no flag") + f" ({par(at_top[m])})"
               for m in flags]
    if started:
        out.append(f"At {n_of(top, 'worker')} the models were started as: {join(started)}"
                   + (", each also with `--timeline` for the timeline below" if any(
                       recorded(c.server.get("flags") or ()) for c in at_top.values()) else "") + ".")
    base = _cpu_base(cells)
    if top > 1 and base:
        effs = [f"{m} {fmt_pct(_efficiency(c, base), 0)} (ideal ×{parallel_cap(c)})" for m, c in at_top.items()
                if _efficiency(c, base) is not None]
        if effs:
            out.append(f"Scaling efficiency at {n_of(top, 'worker')}, rps ÷ (own 1-worker rps × min(parallelism, CPUs, "
                       f"connections)): {join(effs)}.")
        held = [m for m, c in at_top.items() if parallel_cap(c) == 1]
        if held:
            out.append(f"{join(held)} can run one request at a time ({join([par(at_top[m]) for m in held])}), "
                       "so its ideal stays at its 1-worker figure whatever the CPUs.")
    if top > 1 and any((_efficiency(c, base) or 0) > 1.05 for c in at_top.values()):
        per_req = [f"{m} {c.server_cpu_us_per_request / 1000:.1f} ms at 1 worker and "
                   f"{at_top[m].server_cpu_us_per_request / 1000:.1f} ms at {top}"
                   for m, c in by_mode_first(cells).items()
                   if m in at_top and c.server_cpu_us_per_request and at_top[m].server_cpu_us_per_request]
        out.append("Efficiency above 100% is the machine, not the model: the CPU time one request took varied "
                   f"between runs ({join(per_req)}).")
    busy = [f"{m} {c.server_cpus_busy:.2f}" for m, c in at_top.items() if c.server_cpus_busy is not None]
    if busy:
        out.append(f"CPUs the server kept busy at {n_of(top, 'worker')}: {join(busy)}. "
                   f"wrk used at most {fmt_pct(max(c.client_cpu_max or 0 for c in cells), 0)} of its CPU"
                   + (", sharing it with the server" if any(c.notes for c in cells) else "") + ".")
    return out

def check_cpu(cells: list[Measured]) -> Check:
    name = "cpu"
    want = "reactors or offload ≥ 1.8× single on cpu with 2 workers"
    cs = select(cells, scenario="cpu", workers=2)
    single = one(cs, mode="single")
    others = [c for c in cs if c.mode in ("reactors", "offload")]
    if not single or not others:
        return Check(name, want, "-", "not measured", ["needs cpu cells for single and reactors/offload at 2 workers"])
    best = max(others, key=lambda c: c.rps)
    ratio = best.rps / single.rps
    figure = join([f"{c.mode} {c.rps / single.rps:.2f}×" for c in others])
    if ratio >= 1.8:
        return Check(name, want, figure, "met", [])
    why = [f"{c.mode} kept {c.server_cpus_busy or 0:.2f} of 2 CPUs busy "
           f"({fmt_rps(c.rps)} req/s against single's {fmt_rps(single.rps)})" for c in others]
    why.append(f"wrk used up to {fmt_pct(max(c.client_cpu_max or 0 for c in cs), 0)} of the CPU it shares "
               "with the server")
    if any(c.client_saturated for c in cs):
        why.append("wrk was saturated")
    return Check(name, want, figure, "missed", why + noise(cs))


#: The models the second cpu expectation is about: those added beside the first three.
POOL_AND_THREADS = ("pool", "threads")


def check_cpu_new(cells: list[Measured]) -> Check:
    name = "cpu pool, threads"
    want = "pool and threads each ≥ 1.8× single on cpu with 2 workers"
    cs = select(cells, scenario="cpu", workers=2)
    single = one(cs, mode="single")
    new = [c for c in (one(cs, mode=m) for m in POOL_AND_THREADS) if c]
    if not single or not new:
        return Check(name, want, "-", "not measured", ["needs cpu cells for single and pool or threads at 2 workers"])
    ratios = {c.mode: ratio_range(c, single) for c in new}
    figure = join([f"{m} {r:.2f}× ({lo:.2f}–{hi:.2f})" for m, (r, lo, hi) in ratios.items()])
    why = [f"{m} not measured" for m in POOL_AND_THREADS if m not in ratios]
    low = [c for c in new if ratios[c.mode][0] < 1.8]
    for c in low:
        why.append(f"{c.mode} ({par(c)}) kept {c.server_cpus_busy or 0:.2f} of 2 CPUs busy "
                   f"({fmt_rps(c.rps)} req/s against single's {fmt_rps(single.rps)})")
    if low and any(c.client_saturated for c in cs):
        why.append("wrk was saturated")
    verdict = "not measured" if not ratios else "missed" if low else "met"
    return Check(name, want, figure, verdict, why + (noise(cs) if low else []))


def model_sentences(cells: list[Measured]) -> list[str]:
    """Every model at the most workers, against single and reactors, and its scaling efficiency."""
    out = []
    top = max(c.workers for c in cells)
    at_top = [c for c in cells if c.workers == top]
    single, reactors = one(at_top, mode="single"), one(at_top, mode="reactors")
    base = _cpu_base(cells)
    for m in [x for x in modes_of(at_top) if is_model(x)]:
        c = one(at_top, mode=m)
        if not c:
            continue
        parts = [times(key_range(c, ref, "rps"), poss(ref.mode), "more", "less")
                 for ref in (single, reactors) if ref and ref is not c]
        eff = _efficiency(c, base) if top > 1 else None  # at one worker it is its own base
        out.append(f"At {n_of(top, 'worker')} {m} ({par(c)} on {n_of(cpus_of(c), 'CPU')}) served {rps_range(c)}"
                   + (f": {join(parts)}" if parts else "")
                   + (f"; scaling efficiency {fmt_pct(eff, 0)}" if eff is not None else "") + ".")
    return out

