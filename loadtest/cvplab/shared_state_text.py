"""What the shared-state section says: its tables, its introduction and its sentences, computed from its cells."""

from __future__ import annotations

from .cells import Measured
from .fmt import fmt_pct, fmt_rps, join, n_of, poss
from .query import cpus_of, modes_of, one
from .shared_state_figures import (ACCOUNT_A, ACCOUNT_B, ORDERS, STRATEGIES, at_once, compact, counter_cells,
                                   increments_per_s, lost_text, parallel, serial, transfer_cells, widest_of)

#: Public figures for scale: perfbook's counting chapter (a non-atomic counter's lost share) and Folly's
#: sharded counter against one shared atomic, at FOLLY_THREADS threads.
PERFBOOK_LOST, FOLLY_RATIO, FOLLY_THREADS = 0.87, 15.0, 20
#: Two throughputs whose ratio is within this factor of each other are not told apart in a sentence.
CLEAR = 1.25


# -- tables ---------------------------------------------------------------------------------

COUNTER_HEADER = ["model", "workers", "contention", "strategy", "n", "req/s", "increments/s", "lost"]
TRANSFER_HEADER = ["model", "workers", "order", "transfers/s", "deadlocks/s", "409 answers", "accounts' total"]


def _ordered(cells: list[Measured], keys: tuple[str, ...]) -> list[Measured]:
    """Cells by worker count, contention, strategy (or order) and model."""
    modes = modes_of(cells)
    return sorted(cells, key=lambda c: (c.workers, c.params.get("contention") != "high",
                                        keys.index(c.variant), modes.index(c.mode)))


def counter_rows(cells: list[Measured]) -> list[list[str]]:
    return [[c.mode, str(c.workers), c.params["contention"], c.variant, f"{c.params['n']:,}", fmt_rps(c.rps),
             fmt_rps(increments_per_s(c)), lost_text(c)] for c in _ordered(counter_cells(cells), STRATEGIES)]


def transfer_rows(cells: list[Measured]) -> list[list[str]]:
    rows = []
    for c in _ordered(transfer_cells(cells), ORDERS):
        st = c.shared_state
        total = (f"{st['expected_total']:,} kept" if st["total_kept"] else
                 "changed: " + ", ".join(f"{t:,}" for t in st["totals"]))
        rows.append([c.mode, str(c.workers), c.variant, fmt_rps(c.rps), f"{st['deadlocks_per_s']:,.1f}",
                     f"{(c.errors or {}).get('status', 0):,}", total])
    return rows


# -- sentences ------------------------------------------------------------------------------

def intro(cells: list[Measured]) -> str:
    """What was sent, from the cells' own figures."""
    counters, transfers = counter_cells(cells), transfer_cells(cells)
    conns = cells[0].connections
    parts = [f"One process-wide counter per strategy and eight accounts, shared by every thread (docs/API.md, "
             f"\"Shared state\"), each cell over {conns} connections, the server on a CPU per worker."]
    if counters:
        high = sorted({c.params["n"] for c in counters if c.params["contention"] == "high" and c.variant != "await"})
        aw = next((c for c in counters if c.variant == "await" and c.params["contention"] == "high"), None)
        text = "`/state/counter` at high contention adds " + (
            f"n = {join([f'{n:,}' for n in high])} to the one counter per request, so the counter's work is most of "
            "each request" if high else "to the one counter")
        if aw:
            text += (f" (await: {aw.params['n']} increments a request, each read, then a {aw.params['ms']} ms timer, "
                     "then written)")
        if any(c.params["contention"] == "low" for c in counters):
            text += "; at low contention n = 1, so a request is almost all HTTP and two threads seldom meet there."
        else:
            text += "; this profile has no low-contention point (the full profile adds n = 1)."
        parts.append(text)
    if transfers:
        t = transfers[0].params
        naive = next((c for c in transfers if c.variant == "naive"), None)
        parts.append(f"`/state/transfer` moves 1 from account {ACCOUNT_A} to {ACCOUNT_B}, then back, in turn, "
                     f"holding the first lock for {t['hold_us']} µs of CPU"
                     + (f"; naive waits at most {naive.params['timeout_ms']} ms for its second lock, then backs out "
                        "and answers 409" if naive else "") + ".")
    parts.append("Before each run the lab POSTs `/state/reset`; after it, once the run's connections have closed, it "
                 "reads `/state/counter/value` (increments asked by completed requests, the value, lost = the "
                 "difference) or `/state/accounts`.")
    return " ".join(parts)


