"""Executes a plan: servers up, warm-up, interleaved repeats, results saved as they come.

A server whose spec has an ``upstream`` (a front server calling a downstream cvp-server,
``/io/http``) is started after its downstream, with ``--upstream http://HOST:PORT``; the
downstream is started once, kept while any group still has a server that calls it, and its
CPU is read around each run of a cell whose server calls it.

A server whose spec has a ``database`` (the db scenario) is started after that PostgreSQL
cluster (:mod:`cvplab.database`), with its conninfo; the cluster is kept as a downstream is,
and its CPU read around each run.  A ``pgbench`` cell's loads are pgbench runs against it.

An open-loop load (:class:`cvplab.openloop.OpenStream`) runs cvp-load instead of wrk; a rate
given as :class:`cvplab.openloop.RateOf` is resolved when its run starts, from the cells
already measured (a capacity measured earlier in the run).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from . import procs, results, scenarios
from .cpus import format_cpu_list
from .cells import Measured
from .database import Database, DatabaseError, DatabaseSpec, PgbenchPeer, PgbenchRun, PgbenchStream, \
    find_pgbench, start_database
from .idle import IdleError, IdleResult, IdleRun
from .openloop import OpenLoopError, OpenRun, OpenStream, RateOf
from .plan import Cell, Group, Plan
from .procs import ProcessRegistry, system_busy_s
from .servers import (Server, ServerError, ServerSpec, find_nginx, find_node, get_json, start_cvp, start_nginx,
                      start_node)
from .stats import NOISY_CPUS, Run, downstream_delta, footprint_delta, model_facts, per_worker_delta, pool_delta
from .wrk import WrkError, WrkResult, WrkRun

#: What a failed run raises; anything else is a bug and propagates.
RUN_ERRORS = (WrkError, IdleError, ServerError, DatabaseError, OpenLoopError, OSError, ValueError)
#: A footprint cell's second /proc sample is taken this long before wrk's run ends (at the latest
#: halfway through it), while wrk still holds every connection and the server every thread.
FOOTPRINT_BEFORE_END_S = 0.25


@dataclass
class Measurement:
    """One run of a cell: each stream's wrk result, and the server around them."""

    wrk: list[tuple[WrkResult, WrkRun]]  # in the order of the cell's loads
    server_cpu_s: float
    client_cpu: float  # every wrk of the run, as a share of the client CPUs
    per_worker: list[dict] | None
    background_cpus: float  # CPUs that other processes on this machine kept busy meanwhile
    pool: dict | None = None  # offload: the pool's rejected and completed counts over the run
    server_wall_s: float | None = None  # between the two readings of the server's CPU
    model: dict | None = None  # model_facts of /stats after the run
    footprint: dict | None = None  # footprint_delta: RSS and context switches while wrk held its connections
    # downstream_delta of the front's /stats (its downstream or its database pools), and that service's CPU
    downstream: dict | None = None
    after_run: dict | None = None  # what the cell's scenario read from the server after the run (Scenario.after_run)


@dataclass
class IdleMeasurement:
    """One run of an idle cell: the helper's figures, and the server's CPU around them."""

    idle: IdleResult
    server_cpu_s: float
    background_cpus: float
    raw: list[str]


@dataclass
class Environment:
    """What the runner needs beyond the plan."""

    out_dir: Path
    wrk: str
    client_cpus: tuple[int, ...]
    registry: ProcessRegistry
    server_binary: Path | None  # None with a remote target
    remote: Server | None = None
    max_connections: int = 10_000  # passed to local servers
    cvp_load: str | None = None  # the open-loop generator, for OpenStream loads
    log: TextIO = field(default_factory=lambda: sys.stdout)


