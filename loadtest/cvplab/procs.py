"""Child processes: each in its own process group, accounted for CPU, and stopped on exit.

Every process the lab starts goes through a :class:`ProcessRegistry`, so that
Ctrl-C (or SIGTERM, or an error) stops all of them, and nothing else.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ProcessRegistry:
    """The children the lab started and has not reaped yet."""

    def __init__(self) -> None:
        self._live: dict[int, tuple[subprocess.Popen, str]] = {}

    def spawn(self, argv: list[str], *, name: str, stdout: IO | int, stderr: IO | int,
              cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Starts ``argv`` as the leader of a new session (and so of a new process group).

        A new session keeps the terminal's Ctrl-C away from the children: the
        lab receives it and stops them itself, in order.  ``env`` adds to (or
        replaces some of) the lab's own environment.
        """
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                cwd=cwd, start_new_session=True, env={**os.environ, **env} if env else None)
        self._live[proc.pid] = (proc, name)
        return proc

    def reaped(self, proc: subprocess.Popen) -> None:
        """Forgets a child that has exited and been waited for."""
        self._live.pop(proc.pid, None)

    def stop(self, proc: subprocess.Popen, grace_s: float) -> int | None:
        """Stops a child's whole process group: SIGTERM, then SIGKILL after ``grace_s``.

        Returns the child's exit status (negative for a signal).
        """
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        # Children of the leader (nginx workers) may outlive it.
        _signal_group(proc.pid, signal.SIGKILL)
        self.reaped(proc)
        return proc.returncode

    def stop_all(self, grace_s: float = 1.0) -> list[str]:
        """Stops every live child, newest first.  Returns the names of those stopped."""
        names = []
        for proc, name in reversed(list(self._live.values())):
            self.stop(proc, grace_s)
            names.append(name)
        return names

    def __len__(self) -> int:
        return len(self._live)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


class ProcessError(Exception):
    """A process the lab ran failed, died or gave no result.  Carries its name, the problem and
    its stderr; the message ends with stderr's last 20 lines."""

    #: How the message names the process; ``{name}`` is its name.
    label = "{name}"

    def __init__(self, name: str, problem: str, stderr: str = "") -> None:
        self.name, self.problem, self.stderr = name, problem, stderr
        text = f"{self.label.format(name=name)}: {problem}"
        if stderr.strip():
            text += "\n  stderr:\n" + "\n".join("    " + l for l in stderr.strip().splitlines()[-20:])
        super().__init__(text)


@dataclass(frozen=True)
class Exit:
    """How a waited-for child ended, and the CPU it used."""

    returncode: int
    cpu_s: float  # user + system, all threads
    wall_s: float  # from the call that started waiting's ``started`` to the exit being seen


