"""Cell queries: selecting result cells, ordering them by mode, and comparing two of them.

Modes are ordered as the run's :class:`~cvplab.models.Catalog` orders them (the server's
models, then the declared peers); :func:`ordered_by` sets that catalog while a report is
built.  Outside it, cells keep the order they come in.
"""

from __future__ import annotations

import contextlib
import contextvars

from .cells import Measured
from .cpus import parse_cpu_list
from .fmt import fmt_rps
from .models import Catalog

_CATALOG: contextvars.ContextVar[Catalog | None] = contextvars.ContextVar("catalog", default=None)


@contextlib.contextmanager
def ordered_by(catalog: Catalog):
    """Within the block, modes sort (and are checked) by ``catalog``."""
    token = _CATALOG.set(catalog)
    try:
        yield catalog
    finally:
        _CATALOG.reset(token)


def catalog() -> Catalog | None:
    """The catalog set by :func:`ordered_by`, if any."""
    return _CATALOG.get()


def is_model(mode: str) -> bool:
    """True for one of cvp's models, False for a declared peer; an unknown mode is an error."""
    cat = _CATALOG.get()
    if cat is None:
        from . import peers
        return mode not in peers.NAMES
    return not cat.is_peer(mode)


def models_among(cells: list[Measured]) -> list[str]:
    """The cvp models (not peers) the cells have, in order."""
    return [m for m in modes_of(cells) if is_model(m)]


def select(cells: list[Measured], **where) -> list[Measured]:
    """Cells matching every key=value, measured ones only, in mode order."""
    out = [c for c in cells if c.rps is not None and all(c.figure(k) == v for k, v in where.items())]
    return sorted(out, key=lambda c: (mode_rank(c.mode), c.connections or 0, c.workers or 0))


def mode_rank(mode: str) -> int:
    cat = _CATALOG.get()
    return 0 if cat is None else cat.rank(mode)


def modes_of(cells: list[Measured]) -> list[str]:
    return sorted(dict.fromkeys(c.mode for c in cells), key=mode_rank)


def by_mode(cells: list[Measured]) -> dict[str, list[Measured]]:
    return {m: [c for c in cells if c.mode == m] for m in modes_of(cells)}


def one(cells: list[Measured], **where) -> Measured | None:
    found = select(cells, **where)
    return found[0] if found else None


def cpus_of(c: Measured) -> int:
    """How many CPUs the cell's server was given."""
    return len(parse_cpu_list(c.server["cpus"]))


def parallel_cap(c: Measured) -> int | None:
    """What the cell's model could run at once: min(its parallelism, its CPUs, the run's connections).

    The parallelism is the server's own (its start-up line); thread-per-connection's is its
    connection limit, which the CPUs and the connections bound long before.
    """
    par = c.parallelism
    if not par:
        return None
    conns = c.connections + sum(o["connections"] for o in c.params.get("concurrent_streams", []))
    return min(par, cpus_of(c), conns)


def par(c: Measured) -> str:
    """``parallelism 2`` (or ``parallelism unknown``)."""
    return f"parallelism {c.parallelism:,}" if c.parallelism else "parallelism unknown"


# -- comparing two cells ----------------------------------------------------------------

def ratio_range(a: Measured, b: Measured, key: str = "rps") -> tuple[float, float, float]:
    """a ÷ b on medians, and its range over the repeats' extremes (a's min ÷ b's max, a's max ÷ b's min)."""
    mid_a, mid_b = a.figure(key), b.figure(key)
    lo = (a.figure(key + "_min") or mid_a) / (b.figure(key + "_max") or mid_b)
    hi = (a.figure(key + "_max") or mid_a) / (b.figure(key + "_min") or mid_b)
    return mid_a / mid_b, lo, hi


def ratio_text(a: Measured, b: Measured, what: str) -> str:
    """``reactors served 1.92× single on cpu with 2 workers``."""
    return f"{a.mode} served {a.rps / b.rps:.2f}× {b.mode} on {what}"


def rps_range(c: Measured) -> str:
    return f"{fmt_rps(c.rps)} req/s ({fmt_rps(c.rps_min)}–{fmt_rps(c.rps_max)})"


def key_range(a: Measured, b: Measured, key: str, sub: str | None = None) -> tuple[float, float, float] | None:
    """a ÷ b on medians and over the repeats' extremes, for ``key`` (``latency_us`` with ``sub``: a percentile;
    ``footprint`` with ``sub``: one of its figures).  None where either lacks it."""
    try:
        if key == "latency_us":
            mid, lo, hi = ((a.figure(k)[sub], b.figure(k2)[sub]) for k, k2 in
                           (("latency_us", "latency_us"), ("latency_us_min", "latency_us_max"),
                            ("latency_us_max", "latency_us_min")))
        elif sub is not None:
            fa, fb = a.figure(key), b.figure(key)
            mid, lo, hi = ((fa[sub], fb[sub]), (fa[sub + "_min"], fb[sub + "_max"]), (fa[sub + "_max"], fb[sub + "_min"]))
        else:
            return ratio_range(a, b, key)
        return mid[0] / mid[1], lo[0] / lo[1], hi[0] / hi[1]
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def times(r: tuple[float, float, float] | None, whom: str, more: str, less: str) -> str:
    """``1.52× reactors' (1.40–1.61): faster``; the word only where the range leaves 1.0 out."""
    if r is None:
        return f"not comparable with {whom}"
    ratio, lo, hi = r
    verdict = more if lo > 1.0 else less if hi < 1.0 else "the ranges overlap: within this run's noise"
    return f"{ratio:.2f}× {whom} ({lo:.2f}–{hi:.2f}; {verdict})"


def reference(cells: list[Measured], model: str) -> Measured | None:
    """What a new model is set beside: reactors (the other multi-threaded loop model), else single."""
    for ref in ("reactors", "single", "offload"):
        c = one(cells, mode=ref)
        if c is not None and ref != model:
            return c
    return None

