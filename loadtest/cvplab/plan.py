"""The plan: the scenarios turned into groups of cells to run.

A *cell* is one point of one scenario on one server: a server spec, one or two
wrk streams, and a duration.  A *group* is a set of cells that share servers:
the runner starts the group's servers together, warms each up once, then runs
each point's cells interleaved across models, repeat after repeat.

Each scenario plans its own cells (``cvplab/scenarios/<name>.py``); :func:`build` asks the
registry's scenarios in order.  What is shared lives here: the cell, the settings of a run,
and the helpers every plan uses.  The flags that start a model with n workers come from the
server's own model table (:meth:`cvplab.models.Model.worker_flags`); what a model then runs
in parallel, and which kinds of worker it has, is read from the server itself (its start-up
line's ``parallelism=``, ``/stats`` ``model`` and ``workers[].kind``), never worked out here.

Placement: the scenarios that measure per-request overhead (``apart``) run their server
on the server CPUs and wrk on the client CPUs (disjoint where there are two CPUs or more).
The others are about what a model does with the CPUs it has, so their server gets as
many CPUs as it has workers, taken from the server CPUs first and then the client CPUs;
wrk stays on the client CPUs and is watched.

Downstream calls: a server spec may name an ``upstream``, the spec of the cvp-server it calls
(``/io/http``).  The group lists only the servers its cells measure; the runner starts each
one's upstream before it (once, however many servers call it), passes its address as
``--upstream``, and reads its CPU around each run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .cpus import Placement, format_cpu_list
from .idle import Hold
from .models import Catalog
from .openloop import OpenStream
from .servers import ServerSpec
from .wrk import Stream

if TYPE_CHECKING:  # cvplab.profiles imports the scenarios, which import this module
    from .profiles import Profile

#: Estimated seconds per idle connection held (opened, answered, closed; the helper and the
#: server on their own CPUs), and per idle run beyond that (the helper's start, its priming
#: request, a fresh server's start).
IDLE_S_PER_CONNECTION = 0.00025
IDLE_RUN_S = 0.25
#: Estimated seconds per wrk run beyond its duration (start-up, /stats, bookkeeping).
RUN_OVERHEAD_S = 0.1
#: Estimated seconds to start and stop a server.
SERVER_START_S = 0.15
#: Estimated seconds to start a PostgreSQL cluster (initdb, the world table) and stop it.
DATABASE_START_S = 4.0
#: Estimated seconds for the calibration, the manifest and the report.
FIXED_S = 10.0


@dataclass(frozen=True)
class Load:
    """One wrk stream of a cell and how its result is labelled."""

    # a Hold: the idle-connection helper instead of wrk (overhead's idle cells); an OpenStream: cvp-load (open loop)
    stream: Stream | Hold | OpenStream
    # io: sleep/block; mixed: io/cpu/io-alone; accept: round-robin/reuseport;
    # overhead: plaintext/json/pipeline/idle/pbkdf2; overload: saturation/flood/flood-nopause
    variant: str | None
    path: str  # the request the script sends, for readers of the results
    bound_rps: float | None = None  # Little's-law bound, where it applies
    start_after_s: float = 0.0  # started this long after the cell's first stream
    # False where wrk's latency figures mean nothing: with pipelining its coordinated-omission
    # correction takes each response for a round trip and adds samples its percentiles never reach
    latency: bool = True
    # /io/block: each request holds a thread for this long; the Little's-law bound is then
    # min(connections, the server's parallelism) ÷ wait, known once the server has said its parallelism
    blocking_wait_ms: int | None = None


@dataclass(frozen=True)
class Cell:
    """One point of one scenario on one server."""

    scenario: str
    server: ServerSpec
    loads: tuple[Load, ...]
    duration_s: int
    workers: int  # the point's n: the server was started with model_flags(model, n) on n CPUs (peers: their size)
    params: dict = field(default_factory=dict, compare=False, hash=False)  # wait_ms, split, iterations...
    fresh_server: bool = False  # start a server for every run and kill it after (/io/block)
    read_stats: bool = True  # read /stats around each run
    notes: tuple[str, ...] = ()
    # io at the most connections: RSS and context switches sampled from /proc while wrk holds its connections
    footprint: bool = False
    repeats: int | None = None  # its own number of repeats; None: the profile's

    @property
    def mode(self) -> str:
        return self.server.label

    @property
    def idle(self) -> bool:
        """An idle-connection cell: the helper holds connections open instead of wrk sending load."""
        return isinstance(self.loads[0].stream, Hold)

    def estimate_run_s(self) -> float:
        """Seconds one run of this cell should take."""
        if self.idle:
            hold = self.loads[0].stream
            return IDLE_RUN_S + hold.settle_s + hold.connections * IDLE_S_PER_CONNECTION + SERVER_START_S
        return self.duration_s + RUN_OVERHEAD_S + (SERVER_START_S if self.fresh_server else 0)

    @property
    def connections(self) -> int:
        return sum(l.stream.connections for l in self.loads)

    @property
    def title(self) -> str:
        """A short human name: ``io sleep single c=1000``."""
        from .scenarios import get
        variant = "+".join(l.variant for l in self.loads if l.variant)
        words = [self.scenario, variant, self.mode, get(self.scenario).point_title(self)]
        return " ".join(w for w in words if w)


@dataclass(frozen=True)
class Group:
    """Cells that share servers; ``points`` are interleaved across their cells."""

    scenario: str
    # started for the group; empty when every cell starts its own.  A spec's upstream (the server it calls)
    # is started first by the runner, and is not listed here.
    servers: tuple[ServerSpec, ...]
    points: tuple[tuple[Cell, ...], ...]


@dataclass
class Plan:
    groups: list[Group]
    skipped: list[dict]  # {"scenario", "what", "reason"}
    repeats: int
    warmup_s: int

    @property
    def cells(self) -> list[Cell]:
        return [c for g in self.groups for p in g.points for c in p]

    def repeats_of(self, cell: Cell) -> int:
        """How many times ``cell`` runs: its own repeats, else the profile's."""
        return cell.repeats if cell.repeats is not None else self.repeats

    @property
    def runs(self) -> int:
        return sum(self.repeats_of(c) for c in self.cells)

    @property
    def max_connections(self) -> int:
        return max((c.connections for c in self.cells), default=1)

    def estimate_s(self) -> float:
        """Seconds the plan should take, from durations and fixed overheads."""
        return FIXED_S + sum(self.estimate_by_scenario().values())

    def estimate_by_scenario(self) -> dict[str, float]:
        """Seconds each scenario should take, in plan order; a server (its upstream, its database) shared
        by several scenarios counts where it is first started and warmed up."""
        out: dict[str, float] = {}
        seen: set = set()
        for g in self.groups:
            total = 0.0
            for spec in g.servers:  # each started and warmed up once
                if spec not in seen:
                    total += SERVER_START_S + (self.warmup_s + RUN_OVERHEAD_S if self.warmup_s else 0)
                for dep, cost in ((spec.upstream, SERVER_START_S), (spec.database, DATABASE_START_S)):
                    if dep is not None and ("dep", dep) not in seen:  # a downstream is not warmed up
                        total += cost
                        seen.add(("dep", dep))
                seen.add(spec)
            for point in g.points:
                for cell in point:
                    total += self.repeats_of(cell) * cell.estimate_run_s()
            out[g.scenario] = out.get(g.scenario, 0.0) + total
        return out


