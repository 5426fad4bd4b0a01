"""CPU lists, the CPUs this process may use, cgroup limits, and CPU placement."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path


def parse_cpu_list(text: str) -> tuple[int, ...]:
    """Parses a Linux CPU list such as ``"0-3,8"`` into sorted, distinct CPU numbers.

    Raises ValueError with a readable message on malformed input.
    """
    cpus: set[int] = set()
    text = text.strip()
    if not text:
        raise ValueError("empty CPU list")
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            first = int(lo)
            last = int(hi) if sep else first
        except ValueError:
            raise ValueError(f"bad CPU list element {part!r} (expected N or N-M)") from None
        if first < 0 or last < first:
            raise ValueError(f"bad CPU range {part!r}")
        cpus.update(range(first, last + 1))
    return tuple(sorted(cpus))


def format_cpu_list(cpus: tuple[int, ...] | list[int]) -> str:
    """Formats CPUs as a compact Linux CPU list (``"0-2,5"``)."""
    out: list[str] = []
    ordered = sorted(set(cpus))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def allowed_cpus() -> tuple[int, ...]:
    """The CPUs in this process's affinity mask."""
    return tuple(sorted(os.sched_getaffinity(0)))


@dataclass(frozen=True)
class CgroupLimits:
    """The CPU limits of this process's cgroup, as far as they can be read."""

    version: str  # "v1", "v2" or "none"
    quota_cpus: float | None  # CFS quota / period; None when unlimited
    cpuset: str | None  # the cgroup's cpuset, as a CPU list, when readable


def _cgroup_paths(proc_cgroup: str) -> dict[str, str]:
    """Maps each controller (and "" for the v2 unified hierarchy) to its cgroup path."""
    paths: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _candidates(mount: Path, path: str) -> list[Path]:
    """The cgroup directory for ``path`` under ``mount`` and each of its parents.

    Inside a container the path in /proc/self/cgroup may not exist under the
    mount; the mount root is always the last candidate.
    """
    out: list[Path] = []
    rel = Path(path.lstrip("/"))
    while True:
        out.append(mount / rel)
        if rel == Path("."):
            return out
        rel = rel.parent


def read_cgroup_limits(root: Path = Path("/")) -> CgroupLimits:
    """Reads the CPU quota and cpuset of this process's cgroup (v1 or v2).

    ``root`` is ``/`` in production; tests pass a directory holding
    ``proc/self/cgroup`` and ``sys/fs/cgroup``.  Never raises: what cannot be
    read is reported as unknown.
    """
    paths = _cgroup_paths(_read(root / "proc/self/cgroup") or "")
    fs = root / "sys/fs/cgroup"
    # cgroup v1: a cpu (or cpu,cpuacct) hierarchy with CFS files.
    v1_cpu = next((fs / name for name in ("cpu", "cpu,cpuacct") if (fs / name / "cpu.cfs_quota_us").exists()), None)
    if v1_cpu is not None:
        quota: float | None = None
        for d in _candidates(v1_cpu, paths.get("cpu", "/")):
            q, p = _read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")
            if q is not None and p is not None:
                if int(q) > 0 and int(p) > 0:
                    quota = int(q) / int(p)
                break
        cpuset = None
        for d in _candidates(fs / "cpuset", paths.get("cpuset", "/")):
            cpuset = _read(d / "cpuset.effective_cpus") or _read(d / "cpuset.cpus")
            if cpuset:
                break
        return CgroupLimits("v1", quota, cpuset)
    # cgroup v2: cpu.max ("max 100000" or "150000 100000"); the tightest along the path wins.
    if (fs / "cgroup.controllers").exists():
        quota = None
        cpuset = None
        for d in _candidates(fs, paths.get("", "/")):
            text = _read(d / "cpu.max")
            if text:
                q, _, p = text.partition(" ")
                if q != "max" and p:
                    value = int(q) / int(p)
                    quota = value if quota is None else min(quota, value)
            cpuset = cpuset or _read(d / "cpuset.cpus.effective")
        return CgroupLimits("v2", quota, cpuset)
    return CgroupLimits("none", None, None)


def usable_cpus(allowed: tuple[int, ...], limits: CgroupLimits) -> int:
    """How many CPUs the process can keep busy: the affinity mask capped by the quota."""
    n = len(allowed)
    if limits.quota_cpus is not None:
        n = min(n, math.ceil(limits.quota_cpus))
    return max(1, n)


@dataclass(frozen=True)
class Placement:
    """Where the server and wrk run.

    Overhead scenarios run the server on ``server`` and wrk on ``client``, which
    are disjoint when the machine has two CPUs or more.  Scaling scenarios give
    the server as many CPUs as it needs from ``server`` then ``client`` (see
    :meth:`server_cpus_for`), and wrk stays on ``client``.
    """

    server: tuple[int, ...]
    client: tuple[int, ...]

    @property
    def all(self) -> tuple[int, ...]:
        """Every CPU the lab may use, server CPUs first."""
        return self.server + tuple(c for c in self.client if c not in self.server)

    @property
    def disjoint(self) -> bool:
        return not set(self.server) & set(self.client)

    def server_cpus_for(self, workers: int) -> tuple[int, ...]:
        """The CPUs a server with ``workers`` parallel workers gets in a scaling run."""
        return tuple(sorted(self.all[: max(1, min(workers, len(self.all)))]))


def default_placement(allowed: tuple[int, ...]) -> Placement:
    """Splits the allowed CPUs: wrk gets the last quarter (at least one), the server the rest.

    With two CPUs that is server 0, wrk 1.  With one CPU both share it.
    """
    if len(allowed) == 1:
        return Placement(allowed, allowed)
    n_client = max(1, len(allowed) // 4)
    return Placement(allowed[:-n_client], allowed[-n_client:])
