"""The scenarios, turned into groups of cells to run.

A *cell* is one point of one scenario on one server: a server spec, one or two
wrk streams, and a duration.  A *group* is a set of cells that share servers:
the runner starts the group's servers together, warms each up once, then runs
each point's cells interleaved across models, repeat after repeat.

Placement: ``plaintext`` and ``overhead`` measure per-request overhead, so their
server runs on the server CPUs and wrk on the client CPUs (disjoint where there are
two CPUs or more).  The other scenarios, and overhead's PBKDF2 point, are about what a
model does with the CPUs it has, so their server gets as many CPUs as it has workers,
taken from the server CPUs first and then the client CPUs; wrk stays on the client
CPUs and is watched.  ``overload`` is one of them: offload's pool threads get a CPU
each, and the flooding wrk's own CPU is recorded beside the figures.

Every scenario runs every chosen model, except the two that are about one model's own
mechanism (:data:`ONE_MODEL`).  The plan chooses the flags that start a model with n
workers in one place, :func:`model_flags`; what a model then runs in parallel, and which
kinds of worker it has, is read from the server itself (its start-up line's
``parallelism=``, ``/stats`` ``model`` and ``workers[].kind``), never worked out here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .cpus import Placement, format_cpu_list
from .idle import Hold
from .profiles import Profile, cpu_worker_counts
from .servers import ServerSpec
from .stats import littles_law_bound
from .wrk import Stream

SCENARIOS = ("plaintext", "overhead", "io", "cpu", "mixed", "imbalance", "split", "accept", "overload")
MODELS = ("single", "reactors", "offload", "pool", "threads")
#: The scenarios about one model's own mechanism: the model, and why no other runs them.
ONE_MODEL = {
    "accept": ("reactors", "it compares the two ways reactors hands connections to its loops (round-robin and "
                           "SO_REUSEPORT); the other models have one acceptor, so there is nothing to compare"),
    "overload": ("offload", "only offload has a pool queue that refuses work beyond it; the other models run "
                            "the work where the connection is and have nothing to refuse from"),
}
#: overhead's PBKDF2 point: the models that can run CPU work on more than one thread, against Node's pool.
PBKDF2_MODELS = ("reactors", "offload", "pool", "threads")
#: overhead: estimated seconds per idle connection held (opened, answered, closed; the
#: helper and the server on their own CPUs), and per idle run beyond that (the helper's
#: start, its priming request, a fresh server's start).
IDLE_S_PER_CONNECTION = 0.00025
IDLE_RUN_S = 0.25
#: mixed and imbalance: seconds between starting the I/O (light) stream and the CPU (heavy) stream.
MIXED_CPU_START_S = 0.3
#: Estimated seconds per wrk run beyond its duration (start-up, /stats, bookkeeping).
RUN_OVERHEAD_S = 0.1
#: Estimated seconds to start and stop a server.
SERVER_START_S = 0.15
#: Estimated seconds for the calibration, the manifest and the report.
FIXED_S = 10.0


@dataclass(frozen=True)
class Load:
    """One wrk stream of a cell and how its result is labelled."""

    stream: Stream | Hold  # a Hold: the idle-connection helper instead of wrk (overhead's idle cells)
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
        variant = "+".join(l.variant for l in self.loads if l.variant)
        words = [self.scenario, variant, self.mode]
        if self.scenario == "cpu":
            words.append(f"w={self.workers}")
        elif self.scenario == "split":
            words.append(f"K={self.params['split']}")
        elif self.idle:
            words.append(f"N={self.connections}")
        else:
            words.append("c=" + "+".join(str(l.stream.connections) for l in self.loads))
        return " ".join(w for w in words if w)


@dataclass(frozen=True)
class Group:
    """Cells that share servers; ``points`` are interleaved across their cells."""

    scenario: str
    servers: tuple[ServerSpec, ...]  # started for the group; empty when every cell starts its own
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

    @property
    def runs(self) -> int:
        return len(self.cells) * self.repeats

    @property
    def max_connections(self) -> int:
        return max((c.connections for c in self.cells), default=1)

    def estimate_s(self) -> float:
        """Seconds the plan should take, from durations and fixed overheads."""
        total = FIXED_S
        servers = {spec for g in self.groups for spec in g.servers}  # each started and warmed up once
        total += len(servers) * (SERVER_START_S + (self.warmup_s + RUN_OVERHEAD_S if self.warmup_s else 0))
        for g in self.groups:
            for point in g.points:
                for cell in point:
                    total += self.repeats * cell.estimate_run_s()
        return total


@dataclass(frozen=True)
class Settings:
    """What the plan is built from: the profile and the facts of this run."""

    profile: Profile
    scenarios: tuple[str, ...]
    models: tuple[str, ...]
    placement: Placement
    pbkdf2_iterations: int
    max_connections: int  # the open-file limit allows no more per process
    nginx: bool = False  # add nginx as a peer to plaintext and overhead
    node: bool = False  # add the Node.js peer to overhead
    target: ServerSpec | None = None  # a remote server: it is the only model
    target_accept: str | None = None  # the remote server's accept strategy, from /stats
    peers_left_out: tuple[tuple[str, str], ...] = ()  # (peer, why) for nginx or node when absent


def model_flags(model: str, n: int) -> tuple[str, ...]:
    """The flags that start ``model`` with ``n`` workers: the one place in the lab that knows them.

    reactors: n loops, and pool: n threads sharing one io_context, both ``--threads n``;
    offload: ``--pool-threads n`` beside its one I/O loop.  single has its one loop and
    threads a thread per connection whatever n is: they take no flag, and get n CPUs like
    the others.  What each model then runs in parallel is the server's to say (its start-up
    line's ``parallelism=``), not this function's.
    """
    if model in ("reactors", "pool"):
        return ("--threads", str(n))
    if model == "offload":
        return ("--pool-threads", str(n))
    if model in ("single", "threads"):
        return ()
    raise ValueError(f"unknown model {model!r}")


def _spec(s: Settings, model: str, n: int, cpus: tuple[int, ...], extra: tuple[str, ...] = ()) -> ServerSpec:
    if s.target is not None:
        return s.target
    return ServerSpec(model, model_flags(model, n) + extra, cpus, n)


def _width(s: Settings) -> int:
    """n for the scenarios that give the server every CPU: the lab's CPUs, or the target's own width."""
    return s.target.workers if s.target else len(s.placement.all)


def _wrk_threads(s: Settings, connections: int) -> int:
    return max(1, min(len(s.placement.client), connections))


def _overlap_note(s: Settings, cpus: tuple[int, ...]) -> tuple[str, ...]:
    shared = sorted(set(cpus) & set(s.placement.client))
    if s.target is None and shared:
        return (f"wrk shares CPU {format_cpu_list(shared)} with the server; its CPU use is watched",)
    return ()


def _models(s: Settings) -> tuple[str, ...]:
    return (s.target.label,) if s.target is not None else s.models


def plaintext(s: Settings) -> list[Group]:
    p = s.profile
    cpus = s.placement.server
    c = p.plaintext_connections
    load = Load(Stream("main", "plaintext.lua", (), c, _wrk_threads(s, c), 10), None, "/plaintext")
    specs = [_spec(s, m, len(cpus), cpus) for m in _models(s)]
    if s.nginx and s.target is None:
        specs.append(ServerSpec("nginx", (), cpus, len(cpus)))
    cells = tuple(Cell("plaintext", spec, (load,), p.plaintext_duration_s, spec.workers) for spec in specs)
    return [Group("plaintext", tuple(specs), (cells,))]


def io(s: Settings, skipped: list[dict]) -> list[Group]:
    p = s.profile
    workers = _width(s)
    cpus = s.placement.server_cpus_for(workers)
    wait = p.io_wait_ms
    conns = []
    for c in p.io_connections:
        if c > s.max_connections:
            skipped.append({"scenario": "io", "what": f"{c} connections",
                            "reason": f"the open-file limit allows {s.max_connections} connections per process"})
        else:
            conns.append(c)
    specs = [_spec(s, m, workers, cpus) for m in _models(s)]
    timeout = max(10, math.ceil(4 * wait / 1000))
    notes = _overlap_note(s, cpus)
    local = s.target is None

    def cell(spec: ServerSpec, c: int, endpoint: str, spread: int = 0, variant: str | None = None,
             footprint: bool = False) -> Cell:
        threads = _wrk_threads(s, c)
        args = [f"endpoint={endpoint}", f"ms={wait}"]
        params = {"wait_ms": wait}
        path = f"/io/{endpoint}?ms={wait}"
        if endpoint == "sleep":
            # Timer waits: connections start spread over one wait, not in lockstep (see common.lua),
            # and each wait varies a little around its mean, as a downstream's does (see io.lua).
            args += [f"spread={spread}", f"stagger={math.ceil(c / threads)}"]
            params["spread_ms"] = spread
            if spread:
                path = f"/io/{endpoint}?ms={wait - spread}..{wait + spread}"
        stream = Stream("main", "io.lua", tuple(args), c, threads, timeout)
        if endpoint == "block":
            load = Load(stream, variant or endpoint, path, blocking_wait_ms=wait)
        else:
            load = Load(stream, variant or endpoint, path, littles_law_bound(c, wait))
        duration = p.io_duration_s if endpoint == "sleep" else p.block_duration_s
        # A fresh server for /io/block (it leaves a backlog of blocked requests), and for the most
        # connections: their RSS is read from /proc, and memory an earlier run has freed stays in it.
        fresh = local and (endpoint == "block" or c == conns[-1])
        return Cell("io", spec, (load,), duration, workers, params, fresh_server=fresh,
                    read_stats=endpoint == "sleep", notes=notes, footprint=footprint and local)

    top = conns[-1] if conns else None
    points = [tuple(cell(sp, c, "sleep", p.io_wait_spread_ms, footprint=c == top) for sp in specs) for c in conns]
    if conns and p.io_wait_spread_ms > 0:
        # The control: every wait exactly the same, at the most connections, on single (one loop),
        # or on the first model chosen when single is not.
        one_loop = [sp for sp in specs if sp.label == "single"] or specs[:1]
        points.append(tuple(cell(sp, top, "sleep", 0, "sleep-lockstep") for sp in one_loop))
    if conns and not local:
        skipped.append({"scenario": "io", "what": "RSS per connection and context switches per request",
                        "reason": "they are read from the server's /proc, which a remote target's is not"})
    groups = [Group("io", tuple(specs), tuple(points))]
    if s.target is not None:
        skipped.append({"scenario": "io", "what": "/io/block",
                        "reason": "it leaves a backlog of blocked requests, and the lab cannot restart a remote server"})
    else:
        groups.append(Group("io", (), tuple(tuple(cell(sp, c, "block") for sp in specs) for c in conns)))
    return groups


def cpu(s: Settings) -> list[Group]:
    p = s.profile
    counts = (s.target.workers,) if s.target else cpu_worker_counts(p, len(s.placement.all))
    c = p.cpu_connections_per_worker * max(counts)
    stream = Stream("main", "cpu.lua", (f"iterations={s.pbkdf2_iterations}",), c, _wrk_threads(s, c), 30)
    load = Load(stream, None, f"/cpu/pbkdf2?iterations={s.pbkdf2_iterations}")
    groups = []
    for w in counts:
        cpus = s.placement.server_cpus_for(w)
        specs = [_spec(s, m, w, cpus) for m in _models(s)]
        cells = tuple(Cell("cpu", spec, (load,), p.cpu_duration_s, w, {"iterations": s.pbkdf2_iterations},
                           notes=_overlap_note(s, cpus)) for spec in specs)
        groups.append(Group("cpu", tuple(specs), (cells,)))
    return groups


def _sleep_stream(s: Settings, name: str, connections: int, wait_ms: int) -> Stream:
    """One of two wrk processes at once (mixed.lua): timer waits, the connections' starts staggered."""
    threads = _wrk_threads(s, connections)
    return Stream(name, "mixed.lua", ("stream=io", f"ms={wait_ms}", f"stagger={math.ceil(connections / threads)}"),
                  connections, threads, 30)