class Runner:
    """Runs every group of a plan and keeps ``cells`` (results) up to date on disk."""

    def __init__(self, plan: Plan, env: Environment, manifest: dict) -> None:
        self.plan, self.env, self.manifest = plan, env, manifest
        self.cells: list[Measured] = []
        self.failures: list[str] = []  # one line per problem, for the summary
        self.upstreams: dict[ServerSpec, Server] = {}  # downstream servers started for the specs that call them
        self.databases: dict[DatabaseSpec, Database] = {}  # clusters started for the specs that query them
        self._done_runs = 0
        self._started = time.monotonic()
        self._estimate = plan.estimate_s()
        self._raw = env.out_dir / "raw"
        self._raw.mkdir(parents=True, exist_ok=True)
        (self._raw / "servers").mkdir(exist_ok=True)

    # -- output -----------------------------------------------------------------

    def say(self, text: str) -> None:
        print(text, file=self.env.log, flush=True)

    def save(self) -> None:
        results.write(self.env.out_dir, self.manifest, self.cells, self.plan.skipped)

    def _progress(self, cell: Cell, repeat: int, m: Measurement | IdleMeasurement) -> None:
        self._done_runs += 1
        elapsed = time.monotonic() - self._started
        left = max(0.0, self._estimate - elapsed)
        head = (f"  [{self._done_runs:>3}/{self.plan.runs} {_clock(elapsed)}, ~{_clock(left)} left] {cell.title} "
                f"r{repeat + 1}: ")
        if isinstance(m, IdleMeasurement):
            d = m.idle.data
            mib = [("-" if v is None else f"{v / 2**20:.1f}") for v in (d["rss_before_bytes"], d["rss_after_bytes"])]
            per = d["rss_per_connection_bytes"]
            errs = sum(d["errors"].values())
            self.say(head + f"{d['held']:,} idle connections held, RSS {mib[0]} → {mib[1]} MiB, "
                     + ("-" if per is None else f"{per:,.0f}") + " B each"
                     + (f", errors {errs}" if errs else "") + f" (all answered in {d['open_s']:.1f} s)")
            return
        parts = []
        for load, (r, _) in zip(cell.loads, m.wrk):
            variant = load.variant if len(cell.loads) > 1 else ""
            p50, p99 = r.latency_us.get("p50"), r.latency_us.get("p99")
            lat = f"p50 {_ms(p50)} p99 {_ms(p99)}" if p50 is not None else "no latency"
            refused = r.refused
            errs = sum(r.errors.values()) - r.errors.get("status", 0)
            parts.append(f"{variant + ': ' if variant else ''}{r.rps:,.0f} req/s {lat}"
                         f"{f' non-2xx {refused:,} ({r.refused_rps:,.0f}/s)' if refused else ''}"
                         f"{f' errors {errs}' if errs else ''}")
        self.say(head + f"{'; '.join(parts)} (wrk {m.client_cpu:.0%} CPU"
                 f"{f', others {m.background_cpus:.1f} CPUs' if m.background_cpus >= NOISY_CPUS else ''})")

    # -- servers ----------------------------------------------------------------

    def start_server(self, spec: ServerSpec) -> Server:
        """Starts (or, with a remote target, attaches to) the server for ``spec``."""
        if self.env.remote is not None:
            return self.env.remote
        log_dir = self._raw / "servers"
        if spec.label == "nginx":
            binary = find_nginx()
            if binary is None:
                raise ServerError("nginx", "not installed")
            return start_nginx(binary, spec, max_connections=self.env.max_connections, log_dir=log_dir,
                               registry=self.env.registry)
        # A server that queries a database: the database first, for its conninfo.
        conninfo = self.database_for(spec).conninfo if spec.database is not None else None
        if spec.label == "node":
            binary = find_node()
            if binary is None:
                raise ServerError("node", "not installed")
            return start_node(binary, spec, log_dir=log_dir, registry=self.env.registry, db_conninfo=conninfo)
        if spec.label == "pgbench":
            binary = find_pgbench()
            if binary is None or spec.database is None:
                raise ServerError("pgbench", "not installed" if binary is None else "has no database to query")
            return PgbenchPeer(spec, binary)
        assert self.env.server_binary is not None
        # A front server: its downstream first, for the address it calls.
        upstream_url = self.upstream_for(spec).base_url if spec.upstream is not None else None
        server = start_cvp(self.env.server_binary, spec, max_connections=self.env.max_connections,
                           log_dir=log_dir, registry=self.env.registry, upstream_url=upstream_url,
                           db_conninfo=conninfo)
        # Its live page, for whoever watches the run: it costs the server nothing unless opened.
        self.say(f"  .. dashboard: {server.base_url}/dashboard ({server.name})")
        return server

    def upstream_for(self, spec: ServerSpec) -> Server:
        """The running downstream of ``spec`` (started on first use); ServerError if it cannot start or has died.

        A downstream that died is not restarted: the front servers already started would still
        call its old address.
        """
        assert spec.upstream is not None
        server = self.upstreams.get(spec.upstream)
        if server is None:
            self.upstreams[spec.upstream] = server = self.start_server(spec.upstream)
            self.say(f"  .. downstream {server.name} listens at {server.base_url}")
        server.check_alive()
        return server

    def database_for(self, spec: ServerSpec) -> Database:
        """The running database of ``spec`` (started on first use); DatabaseError if it cannot start or has died."""
        assert spec.database is not None
        db = self.databases.get(spec.database)
        if db is None:
            self.say(f"  .. starting {spec.database.description}")
            self.databases[spec.database] = db = start_database(spec.database)
            self.say(f"  .. PostgreSQL listens at {db.conninfo}")
        db.check_alive()
        return db

    def dependency_for(self, spec: ServerSpec) -> Server | Database | None:
        """What the server behind ``spec`` calls, whose CPU a run counts too: its downstream or its database."""
        if spec.upstream is not None:
            return self.upstream_for(spec)
        if spec.database is not None:
            return self.database_for(spec)
        return None

    def stop_server(self, server: Server, grace_s: float = 3.0) -> None:
        """Stops a server the lab started; a remote target is left running."""
        if server is not self.env.remote:
            server.stop(grace_s)

    # -- running ----------------------------------------------------------------

    def run(self) -> None:
        """Runs the whole plan.  KeyboardInterrupt propagates after partial results are saved.

        A server serves every group that needs its exact spec (io, cpu at full width, mixed
        and split share theirs): it is started and warmed up once, and stopped after the
        last group that uses it.
        """
        self.save()
        last_use = {spec: i for i, g in enumerate(self.plan.groups) for spec in g.servers}
        # A downstream is kept as long as a group still has a server that calls it.
        upstream_use = {spec.upstream: i for i, g in enumerate(self.plan.groups) for spec in g.servers
                        if spec.upstream is not None}
        database_use = {spec.database: i for i, g in enumerate(self.plan.groups) for spec in g.servers
                        if spec.database is not None}
        servers: dict[ServerSpec, Server | ServerError] = {}
        try:
            for i, group in enumerate(self.plan.groups):
                self.run_group(group, servers)
                for spec in [sp for sp, last in last_use.items() if last == i and sp in servers]:
                    server = servers.pop(spec)
                    if isinstance(server, Server):
                        self.stop_server(server)
                for spec in [sp for sp, last in upstream_use.items() if last == i and sp in self.upstreams]:
                    self.stop_server(self.upstreams.pop(spec))
                for db in [db for db, last in database_use.items() if last == i and db in self.databases]:
                    self.databases.pop(db).stop()
        finally:
            for server in servers.values():
                if isinstance(server, Server):
                    self.stop_server(server)
            for server in self.upstreams.values():  # after the servers that call them
                self.stop_server(server)
            self.upstreams.clear()
            for db in self.databases.values():
                db.stop()
            self.databases.clear()

    def run_group(self, group: Group, servers: dict[ServerSpec, Server | ServerError]) -> None:
        """Starts the group's servers that are not running yet, warms them up, and runs its points."""
        first = group.points[0]
        what = ", ".join(sorted({l.path for c in first for l in c.loads}))
        self.say(f"== {group.scenario}: {what}")
        started = {}
        for spec in group.servers:
            if isinstance(servers.get(spec), Server):
                continue
            try:
                servers[spec] = started[spec] = self.start_server(spec)
            except (ServerError, DatabaseError) as e:
                servers[spec] = ServerError(spec.description, str(e)) if isinstance(e, DatabaseError) else e
                self._problem(str(e))
        self._warm_up(group, started)
        for point in group.points:
            self.run_point(point, servers)

    def _warm_up(self, group: Group, servers: dict) -> None:
        """One thrown-away run per server, on its first cell, before anything is measured."""
        if not self.plan.warmup_s:
            return
        for spec, server in servers.items():
            if not isinstance(server, Server):
                continue
            cell = next((c for p in group.points for c in p if c.server == spec and not c.idle), None)
            if cell is None:
                continue
            try:
                self._measure(cell, server, self.plan.warmup_s, tag="warmup")
            except RUN_ERRORS as e:
                self._problem(f"warm-up of {cell.title}: {e}")

    def run_point(self, point: tuple[Cell, ...], servers: dict) -> None:
        """Repeats of one point, interleaved across its cells (rotated so no model always goes first)."""
        runs: dict[Cell, list[list[Run]]] = {c: [] for c in point}
        failures: dict[Cell, list[dict]] = {c: [] for c in point}
        infos: dict[Cell, dict] = {c: {} for c in point}
        try:
            for repeat in range(max(self.plan.repeats_of(c) for c in point)):
                shift = repeat % len(point)
                for cell in point[shift:] + point[:shift]:
                    if repeat >= self.plan.repeats_of(cell):  # a cell with fewer repeats of its own
                        continue
                    try:
                        server = self._server_for(cell, servers)
                        infos[cell] = server.info
                        try:
                            if cell.idle:
                                measured = self._measure_idle(cell, server, tag=f"r{repeat + 1}")
                            else:
                                measured = self._measure(cell, server, cell.duration_s, tag=f"r{repeat + 1}")
                        finally:
                            if cell.fresh_server:
                                self.stop_server(server, grace_s=0.5)
                    except RUN_ERRORS as e:
                        failures[cell].append({"repeat": repeat + 1, "error": str(e)})
                        self._problem(f"{cell.title} r{repeat + 1}: {e}")
                        continue
                    runs[cell].append(self._idle_run(repeat, measured) if cell.idle
                                      else self._to_runs(repeat, measured))
                    self._progress(cell, repeat, measured)
        finally:
            for cell in point:
                for i, load in enumerate(cell.loads):
                    self.cells.append(results.make_cell(
                        cell, load, [r[i] for r in runs[cell]], server_info=infos[cell],
                        client_cpus=self.env.client_cpus, repeats_planned=self.plan.repeats_of(cell),
                        failures=failures[cell]))
            self.save()

    def _server_for(self, cell: Cell, servers: dict) -> Server:
        """The cell's server; a fresh one for /io/block, and a new one where the last has died."""
        if cell.fresh_server:
            return self.start_server(cell.server)
        server = servers.get(cell.server)
        if isinstance(server, ServerError):
            raise server
        assert server is not None
        if not server.alive:
            self.say(f"  .. {server.name} has exited (status {server.proc.returncode}); starting a new one")
            server.stop()
            try:
                servers[cell.server] = server = self.start_server(cell.server)
            except ServerError as e:
                servers[cell.server] = e
                raise
        return server

    def _measure(self, cell: Cell, server: Server, duration_s: int, *, tag: str) -> Measurement:
        """One run of every stream of ``cell`` at once, with server CPU and /stats around it.

        A footprint cell also samples the server's RSS and its threads' context switches from
        /proc before wrk starts and again shortly before wrk's run ends, with /stats each time.
        """
        server.check_alive()
        stats_ok = cell.read_stats and server.has_stats
        if server.has_stats and server is not self.env.remote:
            lingering = server.settle()
            if lingering:
                self.say(f"  .. {server.name}: {lingering} connection(s) of an earlier run still open")
        scenario = scenarios.get(cell.scenario)
        # The scenario's own step before the run (shared-state resets its counters), outside the figures.
        scenario.before_run(cell, server)
        before = server.stats() if stats_ok else None
        footprint = cell.footprint and stats_ok and server.pgid is not None and tag != "warmup"
        sample0 = self._proc_sample(server, before) if footprint else None
        upstream = self.dependency_for(cell.server)
        up0 = upstream.cpu_s() if upstream is not None else 0.0
        cpu0, busy0, t0 = server.cpu_s(), system_busy_s(), time.monotonic()
        stem = self._raw / cell.scenario / f"{results.cell_id(cell, cell.loads[0]).replace('/', '_')}-{tag}"
        stem.parent.mkdir(exist_ok=True)
        wrks = []
        first = time.monotonic()
        sample1 = None
        try:
            for load in cell.loads:
                time.sleep(max(0.0, first + load.start_after_s - time.monotonic()))
                name = f"{cell.title} {tag}{' ' + load.variant if len(cell.loads) > 1 else ''}"
                raw_stem = stem.with_name(stem.name + f".{load.stream.name}")
                if isinstance(load.stream, OpenStream):
                    assert self.env.cvp_load is not None, "the plan has open-loop loads but no cvp-load"
                    wrks.append(OpenRun(binary=self.env.cvp_load, stream=load.stream, rate=self.rate_for(load.stream),
                                        base_url=server.base_url, duration_s=duration_s, cpus=self.env.client_cpus,
                                        name=name, raw_stem=raw_stem, registry=self.env.registry))
                    continue
                if isinstance(load.stream, PgbenchStream):
                    assert isinstance(upstream, Database)
                    # pgbench runs on its spec's CPUs: the db scenario puts it where the front servers run.
                    wrks.append(PgbenchRun(pgbench=server.info["binary"], stream=load.stream, conninfo=upstream.conninfo,
                                           duration_s=duration_s, cpus=cell.server.cpus, name=name,
                                           raw_stem=raw_stem, registry=self.env.registry))
                    continue
                wrks.append(WrkRun(wrk=self.env.wrk, stream=load.stream, url=server.base_url,
                                   duration_s=duration_s, cpus=self.env.client_cpus, name=name,
                                   raw_stem=raw_stem, registry=self.env.registry))
            if footprint:
                at = first + max(duration_s / 2, duration_s - FOOTPRINT_BEFORE_END_S)
                time.sleep(max(0.0, at - time.monotonic()))
                sample1 = self._proc_sample(server, server.stats())
            measured = [(w.finish(), w) for w in wrks]
            measured = [(r if load.latency else replace(r, latency_us=dict.fromkeys(r.latency_us)), w)
                        for load, (r, w) in zip(cell.loads, measured)]
        except BaseException:
            for w in wrks:
                w.stop(0.5)
            raise
        cpu1, busy1, t1 = server.cpu_s(), system_busy_s(), time.monotonic()
        up1 = upstream.cpu_s() if upstream is not None else 0.0
        server.check_alive()
        if upstream is not None:
            upstream.check_alive()
        after = server.stats() if stats_ok else None
        # What the scenario reads from the server once the run is over (shared-state: its counters).
        after_run = scenario.after_run(cell, server)
        wall = max(r.wall_s for r, _ in measured)
        wrk_cpu = sum(r.cpu_s for r, _ in measured)
        # A remote server's CPU is not this machine's: only wrk is subtracted then.  A downstream's is the lab's.
        local_server = (0.0 if server is self.env.remote else cpu1 - cpu0) + (up1 - up0)
        # The front's pools: its downstream's, or its database's.
        pools = "database" if cell.server.database is not None else "downstream"
        downstream = downstream_delta(before, after, pools) if stats_ok else None
        if upstream is not None:
            downstream = dict(downstream or {}, server_cpu_s=round(up1 - up0, 4),
                              server_cpus=format_cpu_list(upstream.spec.cpus))
        return Measurement(wrk=measured, server_cpu_s=cpu1 - cpu0,
                           client_cpu=wrk_cpu / wall / len(self.env.client_cpus),
                           per_worker=per_worker_delta(before, after) if stats_ok else None,
                           background_cpus=max(0.0, (busy1 - busy0) - local_server - wrk_cpu) / wall,
                           pool=pool_delta(before, after) if stats_ok else None, server_wall_s=t1 - t0,
                           model=model_facts(after),
                           footprint=(footprint_delta(sample0, sample1, cell.connections)
                                      if sample0 and sample1 else None),
                           downstream=downstream, after_run=after_run)

    def rate_for(self, stream: OpenStream) -> float:
        """An open-loop stream's rate: its own, or its fraction of a cell measured earlier (ValueError if that
        cell has no measured throughput: it failed, or has not run)."""
        if not isinstance(stream.rate, RateOf):
            return float(stream.rate)
        return resolve_rate(stream.rate, self.cells)

    @staticmethod
    def _proc_sample(server: Server, stats: dict) -> dict:
        """The server's RSS, open descriptors and its threads' context switches now, beside a /stats snapshot."""
        return {"rss_bytes": procs.group_rss_bytes(server.pgid), "fds": procs.group_fd_count(server.pgid),
                "switches": procs.task_switches(server.pgid),
                "stats": stats, "at_s": time.monotonic()}

    def _measure_idle(self, cell: Cell, server: Server, *, tag: str) -> IdleMeasurement:
        """One run of the idle-connection helper against ``server``, with its CPU around it."""
        server.check_alive()
        hold = cell.loads[0].stream
        url = urlsplit(server.base_url)
        stem = self._raw / cell.scenario / f"{results.cell_id(cell, cell.loads[0]).replace('/', '_')}-{tag}.idle"
        stem.parent.mkdir(exist_ok=True)
        cpu0, busy0 = server.cpu_s(), system_busy_s()
        run = IdleRun(hold_=hold, host=url.hostname, port=url.port, pgid=server.pgid, cpus=self.env.client_cpus,
                      name=f"{cell.title} {tag}", raw_stem=stem, registry=self.env.registry)
        try:
            result = run.finish()
        except BaseException:
            self.env.registry.stop(run.proc, 0.5)
            raise
        cpu1, busy1 = server.cpu_s(), system_busy_s()
        server.check_alive()
        background = max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - result.cpu_s) / max(result.wall_s, 1e-6)
        out_dir = self.env.out_dir
        return IdleMeasurement(result, cpu1 - cpu0, background,
                               [str(run.stdout_path.relative_to(out_dir)), str(run.stderr_path.relative_to(out_dir))])

    def _idle_run(self, repeat: int, m: IdleMeasurement) -> list[dict]:
        """An idle run as results keep it (one per cell: an idle cell has one load)."""
        d = m.idle.data
        opened = d["tried"] - d["errors"]["connect"]  # connections the server accepted
        return [{"repeat": repeat + 1, "connections_wanted": d["wanted"], "connections_held": d["held"],
                 "rss_before_bytes": d["rss_before_bytes"], "rss_after_bytes": d["rss_after_bytes"],
                 "rss_per_connection_bytes": d["rss_per_connection_bytes"], "fds_before": d["fds_before"],
                 "fds_after": d["fds_after"], "fds_per_connection": d["fds_per_connection"], "open_s": d["open_s"],
                 "errors": d["errors"], "server_cpu_s": round(m.server_cpu_s, 4),
                 "server_cpu_us_per_connection": round(m.server_cpu_s * 1e6 / opened, 2) if opened else None,
                 "client_cpu": round(m.idle.client_cpu, 3), "client_cpu_s": round(m.idle.cpu_s, 3),
                 "background_cpus": round(m.background_cpus, 3), "nofile_soft": d["nofile_soft"],
                 "nofile_hard": d["nofile_hard"], "notes": d["notes"], "raw": m.raw}]

    def _to_runs(self, repeat: int, m: Measurement) -> list[Run]:
        total_requests = sum(r.requests for r, _ in m.wrk)
        out_dir = self.env.out_dir
        return [Run(repeat=repeat + 1, rps=r.rps, requests=r.requests, duration_s=r.duration_s,
                    latency_us=r.latency_us, errors=r.errors, client_cpu=m.client_cpu, client_cpu_s=r.cpu_s,
                    server_cpu_s=m.server_cpu_s, server_requests=total_requests,
                    background_cpus=m.background_cpus,
                    raw=[str(path.relative_to(out_dir)) for path in w.raw_paths],
                    per_worker=m.per_worker, pool=m.pool, server_wall_s=m.server_wall_s, model=m.model,
                    footprint=m.footprint, downstream=m.downstream, open_loop=self._open_loop(r, w),
                    after_run=m.after_run)
                for r, w in m.wrk]

    @staticmethod
    def _open_loop(r: WrkResult, w) -> dict | None:
        """An open-loop run's extras, with where its rate came from when it was a fraction of a measured cell."""
        if r.open_loop is None:
            return None
        rate = w.stream.rate
        if isinstance(rate, RateOf):
            return dict(r.open_loop, rate_from={"cell": results.cell_id(rate.cell, rate.cell.loads[rate.load]),
                                                "fraction": rate.fraction})
        return r.open_loop

    def _problem(self, text: str) -> None:
        self.failures.append(text)
        self.say("  !! " + text.replace("\n", "\n     "))


