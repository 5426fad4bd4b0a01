"""The run manifest: what the numbers were measured on, and with what."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from .cpus import CgroupLimits, Placement, format_cpu_list
from .procs import SCHEDSTAT, FileLimit


def _run(argv: list[str], cwd: Path | None = None) -> str | None:
    """First line of a command's output, or None if it cannot run or fails."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].strip() if lines else ""


def _read(path: Path | str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name from /proc/cpuinfo."""
    text = cpuinfo if cpuinfo is not None else (_read("/proc/cpuinfo") or "")
    m = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return m.group(1).strip() if m else platform.processor() or "unknown"


def cmake_cache(build_dir: Path) -> dict[str, str]:
    """KEY -> value from a CMakeCache.txt (empty when there is none)."""
    out = {}
    for line in (_read(build_dir / "CMakeCache.txt") or "").splitlines():
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):[A-Z]+=(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def boost_version(cache: dict[str, str]) -> str | None:
    """Boost's version as the build found it (CMake's Boost_DIR), else the installed headers'."""
    m = re.search(r"Boost-(\d+\.\d+\.\d+)", cache.get("Boost_DIR", ""))
    if m:
        return m.group(1)
    m = re.search(r'BOOST_LIB_VERSION\s+"([\d_]+)"', _read("/usr/include/boost/version.hpp") or "")
    return m.group(1).replace("_", ".") if m else None


def git_state(repo: Path) -> dict:
    """Commit and whether the tree differs from it (read-only git commands)."""
    commit = _run(["git", "rev-parse", "HEAD"], cwd=repo)
    dirty = None
    if commit:
        status = _run(["git", "status", "--porcelain"], cwd=repo)
        dirty = bool(status) if status is not None else None
    return {"commit": commit, "dirty": dirty,
            "note": None if commit else "no commit yet (or not a git checkout)"}


def _sysctl(name: str) -> str | None:
    text = _read("/proc/sys/" + name.replace(".", "/"))
    return " ".join(text.split()) if text is not None else None


def collect(*, repo: Path, argv: list[str], options: dict, profile, placement: Placement, allowed: tuple[int, ...],
            limits: CgroupLimits, usable: int, file_limit: FileLimit, wrk_version: str,
            server_binary: Path | None, target: str | None) -> dict:
    """Everything a reader needs to reproduce or judge the run."""
    build_dir = server_binary.parent if server_binary else repo / "build" / "release"
    cache = cmake_cache(build_dir)
    compiler_path = cache.get("CMAKE_CXX_COMPILER") or "c++"
    try:
        import matplotlib
        mpl = matplotlib.__version__
    except ImportError:
        mpl = None
    return {
        "lab": {"argv": argv, "options": options, "profile": asdict(profile), "python": sys.version.split()[0],
                "matplotlib": mpl, "cwd": os.getcwd()},
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "finished_at": None,
        "wall_s": None,
        "status": "running",
        "host": {
            "hostname": socket.gethostname(),
            "cpu_model": cpu_model(),
            "cpus_online": os.cpu_count(),
            "cpus_allowed": format_cpu_list(allowed),
            "cgroup": {"version": limits.version, "quota_cpus": limits.quota_cpus, "cpuset": limits.cpuset},
            "usable_cpus": usable,
            "kernel": platform.release(),
            "kernel_version": platform.version(),
            "os": (platform.freedesktop_os_release().get("PRETTY_NAME") if hasattr(platform, "freedesktop_os_release")
                   else None),
            "memory_total_kib": _meminfo_total(),
        },
        "placement": {"server_cpus": format_cpu_list(placement.server),
                      "client_cpus": format_cpu_list(placement.client), "disjoint": placement.disjoint},
        "tools": {
            "compiler": _run([compiler_path, "--version"]),
            "build_type": cache.get("CMAKE_BUILD_TYPE"),
            "boost": boost_version(cache),
            "wrk": wrk_version,
        },
        "server": {"binary": str(server_binary) if server_binary else None, "target": target},
        "git": git_state(repo),
        "limits": {"nofile_soft": file_limit.soft, "nofile_hard": file_limit.hard,
                   "nofile_needed": file_limit.needed, "nofile_enough": file_limit.enough,
                   "somaxconn": _sysctl("net.core.somaxconn"),
                   "ip_local_port_range": _sysctl("net.ipv4.ip_local_port_range"),
                   "tcp_tw_reuse": _sysctl("net.ipv4.tcp_tw_reuse"),
                   "notes": []},
        "accounting": {"server_cpu": ("per process of the server's process group, the larger of its live threads' "
                                      "/proc/<pid>/task/*/schedstat run time and utime + stime of /proc/<pid>/stat "
                                      "(which keeps the time of threads that have exited)"
                                      if not target and SCHEDSTAT else
                                      "/stats process.cpu_user_s + cpu_system_s" if target else
                                      "utime + stime from /proc/<pid>/stat over the server's process group (threads "
                                      "that have exited included)"),
                       "client_cpu": "wrk's rusage (wait4) / wall time / CPUs given to wrk",
                       "footprint": ("io at the most connections: VmRSS of /proc/<pid>/status and the voluntary and "
                                     "involuntary context switches of every thread (/proc/<pid>/task/*/status), read "
                                     "before wrk starts and again 0.25 s before its run ends, with /stats each time"
                                     if not target else None)},
        "calibration": None,
    }


def _meminfo_total() -> int | None:
    m = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo") or "", re.MULTILINE)
    return int(m.group(1)) if m else None


def finish(manifest: dict, *, status: str, wall_s: float) -> None:
    """Stamps the end of the run."""
    manifest["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest["wall_s"] = round(wall_s, 1)
    manifest["status"] = status
