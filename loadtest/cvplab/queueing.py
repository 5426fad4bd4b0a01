"""Queueing theory the latency scenario checks its measurements against, and its knee rule.

Pure functions of numbers already measured:

- M/D/1 (Poisson arrivals, a fixed service time S, one server): the mean wait in the queue is
  the Pollaczek–Khinchine formula ``Wq = ρ·S / (2(1−ρ))`` with ρ = λ·S.
- M/M/c: Erlang C gives the chance an arrival waits, ``C(c, a)`` with a = λ·S offered Erlangs,
  and the mean wait ``Wq = C(c, a)·S / (c − a)``.
- M/D/c has no closed form; the standard approximation used here halves M/M/c's wait,
  ``Wq(M/D/c) ≈ Wq(M/M/c) / 2`` (exact for c = 1, where it is the formula above; within a few
  percent for c ≥ 2 at the loads measured here: Cosmetatos's correction factor is close to 1).
- The knee: the highest offered rate whose p99 stays within a budget, every lower rate's too.
"""

from __future__ import annotations

import math

#: The knee's rule: p99 at most this many times the unloaded p50.
KNEE_FACTOR = 10.0


def md1_wait(rho: float, service_s: float) -> float:
    """Mean time waiting in an M/D/1 queue (Pollaczek–Khinchine); ValueError unless 0 ≤ ρ < 1."""
    if not 0 <= rho < 1:
        raise ValueError(f"ρ must be in [0, 1), not {rho}")
    return rho * service_s / (2 * (1 - rho))


def erlang_c(servers: int, offered: float) -> float:
    """The chance an arrival waits in an M/M/c queue with ``servers`` and ``offered`` Erlangs (λ·S)."""
    if servers < 1 or not 0 <= offered < servers:
        raise ValueError(f"needs c ≥ 1 and 0 ≤ a < c, not c={servers}, a={offered}")
    rho = offered / servers
    # Summed in terms a^k/k!, each from the last, so large c stays finite.
    term, below = 1.0, 0.0
    for k in range(servers):
        below += term
        term *= offered / (k + 1)
    top = term / (1 - rho)  # a^c/c! / (1−ρ)
    return top / (below + top)


def mmc_wait(servers: int, offered: float, service_s: float) -> float:
    """Mean time waiting in an M/M/c queue: C(c, a)·S / (c − a)."""
    return erlang_c(servers, offered) * service_s / (servers - offered)


def mdc_wait(servers: int, offered: float, service_s: float) -> float:
    """Mean time waiting in an M/D/c queue, approximated as half the M/M/c wait."""
    return mmc_wait(servers, offered, service_s) / 2


def within(measured: float, theory: float, tolerance: float) -> bool:
    """``measured`` within ``tolerance`` (a share: 0.15) of ``theory``."""
    return theory > 0 and abs(measured - theory) <= tolerance * theory


def knee(points: list[tuple[float, float | None]], budget: float) -> float | None:
    """The highest rate whose p99 is within ``budget``, every lower rate's too; None if the lowest is not.

    ``points`` are (offered rate, p99).  A rate past the first one over budget does not count
    even when its p99 comes back under (noise, or a run whose queue had not built up yet): a
    capacity one can plan on holds at every rate below it.
    """
    best = None
    for rate, p99 in sorted(points):
        if p99 is None or p99 > budget:
            break
        best = rate
    return best


def most_under_budget(points: list[tuple[float, float, float | None]], budget: float) -> float | None:
    """The most throughput served with p99 within ``budget``, over (offered rate, throughput, p99), up to the knee."""
    limit = knee([(rate, p99) for rate, _, p99 in points], budget)
    if limit is None:
        return None
    return max(tp for rate, tp, _ in points if rate <= limit)


def nearest(values: list[float], wanted: float) -> float | None:
    """The value closest to ``wanted``; None for an empty list."""
    return min(values, key=lambda v: (abs(v - wanted), v)) if values else None


def is_finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
