"""Figures of a timeline window (:func:`cvplab.timeline.cut`), and the captions that read them like the cooks.

Everything here is computed from the window's intervals, clipped to it: how many bars of work (CPU and
blocking) ran, how many at most at once, for how much of the window two or more workers ran work side by side,
how one request's chunks spread over the workers, and how a loop's timer waits sat among its CPU work.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fmt import fmt_pct, n_of

#: The kinds that are work a thread runs (a cook at the stove); ``io-wait`` holds no thread.
WORK = ("cpu", "blocking")
#: A wait that ended this soon after a CPU bar on its own worker ended was due while that bar ran.
BEHIND_MS = 0.5


@dataclass(frozen=True)
class Bar:
    """One interval: its worker (the chart's row), start and end (ms into the window), kind and connection."""

    row: int
    start: float
    end: float
    kind: str
    connection: int | None = None


def bars(timeline: dict, kinds: tuple[str, ...] | None = None) -> list[Bar]:
    """The window's intervals of ``kinds`` (all by default), clipped to it; those left empty are dropped."""
    span = float(timeline["span_ms"])
    out = []
    for w in timeline["workers"]:
        for start, end, kind, conn in w["events"]:
            if kinds is not None and kind not in kinds:
                continue
            s, e = max(0.0, float(start)), min(span, float(end))
            if e > s:
                out.append(Bar(w["id"], s, e, kind, conn))
    return out


def _edges(items: list[Bar]) -> list[tuple[float, int, int]]:
    """Sweep events ``(time, +1/-1, row)``, ends before starts at one instant (intervals are half-open)."""
    return sorted([(b.start, 1, b.row) for b in items] + [(b.end, -1, b.row) for b in items],
                  key=lambda t: (t[0], t[1]))


def max_overlap(items: list[Bar]) -> int:
    """The most bars running at one instant (0 for none)."""
    now = most = 0
    for _, step, _ in _edges(items):
        now += step
        most = max(most, now)
    return most


def side_by_side_ms(items: list[Bar]) -> float:
    """How long two or more different rows ran a bar at once."""
    active: dict[int, int] = {}
    total, last = 0.0, None
    for t, step, row in _edges(items):
        if last is not None and sum(1 for n in active.values() if n > 0) >= 2:
            total += t - last
        active[row] = active.get(row, 0) + step
        last = t
    return total


def covered_ms(items: list[Bar]) -> float:
    """How long at least one bar ran (the union of the bars)."""
    total, end = 0.0, None
    for b in sorted(items, key=lambda b: b.start):
        if end is None or b.start >= end:
            total += b.end - b.start
            end = b.end
        elif b.end > end:
            total += b.end - end
            end = b.end
    return total


def requests(items: list[Bar]) -> list[list[Bar]]:
    """The bars grouped by request: a connection's requests follow one another (no pipelining in these
    scenarios), so a bar that starts once every bar of the connection's current request has ended starts
    the next one."""
    by_conn: dict[object, list[Bar]] = {}
    for b in sorted(items, key=lambda b: (b.start, b.row)):
        by_conn.setdefault(b.connection, []).append(b)
    groups = []
    for conn_bars in by_conn.values():
        current: list[Bar] = []
        for b in conn_bars:
            if current and b.start >= max(c.end for c in current):
                groups.append(current)
                current = []
            current.append(b)
        if current:
            groups.append(current)
    return groups


def widest_request(items: list[Bar]) -> tuple[int, int, int] | None:
    """The request whose chunks ran most at once: ``(chunks, workers, at once)``; None without bars."""
    best = None
    for group in requests(items):
        key = (max_overlap(group), len({b.row for b in group}), len(group))
        if best is None or key > best:
            best = key
    return None if best is None else (best[2], best[1], best[0])


def waits_behind_work(work: list[Bar], waits: list[Bar], within_ms: float = BEHIND_MS) -> int:
    """The waits that ended within ``within_ms`` after a CPU bar on their own worker ended: their timer was due
    while the worker ran that bar, and fired only once it was done."""
    ends: dict[int, list[float]] = {}
    for b in work:
        ends.setdefault(b.row, []).append(b.end)
    return sum(1 for w in waits if any(0 <= w.end - e <= within_ms for e in ends.get(w.row, [])))


def pending_during(work: list[Bar], waits: list[Bar]) -> float | None:
    """The mean number of waits pending on a worker while that worker ran work (None if no work ran)."""
    busy = sum(b.end - b.start for b in work)
    if busy <= 0:
        return None
    overlap = sum(max(0.0, min(b.end, w.end) - max(b.start, w.start)) for b in work for w in waits if w.row == b.row)
    return overlap / busy


def figures(timeline: dict) -> dict:
    """The window's figures: work bars, most at once, the share of the window with two or more workers running
    work, the workers that ran work (and how many the model had), the waits, and how they sat among the work."""
    span = float(timeline["span_ms"])
    work, waits = bars(timeline, WORK), bars(timeline, ("io-wait",))
    widest = widest_request(work)
    wait_rows = {w.row for w in waits}
    beside = [b for b in work if b.row in wait_rows]  # work on the workers that also waited
    return {"span_ms": span, "work": len(work), "cpu": sum(1 for b in work if b.kind == "cpu"),
            "max_overlap": max_overlap(work), "side_by_side": side_by_side_ms(work) / span if span else 0.0,
            "busy": covered_ms(work) / span if span else 0.0, "rows": len(timeline["workers"]),
            "rows_with_work": len({b.row for b in work}), "waits": len(waits),
            "waits_behind_work": waits_behind_work(work, waits), "pending_during_work": pending_during(beside, waits),
            "widest_request": widest, "complete": all(w.get("complete", True) for w in timeline["workers"])}


def caption(model: str, scenario: str, timeline: dict, chunks: int | None = None) -> str:
    """A sentence about one model's window, as the cooks would tell it, from its figures (``chunks``: how many
    chunks each request is split into, split's K)."""
    f = figures(timeline)
    span = f"{f['span_ms']:.0f} ms"
    bars_text = f"{n_of(f['work'], 'bar')} of work in {span}"
    overlap = (f"bars overlap across rows {fmt_pct(f['side_by_side'], 0)} of the window "
               f"(at most {f['max_overlap']} at once)")
    if model == "single":
        lead = (f"single: one cook — {bars_text}, never two at once (max overlap {f['max_overlap']})"
                if f["max_overlap"] <= 1 else f"single: {bars_text}, yet {f['max_overlap']} at once")
    elif model == "offload":
        pool = max(0, f["rows"] - 1)
        lead = f"offload: the loop hands the work to {n_of(pool, 'cook')} — {bars_text}; {overlap}"
    elif model == "reactors":
        lead = (f"reactors: {n_of(f['rows'], 'loop')}, each a cook with its own connections — {bars_text}; "
                f"{overlap}")
    elif model == "pool":
        lead = f"pool: {n_of(f['rows'], 'thread')} take turns at one shared loop — {bars_text}; {overlap}"
    elif model == "threads":
        lead = (f"threads: a cook per connection, {f['rows_with_work']} of them at work in the window — "
                f"{bars_text}; {overlap}")
    else:
        lead = f"{model}: {bars_text} on {n_of(f['rows_with_work'], 'worker')}; {overlap}"
    parts = [lead]
    if scenario == "split" and f["widest_request"]:
        seen, rows, at_once = f["widest_request"]
        if at_once >= 2:
            parts.append(f"one request's {n_of(chunks or seen, 'chunk')} side by side on {n_of(rows, 'worker')} "
                         f"({at_once} at once at most)")
        else:
            parts.append(f"a request's {n_of(chunks, 'chunk') if chunks else 'chunks'} ran one after another, "
                         "never two at once")
    if f["waits"]:
        pending = f["pending_during_work"]
        if pending is not None:
            parts.append(f"the I/O waits ({n_of(f['waits'], 'io-wait bar')}) interleave with the work on the same "
                         f"workers: a mean of {pending:.0f} waits were pending while they ran work, and "
                         f"{f['waits_behind_work']} ended within {BEHIND_MS:g} ms of a CPU bar's end (their "
                         "timer was due while the worker ran it)")
        else:
            parts.append(f"its {n_of(f['waits'], 'io-wait bar')} sat on workers that ran no work in the window")
    if not f["complete"]:
        parts.append("(a worker's ring had dropped part of the window: bars may be missing)")
    return "; ".join(parts) + "."
