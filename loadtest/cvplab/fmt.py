"""Number and word formatting for the report's sentences and tables."""

from __future__ import annotations

CLOSED_LOOP = ("wrk is closed-loop: each connection waits for its reply before sending the next request, so "
               "queueing delay is partly hidden (coordinated omission) and these latencies are best cases.")


def fmt_rps(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def fmt_us(us: float | None) -> str:
    if us is None:
        return "-"
    if us >= 1_000_000:
        return f"{us / 1e6:.2f} s"
    if us >= 1000:
        return f"{us / 1000:.1f} ms"
    return f"{us:.0f} µs"


def fmt_bytes(b: float | None) -> str:
    """``570 B``, ``8.4 KiB``."""
    if b is None:
        return "-"
    return f"{b:,.0f} B" if abs(b) < 1024 else f"{b / 1024:.1f} KiB"


def fmt_pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def n_of(count: int, noun: str) -> str:
    """``1 worker``, ``2 workers``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def poss(mode: str) -> str:
    """``single's``, ``reactors'``."""
    return mode + ("'" if mode.endswith("s") else "'s")