@dataclass(frozen=True)
class Settings:
    """What the plan is built from: the profile and the facts of this run."""

    profile: "Profile"
    scenarios: tuple[str, ...]
    models: tuple[str, ...]  # the chosen models, in the catalog's order
    placement: Placement
    pbkdf2_iterations: int
    max_connections: int  # the open-file limit allows no more per process
    nginx: bool = False  # add nginx as a peer to plaintext and overhead
    node: bool = False  # add the Node.js peer to overhead
    target: ServerSpec | None = None  # a remote server: it is the only model
    target_accept: str | None = None  # the remote server's accept strategy, from /stats
    peers_left_out: tuple[tuple[str, str], ...] = ()  # (peer, why) for nginx or node when absent
    database_left_out: str | None = None  # why the lab cannot start PostgreSQL and pgbench here (db); None: it can
    node_db: bool = False  # the Node peer has node-postgres, for its /db/* (db)
    node_db_left_out: str | None = None  # why it has not, where the Node peer runs
    open_loop_left_out: str | None = None  # why cvp-load (the open-loop generator) cannot run here; None: it can
    catalog: Catalog | None = None  # the server's models (--list-models); None only with a remote target


def spec(s: Settings, model: str, n: int, cpus: tuple[int, ...], extra: tuple[str, ...] = ()) -> ServerSpec:
    """The server for ``model`` with ``n`` workers on ``cpus``; with a remote target, the target."""
    if s.target is not None:
        return s.target
    return ServerSpec(model, s.catalog.model(model).worker_flags(n) + extra, cpus, n)


def widest(s: Settings) -> int:
    """n for the scenarios that give the server every CPU: the lab's CPUs, or the target's own width."""
    return s.target.workers if s.target else len(s.placement.all)


def wrk_threads(s: Settings, connections: int) -> int:
    return max(1, min(len(s.placement.client), connections))


def overlap_note(s: Settings, cpus: tuple[int, ...]) -> tuple[str, ...]:
    shared = sorted(set(cpus) & set(s.placement.client))
    if s.target is None and shared:
        return (f"wrk shares CPU {format_cpu_list(shared)} with the server; its CPU use is watched",)
    return ()


def models_of(s: Settings) -> tuple[str, ...]:
    """The models a scenario runs: the chosen ones, or the remote target's."""
    return (s.target.label,) if s.target is not None else s.models


def build(s: Settings) -> Plan:
    """The plan for the chosen scenarios, in the registry's order."""
    from .scenarios import REGISTRY
    skipped: list[dict] = []
    groups: list[Group] = []
    for scenario in REGISTRY:
        if scenario.name in s.scenarios:
            groups += scenario.plan(s, s.profile.params(scenario.name), skipped)
    groups = [g for g in groups if g.points and all(g.points)]
    return Plan(groups, skipped, s.profile.repeats, s.profile.warmup_s)
