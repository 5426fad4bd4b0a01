"""shared-state: one process-wide counter and two locked accounts, shared by every thread of the server.

Two kinds of cells (docs/API.md, "Shared state"), each interleaved across models, at each worker count:

- **counter** cells: ``GET /state/counter?strategy=S&n=K`` over a fixed number of connections
  (``overhead.lua``), one strategy a cell.  At *high contention* every request adds K = ``high_n`` to
  the one counter, so the counter's own work is most of each request and two threads are at it
  at once wherever the model runs two requests at once.  At *low contention* (full profile) K = 1:
  a request is then almost all HTTP and two threads seldom touch the counter in the same
  nanoseconds.  ``await`` has its own n and ms (each increment waits ``ms`` on a timer), at both.
- **transfer** cells: opposite transfers between accounts 0 and 1 (``transfer.lua``: from 0 to 1, then
  from 1 to 0, round and round), ``naive`` (``from`` first, then ``to`` with a timeout: a deadlock is
  detected and answered 409) and ``ordered`` (both in account order: never a deadlock).

Before each run the lab POSTs ``/state/reset`` (:meth:`SharedState.before_run`); after it, once the
run's last sessions have closed (a request's increments count when it completes), it reads
``/state/counter/value`` or ``/state/accounts`` (:meth:`SharedState.after_run`).  From those:
lost updates as a share of the increments asked, deadlocks detected per second, and whether the
accounts' total stayed what it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..cells import Measured
from ..checks import Check
from ..fmt import fmt_pct, n_of
from ..plan import Cell, Group, Load, Settings, models_of, overlap_note, spec, widest, wrk_threads
from ..query import select
from ..render import Block, h, img, p, table
from ..servers import Server, get_json, post_json
from ..shared_state_charts import chart_lost, chart_throughput, chart_transfers
from ..shared_state_checks import check_await, check_exact, check_naive, check_ordered, check_split, check_total
from ..shared_state_figures import (ACCOUNT_A, ACCOUNT_B, NAME, ORDERS, STRATEGIES, counter_cells, lost_text,
                                    summarize_state, transfer_cells)
from ..shared_state_text import COUNTER_HEADER, TRANSFER_HEADER, counter_rows, intro, sentences, transfer_rows
from ..timeline import TIMELINE_FLAGS
from ..wrk import Stream
from ..verdict import LOWER, Row, at_most, figures_of
from .base import ReportContext, Scenario

#: wrk --timeout: a naive transfer may wait timeout_ms, an await request n × ms.
WRK_TIMEOUT_S = 10


@dataclass(frozen=True)
class Params:
    workers: tuple[int, ...] | None  # the worker counts (at most the CPUs); None: every CPU, as split's servers
    connections: int  # every cell's
    strategies: tuple[str, ...]  # at high contention
    high_n: int  # increments per request at high contention (await has its own)
    low_strategies: tuple[str, ...]  # at low contention, n = 1; () leaves the point out
    await_n: int  # await's increments per request at high contention, each behind a timer of await_ms
    await_ms: int
    orders: tuple[str, ...]  # the transfers' lock orders
    hold_us: int  # a transfer's CPU spin while it holds its first lock
    timeout_ms: int  # naive's wait for its second lock
    duration_s: int
    repeats: int | None  # repeats of every cell; None: the profile's


class SharedState(Scenario):
    name = NAME
    profiles = {
        # quick: 2 workers, 1-s runs, once: split, mutex, sharded and await at high contention and the two orders,
        # 30 runs with five models (33 s, all the 12 minutes had left; the atomic would add 5.5 s and the
        # low-contention point 11 s: full has both).  Lost updates and deadlocks are counts the server keeps:
        # one repeat says whether there are any.
        "quick": Params(workers=(2,), connections=8, strategies=("split", "mutex", "sharded", "await"),
                        high_n=100_000, low_strategies=(), await_n=10, await_ms=1, orders=ORDERS, hold_us=100,
                        timeout_ms=50, duration_s=1, repeats=1),
        # full: 1 and 2 workers, every strategy at both contentions, 5-s runs three times (about half an hour)
        "full": Params(workers=(1, 2), connections=8, strategies=STRATEGIES, high_n=100_000,
                       low_strategies=STRATEGIES, await_n=10, await_ms=1, orders=ORDERS, hold_us=100,
                       timeout_ms=50, duration_s=5, repeats=3),
        # smoke: each kind of request once (a CPU strategy, await, both orders), on every CPU, as split's servers
        "smoke": Params(workers=None, connections=4, strategies=("split", "await"), high_n=10_000, low_strategies=(),
                        await_n=2, await_ms=1, orders=ORDERS, hold_us=100, timeout_ms=50, duration_s=1,
                        repeats=None),
    }

    def plan(self, s: Settings, params: Params, skipped: list[dict]) -> list[Group]:
        """At each worker count: a point per strategy at high contention, then at low, then per lock order.

        The server gets a CPU per worker, as in cpu; wrk keeps the client CPUs.
        """
        usable = len(s.placement.all)
        if s.target is not None:
            counts = (s.target.workers,)
        elif params.workers is None:
            counts = (usable,)
        else:
            counts = tuple(w for w in params.workers if w <= usable) or (1,)
        c = params.connections
        threads = wrk_threads(s, c)
        loads = ([counter_load(st, "high", params, c, threads) for st in params.strategies]
                 + [counter_load(st, "low", params, c, threads) for st in params.low_strategies]
                 + [transfer_load(o, params, c, threads) for o in params.orders])
        groups = []
        for w in counts:
            cpus = s.placement.server_cpus_for(w)
            # At both CPUs its servers are split's, which record their timeline (--timeline): no start, no warm-up.
            specs = [spec(s, m, w, cpus, TIMELINE_FLAGS if w == widest(s) else ()) for m in models_of(s)]
            points = tuple(tuple(Cell(NAME, sp, (load,), params.duration_s, w, figures,
                                      notes=overlap_note(s, cpus), repeats=params.repeats) for sp in specs)
                           for load, figures in loads)
            groups.append(Group(NAME, tuple(specs), points))
        return groups

    def point_title(self, cell: Cell) -> str:
        contention = cell.params.get("contention")
        return f"w={cell.workers}" + (f" {contention}" if contention else "")

    def point_id(self, cell: Cell, load: Load) -> str:
        contention = cell.params.get("contention")
        return f"w{cell.workers}" + (f"-{contention}" if contention else "")

    def summary_point(self, c: Measured) -> str:
        contention = c.params.get("contention")
        return f"w={c.workers}" + (f" {contention}" if contention else "")

    # -- around each run -----------------------------------------------------------------

    def before_run(self, cell: Cell, server: Server) -> None:
        """Every counter and its increments to zero, the accounts restored, the counts zeroed."""
        post_json(server.base_url, "/state/reset")

    def after_run(self, cell: Cell, server: Server) -> dict:
        """The counters (``counter``: /state/counter/value's strategies) or the accounts (``accounts``), read once
        the run's sessions have closed; ``unsettled``: connections still open after the settle's wait."""
        # A request's increments count when it completes: wait for the last ones (bounded), on a server the lab
        # started (a remote target may have other clients, as the runner's own settle knows).
        unsettled = server.settle() if server.has_stats and server.proc is not None else 0
        if cell.params["kind"] == "counter":
            return {"counter": get_json(server.base_url, "/state/counter/value")["strategies"],
                    "unsettled": unsettled}
        body = get_json(server.base_url, "/state/accounts")
        return {"accounts": {k: body[k] for k in ("accounts", "total", "expected_total", "transfers",
                                                  "deadlocks_detected")},
                "unsettled": unsettled}

    # -- results -------------------------------------------------------------------------

    def summarize(self, cell: Cell, load: Load, runs: list) -> dict:
        return {"shared_state": summarize_state(cell.params, runs)}

    def summary_flags(self, c: Measured) -> list[str]:
        st = c.shared_state or {}
        if st.get("lost"):
            return [f"lost {fmt_pct(st['lost_share'])}"]
        if st.get("deadlocks"):
            return [f"deadlocks {st['deadlocks_per_s']:,.1f}/s"]
        return []

    def problem_errors(self, c: Measured) -> dict:
        # A naive transfer that detects a deadlock answers 409 by design: those are this scenario's figures.
        e = dict(c.errors or {})
        if c.variant == "naive" and e:
            e["total"] -= e.get("status", 0)
            e["status"] = 0
        return e

    # -- the report ----------------------------------------------------------------------

    def checks(self, cells: list[Measured]) -> list[Check]:
        mine = select(cells, scenario=NAME)
        return [check_split(mine), check_exact(mine), check_await(mine), check_ordered(mine),
                check_naive(mine), check_total(mine)]

    def verdict(self, cells: list[Measured]) -> list[Row]:
        """Shared state: the share of increments lost without a lock (split), and across a wait (await), at high
        contention and the most workers."""
        high = [c for c in counter_cells(select(cells, scenario=NAME)) if c.params["contention"] == "high"]
        rows = []
        for strategy, what in (("split", "a relaxed load, then a separate store"),
                               ("await", "read, a timer wait on the loop, then written")):
            top = at_most([c for c in high if c.variant == strategy], "workers")
            if top:
                rows.append(Row("shared state", f"one counter, `{strategy}` ({what}), over {top[0].connections} "
                                f"connections, {n_of(top[0].workers, 'worker')}", "lost updates, share of the "
                                "increments asked", LOWER,
                                figures_of(top, lambda c: c.shared_state["lost_share"], lost_text)))
        return rows

    def section(self, ctx: ReportContext) -> list[Block]:
        mine = select(ctx.cells, scenario=NAME)
        if not mine:
            return []
        blocks = [h(2, "shared-state: one counter and two accounts, shared by every thread"), p(intro(mine))]
        lost = [c for c in counter_cells(mine) if c.params["contention"] == "high"]
        if lost:
            chart_lost(lost, ctx.out_dir / "shared-state-lost.png")
            blocks.append(img("shared-state-lost.png", "shared-state: lost updates per strategy and model"))
        if counter_cells(mine):
            chart_throughput(counter_cells(mine), ctx.out_dir / "shared-state-throughput.png")
            blocks += [img("shared-state-throughput.png",
                           "shared-state: increments per second per strategy and model"),
                       table(COUNTER_HEADER, counter_rows(mine))]
        if transfer_cells(mine):
            chart_transfers(transfer_cells(mine), ctx.out_dir / "shared-state-transfers.png")
            blocks += [img("shared-state-transfers.png", "shared-state: transfers and deadlocks per second"),
                       table(TRANSFER_HEADER, transfer_rows(mine))]
        return blocks + [p(t) for t in sentences(mine)]


SCENARIO = SharedState()


# -- the plan -------------------------------------------------------------------------------

def counter_load(strategy: str, contention: str, params: Params, connections: int, threads: int) -> tuple[Load, dict]:
    """One strategy's stream at one contention, and its cell's figures."""
    if strategy == "await":
        n = params.await_n if contention == "high" else 1
        path = f"/state/counter?strategy=await&n={n}&ms={params.await_ms}"
    else:
        n = params.high_n if contention == "high" else 1
        path = f"/state/counter?strategy={strategy}&n={n}"
    stream = Stream("main", "overhead.lua", (f"path={path}",), connections, threads, WRK_TIMEOUT_S)
    figures = {"kind": "counter", "strategy": strategy, "contention": contention, "n": n,
               **({"ms": params.await_ms} if strategy == "await" else {})}
    return Load(stream, strategy, path), figures


def transfer_load(order: str, params: Params, connections: int, threads: int) -> tuple[Load, dict]:
    """Opposite transfers under one lock order, and its cell's figures."""
    timeout = (f"timeout_ms={params.timeout_ms}",) if order == "naive" else ()
    stream = Stream("main", "transfer.lua", (f"order={order}", f"a={ACCOUNT_A}", f"b={ACCOUNT_B}",
                                              f"hold_us={params.hold_us}", *timeout), connections, threads,
                    WRK_TIMEOUT_S)
    tail = f"&hold_us={params.hold_us}" + (f"&timeout_ms={params.timeout_ms}" if order == "naive" else "")
    path = (f"/state/transfer?order={order}&from={ACCOUNT_A}&to={ACCOUNT_B}{tail} and from={ACCOUNT_B}&to="
            f"{ACCOUNT_A}, in turn")
    figures = {"kind": "transfer", "order": order, "accounts": [ACCOUNT_A, ACCOUNT_B],
               "hold_us": params.hold_us, **({"timeout_ms": params.timeout_ms} if order == "naive" else {})}
    return Load(stream, order, path), figures