def _pbkdf2_stream(s: Settings, name: str, connections: int, iterations: int) -> Stream:
    """The other one: PBKDF2 requests."""
    return Stream(name, "mixed.lua", ("stream=cpu", f"iterations={iterations}"), connections,
                  _wrk_threads(s, connections), 30)


def mixed(s: Settings) -> list[Group]:
    p = s.profile
    workers = _width(s)
    cpus = s.placement.server_cpus_for(workers)
    wait, c_io = p.mixed_io_wait_ms, p.mixed_io_connections
    c_cpu = p.mixed_cpu_connections_per_cpu * workers
    io_stream = _sleep_stream(s, "io", c_io, wait)
    cpu_stream = _pbkdf2_stream(s, "cpu", c_cpu, s.pbkdf2_iterations)
    io_path, bound = f"/io/sleep?ms={wait}", littles_law_bound(c_io, wait)
    # The CPU stream starts once the I/O stream's connections are open: a loop busy hashing
    # also accepts late, and a run's first requests would otherwise dominate its tail.
    loads = (Load(io_stream, "io", io_path, bound),
             Load(cpu_stream, "cpu", f"/cpu/pbkdf2?iterations={s.pbkdf2_iterations}",
                  start_after_s=MIXED_CPU_START_S))
    alone = (Load(io_stream, "io-alone", io_path, bound),)
    specs = [_spec(s, m, workers, cpus) for m in _models(s)]
    params = {"wait_ms": wait, "iterations": s.pbkdf2_iterations}
    points = tuple(tuple(Cell("mixed", spec, lds, p.duration_s, workers, params, notes=_overlap_note(s, cpus))
                         for spec in specs) for lds in (alone, loads))
    return [Group("mixed", tuple(specs), points)]


