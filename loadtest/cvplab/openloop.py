"""Open-loop load: running ``cvp-load`` as :mod:`cvplab.wrk` runs wrk, and reading its JSON.

``cvp-load`` (``loadtest/load/``, built beside cvp-server) sends requests on a schedule,
whatever the server does, and times each one from its *scheduled* send, so a stalled server
shows in full (``cvp-load --help`` and loadtest/README.md give its interface).  An :class:`OpenStream` is a
load like wrk's :class:`~cvplab.wrk.Stream`; an :class:`OpenRun` pins it to the client CPUs
with taskset, writes its JSON beside the other raw outputs, and returns a
:class:`~cvplab.wrk.WrkResult` whose ``open_loop`` keeps what only an open loop measures (the
rate asked and achieved, late and dropped requests, the generator's lag, the service time).

A stream may run as N generator processes at rate/N each: their histograms are merged with
``cvp-load merge`` and the percentiles read from the merged histogram, never averaged.

A stream's rate may be a :class:`RateOf`: a fraction of what a cell measured earlier in the
run (its capacity, say); the runner resolves it from the cells already measured.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import procs
from .cpus import format_cpu_list
from .stats import spread
from .wrk import ERROR_KINDS, WrkResult

#: The JSON format version of cvp-load this lab reads.
FORMAT = 1
#: Latency figures a cvp-load result gives for ``latency_us``, ``service_us`` and ``send_lag_us``.
FIGURES = ("min", "mean", "p50", "p90", "p99", "p999", "p9999", "max")
#: Seconds ``cvp-load merge`` may take.
MERGE_TIMEOUT_S = 60


class OpenLoopError(procs.ProcessError):
    """cvp-load failed, printed no result, or its merge failed.  Carries the run's name and stderr."""

    label = "cvp-load ({name})"


@dataclass(frozen=True)
class RateOf:
    """A rate known only at run time: ``fraction`` × the throughput (``rps``) one cell measured.

    ``cell`` is the plan's cell and ``load`` the index of its load whose result is meant; the
    runner finds that result among the cells already measured (by :func:`cvplab.results.cell_id`).
    """

    cell: object  # a plan.Cell (not imported here: plan imports this module)
    fraction: float
    load: int = 0


@dataclass(frozen=True)
class OpenStream:
    """One open-loop load: weighted paths sent at a rate over keep-alive connections."""

    name: str  # "main"; one per load of a cell
    paths: tuple[tuple[int, str], ...]  # (weight, path): sent in a fixed smooth weighted round-robin
    rate: float | RateOf  # requests per second, all generators together
    arrival: str = "poisson"  # or "constant"
    max_connections: int = 1000  # most connections one generator holds at once
    initial_connections: int = 1  # opened before the schedule starts
    timeout_s: float = 10.0  # an answer later than this is a timeout; also bounds the wait for the last answers
    generators: int = 1  # processes, each at rate / generators; their histograms are merged
    seed: int = 1  # Poisson's seed (generator i gets seed + i)

    @property
    def connections(self) -> int:
        """The most connections the stream may hold (what the server must admit)."""
        return self.max_connections * self.generators

    @property
    def threads(self) -> int:
        """Generator processes (each is one thread)."""
        return self.generators


def find_cvp_load(server_binary: Path | None) -> Path | None:
    """``cvp-load`` beside the server binary (the same build), if it is there and executable."""
    if server_binary is None:
        return None
    candidate = server_binary.resolve().parent / "cvp-load"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def urls(stream: OpenStream, base_url: str) -> list[str]:
    """The stream's URL arguments: ``WEIGHT@URL`` where the weight is not 1."""
    return [(f"{w}@" if w != 1 else "") + base_url + path for w, path in stream.paths]


#: The niceness cvp-load runs at where the lab may raise a child's priority (root, or CAP_SYS_NICE).
#: On 2 CPUs the generator shares its CPU with one of the server's threads; at the same priority
#: a request that falls due while that thread hashes waits for the scheduler to switch, and is
#: sent late.  Measured against offload hashing on CPUs 0-1 at 40 req/s (3 interleaved rounds of
#: 5 s, ~210 requests each): 4, 11 and 13 sent more than 1 ms late at nice 0, 1 each at -15.
GENERATOR_NICE = -15


