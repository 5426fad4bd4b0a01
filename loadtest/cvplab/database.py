"""The lab's PostgreSQL: a throwaway cluster from ``scripts/postgres``, and pgbench against it.

The ``db`` scenario's servers query one cluster the lab starts for it (``ServerSpec.database``):
``scripts/postgres start`` under ``taskset``, so the postmaster and every backend it forks stay
on the CPUs the plan gave the database.  Its CPU is read around each run, as a downstream
server's is: the postmaster's own, its live children's (the backends), and what its exited
children used (the kernel adds a reaped child's time to its parent's ``cutime``/``cstime``).
Backends make themselves group leaders (``setsid``), so the process group cannot be used.

pgbench is the database's own limit: a :class:`PgbenchStream` is a load like wrk's stream, and a
:class:`PgbenchRun` returns the same :class:`cvplab.wrk.WrkResult` (transactions as requests),
so a pgbench cell runs through the runner as any other.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import procs
from .cpus import format_cpu_list
from .servers import Server, ServerSpec
from .wrk import ERROR_KINDS, WrkResult

#: The project's script that starts and stops throwaway clusters (the only way the lab starts one).
POSTGRES_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres"
#: How long ``scripts/postgres start`` may take (initdb, start, the world table).
START_TIMEOUT_S = 120.0
#: The rows of ``world`` (scripts/postgres): ids 1..WORLD_ROWS.
WORLD_ROWS = 10_000


class DatabaseError(procs.ProcessError):
    """The database could not be started, or died; pgbench failed."""

    label = "{name}"


@dataclass(frozen=True)
class DatabaseSpec:
    """The cluster a server queries: the CPUs its processes are pinned to."""

    cpus: tuple[int, ...]

    @property
    def description(self) -> str:
        return f"PostgreSQL (scripts/postgres) on CPUs {format_cpu_list(self.cpus)}"


def available() -> str | None:
    """None when the lab can start a cluster and run pgbench here, else why not."""
    if not POSTGRES_SCRIPT.exists():
        return f"{POSTGRES_SCRIPT} is missing"
    if find_pgbench() is None:
        return "PostgreSQL's server binaries are not installed (Debian's postgresql; scripts/deps installs it)"
    return None


def find_pgbench() -> str | None:
    """pgbench from the server's own binaries (``scripts/postgres bindir``), else the PATH's."""
    try:
        out = subprocess.run([str(POSTGRES_SCRIPT), "bindir"], capture_output=True, text=True, timeout=10)
    except OSError:
        out = None
    if out is not None and out.returncode == 0:
        candidate = Path(out.stdout.strip()) / "pgbench"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("pgbench")


def _clean_env() -> dict[str, str]:
    """The lab's environment without libpq's variables (PGHOST, PGPORT...), which would steer pgbench."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


class Database:
    """A running cluster the lab started: its conninfo, its CPU, and how to stop it."""

    def __init__(self, spec: DatabaseSpec, folder: Path, conninfo: str, postmaster: int) -> None:
        self.spec, self.folder, self.conninfo, self.postmaster = spec, folder, conninfo, postmaster

    @property
    def name(self) -> str:
        return self.spec.description

    @property
    def alive(self) -> bool:
        return procs.is_running(self.postmaster)

    def check_alive(self) -> None:
        if not self.alive:
            raise DatabaseError(self.name, "its postmaster has exited", procs.tail_text(self.folder / "postgres.log"))

    def cpu_s(self) -> float:
        """CPU seconds the cluster has used: the postmaster's tree, exited backends included."""
        return procs.tree_cpu_s(self.postmaster)

    def stop(self) -> None:
        """``scripts/postgres stop``: a fast shutdown, then the folder is removed."""
        subprocess.run([str(POSTGRES_SCRIPT), "stop", "--dir", str(self.folder)], capture_output=True,
                       timeout=START_TIMEOUT_S, env=_clean_env())