def imbalance(s: Settings) -> list[Group]:
    """A few connections of heavy CPU requests beside many light ones, two wrk processes at once.

    The heavy stream (PBKDF2 with the calibrated iterations) has fewer connections than the
    server has CPUs, so a model that lets any free thread serve any connection keeps the light
    stream (a short timer wait, ``/io/sleep``) moving; one that shards connections over loops
    leaves the light connections on a loop running PBKDF2 waiting behind it.  The heavy stream
    starts once the light stream's connections are open, as in mixed.  Every CPU for the server.
    """
    p = s.profile
    workers = _width(s)
    cpus = s.placement.server_cpus_for(workers)
    iterations, wait = s.pbkdf2_iterations, p.imbalance_light_wait_ms
    heavy_c = p.imbalance_heavy_connections or max(1, workers // 2)
    light_c = p.imbalance_light_connections_per_cpu * workers
    light = _sleep_stream(s, "light", light_c, wait)
    heavy = _pbkdf2_stream(s, "heavy", heavy_c, iterations)
    loads = (Load(light, "light", f"/io/sleep?ms={wait}", littles_law_bound(light_c, wait)),
             Load(heavy, "heavy", f"/cpu/pbkdf2?iterations={iterations}", start_after_s=MIXED_CPU_START_S))
    specs = [_spec(s, m, workers, cpus) for m in _models(s)]
    params = {"wait_ms": wait, "iterations": iterations, "light_connections": light_c, "heavy_connections": heavy_c}
    cells = tuple(Cell("imbalance", spec, loads, p.duration_s, workers, params, notes=_overlap_note(s, cpus))
                  for spec in specs)
    return [Group("imbalance", tuple(specs), (cells,))]


def split(s: Settings) -> list[Group]:
    p = s.profile
    workers = _width(s)
    cpus = s.placement.server_cpus_for(workers)
    specs = [_spec(s, m, workers, cpus) for m in _models(s)]

    def cell(spec: ServerSpec, k: int) -> Cell:
        stream = Stream("main", "split.lua", (f"limit={p.split_limit}", f"split={k}"), 1, 1, 60)
        load = Load(stream, None, f"/cpu/primes?limit={p.split_limit}&split={k}")
        return Cell("split", spec, (load,), p.split_duration_s, workers,
                    {"split": k, "limit": p.split_limit}, notes=_overlap_note(s, cpus))

    return [Group("split", tuple(specs), tuple(tuple(cell(sp, k) for sp in specs) for k in p.split_values))]


def accept(s: Settings, skipped: list[dict]) -> list[Group]:
    p = s.profile
    c = p.accept_connections
    if s.target is not None:
        if s.target.label != "reactors":
            skipped.append({"scenario": "accept", "what": "accept strategies",
                            "reason": f"the target runs {s.target.label}, not reactors"})
            return []
        specs = [(s.target, s.target_accept)]
    elif ONE_MODEL["accept"][0] not in s.models:
        skipped.append({"scenario": "accept", "what": "accept strategies", "reason": "reactors was not chosen"})
        return []
    else:
        workers = len(s.placement.all)
        cpus = s.placement.server_cpus_for(workers)
        specs = [(_spec(s, ONE_MODEL["accept"][0], workers, cpus, ("--accept", a)), a)
                 for a in ("round-robin", "reuseport")]
    cells = []
    wait = p.accept_wait_ms
    for spec, strategy in specs:
        stream = Stream("main", "accept.lua", (f"ms={wait}",), c, _wrk_threads(s, c), 10)
        cells.append(Cell("accept", spec, (Load(stream, strategy, f"/io/sleep?ms={wait}"),), p.accept_duration_s,
                          spec.workers, {"accept": strategy, "wait_ms": wait}, notes=_overlap_note(s, spec.cpus)))
    return [Group("accept", tuple(sp for sp, _ in specs), (tuple(cells),))]


def overhead(s: Settings, skipped: list[dict]) -> list[Group]:
    """cvp's own cost per request and per idle connection, against nginx and Node on the same CPUs.

    One group on the server CPUs, as plaintext's (with two CPUs: one worker each, nginx with
    one worker process, Node with its one event loop), wrk on the client CPUs: /plaintext and
    /json, /plaintext pipelined, then the idle-connection count, every idle run on a fresh
    server.  A second group gives the models of PBKDF2_MODELS and Node as many workers as
    the lab has CPUs, for PBKDF2.
    """
    p = s.profile
    if s.target is not None:
        skipped.append({"scenario": "overhead", "what": "the scenario",
                        "reason": "it compares cvp's models with peers started on this machine, and reads the "
                                  "server's memory from /proc; neither works for a remote target"})
        return []
    for peer, why in s.peers_left_out:
        skipped.append({"scenario": "overhead", "what": peer, "reason": why})
    cpus = s.placement.server
    width = len(cpus)
    specs = [_spec(s, m, width, cpus) for m in s.models]
    if s.nginx:
        specs.append(ServerSpec("nginx", (), cpus, width))
    if s.node:
        specs.append(ServerSpec("node", (), cpus, width))
    depth = p.overhead_pipeline_depth

    def wrk_cell(spec: ServerSpec, variant: str, c: int, script: str, args: tuple[str, ...], path: str,
                 params: dict) -> Cell:
        load = Load(Stream("main", script, args, c, _wrk_threads(s, c), 10), variant, path,
                    latency="pipeline" not in params)
        return Cell("overhead", spec, (load,), p.overhead_duration_s, width, params)

    c = p.overhead_connections
    points = [tuple(wrk_cell(sp, name, c, "overhead.lua", (f"path={path}",), path, {})
                    for sp in specs) for name, path in (("plaintext", "/plaintext"), ("json", "/json"))]
    for pc in p.overhead_pipeline_connections:
        points.append(tuple(wrk_cell(sp, "pipeline", pc, "pipeline.lua", ("path=/plaintext", f"depth={depth}"),
                                     "/plaintext", {"pipeline": depth}) for sp in specs))
    n = p.overhead_idle_connections
    if n > s.max_connections:
        skipped.append({"scenario": "overhead", "what": f"{n - s.max_connections:,} of {n:,} idle connections",
                        "reason": f"the open-file limit allows {s.max_connections} connections per process"})
        n = s.max_connections
    hold = Hold(n, "/plaintext", p.overhead_idle_settle_s)
    notes = () if n == p.overhead_idle_connections else (
        f"{n:,} idle connections instead of {p.overhead_idle_connections:,}: the open-file limit",)
    # A fresh server for every idle run: memory a server has freed stays in its RSS (malloc keeps it
    # for reuse), so on a server that has already held these connections the figure would be near 0.
    points.append(tuple(Cell("overhead", sp, (Load(hold, "idle", "/plaintext"),), 0, width,
                             {"idle_connections": n, "settle_s": hold.settle_s}, fresh_server=True,
                             read_stats=False, notes=notes) for sp in specs))
    groups = [Group("overhead", tuple(specs), tuple(points))]

    workers = len(s.placement.all)
    pcpus = s.placement.server_cpus_for(workers)
    pspecs = [_spec(s, m, workers, pcpus) for m in s.models if m in PBKDF2_MODELS]
    if s.node:
        pspecs.append(ServerSpec("node", (), pcpus, workers))
    if not any(sp.label in PBKDF2_MODELS for sp in pspecs):
        skipped.append({"scenario": "overhead", "what": "PBKDF2",
                        "reason": f"none of {', '.join(PBKDF2_MODELS)} was chosen"})
    else:
        iterations, pc = p.overhead_pbkdf2_iterations, p.overhead_pbkdf2_connections
        load = Load(Stream("main", "cpu.lua", (f"iterations={iterations}",), pc, _wrk_threads(s, pc), 30), "pbkdf2",
                    f"/cpu/pbkdf2?iterations={iterations}")
        cells = tuple(Cell("overhead", sp, (load,), p.overhead_duration_s, workers, {"iterations": iterations},
                           notes=_overlap_note(s, pcpus)) for sp in pspecs)
        groups.append(Group("overhead", tuple(pspecs), (cells,)))
    return groups


#: overload's variants, in the order of its point: saturation, the flood, the flood without the pause.
OVERLOAD_VARIANTS = ("saturation", "flood", "flood-nopause")


def overload(s: Settings, skipped: list[dict]) -> list[Group]:
    """offload's goodput under a flood against its goodput at saturation, with and without the pause.

    One point, its three cells interleaved repeat after repeat: PBKDF2 (the calibrated
    iterations, as cpu's) over enough connections to keep the pool busy without a refusal,
    then over about 10× what the server admits (pool threads + queue), on a server with the
    default ``--overload-pause`` and, as the control, on one with the pause effectively off.
    The servers get a CPU per pool thread, as cpu's; wrk keeps the client CPUs and is watched.
    """
    p = s.profile
    if s.target is not None:
        skipped.append({"scenario": "overload", "what": "the scenario",
                        "reason": "it starts offload servers with its own --pool-queue and --overload-pause, "
                                  "which a remote target cannot be given"})
        return []
    if ONE_MODEL["overload"][0] not in s.models:
        skipped.append({"scenario": "overload", "what": "the scenario", "reason": "offload was not chosen"})
        return []
    threads, queue = p.overload_pool_threads, p.overload_pool_queue
    cpus = s.placement.server_cpus_for(threads)
    pool = ("--pool-queue", str(queue))
    default = _spec(s, "offload", threads, cpus, pool)
    control = _spec(s, "offload", threads, cpus, pool + ("--overload-pause", p.overload_control_pause))
    iterations = s.pbkdf2_iterations
    path = f"/cpu/pbkdf2?iterations={iterations}"
    base = {"iterations": iterations, "pool_threads": threads, "pool_queue": queue, "admitted": threads + queue}

    def cell(spec: ServerSpec, variant: str, c: int, pause: str) -> Cell:
        stream = Stream("main", "cpu.lua", (f"iterations={iterations}",), c, _wrk_threads(s, c), 30)
        return Cell("overload", spec, (Load(stream, variant, path),), p.overload_duration_s, threads,
                    dict(base, overload_pause=pause), notes=_overlap_note(s, cpus))

    sat, flood = p.overload_saturation_connections, p.overload_flood_connections
    point = (cell(default, "saturation", sat, "default"), cell(default, "flood", flood, "default"),
             cell(control, "flood-nopause", flood, p.overload_control_pause))
    return [Group("overload", (default, control), (point,))]


def build(s: Settings) -> Plan:
    """The plan for the chosen scenarios, in the order of SCENARIOS."""
    skipped: list[dict] = []
    groups: list[Group] = []
    for name in SCENARIOS:
        if name not in s.scenarios:
            continue
        if name == "plaintext":
            groups += plaintext(s)
        elif name == "overhead":
            groups += overhead(s, skipped)
        elif name == "io":
            groups += io(s, skipped)
        elif name == "cpu":
            groups += cpu(s)
        elif name == "mixed":
            groups += mixed(s)
        elif name == "imbalance":
            groups += imbalance(s)
        elif name == "split":
            groups += split(s)
        elif name == "accept":
            groups += accept(s, skipped)
        elif name == "overload":
            groups += overload(s, skipped)
    groups = [g for g in groups if g.points and all(g.points)]
    return Plan(groups, skipped, s.profile.repeats, s.profile.warmup_s)