def sentences(cells: list[Measured]) -> list[str]:
    """What the run says, computed from its cells."""
    return (lost_sentences(cells) + contention_sentences(cells) + worker_sentences(cells)
            + transfer_sentences(cells) + scale_sentences(cells) + unsettled_sentences(cells))


def lost_sentences(cells: list[Measured]) -> list[str]:
    """Which strategies lost updates where, at each worker count, and await's loss in single."""
    out = []
    counters = [c for c in counter_cells(cells) if c.params["contention"] == "high"]
    for w in sorted({c.workers for c in counters}, reverse=True):
        at = [c for c in counters if c.workers == w]
        per = [f"{s}: " + (join([f"{c.mode} {lost_text(c)}" for c in at if c.variant == s])
                           if any(c.shared_state["lost"] for c in at if c.variant == s) else "none in any model")
               for s in STRATEGIES if any(c.variant == s for c in at)]
        out.append(f"Lost updates with {n_of(w, 'worker')} at high contention, as a share of the increments asked: "
                   + "; ".join(per) + ".")
        split = [c for c in at if c.variant == "split"]
        losing = [c.mode for c in split if c.shared_state["lost"]]
        exact = [c.mode for c in split if not c.shared_state["lost"]]
        if losing:
            out.append(f"split (a relaxed load, then a separate store) lost updates in {join(losing)}: two of their "
                       "threads read the same value and both wrote it back plus one"
                       + (f"; {join(exact)} lost none, " + ("one thread running each request's increments from start "
                                                             "to end" if all(serial(c) for c in split
                                                                             if c.mode in exact)
                                                            else "no two increments overlapping in this run")
                          if exact else "") + ".")
        elif split:
            alone = [c.mode for c in split if serial(c)]
            sliced = [c.mode for c in split if not serial(c) and not parallel(c)]
            both = [f"{c.mode} ({at_once(c)} at once)" for c in split if parallel(c)]
            out.append(f"split lost no update at {n_of(w, 'worker')}"
                       + (f": {join(alone)} ran one request at a time" if alone else "")
                       + (f"; {join(sliced)} time-sliced its threads on one CPU, and no switch fell between a load "
                          "and its store" if sliced else "")
                       + (f"; {join(both)} ran requests in parallel and still lost none" if both else "") + ".")
    single = [c for c in counters if c.mode == "single" and c.variant == "await"]
    if single and single[0].shared_state["lost"]:
        c = single[0]
        out.append(f"await lost {lost_text(c)} in single, which has one thread and no parallelism at all: each "
                   f"request read the counter, waited {c.params['ms']} ms on the loop's timer while the other "
                   f"connections' requests read the same value, and wrote back its own read plus one. Concurrency "
                   "without parallelism loses updates too; no lock would help across the wait.")
    return out


def _ratio(a: Measured | None, b: Measured | None) -> float | None:
    """a's increments per second ÷ b's."""
    if a is None or b is None or not a.rps or not b.rps:
        return None
    return increments_per_s(a) / increments_per_s(b)


