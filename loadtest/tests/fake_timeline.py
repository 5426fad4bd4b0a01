"""Synthetic timeline windows and loop health for the report's tests: what cvplab.watch would keep of a run.

Healthy: single runs its work one bar after another, the other models side by side on two workers, and a
loop that hashes holds its timers behind the hashing.  Unhealthy: single shows two bars at once and the
parallel models none, so each of the timeline's self-check rows is missed.
"""

from cvplab import plan

#: The workers each model lists in /stats on two CPUs (ids, kinds).
WORKERS = {"single": ["loop"], "reactors": ["loop", "loop"], "offload": ["loop", "pool-thread", "pool-thread"],
           "pool": ["pool-thread", "pool-thread"], "threads": ["loop", "connection-thread", "connection-thread"]}
#: The workers that run the CPU work, by index.
WORK_ROWS = {"single": [0], "reactors": [0, 1], "offload": [1, 2], "pool": [0, 1], "threads": [1, 2]}


def _window(cell: plan.Cell, good: bool) -> dict:
    mode, span = cell.mode, 100
    rows = WORK_ROWS[mode] if good or mode == "single" else WORK_ROWS[mode][:1]
    events: dict[int, list] = {i: [] for i in range(len(WORKERS[mode]))}
    chunks = cell.params.get("split", 1)
    for n in range(19):
        start = n * 5.2
        for j, row in enumerate(rows if chunks == 1 else rows[:chunks]):
            events[row].append([round(start + 0.1 * j, 3), round(start + 5.0, 3), "cpu", 100 + n])
        if not good and mode == "single":
            events[0].append([round(start + 1.0, 3), round(start + 3.0, 3), "cpu", 200 + n])
    if cell.scenario == "mixed":
        loop = 0 if mode != "pool" else 0
        for n in range(60):
            start = n * 1.6
            end = start + 50.0
            if loop in rows:  # the timer fires once the hash it was due in has ended
                end = min((e[1] for e in events[loop] if e[2] == "cpu" and e[1] >= end), default=end) + 0.05
            events[loop].append([round(start - 40, 3), round(end - 40, 3), "io-wait", 1000 + n])
    return {"span_ms": span, "model": mode,
            "workers": [{"id": i, "kind": k, "complete": True, "events": sorted(events[i])}
                        for i, k in enumerate(WORKERS[mode])]}


def _health(cell: plan.Cell, good: bool) -> dict:
    """A run's loop health: a loop that hashes lags by a hash or more, one that hands it off barely."""
    hashes_on_loop = cell.scenario == "mixed" and cell.mode in ("single", "reactors")
    p99 = 24.0 if hashes_on_loop or not good else 0.4
    return {"lag": {"ticks": 100, "p50_ms": p99 / 8, "p99_ms": p99, "max_ms": p99 * 1.5, "max_exact": True},
            "utilization": 0.97 if hashes_on_loop else 0.2, "loops": 2 if cell.mode == "reactors" else 1,
            "queue_wait": ({"tasks": 400, "p50_ms": 2.1, "p99_ms": 9.8} if cell.mode == "offload" else None)}


def watched(cell: plan.Cell, good: bool) -> dict | None:
    """What cvplab.watch keeps after a run of ``cell`` (None for the scenarios that watch nothing)."""
    out = {}
    if cell.mode not in WORKERS:
        return None
    if cell.scenario in ("cpu", "mixed", "split") and ("--timeline" in cell.server.flags):
        if cell.scenario != "split" or cell.params.get("split", 1) >= 2:
            if cell.scenario != "mixed" or len(cell.loads) > 1:
                out["timeline"] = _window(cell, good)
    if cell.scenario == "mixed" or (cell.scenario == "io" and cell.loads[0].variant != "block"):
        out["loop_health"] = _health(cell, good)  # io reads none around /io/block (scenarios/io.py)
    return out or None
