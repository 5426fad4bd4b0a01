"""Running wrk and reading the JSON line that ``scripts/common.lua``'s ``done()`` prints."""

from __future__ import annotations

import json
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import procs
from .cpus import format_cpu_list

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "scripts"
#: The prefix of the line done() prints.  Everything after it is one JSON object.
RESULT_MARKER = "CVPLAB_RESULT "
#: The line of wrk's own summary that counts responses with a status of 400 or more (its ``errors.status``);
#: wrk prints it only when that count is not zero.
NON2XX_LINE = re.compile(r"^\s*Non-2xx or 3xx responses:\s*(\d+)\s*$", re.MULTILINE)
#: The line of wrk's own summary that every finished run prints: ``3016 requests in 1.02s, 1.08MB read``.
SUMMARY_LINE = re.compile(r"^\s*\d+ requests in [\d.]+\w+, ", re.MULTILINE)
ERROR_KINDS = ("connect", "read", "write", "timeout", "status")
PERCENTILES = ("p50", "p90", "p99", "p999")


class WrkError(procs.ProcessError):
    """wrk failed or printed no result.  Carries the run's name and wrk's stderr."""

    label = "wrk ({name})"


@dataclass(frozen=True)
class Stream:
    """One wrk process: a scenario script, its arguments and its load."""

    name: str  # "main"; "io" and "cpu" for the two streams of mixed
    script: str  # a file in loadtest/scripts
    args: tuple[str, ...]  # key=value pairs for the script's init()
    connections: int
    threads: int
    timeout_s: int  # wrk --timeout: slower responses count as timeouts


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured, plus the CPU wrk itself used."""

    requests: int  # every response, whatever its status
    duration_s: float
    latency_us: dict  # min, mean, stdev, max, p50, p90, p99, p999 (None when nothing completed)
    errors: dict  # connect, read, write, timeout, status (non-2xx/3xx)
    cpu_s: float  # wrk's user + system time
    wall_s: float
    cpus: int  # CPUs wrk was allowed
    # wrk's "Non-2xx or 3xx responses: N" (0 when its summary has no such line); None when not read
    non2xx: int | None = None
    # an open-loop run (cvp-load): the rate asked and achieved, late and dropped requests, lag, service time
    open_loop: dict | None = None

    @property
    def refused(self) -> int:
        """Responses with a status of 400 or more: wrk's Non-2xx line, else done()'s errors.status."""
        return self.non2xx if self.non2xx is not None else self.errors.get("status", 0)

    @property
    def rps(self) -> float:
        """Goodput: successful responses per second, (requests − non-2xx/3xx) ÷ duration.

        A server that sheds load answers 503 quickly; counting those would make
        shedding look like throughput.
        """
        ok = self.requests - self.refused
        return ok / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def refused_rps(self) -> float:
        """Responses with a status of 400 or more per second (a 503 from a full pool queue, in overload)."""
        return self.refused / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def client_cpu(self) -> float:
        """wrk's CPU use as a share of the CPUs it had (1.0 = all of them, all the time)."""
        return self.cpu_s / self.wall_s / self.cpus if self.wall_s > 0 else 0.0


def parse_result(stdout: str) -> dict:
    """Finds and validates the ``CVPLAB_RESULT {...}`` line in wrk's stdout.

    Returns the decoded object with latency values as floats (or None) and
    integer error counts.  Raises ValueError if the line is missing or malformed.
    """
    lines = [l for l in stdout.splitlines() if l.startswith(RESULT_MARKER)]
    if not lines:
        raise ValueError("no CVPLAB_RESULT line: the scenario script's done() did not run")
    if len(lines) > 1:
        raise ValueError("more than one CVPLAB_RESULT line")
    data = json.loads(lines[0][len(RESULT_MARKER):])
    try:
        requests = int(data["requests"])
        duration_us = float(data["duration_us"])
        latency = {k: _finite_or_none(data["latency_us"].get(k))
                   for k in ("min", "mean", "stdev", "max", *PERCENTILES)}
        errors = {k: int(data["errors"][k]) for k in ERROR_KINDS}
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"CVPLAB_RESULT lacks a field: {e}") from None
    if requests < 0 or duration_us <= 0:
        raise ValueError(f"CVPLAB_RESULT has requests={requests}, duration_us={duration_us}")
    non2xx = parse_non2xx(stdout)
    if non2xx is not None and non2xx != errors["status"]:
        raise ValueError(f"wrk's summary says {non2xx} non-2xx or 3xx responses, done() says {errors['status']}")
    return {"requests": requests, "duration_s": duration_us / 1e6, "latency_us": latency,
            "errors": errors, "bytes": int(data.get("bytes", 0)), "non2xx": non2xx}


def parse_non2xx(stdout: str) -> int | None:
    """wrk's own count of responses with a status of 400 or more, from its summary.

    wrk prints ``Non-2xx or 3xx responses: N`` only when N is not zero, so a summary
    without that line means 0; None when there is no summary at all (``N requests
    in ...``), as when only done()'s line is at hand.
    """
    found = NON2XX_LINE.findall(stdout)
    if len(found) > 1:
        raise ValueError("more than one 'Non-2xx or 3xx responses' line")
    if found:
        return int(found[0])
    return 0 if SUMMARY_LINE.search(stdout) else None


def _finite_or_none(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def command(wrk: str, stream: Stream, url: str, duration_s: int, cpus: tuple[int, ...]) -> list[str]:
    """The wrk command line for one stream, pinned to ``cpus`` with taskset."""
    return ["taskset", "-c", format_cpu_list(cpus), wrk,
            "-t", str(stream.threads), "-c", str(stream.connections), "-d", f"{duration_s}s",
            "--timeout", f"{stream.timeout_s}s", "-s", str(SCRIPTS_DIR / stream.script),
            url + "/", "--", *stream.args]


class WrkRun(procs.LoggedRun):
    """A started wrk process; :meth:`finish` waits for it and parses its output."""

    error = WrkError

    def __init__(self, *, wrk: str, stream: Stream, url: str, duration_s: int, cpus: tuple[int, ...],
                 name: str, raw_stem: Path, registry: procs.ProcessRegistry) -> None:
        self.cpus, self.duration_s, self.stream = cpus, duration_s, stream
        self._start(command(wrk, stream, url, duration_s, cpus), what="wrk", name=name, raw_stem=raw_stem,
                    registry=registry)

    def finish(self) -> WrkResult:
        """Waits for wrk, then returns its result or raises WrkError with its stderr."""
        exit_, data = self._wait(self.duration_s + self.stream.timeout_s + 30, parse_result)
        return WrkResult(requests=data["requests"], duration_s=data["duration_s"], latency_us=data["latency_us"],
                         errors=data["errors"], cpu_s=exit_.cpu_s, wall_s=exit_.wall_s, cpus=len(self.cpus),
                         non2xx=data["non2xx"])


def version(wrk: str) -> str:
    """wrk's version line (``wrk -v`` prints it and exits with status 1)."""
    try:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10)
    except OSError as e:
        return f"unknown ({e})"
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0].split(" Copyright")[0] if text else "unknown"
