"""db: PostgreSQL queries through each model's pools, beside Node with node-postgres and pgbench.

One cluster from ``scripts/postgres`` serves the whole scenario (``ServerSpec.database``: the
runner starts it before the first server that queries it, pinned to its CPUs, and reads its CPU
around every run).  Three points, each interleaved across its cells:

- ``query``: ``/db/query`` (one random ``world`` row, libpq's asynchronous API) on every model,
  the Node peer's ``/db/query`` over a ``pg.Pool``, and pgbench running the same prepared SELECT
  over as many connections as the pools may open: the database's own limit;
- ``queries``: ``/db/queries?n=N`` (N rows in one pipeline), Node's (N queries on its pool), and
  pgbench sending the same N in one pipeline per transaction;
- ``blocking``: ``/db/query-blocking`` (synchronous ``PQexecPrepared``, run where each model runs
  blocking work) on every model, against its ``/db/query``.

After each run the front's ``/stats`` ``database`` pools say how many connections each model
opened, how many calls queued for one and how many failed (:func:`cvplab.stats.downstream_delta`);
the database's CPU over the run, divided by the requests, is its CPU per request.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..cells import Measured
from ..charts import color, pyplot, save
from ..checks import Check, noise
from ..cpus import format_cpu_list, parse_cpu_list
from ..database import DatabaseSpec, PgbenchStream
from ..fmt import fmt_rps, fmt_us, join, poss
from ..plan import Cell, Group, Load, Settings, models_of, overlap_note, spec, wrk_threads
from ..query import is_model, modes_of, one
from ..render import Block, h, img, p, table
from ..servers import ServerSpec
from ..stats import summarize_downstream
from ..wrk import Stream
from ..verdict import HIGHER, Row, rps_figures
from .base import ReportContext, Scenario

#: The issue's targets: cvp's best model against Node with pg and against pgbench on /db/query, and
#: against Node on /db/queries?n=QUERIES_TARGET_N.
NODE_TARGET, PGBENCH_TARGET, QUERIES_NODE_TARGET, QUERIES_TARGET_N = 1.5, 0.5, 2.0, 20
#: The variants, in report order: what each point asks.
VARIANTS = ("query", "queries", "blocking")


@dataclass(frozen=True)
class Params:
    connections: int  # wrk's connections to each front server
    db_connections: int  # --db-connections: each pool's cap (the Node pool and pgbench get the most the pools may open)
    queries: int  # N of /db/queries?n=N and of pgbench's pipeline
    duration_s: int


class Db(Scenario):
    name = "db"
    profiles = {
        # quick: 1-s runs (2 s before the latency scenario): thousands of requests at 64 connections, the ratios of
        # medians the expectations compare
        "quick": Params(connections=64, db_connections=16, queries=20, duration_s=1),
        "full": Params(connections=256, db_connections=16, queries=20, duration_s=10),
        "smoke": Params(connections=8, db_connections=4, queries=5, duration_s=1),
    }

    def connections_wanted(self, params: Params, placement) -> int:
        return params.connections + params.db_connections * len(placement.all) * 2

    def point_id(self, cell: Cell, load: Load) -> str:
        return f"c{load.stream.connections}"

    def plan(self, s: Settings, params: Params, skipped: list[dict]) -> list[Group]:
        if s.target is not None:
            skipped.append({"scenario": self.name, "what": "the scenario",
                            "reason": "the lab starts the database and the servers that query it (--db); a remote "
                                      "target cannot be started with one"})
            return []
        if s.database_left_out:
            skipped.append({"scenario": self.name, "what": "the scenario", "reason": s.database_left_out})
            return []
        front_cpus, db_cpus = cpus_for(s)
        workers = len(front_cpus)
        database = DatabaseSpec(db_cpus)
        # The most connections the pools of any model may open: one pool per loop, each capped.
        total = params.db_connections * workers
        pool_flags = ("--db-connections", str(params.db_connections))
        fronts = [replace(spec(s, m, workers, front_cpus, pool_flags), database=database) for m in models_of(s)]
        node = None
        if s.node and s.node_db:
            node = ServerSpec("node", (), front_cpus, workers, database=database, env=(("PG_POOL_SIZE", str(total)),))
        elif s.node:
            skipped.append({"scenario": self.name, "what": "node",
                            "reason": s.node_db_left_out or "node-postgres is not installed"})
        # pgbench stands where the front servers stand: the database's client, without HTTP.
        bench = ServerSpec("pgbench", (), front_cpus, total, database=database)
        n = params.queries
        figures = {"db_connections": params.db_connections, "pool_total": total, "queries_n": n,
                   "database_cpus": format_cpu_list(db_cpus), "front_cpus": format_cpu_list(front_cpus),
                   "database_shares": format_cpu_list(tuple(sorted(set(db_cpus) & set(s.placement.client))))
                   or None}
        notes = overlap_note(s, front_cpus) + database_note(s, db_cpus)
        c = params.connections
        threads = wrk_threads(s, c)

        def http(sp: ServerSpec, variant: str, path: str, queries: int) -> Cell:
            stream = Stream("main", "overhead.lua", (f"path={path}",), c, threads, 10)
            return Cell(self.name, sp, (Load(stream, variant, path),), params.duration_s, workers,
                        dict(figures, queries=queries), notes=notes)

        def pgbench(variant: str, queries: int) -> Cell:
            stream = PgbenchStream("main", total, len(front_cpus), queries)
            what = "one prepared SELECT" if queries == 1 else f"{queries} prepared SELECTs in one pipeline"
            return Cell(self.name, bench, (Load(stream, variant, f"pgbench: {what}"),), params.duration_s, total,
                        dict(figures, queries=queries), read_stats=False, notes=notes)

        peers = [node] if node else []
        points = (
            tuple(http(sp, "query", "/db/query", 1) for sp in fronts + peers) + (pgbench("query", 1),),
            tuple(http(sp, "queries", f"/db/queries?n={n}", n) for sp in fronts + peers) + (pgbench("queries", n),),
            tuple(http(sp, "blocking", "/db/query-blocking", 1) for sp in fronts),
        )
        return [Group(self.name, tuple(fronts + peers + [bench]), points)]

    def summarize(self, cell: Cell, load: Load, runs: list) -> dict:
        return {"downstream": summarize_downstream(runs)}

    def summary_flags(self, c: Measured) -> list[str]:
        d, used = c.downstream or {}, pools_used(c)
        flags = [f"db-conns {sum(used.values()):,}"] if used else []
        if d.get("faults_total"):
            flags.append(f"db-faults {d['faults_total']:,}")
        return flags

    def checks(self, cells: list[Measured]) -> list[Check]:
        mine = select_cells(cells)
        return [check_against(mine, "query", "node", NODE_TARGET, "Node with pg"),
                check_against(mine, "query", "pgbench", PGBENCH_TARGET, "pgbench at the same connections"),
                check_against(mine, "queries", "node", QUERIES_NODE_TARGET, "Node with pg")]

    def verdict(self, cells: list[Measured]) -> list[Row]:
        """Database: requests per second through the asynchronous driver, and through the blocking one."""
        rows = []
        for variant, how in (("query", "asynchronous libpq"), ("blocking", "synchronous libpq, run where the model "
                                                                           "runs blocking work")):
            mine = [c for c in select_cells(cells) if c.variant == variant]
            if mine:
                rows.append(Row("database", f"`{mine[0].path}` over {mine[0].connections} connections ({how}), pools "
                                f"of {mine[0].params['db_connections']}", "req/s", HIGHER, rps_figures(mine)))
        return rows

    def section(self, ctx: ReportContext) -> list[Block]:
        cells = select_cells(ctx.cells)
        if not cells:
            return []
        prm = cells[0].params
        blocks = [h(2, "db: PostgreSQL through each model's pools"),
                  p(f"One PostgreSQL cluster (`scripts/postgres`, on CPU {prm['database_cpus']}) holds the `world` "
                    "table of 10,000 rows. `/db/query` reads one random row with libpq's asynchronous API on the "
                    f"serving executor; `/db/queries?n={prm['queries_n']}` reads {prm['queries_n']} in one pipeline "
                    "(one round trip); `/db/query-blocking` is the same query through synchronous `PQexecPrepared`, "
                    "run where the model runs blocking work. Every model's pools may each open "
                    f"`--db-connections {prm['db_connections']}`; the Node peer's `pg.Pool` and pgbench get "
                    f"{prm['pool_total']}, the most those pools may open together. pgbench sends the same prepared "
                    "statement straight to the database, with no HTTP in between: the database's own limit on "
                    "these CPUs. The database's CPU is read around every run (the postmaster and its backends).")]
        chart(cells, ctx.out_dir / "db.png")
        blocks += [img("db.png", "db: requests per second per server, and the blocking driver against the "
                                 "asynchronous one"),
                   table(TABLE_HEADER, table_rows(cells)), *map(p, sentences(cells))]
        return blocks


SCENARIO = Db()


def cpus_for(s: Settings) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(the front servers' CPUs, the database's).

    The fronts run on the server CPUs and wrk on the client CPUs, as overhead's; pgbench
    runs where the fronts do. With two server CPUs or more the database gets the last of them
    to itself. With one (two CPUs in all) it goes to the client CPUs, beside wrk, never beside
    the front: on the front's CPU a loop blocked on a query would hand its CPU to the
    database, so a blocking driver would cost nothing there, which is true of no deployment
    whose database runs elsewhere.
    """
    server = s.placement.server
    if len(server) >= 2:
        return server[:-1], server[-1:]
    return server, s.placement.client