@functools.cache
def generator_nice() -> int:
    """GENERATOR_NICE where this process may run a child at it (nice(1) then says nothing), else 0."""
    try:
        out = subprocess.run(["nice", "-n", str(GENERATOR_NICE), "true"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return GENERATOR_NICE if out.returncode == 0 and not out.stderr.strip() else 0


def command(binary: str, stream: OpenStream, rate: float, base_url: str, duration_s: float, cpus: tuple[int, ...],
            json_path: Path, seed: int, nice: int = 0) -> list[str]:
    """One generator's command line, pinned to ``cpus`` with taskset, at niceness ``nice`` when not 0."""
    raised = ["nice", "-n", str(nice)] if nice else []
    return [*raised, "taskset", "-c", format_cpu_list(cpus), binary, "--rate", f"{rate:.6g}", "--duration", f"{duration_s:g}",
            "--arrival", stream.arrival, "--seed", str(seed), "--connections", str(stream.initial_connections),
            "--max-connections", str(stream.max_connections), "--timeout", f"{stream.timeout_s:g}",
            "--json", str(json_path), "--quiet", *urls(stream, base_url)]


def parse_result(text: str) -> dict:
    """A cvp-load result (its JSON, as a generator or ``merge`` wrote it); ValueError if malformed."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"cvp-load's JSON does not parse: {e}") from None
    if not isinstance(data, dict) or data.get("tool") != "cvp-load":
        raise ValueError("not a cvp-load result (no \"tool\": \"cvp-load\")")
    if data.get("format") != FORMAT:
        raise ValueError(f"cvp-load JSON format {data.get('format')!r}, this lab reads {FORMAT}")
    missing = [k for k in ("rate_asked", "rate_achieved", "duration_s", "sent", "completed", "late", "dropped",
                           "errors", "latency_us") if k not in data]
    if missing:
        raise ValueError(f"cvp-load's JSON lacks {', '.join(missing)}")
    if float(data["duration_s"]) <= 0:
        raise ValueError(f"cvp-load's JSON has duration_s={data['duration_s']}")
    return data


def _figures(obj: dict | None) -> dict:
    """A latency object with every key of FIGURES (None where absent or when nothing completed)."""
    obj = obj or {}
    return {k: (None if obj.get(k) is None else float(obj[k])) for k in FIGURES}


def to_result(data: dict, *, cpu_s: float, wall_s: float, cpus: int) -> WrkResult:
    """A cvp-load result as the lab's :class:`WrkResult`: answers as requests, and the open-loop extras."""
    errors_in = {k: int(v) for k, v in (data.get("errors") or {}).items()}
    errors = {k: errors_in.get(k, 0) for k in ERROR_KINDS}
    errors["read"] += errors_in.get("framing", 0)  # a bad answer is a read error to wrk
    latency = _figures(data.get("latency_us"))
    wrk_latency = {k: latency[k] for k in ("min", "mean", "max", "p50", "p90", "p99", "p999")}
    wrk_latency["stdev"] = None
    conns = data.get("connections") or {}
    extras = {
        "rate_asked": float(data["rate_asked"]), "rate_achieved": float(data["rate_achieved"]),
        "throughput": float(data.get("throughput", int(data["completed"]) / float(data["duration_s"]))),
        "arrival": data.get("arrival"), "generators": int(data.get("generators", 1)),
        "scheduled": int(data.get("scheduled", data["sent"])), "sent": int(data["sent"]),
        "completed": int(data["completed"]), "late": int(data["late"]), "late_after_us": data.get("late_after_us"),
        "dropped": int(data["dropped"]), "unfinished": int(data.get("unfinished", 0)), "errors": errors_in,
        "behind": bool(data.get("behind")), "behind_reason": data.get("behind_reason"),
        "latency_us": latency, "service_us": _figures(data.get("service_us")),
        "send_lag_us": _figures(data.get("send_lag_us")),
        "connections_opened": conns.get("opened"), "connections_max_open": conns.get("max_open"),
        "cpu_s": data.get("cpu_s"), "cpu_share": data.get("cpu_share"),
    }
    status = int(errors_in.get("status", 0))
    return WrkResult(requests=int(data["completed"]), duration_s=float(data["duration_s"]), latency_us=wrk_latency,
                     errors=errors, cpu_s=cpu_s, wall_s=wall_s, cpus=cpus, non2xx=status, open_loop=extras)


class _Generator(procs.LoggedRun):
    """One cvp-load process of a run."""

    error = OpenLoopError


class OpenRun:
    """A started open-loop load: ``generators`` cvp-load processes; :meth:`finish` merges and parses them."""

    def __init__(self, *, binary: str, stream: OpenStream, rate: float, base_url: str, duration_s: float,
                 cpus: tuple[int, ...], name: str, raw_stem: Path, registry: procs.ProcessRegistry) -> None:
        if rate <= 0:
            raise ValueError(f"{name}: an open-loop rate must be above 0, not {rate:g}")
        self.binary, self.stream, self.rate, self.duration_s, self.cpus = binary, stream, rate, duration_s, cpus
        self.name, self.registry = name, registry
        self.json_path = raw_stem.with_name(raw_stem.name + ".json")
        n = stream.generators
        # Each generator writes its own JSON; with one, that is the result.
        self.parts = [self.json_path] if n == 1 else [raw_stem.with_name(f"{raw_stem.name}.g{i + 1}.json")
                                                      for i in range(n)]
        self.runs: list[_Generator] = []
        try:
            for i, part in enumerate(self.parts):
                run = _Generator()
                stem = raw_stem if n == 1 else raw_stem.with_name(f"{raw_stem.name}.g{i + 1}")
                run._start(command(binary, stream, rate / n, base_url, duration_s, cpus, part, stream.seed + i,
                                   generator_nice()),
                           what="cvp-load", name=f"{name}" + (f" g{i + 1}" if n > 1 else ""), raw_stem=stem,
                           registry=registry)
                self.runs.append(run)
        except BaseException:
            self.stop(0.5)
            raise

    @property
    def raw_paths(self) -> list[Path]:
        """Every file the run wrote: each generator's stdout, stderr and JSON, and the merged JSON."""
        out = [p for r in self.runs for p in (r.stdout_path, r.stderr_path)]
        return out + [p for p in dict.fromkeys([*self.parts, self.json_path]) if p.exists()]

    def stop(self, grace_s: float) -> None:
        """Stops every generator still running."""
        for r in self.runs:
            r.stop(grace_s)

    def finish(self) -> WrkResult:
        """Waits for every generator, merges their histograms (N > 1), and returns the result."""
        limit = self.duration_s + self.stream.timeout_s + 30
        exits = []
        try:
            for r in self.runs:
                exits.append(r._wait(limit, lambda _stdout: {})[0])
        except BaseException:
            self.stop(0.5)
            raise
        if len(self.parts) > 1:
            self._merge()
        try:
            data = parse_result(self.json_path.read_text())
        except (OSError, ValueError) as e:
            raise OpenLoopError(self.name, str(e), self.runs[0].stderr()) from None
        result = to_result(data, cpu_s=sum(e.cpu_s for e in exits), wall_s=max(e.wall_s for e in exits),
                           cpus=len(self.cpus))
        result.open_loop["generator_nice"] = generator_nice()
        return result

    def _merge(self) -> None:
        """``cvp-load merge`` of the generators' JSON into the run's own."""
        argv = [self.binary, "merge", *map(str, self.parts), "--json", str(self.json_path)]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=MERGE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise OpenLoopError(self.name, f"cvp-load merge failed: {e}") from None
        if out.returncode != 0:
            raise OpenLoopError(self.name, f"cvp-load merge exited with status {out.returncode}", out.stderr)


def version(binary: str) -> str:
    """cvp-load's first line of ``--help`` (it has no version flag), or why it could not be read."""
    try:
        out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    except OSError as e:
        return f"unknown ({e})"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


#: The open-loop counts summed over a cell's repeats.
SUMMED = ("scheduled", "sent", "completed", "late", "dropped", "unfinished")


def summarize_open(runs: list) -> dict | None:
    """A cell's open-loop figures over its repeats (each run's ``open_loop``, from :func:`to_result`).

    Rates and each latency figure as the median over the repeats (each repeat's percentiles come from
    its own merged histogram); counts summed; ``behind`` if any repeat fell behind, with its reasons.
    None when no run was open-loop.
    """
    ol = [r.open_loop for r in runs if getattr(r, "open_loop", None)]
    if not ol:
        return None
    out: dict = {"repeats": len(ol), "arrival": ol[0].get("arrival"), "generators": ol[0].get("generators")}
    for k in ("rate_asked", "rate_achieved", "throughput", "cpu_share"):
        mid, lo, hi = spread([o.get(k) for o in ol])
        out[k], out[k + "_min"], out[k + "_max"] = (None if v is None else round(v, 3) for v in (mid, lo, hi))
    for k in SUMMED:
        out[k] = sum(int(o.get(k) or 0) for o in ol)
    out["late_after_us"] = ol[0].get("late_after_us")
    out["behind"] = any(o.get("behind") for o in ol)
    out["behind_reasons"] = sorted({str(o["behind_reason"]) for o in ol if o.get("behind") and o.get("behind_reason")})
    for key in ("service_us", "send_lag_us"):
        out[key] = {f: (None if v is None else round(v, 1))
                    for f in FIGURES for v in [spread([(o.get(key) or {}).get(f) for o in ol])[0]]}
    out["connections_max_open"] = max((o.get("connections_max_open") or 0 for o in ol), default=None)
    rate_from = [o["rate_from"] for o in ol if o.get("rate_from")]
    out["rate_from"] = rate_from[0] if rate_from else None
    # The generators' niceness, where every repeat ran at the same one.
    nices = {o.get("generator_nice") for o in ol}
    out["generator_nice"] = nices.pop() if len(nices) == 1 else None
    return out
