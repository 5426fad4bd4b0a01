"""The shared-state scenario's rows of expected results: lost updates, deadlocks and the accounts' total."""

from __future__ import annotations

from .cells import Measured
from .checks import Check
from .fmt import join, n_of
from .shared_state_figures import NAME, at_once, counter_cells, lost_text, parallel, serial, transfer_cells, widest_of

#: The strategies that cannot lose an update, whatever runs at once.
EXACT = ("mutex", "atomic", "sharded")


def _verdict(judged: list[tuple[Measured, bool]]) -> str:
    return "not measured" if not judged else "met" if all(ok for _, ok in judged) else "missed"


def check_split(cells: list[Measured]) -> Check:
    """split loses no update where one thread runs every request, and some where two run at once."""
    name = f"{NAME} split"
    want = "shared-state: split loses no update in single (one thread) and some in every model that runs two at once"
    split = [c for c in counter_cells(cells) if c.variant == "split"]
    judged = [(c, not c.shared_state["lost"]) for c in split if serial(c)]
    judged += [(c, bool(c.shared_state["lost"])) for c in split if parallel(c)]
    if not judged:
        return Check(name, want, "-", "not measured", ["needs split cells"])
    figure = _split_figure([c for c, _ in judged], lambda c: c.shared_state["lost"], lambda c: lost_text(c),
                           "lost updates")
    why = [f"{_where(c)} ({'one thread' if serial(c) else f'{at_once(c)} at once'}) "
           f"lost {c.shared_state['lost']:,} of {c.shared_state['increments']:,}" for c, ok in judged if not ok]
    why += [f"{_where(c)}: parallelism {c.parallelism:,} on one CPU, its threads time-sliced, not judged "
            f"({lost_text(c)} lost)" for c in split if not serial(c) and not parallel(c)]
    return Check(name, want, figure, _verdict(judged), why)


def _where(c: Measured) -> str:
    """``reactors at 2 workers, high contention``: a cell in a check's words."""
    contention = c.params.get("contention")
    return f"{c.mode} at {n_of(c.workers, 'worker')}" + (f", {contention} contention" if contention else "")


def _short(c: Measured) -> str:
    """``reactors w=2 high``: a cell in a figure."""
    contention = c.params.get("contention")
    return f"{c.mode} w={c.workers}" + (f" {contention}" if contention else "")


def _split_figure(cells: list[Measured], happened, text, what: str) -> str:
    """A check's figure over the judged cells: how many with one thread and how many with two or more at once
    had ``what``, and the figures of those that had."""
    parts = []
    for label, group in (("one thread", [c for c in cells if serial(c)]),
                         ("two or more at once", [c for c in cells if parallel(c)])):
        if group:
            hit = [c for c in group if happened(c)]
            parts.append(f"{label}: {what} in {len(hit)} of {n_of(len(group), 'cell')}"
                         + (f" ({join([f'{_short(c)} {text(c)}' for c in hit])})" if hit else ""))
    return "; ".join(parts)


def check_exact(cells: list[Measured]) -> Check:
    """mutex, atomic and sharded lose no update anywhere."""
    name = f"{NAME} exact"
    want = "shared-state: mutex, atomic and sharded lose no update, in every model"
    mine = [c for c in counter_cells(cells) if c.variant in EXACT]
    if not mine:
        return Check(name, want, "-", "not measured", ["needs mutex, atomic or sharded cells"])
    bad = [c for c in mine if c.shared_state["lost"]]
    asked = sum(c.shared_state["increments"] for c in mine)
    figure = (f"{sum(c.shared_state['lost'] for c in mine):,} lost of {asked:,} increments over "
              f"{n_of(len(mine), 'cell')} ({join([s for s in EXACT if any(c.variant == s for c in mine)])})")
    why = [f"{c.mode} {c.variant} w={c.workers} {c.params['contention']} lost {c.shared_state['lost']:,}" for c in bad]
    return Check(name, want, figure, "missed" if bad else "met", why)