def database_note(s: Settings, db_cpus: tuple[int, ...]) -> tuple[str, ...]:
    """The cell note saying that the database shares its CPU with wrk, where it does."""
    shared = sorted(set(db_cpus) & set(s.placement.client))
    if not shared:
        return ()
    return (f"PostgreSQL shares CPU {format_cpu_list(tuple(shared))} with wrk: no CPU is spare; "
            "its CPU use and wrk's are measured",)


def select_cells(cells: list[Measured]) -> list[Measured]:
    """The scenario's measured cells."""
    return [c for c in cells if c.scenario == "db" and c.rps is not None]


def db_us_per_query(c: Measured) -> float | None:
    """The database's CPU per query: its CPU per request over the queries each request made."""
    per_request = (c.downstream or {}).get("server_cpu_us_per_request")
    return None if per_request is None else per_request / (c.params.get("queries") or 1)


def pools_used(c: Measured) -> dict[str, int]:
    """The pools a cell's requests used, with the connections each held after the last repeat: the
    ``blocking`` pool for /db/query-blocking, the others (per loop, or shared) for the asynchronous path."""
    per_pool = (c.downstream or {}).get("open_per_pool") or {}
    return {name: n for name, n in per_pool.items() if (name == "blocking") == (c.variant == "blocking")}