def resolve_rate(rate: RateOf, cells: list[Measured]) -> float:
    """``rate.fraction`` × the throughput of the cell ``rate`` names, among ``cells`` (measured so far)."""
    wanted = results.cell_id(rate.cell, rate.cell.loads[rate.load])
    found = next((c for c in reversed(cells) if c.id == wanted), None)
    if found is None or not found.rps:
        raise ValueError(f"the rate is {rate.fraction:g}× the throughput of {wanted}, which was "
                         + ("not measured" if found is None or not found.runs else "0") + " in this run")
    return rate.fraction * found.rps


def calibrate_pbkdf2(base_url: str, target_ms: float, probe_iterations: int = 20_000, samples: int = 5) -> dict:
    """PBKDF2 iterations that take about ``target_ms`` of CPU on this server.

    Times a few requests with ``probe_iterations`` using the server's own
    ``cpu_ns`` (thread CPU time of the work), or the client's wall time when the
    response lacks it, and scales from the lowest: noise (a cold cache, a stolen
    virtual CPU, a neighbour) only ever adds time.  A first request warms up and
    is not counted.  The result has two significant digits.
    """
    get_json(base_url, f"/cpu/pbkdf2?iterations={probe_iterations}", timeout_s=30)
    per_iteration_ns = []
    sources = set()
    for _ in range(samples):
        t0 = time.perf_counter_ns()
        body = get_json(base_url, f"/cpu/pbkdf2?iterations={probe_iterations}", timeout_s=30)
        wall = time.perf_counter_ns() - t0
        sources.add("cpu_ns from the responses" if body.get("cpu_ns") else "the client's wall time")
        per_iteration_ns.append(float(body.get("cpu_ns") or wall) / probe_iterations)
    ns = min(per_iteration_ns)
    raw = max(1, int(target_ms * 1e6 / ns))
    digits = len(str(raw)) - 2
    iterations = max(1, min(1_000_000, round(raw, -digits) if digits > 0 else raw))
    return {"iterations": iterations, "target_ms": target_ms, "ns_per_iteration": round(ns, 2),
            "expected_ms": round(iterations * ns / 1e6, 3), "probe_iterations": probe_iterations,
            "samples": samples, "source": " and ".join(sorted(sources)) + f", lowest of {samples} after a warm-up"}


def _ms(us: float | None) -> str:
    if us is None:
        return "-"
    return f"{us / 1000:.1f} ms" if us >= 1000 else f"{us:.0f} µs"


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"
