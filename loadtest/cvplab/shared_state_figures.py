"""The shared-state scenario's figures: a cell's summary from what was read after each run, and the queries
over its cells that the charts, the sentences and the checks share.

The scenario module (``cvplab/scenarios/shared_state.py``) plans the runs, resets and reads the server
around each one and folds the readings into a cell's ``shared_state`` (:func:`summarize_state`, here).
What the section draws is in :mod:`cvplab.shared_state_charts`, what it says in
:mod:`cvplab.shared_state_text`, its rows of expected results in :mod:`cvplab.shared_state_checks`.
"""

from __future__ import annotations

from .cells import Measured
from .fmt import fmt_pct
from .query import parallel_cap
from .stats import spread

NAME = "shared-state"
#: The counter's strategies and the transfers' lock orders, in report order.
STRATEGIES = ("split", "mutex", "atomic", "sharded", "await")
ORDERS = ("naive", "ordered")
#: The two accounts the transfers move money between, each way in turn.
ACCOUNT_A, ACCOUNT_B = 0, 1


# -- the summary ----------------------------------------------------------------------------

def summarize_state(params: dict, runs: list) -> dict | None:
    """A cell's figures from what was read after each run (``Run.after_run``); None when nothing was read.

    Counter cells: the cell's strategy's ``increments`` (asked by completed requests), ``value`` and ``lost``
    summed over the repeats, ``lost_share`` = lost ÷ increments, and its range over the repeats.  Transfer
    cells: the order's ``transfers`` and the ``deadlocks`` detected, summed; deadlocks per second of wrk's
    run (median and range); every total seen and whether each was the expected one.  ``unsettled``: the most
    connections still open when a run's figures were read (its last requests may be missing).
    """
    read = [(r, r.after_run) for r in runs if getattr(r, "after_run", None)]
    if not read:
        return None
    unsettled = max(a.get("unsettled") or 0 for _, a in read)
    if params["kind"] == "counter":
        mine = [a["counter"][params["strategy"]] for _, a in read]
        increments = sum(m["increments"] for m in mine)
        lost = sum(m["lost"] for m in mine)
        _, lo, hi = spread([m["lost"] / m["increments"] if m["increments"] else None for m in mine])
        return {"strategy": params["strategy"], "increments": increments, "value": sum(m["value"] for m in mine),
                "lost": lost, "lost_share": round(lost / increments, 6) if increments else None,
                "lost_share_min": _round(lo), "lost_share_max": _round(hi), "unsettled": unsettled,
                "repeats": len(read)}
    accounts = [a["accounts"] for _, a in read]
    rate, lo, hi = spread([a["accounts"]["deadlocks_detected"] / r.duration_s if r.duration_s else None
                           for r, a in read])
    expected = accounts[0]["expected_total"]
    totals = sorted({a["total"] for a in accounts})
    return {"order": params["order"], "transfers": sum(a["transfers"][params["order"]] for a in accounts),
            "deadlocks": sum(a["deadlocks_detected"] for a in accounts),
            "deadlocks_per_s": _round(rate, 2), "deadlocks_per_s_min": _round(lo, 2),
            "deadlocks_per_s_max": _round(hi, 2), "totals": totals, "expected_total": expected,
            "total_kept": totals == [expected], "unsettled": unsettled, "repeats": len(read)}


def _round(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(x, digits)


# -- cell queries -----------------------------------------------------------------------------

def counter_cells(cells: list[Measured]) -> list[Measured]:
    """The measured counter cells whose figures were read."""
    return [c for c in cells if c.params.get("kind") == "counter" and c.shared_state]


def transfer_cells(cells: list[Measured]) -> list[Measured]:
    """The measured transfer cells whose figures were read."""
    return [c for c in cells if c.params.get("kind") == "transfer" and c.shared_state]


def at_once(c: Measured) -> int | None:
    """Requests the cell's server could run at once: min(its parallelism, its CPUs, the connections)."""
    return parallel_cap(c)


def serial(c: Measured) -> bool:
    """One thread runs every request: nothing can race on a CPU (parallelism 1)."""
    return c.parallelism == 1


def parallel(c: Measured) -> bool:
    """Two requests or more really run at once: parallelism and CPUs both 2 or more."""
    return (at_once(c) or 0) >= 2


def increments_per_s(c: Measured, key: str = "rps") -> float | None:
    """Increments made per second: completed requests per second × n."""
    x = c.figure(key)
    return None if x is None else x * c.params["n"]


def lost_text(c: Measured) -> str:
    """``12.4% (11.9%–13.0%)`` of the increments asked, the range over repeats where they differ; ``none``."""
    st = c.shared_state
    if st["lost_share"] is None:
        return "-"
    if not st["lost"]:
        return "none"
    lo, hi = st["lost_share_min"], st["lost_share_max"]
    if st["repeats"] > 1 and lo is not None and fmt_pct(lo) != fmt_pct(hi):
        return f"{fmt_pct(st['lost_share'])} ({fmt_pct(lo)}–{fmt_pct(hi)})"
    return fmt_pct(st["lost_share"])


def widest_of(cells: list[Measured]) -> int:
    """The largest worker count among the cells."""
    return max(c.workers for c in cells)



def compact(x: float | None) -> str:
    """``2.2G``, ``23M``, ``7.5k``, ``25``: a bar's label over a range of nine orders of magnitude."""
    if x is None:
        return "-"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            v = x / scale
            return f"{v:.2g}{unit}" if v < 10 else f"{v:.0f}{unit}"
    return f"{x:.2g}" if x < 10 else f"{x:.0f}"