def start_database(spec: DatabaseSpec) -> Database:
    """Starts a cluster pinned to ``spec.cpus``; DatabaseError with the script's stderr if it cannot."""
    folder = Path(tempfile.mkdtemp(prefix="cvp-lab-pg.", dir="/tmp"))
    argv = ["taskset", "-c", format_cpu_list(spec.cpus), str(POSTGRES_SCRIPT), "start", "--dir", str(folder)]
    # The folder must be empty, and scripts/postgres gives it to the cluster's owner.
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=START_TIMEOUT_S, env=_clean_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        shutil.rmtree(folder, ignore_errors=True)
        raise DatabaseError(spec.description, f"scripts/postgres start failed: {e}") from None
    if out.returncode != 0 or not out.stdout.strip():
        shutil.rmtree(folder, ignore_errors=True)
        raise DatabaseError(spec.description, f"scripts/postgres start exited with status {out.returncode}",
                            out.stderr[-4000:])
    conninfo = out.stdout.strip().splitlines()[-1]
    try:
        postmaster = int((folder / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, IndexError, ValueError) as e:
        db = Database(spec, folder, conninfo, -1)
        db.stop()
        raise DatabaseError(spec.description, f"no postmaster.pid to read its CPU from: {e}") from None
    return Database(spec, folder, conninfo, postmaster)


@dataclass(frozen=True)
class PgbenchStream:
    """One pgbench process: ``queries`` random ``world`` rows per transaction, over ``connections``."""

    name: str
    connections: int
    threads: int
    queries: int  # 1: one prepared SELECT; more: that many in one pipeline (one round trip)
    timeout_s: int = 10  # unused by pgbench; the runner bounds the run by it as it does wrk's

    def script(self) -> str:
        """The custom script: the same statement /db/query prepares, pipelined as /db/queries sends it."""
        lines = []
        for i in range(self.queries):
            lines.append(f"\\set id{i} random(1, {WORLD_ROWS})")
        select = "SELECT id, randomnumber FROM world WHERE id = :id{};"
        if self.queries == 1:
            return "\n".join(lines + [select.format(0)]) + "\n"
        return "\n".join(lines + ["\\startpipeline", *(select.format(i) for i in range(self.queries)),
                                  "\\endpipeline"]) + "\n"


def pgbench_command(pgbench: str, stream: PgbenchStream, script: Path, conninfo: str, duration_s: int,
                    cpus: tuple[int, ...]) -> list[str]:
    """pgbench pinned to ``cpus``: prepared statements, no vacuum (no pgbench tables), our script only."""
    return ["taskset", "-c", format_cpu_list(cpus), pgbench, "-n", "-M", "prepared", "-c", str(stream.connections),
            "-j", str(stream.threads), "-T", str(duration_s), "-f", str(script), conninfo]


TRANSACTIONS = re.compile(r"^number of transactions actually processed: (\d+)", re.M)
FAILED = re.compile(r"^number of failed transactions: (\d+)", re.M)
LATENCY = re.compile(r"^latency average = ([0-9.]+) ms", re.M)
TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.M)


def parse_pgbench(stdout: str) -> dict:
    """Transactions, failures, mean latency and the measured seconds from pgbench's summary."""
    found = {k: rx.search(stdout) for k, rx in (("tx", TRANSACTIONS), ("tps", TPS), ("latency", LATENCY))}
    missing = [k for k, m in found.items() if m is None]
    if missing:
        raise ValueError(f"pgbench's summary lacks {', '.join(missing)}")
    tx, tps = int(found["tx"].group(1)), float(found["tps"].group(1))
    if tx <= 0 or tps <= 0:
        raise ValueError(f"pgbench processed {tx} transactions at {tps} tps")
    failed = FAILED.search(stdout)
    return {"transactions": tx, "failed": int(failed.group(1)) if failed else 0,
            "latency_ms": float(found["latency"].group(1)), "duration_s": tx / tps}


class PgbenchRun(procs.LoggedRun):
    """A started pgbench, with :class:`cvplab.wrk.WrkRun`'s interface: :meth:`finish` returns a WrkResult."""

    error = DatabaseError

    def __init__(self, *, pgbench: str, stream: PgbenchStream, conninfo: str, duration_s: int,
                 cpus: tuple[int, ...], name: str, raw_stem: Path, registry: procs.ProcessRegistry) -> None:
        self.cpus, self.duration_s, self.stream = cpus, duration_s, stream
        # The script beside its output, so the raw folder says what pgbench ran.
        script = raw_stem.with_name(raw_stem.name + ".sql")
        script.write_text(stream.script())
        self._start(pgbench_command(pgbench, stream, script, conninfo, duration_s, cpus), what="pgbench", name=name,
                    raw_stem=raw_stem, registry=registry)

    def finish(self) -> WrkResult:
        """Waits for pgbench; its transactions are the requests, its failed ones the refused."""
        exit_, data = self._wait(self.duration_s + self.stream.timeout_s + 30, parse_pgbench)
        latency = dict.fromkeys(("min", "stdev", "max", "p50", "p90", "p99", "p999"))
        latency["mean"] = data["latency_ms"] * 1000
        errors = dict.fromkeys(ERROR_KINDS, 0)
        errors["status"] = data["failed"]
        return WrkResult(requests=data["transactions"], duration_s=data["duration_s"], latency_us=latency,
                         errors=errors, cpu_s=exit_.cpu_s, wall_s=exit_.wall_s, cpus=len(self.cpus),
                         non2xx=data["failed"])


class PgbenchPeer(Server):
    """pgbench's place among the servers of a cell: nothing runs until a run starts pgbench.

    Its CPU is the database's, read as every cell's (``ServerSpec.database``); pgbench's own is
    the client's, as wrk's is.
    """

    def __init__(self, spec: ServerSpec, pgbench: str) -> None:
        version = subprocess.run([pgbench, "--version"], capture_output=True, text=True).stdout.strip()
        super().__init__(spec, "", info={"version": version, "parallelism": str(spec.workers), "binary": pgbench})

    def cpu_s(self) -> float:
        return 0.0