def contention_sentences(cells: list[Measured]) -> list[str]:
    """The mutex's cost against the sharded counter (and the atomic), at each contention, at the most workers."""
    counters = counter_cells(cells)
    if not counters:
        return []
    w = widest_of(counters)
    out = []
    for level in ("high", "low"):
        at = [c for c in counters if c.workers == w and c.params["contention"] == level]
        pairs = [(m, one(at, mode=m, variant="sharded"), one(at, mode=m, variant="mutex"),
                  one(at, mode=m, variant="atomic")) for m in modes_of(at)]
        vs_mutex = [f"{m} {_ratio(sh, mu):.2f}×" for m, sh, mu, _ in pairs if _ratio(sh, mu)]
        vs_atomic = [f"{m} {_ratio(sh, at_):.2f}×" for m, sh, _, at_ in pairs if _ratio(sh, at_)]
        if not vs_mutex and not vs_atomic:
            continue
        n = next(c.params["n"] for c in at if c.variant != "await")
        text = (f"At {level} contention (n = {n:,} a request, {n_of(w, 'worker')}) the sharded counter made "
                + (f"{join(vs_mutex)} the mutex's increments per second" if vs_mutex else "")
                + ("; " if vs_mutex and vs_atomic else "")
                + (f"{join(vs_atomic)} the shared atomic's" if vs_atomic else "") + ".")
        if level == "high":
            alone = [m for m, sh, mu, _ in pairs if sh and mu and sh.parallelism == 1]
            racing = [(m, _ratio(sh, mu)) for m, sh, mu, _ in pairs if sh and mu and parallel(sh) and _ratio(sh, mu)]
            if alone and racing:
                base = _ratio(one(at, mode=alone[0], variant="sharded"), one(at, mode=alone[0], variant="mutex"))
                text += (f" In {alone[0]}, with one thread, the lock is never contended and the ratio ({base:.2f}×) "
                         "is its lock and unlock alone; where two threads take it at once it is "
                         + join([f"{r:.2f}× in {m}" for m, r in racing])
                         + (": what contention adds is the difference." if all(r > base * CLEAR for _, r in racing)
                            else f", but not clearly more than {poss(alone[0])} everywhere: contention did not "
                                 "clearly add to the lock's cost here."))
        else:
            ratios = [r for r in (_ratio(sh, mu) for _, sh, mu, _ in pairs) if r]
            text += (" With one increment a request the counter is a sliver of each request's work, so the strategy "
                     "hardly shows." if all(1 / CLEAR <= r <= CLEAR for r in ratios) else
                     " Even with one increment a request the strategy still shows here.")
        out.append(text)
    return out


def worker_sentences(cells: list[Measured]) -> list[str]:
    """The mutex and the sharded counter from the fewest workers to the most, at high contention."""
    counters = [c for c in counter_cells(cells) if c.params["contention"] == "high"]
    counts = sorted({c.workers for c in counters})
    if len(counts) < 2:
        return []
    lo, hi = counts[0], counts[-1]
    parts = []
    for s in ("mutex", "sharded"):
        moves = []
        for m in modes_of(counters):
            a, b = one(counters, mode=m, variant=s, workers=lo), one(counters, mode=m, variant=s, workers=hi)
            if a and b:
                moves.append(f"{m} {compact(increments_per_s(a))} → {compact(increments_per_s(b))}")
        if moves:
            parts.append(f"{s}: {join(moves)}")
    if not parts:
        return []
    text = f"Increments per second from {n_of(lo, 'worker')} to {hi}, at high contention: " + "; ".join(parts) + "."
    # Where the second thread ran in parallel: did it add to the sharded counter and take from the mutex?
    grew = []
    for m in modes_of(counters):
        pair = [(one(counters, mode=m, variant=s, workers=lo), one(counters, mode=m, variant=s, workers=hi))
                for s in ("mutex", "sharded")]
        if all(a and b for a, b in pair) and parallel(pair[1][1]):
            (mu0, mu1), (sh0, sh1) = pair
            if sh1.rps > sh0.rps and mu1.rps < mu0.rps:
                grew.append(m)
    if grew:
        text += (f" In {join(grew)} the second thread added to the sharded counter's increments and took from the "
                 "mutex's: each thread has a slot of its own, while the one lock is passed between them.")
    return [text]