def best(cells: list[Measured], variant: str) -> Measured | None:
    """cvp's model with the most requests per second on ``variant``."""
    mine = [c for c in cells if c.variant == variant and is_model(c.mode)]
    return max(mine, key=lambda c: c.rps, default=None)


def chart(cells: list[Measured], path: Path) -> None:
    plt = pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    for i, variant in enumerate(("query", "queries")):
        mine = [c for c in cells if c.variant == variant]
        modes = modes_of(mine)
        width = 0.8 / max(1, len(modes))
        for j, mode in enumerate(modes):
            c = one(mine, mode=mode)
            x = i + (j - (len(modes) - 1) / 2) * width
            ax.bar(x, c.rps, width, color=color(mode), label=mode if i == 0 else None)
            ax.annotate(fmt_rps(c.rps), (x, c.rps), ha="center", va="bottom", fontsize=6, rotation=90,
                        xytext=(0, 2), textcoords="offset points")
    n = cells[0].params["queries_n"]
    ax.set_xticks(range(2), ["/db/query", f"/db/queries?n={n}"])
    ax.set_ylabel("requests (pgbench: transactions) per second")
    ax.set_title("each server, and pgbench straight to the database", fontsize=10)
    ax.legend(fontsize=8)
    models = [m for m in modes_of(cells) if is_model(m)]
    xs = range(len(models))
    for k, (variant, hatch) in enumerate((("query", None), ("blocking", "//"))):
        found = [one(cells, mode=m, variant=variant) for m in models]
        ys = [c.rps if c else 0 for c in found]
        ax2.bar([x + (k - 0.5) * 0.4 for x in xs], ys, 0.4, color=[color(m) for m in models], hatch=hatch,
                edgecolor="black", linewidth=0.5, label="/db/query (asynchronous)" if k == 0 else
                "/db/query-blocking (PQexecPrepared)")
    ax2.set_xticks(list(xs), models)
    ax2.set_ylabel("requests per second")
    ax2.set_title("the blocking driver against the asynchronous one", fontsize=10)
    ax2.legend(fontsize=8)
    fig.suptitle("db: PostgreSQL through each model's pools", fontsize=11)
    save(fig, path)


