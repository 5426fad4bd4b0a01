"""The shared-state scenario's figures, tables, sentences, charts and rows of expected results, from its cells.

The scenario module (``cvplab/scenarios/shared_state.py``) plans the runs, resets and reads the server
around each one, folds the readings into a cell's ``shared_state`` (:func:`summarize_state`, here) and lays
out the section; everything it says is computed here.
"""

from __future__ import annotations

from pathlib import Path

from .cells import Measured
from .charts import color, pyplot, save
from .checks import Check
from .fmt import fmt_pct, fmt_rps, join, n_of, poss
from .query import cpus_of, modes_of, one, parallel_cap
from .stats import spread

NAME = "shared-state"
#: The counter's strategies and the transfers' lock orders, in report order.
STRATEGIES = ("split", "mutex", "atomic", "sharded", "await")
ORDERS = ("naive", "ordered")
#: The strategies that cannot lose an update, whatever runs at once.
EXACT = ("mutex", "atomic", "sharded")
#: The two accounts the transfers move money between, each way in turn.
ACCOUNT_A, ACCOUNT_B = 0, 1
#: Public figures for scale: perfbook's counting chapter (a non-atomic counter's lost share) and Folly's
#: sharded counter against one shared atomic, at FOLLY_THREADS threads.
PERFBOOK_LOST, FOLLY_RATIO, FOLLY_THREADS = 0.87, 15.0, 20
#: Two throughputs whose ratio is within this factor of each other are not told apart in a sentence.
CLEAR = 1.25


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


# -- charts ---------------------------------------------------------------------------------

def compact(x: float | None) -> str:
    """``2.2G``, ``23M``, ``7.5k``, ``25``: a bar's label over a range of nine orders of magnitude."""
    if x is None:
        return "-"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            v = x / scale
            return f"{v:.2g}{unit}" if v < 10 else f"{v:.0f}{unit}"
    return f"{x:.2g}" if x < 10 else f"{x:.0f}"


def log_axis(ax) -> None:
    """A log y axis labelled at its decades only, compactly (1k, 1M, 1G)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: compact(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.margins(y=0.3)


def _grouped_bars(ax, cells: list[Measured], keys: list[str], key_of, value_of, label_of=None) -> None:
    """Bars grouped by ``keys`` (strategies or orders), one per model in each group, annotated."""
    modes = modes_of(cells)
    width = 0.8 / max(1, len(modes))
    for j, mode in enumerate(modes):
        xs, ys, texts = [], [], []
        for i, k in enumerate(keys):
            c = next((c for c in cells if c.mode == mode and key_of(c) == k), None)
            if c is None or value_of(c) is None:
                continue
            xs.append(i + (j - (len(modes) - 1) / 2) * width)
            ys.append(value_of(c))
            texts.append(label_of(c) if label_of else None)
        ax.bar(xs, ys, width, color=color(mode), label=mode)
        for x, y, t in zip(xs, ys, texts):
            if t:
                ax.annotate(t, (x, y), ha="center", va="bottom", fontsize=6, rotation=90, xytext=(0, 2),
                            textcoords="offset points")
    ax.set_xticks(range(len(keys)), keys)


def chart_lost(cells: list[Measured], path: Path) -> None:
    """Lost updates as a share of the increments asked, per strategy and model; a panel per worker count."""
    plt = pyplot()
    counts = sorted({c.workers for c in cells})
    fig, axes = plt.subplots(1, len(counts), figsize=(6 * len(counts) + 1, 4.2), squeeze=False)
    for ax, w in zip(axes[0], counts):
        mine = [c for c in cells if c.workers == w]
        keys = [s for s in STRATEGIES if any(c.variant == s for c in mine)]
        _grouped_bars(ax, mine, keys, lambda c: c.variant, lambda c: 100 * (c.shared_state["lost_share"] or 0),
                      lambda c: fmt_pct(c.shared_state["lost_share"]) if c.shared_state["lost"] else "0")
        ax.set_ylim(0, 115)
        ax.set_ylabel("lost updates: % of the increments asked")
        ax.set_title(f"{n_of(w, 'worker')}, high contention, {mine[0].connections} connections", fontsize=10)
        ax.legend(fontsize=7, loc="upper center")
    fig.suptitle("shared-state: increments lost per strategy and model (await in single: one thread, yet lost)",
                 fontsize=11)
    save(fig, path)


def chart_throughput(cells: list[Measured], path: Path) -> None:
    """Increments per second per strategy and model (log scale), a panel per contention at the most workers."""
    plt = pyplot()
    w = widest_of(cells)
    mine = [c for c in cells if c.workers == w]
    levels = [lv for lv in ("high", "low") if any(c.params["contention"] == lv for c in mine)]
    fig, axes = plt.subplots(1, len(levels), figsize=(6 * len(levels) + 1, 4.2), squeeze=False)
    for ax, level in zip(axes[0], levels):
        at = [c for c in mine if c.params["contention"] == level]
        keys = [s for s in STRATEGIES if any(c.variant == s for c in at)]
        _grouped_bars(ax, at, keys, lambda c: c.variant, increments_per_s, lambda c: compact(increments_per_s(c)))
        log_axis(ax)
        ns = sorted({c.params["n"] for c in at if c.variant != "await"})
        ax.set_ylabel("increments per second (requests/s × n)")
        ax.set_title(f"{level} contention: n = {join([f'{n:,}' for n in ns])} a request"
                     + ("; await bound by its timers" if "await" in keys else ""), fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"shared-state: the counter's throughput, {n_of(w, 'worker')} (median over repeats)", fontsize=11)
    save(fig, path)


def chart_transfers(cells: list[Measured], path: Path) -> None:
    """Transfers and deadlocks detected per second, naive against ordered, at the most workers."""
    plt = pyplot()
    w = widest_of(cells)
    mine = [c for c in cells if c.workers == w]
    keys = [o for o in ORDERS if any(c.variant == o for c in mine)]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    _grouped_bars(ax, mine, keys, lambda c: c.variant, lambda c: c.rps, lambda c: compact(c.rps))
    log_axis(ax)
    ax.set_ylabel("transfers per second (200 answers)")
    ax.set_title("transfers made", fontsize=10)
    _grouped_bars(ax2, mine, keys, lambda c: c.variant, lambda c: c.shared_state["deadlocks_per_s"],
                  lambda c: f"{c.shared_state['deadlocks_per_s']:,.1f}")
    ax2.margins(y=0.2)
    ax2.set_ylabel("deadlocks detected per second (409)")
    ax2.set_title("deadlocks detected", fontsize=10)
    ax2.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"shared-state: opposite transfers between accounts {ACCOUNT_A} and {ACCOUNT_B}, "
                 f"{n_of(w, 'worker')}", fontsize=11)
    save(fig, path)


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


# -- checks ---------------------------------------------------------------------------------

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