def transfer_sentences(cells: list[Measured]) -> list[str]:
    """Deadlocks per second for naive against ordered, the transfers made, and the accounts' total."""
    transfers = transfer_cells(cells)
    if not transfers:
        return []
    out = []
    w = widest_of(transfers)
    at = [c for c in transfers if c.workers == w]
    naive = [c for c in at if c.variant == "naive"]
    ordered = [c for c in at if c.variant == "ordered"]
    if naive:
        stuck = [c for c in naive if c.shared_state["deadlocks"]]
        free = [c for c in naive if not c.shared_state["deadlocks"]]
        timeout = naive[0].params["timeout_ms"]
        rates = join([f"{c.mode} {c.shared_state['deadlocks_per_s']:,.1f}" for c in stuck])
        text = (f"With {n_of(w, 'worker')}, naive detected {rates} deadlocks per second" if stuck else
                f"With {n_of(w, 'worker')}, naive detected no deadlock")
        if stuck:
            text += (f" (each one held a thread {timeout} ms before it backed out, moving nothing) and made "
                     + join([f"{c.mode} {fmt_rps(c.rps)}" for c in stuck]) + " transfers per second")
            pairs = [(c, one(ordered, mode=c.mode)) for c in stuck]
            vs = [f"{c.mode} {fmt_rps(o.rps)}" for c, o in pairs if o]
            if vs:
                text += f", against ordered's {join(vs)}"
        if free:
            text += (f"; {join([c.mode for c in free])} none"
                     + (", one thread running each transfer from start to end" if all(serial(c) for c in free)
                        else ""))
        out.append(text + ".")
    if ordered:
        dl = [c.mode for c in ordered if c.shared_state["deadlocks"]]
        out.append("ordered (both locks in account order) detected no deadlock in any model." if not dl else
                   f"ordered runs counted deadlocks in {join(dl)}, which locking in one order cannot cause: they came "
                   "from elsewhere (a naive transfer still waiting when the counts were reset?).")
    changed = [c for c in transfers if not c.shared_state["total_kept"]]
    expected = transfers[0].shared_state["expected_total"]
    seen = [f"{c.mode} {c.variant} ({', '.join(f'{t:,}' for t in c.shared_state['totals'])})" for c in changed]
    out.append(f"The accounts' total stayed {expected:,} after every run." if not changed else
               f"The accounts' total changed in {join(seen)}, not {expected:,}: money was lost or made.")
    return out


def scale_sentences(cells: list[Measured]) -> list[str]:
    """This run's largest loss and sharded ÷ atomic ratio beside the public figures, for scale."""
    counters = [c for c in counter_cells(cells) if c.params["contention"] == "high"]
    split = [c for c in counters if c.variant == "split" and c.shared_state["lost_share"] is not None]
    ratios = [(c.mode, c.workers, _ratio(c, one(counters, mode=c.mode, variant="atomic", workers=c.workers)))
              for c in counters if c.variant == "sharded"]
    ratios = [r for r in ratios if r[2]]
    if not split and not ratios:
        return []
    here = []
    worst = max(split, key=lambda c: c.shared_state["lost_share"]) if split else None
    if worst:
        here.append(f"split lost at most {fmt_pct(worst.shared_state['lost_share'])} ({worst.mode}, "
                    f"{n_of(worst.workers, 'worker')})")
    best = max(ratios, key=lambda x: x[2]) if ratios else None
    if best:
        here.append(f"the sharded counter made at most {best[2]:.2f}× the atomic's increments ({best[0]}, "
                    f"{n_of(best[1], 'worker')})")
    text = (f"For scale: perfbook's counting chapter has a non-atomic counter lose {fmt_pct(PERFBOOK_LOST, 0)} of its "
            f"increments, and Folly's sharded counter is about {FOLLY_RATIO:g}× faster than one shared atomic at "
            f"{FOLLY_THREADS} threads. Here, on {n_of(max(cpus_of(c) for c in counters), 'CPU')}, {join(here)}"
            + ("" if best else " (this run has no atomic cell to set beside the sharded counter; the full profile "
                               "has)"))
    smaller = ((worst is None or worst.shared_state["lost_share"] < PERFBOOK_LOST)
               and (best is None or best[2] < FOLLY_RATIO))
    most = max((at_once(c) or 1) for c in counters)
    if smaller:
        text += (f": much smaller figures than theirs. Contention grows with the threads that fight over one cache "
                 f"line at once; here at most {most} ran at once, against their {FOLLY_THREADS}, and each request "
                 "also paid for its HTTP.")
    else:
        text += ": as large as theirs, or larger."
    return [text]


def unsettled_sentences(cells: list[Measured]) -> list[str]:
    """Runs whose figures were read before every connection had closed."""
    late = [c for c in cells if c.shared_state and c.shared_state.get("unsettled")]
    if not late:
        return []
    return ["Some runs' figures were read while connections were still open (the settle's wait ran out): "
            + join([f"{c.mode} {c.variant} ({c.shared_state['unsettled']})" for c in late])
            + "; their last requests' increments or transfers may be missing."]