TABLE_HEADER = ["server", "asks", "conns", "req/s", "p50", "p99", "server µs/req", "database µs/query",
                "db conns held", "waited", "faults"]


def _n(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def table_rows(cells: list[Measured]) -> list[list[str]]:
    rows = []
    for variant in VARIANTS:
        mine = [c for c in cells if c.variant == variant]
        for c in sorted(mine, key=lambda c: modes_of(mine).index(c.mode)):
            d, lat = c.downstream or {}, c.latency_us or {}
            server = "-" if c.mode == "pgbench" or c.server_cpu_us_per_request is None else \
                f"{c.server_cpu_us_per_request:.1f}"
            per_query = db_us_per_query(c)
            used = pools_used(c)
            rows.append([c.mode, c.path, f"{c.connections:,}", fmt_rps(c.rps), fmt_us(lat.get("p50")),
                         fmt_us(lat.get("p99")), server, "-" if per_query is None else f"{per_query:.1f}",
                         _n(sum(used.values()) if used else None), _n(d.get("waited")), _n(d.get("faults_total"))])
    return rows


def sentences(cells: list[Measured]) -> list[str]:
    """What the run says, computed from its cells."""
    out = []
    prm = cells[0].params
    out.append(f"The front servers and pgbench (in their place: the database's client, without HTTP) ran on CPU "
               f"{prm['front_cpus']}, PostgreSQL on CPU {prm['database_cpus']}"
               + (" (shared with wrk: no CPU was spare)" if prm.get("database_shares") else ", its own")
               + f", wrk on CPU {cells[0].client_cpus}.")
    for variant in ("query", "queries"):
        out += comparison(cells, variant)
    out += blocking_sentences(cells)
    out += pool_sentences(cells)
    return out


def comparison(cells: list[Measured], variant: str) -> list[str]:
    """The best model against Node and pgbench on one variant, with the database's CPU per query."""
    top = best(cells, variant)
    if top is None:
        return []
    node, bench = one(cells, mode="node", variant=variant), one(cells, mode="pgbench", variant=variant)
    path = top.path
    parts = [f"On `{path}` cvp's best model was {top.mode} with {fmt_rps(top.rps)} req/s"]
    if node:
        parts.append(f"{top.rps / node.rps:.2f}× Node with pg ({fmt_rps(node.rps)})")
    if bench:
        parts.append(f"{top.rps / bench.rps:.2f}× pgbench's {fmt_rps(bench.rps)} transactions a second over "
                     f"{bench.connections} connections")
    text = ", ".join(parts) + "."
    cost = [(c.mode, db_us_per_query(c)) for c in (top, node, bench) if c and db_us_per_query(c) is not None]
    if cost:
        text += (" The database spent " + join([f"{us:.1f} µs per query for {m}" for m, us in cost]) + ": "
                 "what reaches the database is the same statement, and the rest of each request's cost is the "
                 "front server's.")
    return [text]


def blocking_sentences(cells: list[Measured]) -> list[str]:
    """What the blocking driver cost each model, and Little's law over single's round trip."""
    models = [m for m in modes_of(cells) if is_model(m)]
    pairs = [(m, one(cells, mode=m, variant="query"), one(cells, mode=m, variant="blocking")) for m in models]
    pairs = [(m, a, b) for m, a, b in pairs if a and b]
    if not pairs:
        return []
    out = ["`/db/query-blocking` against `/db/query`, per model: "
           + join([f"{m} {b.rps / a.rps:.2f}× ({fmt_rps(b.rps)} against {fmt_rps(a.rps)} req/s)" for m, a, b in pairs])
           + "."]
    single = one(cells, mode="single", variant="blocking")
    if single and single.rps:
        # single runs one blocking call at a time: 1 ÷ its rate is one call's round trip.
        trip_us = 1e6 / single.rps
        in_flight = [f"{m} {b.rps * trip_us / 1e6:.1f}" for m, _, b in pairs if m != "single"]
        out.append(f"single's loop makes one blocking call at a time, so one call took 1 ÷ {fmt_rps(single.rps)} = "
                   f"{fmt_us(trip_us)}. By Little's law, calls in flight = rate × that round trip: "
                   + join(in_flight) + " (single 1.0 by construction). A blocking driver can have only as many "
                   "queries in flight as the model has threads free to block, where the asynchronous path has "
                   "as many as its pools have connections.")
    return out


def pool_sentences(cells: list[Measured]) -> list[str]:
    """The database connections each model's pools held after the runs."""
    parts = []
    for variant in ("query", "blocking"):
        held = [(c.mode, pools_used(c)) for c in cells if c.variant == variant and is_model(c.mode) and pools_used(c)]
        if held:
            parts.append(f"`{'/db/query' if variant == 'query' else '/db/query-blocking'}`: "
                         + join([f"{m} {sum(u.values()):,} in " + (" + ".join(f"{v:,}" for v in u.values()) + " "
                                                                     if len(u) > 1 else "")
                                 + ("pool " + join([f'"{k}"' for k in u]) if len(u) == 1 else
                                    f"{len(u)} pools")
                                 for m, u in held]))
    if not parts:
        return []
    wrk = cells[0].connections
    waited = [f"{c.mode} ({c.variant}) {c.downstream['waited']:,}" for c in cells
              if is_model(c.mode) and (c.downstream or {}).get("waited")]
    faults = [f"{c.mode} ({c.variant}) {c.downstream['faults_total']:,}" for c in cells
              if (c.downstream or {}).get("faults_total")]
    cap = cells[0].params["db_connections"]
    return ["Database connections the pools held after the last repeat (`/stats` `database`; a pool keeps what it "
            "opened): " + "; ".join(parts) + ". "
            + (f"With {wrk} connections in and at most {cap} out per pool, calls queue for a database connection by "
               "design; those that did, over every repeat: " + join(waited) + "." if waited else
               "No call queued for a connection.")
            + (" Failed calls: " + join(faults) + "." if faults else " No call failed.")]


def check_against(cells: list[Measured], variant: str, peer: str, target: float, whom: str) -> Check:
    """cvp's best model on ``variant`` against ``peer``: met at ``target``× or more."""
    n = next((c.params.get("queries_n") for c in cells), QUERIES_TARGET_N)
    path = "/db/query" if variant == "query" else f"/db/queries?n={n}"
    want = f"`{path}`: cvp's best model ≥ {target:g}× {whom}"
    name = f"db {variant} {peer}"
    top, other = best(cells, variant), one(cells, mode=peer, variant=variant)
    if top is None or other is None:
        return Check(name, want, "-", "not measured", [f"needs `{path}` cells for cvp and {peer}"])
    ratio = top.rps / other.rps
    figure = f"{top.mode} {fmt_rps(top.rps)} against {fmt_rps(other.rps)}: {ratio:.2f}×"
    notes = []
    if variant == "queries" and n != QUERIES_TARGET_N:
        notes.append(f"this profile asks n={n}, not the target's {QUERIES_TARGET_N}")
    if ratio >= target:
        return Check(name, want, figure, "met", notes)
    return Check(name, want, figure, "missed", where_the_cpu_went(top, other) + notes + noise([top, other]))


def where_the_cpu_went(top: Measured, other: Measured) -> list[str]:
    """Why cvp's best model missed against a peer: each side's CPU per request, and which CPU was the limit."""
    why = []
    d_top, d_other = db_us_per_query(top), db_us_per_query(other)
    if d_top is not None and d_other is not None:
        why.append(f"the database spent {d_top:.1f} µs per query for {top.mode} and {d_other:.1f} µs for {other.mode}")
    mine, theirs = top.server_cpu_us_per_request, other.server_cpu_us_per_request
    if mine and theirs and other.mode != "pgbench":
        why.append(f"per request {poss(top.mode)} front spent {mine:.1f} µs of CPU and {poss(other.mode)} "
                   f"{theirs:.1f} µs ({theirs / mine:.2f}× as much)")
    busy, fronts = top.server_cpus_busy, len(parse_cpu_list(str(top.params.get("front_cpus") or "0")))
    if busy is not None:
        db = (top.downstream or {}).get("server_cpus_busy")
        text = f"{poss(top.mode)} front kept {busy:.2f} of its {fronts} CPU(s) busy"
        if db is not None:
            shared = top.params.get("database_shares")
            text += f"; the database {db:.2f} on CPU {top.params.get('database_cpus')}"
            if shared and top.client_cpu is not None:
                k = len(parse_cpu_list(str(shared)))
                wrk = top.client_cpu * k
                text += f" and wrk {wrk:.2f} beside it, {db + wrk:.2f} of {k} CPU(s) in all"
        if busy < 0.9 * fronts:
            text += ": the front was not the limit"
        why.append(text)
    if top.client_saturated:
        why.append("wrk was saturated")
    return why