def wait_with_rusage(proc: subprocess.Popen, *, started: float, timeout_s: float,
                     registry: ProcessRegistry) -> Exit:
    """Waits for ``proc`` and returns its exit status and resource usage.

    ``os.wait4`` gives the child's own user and system time (all its threads),
    which ``Popen.wait`` throws away.  Raises ``subprocess.TimeoutExpired``
    after ``timeout_s`` (the child is left running; the caller stops it).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            wall = time.monotonic() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
            registry.reaped(proc)
            return Exit(proc.returncode, usage.ru_utime + usage.ru_stime, wall)
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout_s)
        time.sleep(0.01)


class LoggedRun:
    """A load tool the lab started (wrk, the idle helper, pgbench), its output in files beside the results.

    Subclasses call :meth:`_start` with the command, then their ``finish`` calls :meth:`_wait`
    with their parser of its stdout; a failure raises their ``error`` with the tool's stderr.
    """

    #: The ProcessError subclass a failed run raises.
    error: type[ProcessError] = ProcessError

    def _start(self, argv: list[str], *, what: str, name: str, raw_stem: Path, registry: ProcessRegistry,
               cwd: Path | None = None) -> None:
        self.name, self.registry, self.argv = name, registry, argv
        self.stdout_path = raw_stem.with_name(raw_stem.name + ".stdout")
        self.stderr_path = raw_stem.with_name(raw_stem.name + ".stderr")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.started = time.monotonic()
            self.proc = registry.spawn(argv, name=f"{what} ({name})", stdout=out, stderr=err, cwd=cwd)

    def _wait(self, limit_s: float, parse: Callable[[str], dict]) -> tuple[Exit, dict]:
        """Waits at most ``limit_s`` for a clean exit; returns it with ``parse`` of the run's stdout
        (a ValueError from it is the run's error)."""
        try:
            exit_ = wait_with_rusage(self.proc, started=self.started, timeout_s=limit_s, registry=self.registry)
        except subprocess.TimeoutExpired:
            self.registry.stop(self.proc, grace_s=1.0)
            raise self.error(self.name, f"still running {limit_s:g} s after it started; stopped",
                             self.stderr()) from None
        if exit_.returncode != 0:
            raise self.error(self.name, f"exited with status {exit_.returncode}", self.stderr())
        try:
            return exit_, parse(self.stdout_path.read_text(errors="replace"))
        except ValueError as e:
            raise self.error(self.name, str(e), self.stderr()) from None

    def stderr(self) -> str:
        return tail_text(self.stderr_path, limit=1 << 20)

    @property
    def raw_paths(self) -> list[Path]:
        """The files the run wrote beside the results: its stdout and stderr."""
        return [self.stdout_path, self.stderr_path]

    def stop(self, grace_s: float) -> None:
        """Stops the run's process group if it is still running."""
        self.registry.stop(self.proc, grace_s)


def _stat_fields(pid: str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3 onward)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


SCHEDSTAT = Path("/proc/self/schedstat").exists()
"""Whether per-thread run time in nanoseconds is available (else clock ticks are used)."""


def _process_cpu_s(pid: str, fields: list[str]) -> float:
    """CPU time of one process, its exited threads included.

    The sum of its live threads' schedstat run time is exact to the nanosecond but forgets a
    thread once it has exited (the threads model ends a connection's thread with the
    connection); utime + stime of /proc/<pid>/stat keeps the exited threads' time but is
    whole clock ticks, each truncated (up to two ticks low).  The larger of the two is the
    schedstat sum while no thread has exited, and within two ticks of the truth after.
    """
    ticks = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    if SCHEDSTAT:
        total_ns = 0
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                try:
                    total_ns += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
                except (OSError, IndexError, ValueError):
                    continue
            return max(total_ns / 1e9, ticks)
        except OSError:
            pass
    return ticks


def group_cpu_s(pgid: int) -> float:
    """CPU seconds used so far by every live process in process group ``pgid``.

    The server is started as a group leader, so this covers cvp-server's threads (those
    that have exited too: see :func:`_process_cpu_s`) and nginx's worker processes alike.
    Processes that have exited are not counted; a server's processes live for the whole run.
    """
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fields = _stat_fields(pid)
        if fields is not None and int(fields[2]) == pgid:
            total += _process_cpu_s(pid, fields)
    return total


def tree_cpu_s(root: int) -> float:
    """CPU seconds used so far by process ``root``, its live children, and its children that have exited.

    For a server that forks a process per connection and whose children leave its process
    group (PostgreSQL's backends call setsid): the kernel adds a reaped child's user and system
    time to its parent's ``cutime``/``cstime``, so the backends that have exited count too.
    Whole clock ticks for the exited ones; a live process as :func:`_process_cpu_s`.
    """
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fields = _stat_fields(pid)
        if fields is None or (int(pid) != root and int(fields[1]) != root):
            continue
        total += _process_cpu_s(pid, fields) + (int(fields[13]) + int(fields[14])) / _CLOCK_TICKS
    return total


def is_running(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    fields = _stat_fields(str(pid)) if pid > 0 else None
    return fields is not None and fields[0] != "Z"


def tail_text(path: Path, limit: int = 4000) -> str:
    """The last ``limit`` characters of a log file; empty when it cannot be read."""
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def _group_pids(pgid: int) -> list[str]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            fields = _stat_fields(pid)
            if fields is not None and int(fields[2]) == pgid:
                out.append(pid)
    return out


def rss_bytes(pid: int | str) -> int | None:
    """A process's resident memory, ``VmRSS`` from /proc/<pid>/status; None once it has gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None  # a zombie has no VmRSS


def task_switches(pgid: int) -> dict[str, tuple[int, int]]:
    """Voluntary and involuntary context switches of every live thread in process group ``pgid``.

    Keyed ``"pid/tid"``, from ``voluntary_ctxt_switches`` and ``nonvoluntary_ctxt_switches`` of
    /proc/<pid>/task/<tid>/status.  The process's own /proc/<pid>/status counts its main thread
    only, and a thread's counts go with it when it exits: read them while the threads live.
    """
    out = {}
    for pid in _group_pids(pgid):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                text = Path(f"/proc/{pid}/task/{tid}/status").read_text()
            except OSError:
                continue  # exited meanwhile
            counts = {}
            for line in text.splitlines():
                key, _, value = line.partition(":")
                if key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                    counts[key] = int(value)
            if len(counts) == 2:
                out[f"{pid}/{tid}"] = (counts["voluntary_ctxt_switches"], counts["nonvoluntary_ctxt_switches"])
    return out


def group_rss_bytes(pgid: int) -> int:
    """Resident memory of every live process in process group ``pgid`` (nginx: master and workers)."""
    return sum(r for r in (rss_bytes(pid) for pid in _group_pids(pgid)) if r is not None)


def group_fd_count(pgid: int) -> int | None:
    """Open descriptors of every live process in process group ``pgid`` (the entries of /proc/<pid>/fd).

    A process that exits meanwhile counts 0; None where a live process's descriptors cannot be
    listed (another user's process) or the group has no process left.
    """
    pids = _group_pids(pgid)
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except FileNotFoundError:
            continue  # exited meanwhile
        except OSError:
            return None
    return total if pids else None


def system_busy_s() -> float:
    """CPU seconds every process on the machine has used since boot (all CPUs, /proc/stat).

    Busy is everything but idle and iowait.  Its growth over a run, less the
    server's and wrk's own CPU, is what other processes took: noise.
    """
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    # guest time is already counted in user time
    return (sum(fields[:8]) - idle) / _CLOCK_TICKS


def background_cpus(seconds: float = 0.5) -> float:
    """CPUs the rest of the machine keeps busy, sampled over ``seconds`` while the lab idles."""
    before = system_busy_s()
    time.sleep(seconds)
    return max(0.0, system_busy_s() - before) / seconds


@dataclass(frozen=True)
class FileLimit:
    """RLIMIT_NOFILE after the lab raised it, and whether it covers what the run needs."""

    soft: int
    hard: int
    needed: int

    @property
    def enough(self) -> bool:
        return self.soft >= self.needed


def raise_file_limit(needed: int) -> FileLimit:
    """Raises this process's soft open-file limit as far as the hard limit allows.

    Children inherit it, so the servers and wrk get it too.  Raising the hard
    limit needs root (or CAP_SYS_RESOURCE) and is not attempted.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return FileLimit(soft=soft, hard=hard, needed=needed)