def check_await(cells: list[Measured]) -> Check:
    """await loses updates in single: overlapping waits on one thread."""
    name = f"{NAME} await"
    want = "shared-state: await loses updates in single (one thread: its waits overlap)"
    mine = [c for c in counter_cells(cells) if c.variant == "await" and c.mode == "single"]
    if not mine:
        return Check(name, want, "-", "not measured", ["needs await cells on single"])
    others = [c for c in counter_cells(cells) if c.variant == "await" and c.mode != "single"]
    figure = join([f"w={c.workers} {c.params['contention']} {lost_text(c)}" for c in mine])
    why = [f"single at {n_of(c.workers, 'worker')} ({c.params['contention']}) lost none of "
           f"{c.shared_state['increments']:,} over {c.connections} connections"
           for c in mine if not c.shared_state["lost"]]
    if others:
        why.append("the other models: " + join([f"{c.mode} {lost_text(c)}" for c in others if c.workers ==
                                                widest_of(others) and c.params["contention"] == "high"]))
    return Check(name, want, figure, "met" if all(c.shared_state["lost"] for c in mine) else "missed", why)


def check_ordered(cells: list[Measured]) -> Check:
    """ordered transfers never deadlock."""
    name = f"{NAME} ordered"
    want = "shared-state: ordered transfers detect no deadlock, in every model"
    mine = [c for c in transfer_cells(cells) if c.variant == "ordered"]
    if not mine:
        return Check(name, want, "-", "not measured", ["needs ordered transfer cells"])
    bad = [c for c in mine if c.shared_state["deadlocks"]]
    figure = (f"{sum(c.shared_state['deadlocks'] for c in mine):,} deadlocks over {n_of(len(mine), 'cell')}, "
              f"{sum(c.shared_state['transfers'] for c in mine):,} transfers")
    why = [f"{c.mode} w={c.workers}: {c.shared_state['deadlocks']:,}" for c in bad]
    return Check(name, want, figure, "missed" if bad else "met", why)


def check_naive(cells: list[Measured]) -> Check:
    """naive transfers deadlock where two run at once, never with one thread."""
    name = f"{NAME} naive"
    want = "shared-state: naive transfers deadlock in every model that runs two at once, never in single"
    naive = [c for c in transfer_cells(cells) if c.variant == "naive"]
    judged = [(c, not c.shared_state["deadlocks"]) for c in naive if serial(c)]
    judged += [(c, bool(c.shared_state["deadlocks"])) for c in naive if parallel(c)]
    if not judged:
        return Check(name, want, "-", "not measured", ["needs naive transfer cells"])
    figure = _split_figure([c for c, _ in judged], lambda c: c.shared_state["deadlocks"],
                           lambda c: f"{c.shared_state['deadlocks_per_s']:,.1f}/s", "deadlocks")
    why = [f"{_where(c)} ({'one thread' if serial(c) else f'{at_once(c)} at once'}) "
           f"detected {c.shared_state['deadlocks']:,}" for c, ok in judged if not ok]
    why += [f"{_where(c)}: parallelism {c.parallelism:,} on one CPU, not judged "
            f"({c.shared_state['deadlocks']:,} detected)" for c in naive if not serial(c) and not parallel(c)]
    return Check(name, want, figure, _verdict(judged), why)


def check_total(cells: list[Measured]) -> Check:
    """The accounts' total never changes."""
    name = f"{NAME} total"
    want = "shared-state: the accounts' total never changes"
    mine = transfer_cells(cells)
    if not mine:
        return Check(name, want, "-", "not measured", ["needs transfer cells"])
    bad = [c for c in mine if not c.shared_state["total_kept"]]
    runs = sum(c.shared_state["repeats"] for c in mine)
    figure = (f"{mine[0].shared_state['expected_total']:,} after all {n_of(runs, 'run')}" if not bad else
              join([f"{c.mode} {c.variant}: {', '.join(f'{t:,}' for t in c.shared_state['totals'])}" for c in bad]))
    return Check(name, want, figure, "missed" if bad else "met", [])
