"""results.json and results.csv: the lab's output for other tools (docs/results-format.md)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from . import READABLE_SCHEMA_VERSIONS, RESULTS_SCHEMA_VERSION
from .cells import Measured
from .cpus import format_cpu_list
from .openloop import OpenStream, summarize_open
from .plan import Cell, Load
from . import scenarios
from .stats import Run, littles_law_bound, summarize, summarize_idle
from .wrk import ERROR_KINDS, PERCENTILES


def cell_id(cell: Cell, load: Load) -> str:
    """A stable identifier: scenario/variant/mode/point, e.g. ``io/sleep/single/c1000``."""
    point = scenarios.get(cell.scenario).point_id(cell, load)
    return "/".join(x for x in (cell.scenario, load.variant, cell.mode, point) if x)


def make_cell(cell: Cell, load: Load, runs: list[Run] | list[dict], *, server_info: dict,
              client_cpus: tuple[int, ...], repeats_planned: int, failures: list[dict]) -> Measured:
    """One entry of ``cells``: what was asked, what was measured, and the checks.

    ``runs`` are :class:`Run` for wrk cells, and the runner's dicts for idle cells.
    ``server_info`` is what the server said of itself (its start-up line's pairs; a peer's,
    what the lab configured); its ``parallelism`` sets the /io/block bound.
    """
    others = [{"variant": l.variant, "path": l.path, "connections": l.stream.connections}
              for l in cell.loads if l is not load]
    par = str(server_info.get("parallelism", ""))
    parallelism = int(par) if par.isdigit() else None
    bound = load.bound_rps
    if load.blocking_wait_ms is not None:
        bound = littles_law_bound(load.stream.connections, load.blocking_wait_ms, parallelism) if parallelism else None
    out = {
        "id": cell_id(cell, load),
        "scenario": cell.scenario,
        "variant": load.variant,
        "mode": cell.mode,
        "path": load.path,
        "connections": load.stream.connections,
        "wrk_threads": None if cell.idle else load.stream.threads,
        "workers": cell.workers,
        "parallelism": parallelism,
        "params": dict(cell.params, **({"concurrent_streams": others} if others else {})),
        "duration_s": None if cell.idle else cell.duration_s,
        "repeats": len(runs),
        "repeats_planned": repeats_planned,
        "server": {"description": cell.server.description, "cpus": format_cpu_list(cell.server.cpus),
                   "flags": list(cell.server.flags), "startup": server_info,
                   **({"upstream": {"description": cell.server.upstream.description,
                                    "cpus": format_cpu_list(cell.server.upstream.cpus),
                                    "flags": list(cell.server.upstream.flags)}}
                      if cell.server.upstream is not None else {})},
        "client_cpus": format_cpu_list(client_cpus),
        "notes": list(cell.notes),
        "failures": failures,
    }
    if runs and cell.idle:
        out.update(summarize_idle(runs))
    elif runs:
        out.update(summarize(runs, connections=load.stream.connections, bound_rps=bound))
    elif cell.idle:
        out.update({"rps": None, "latency_us": None, "errors": None, "server_cpu_us_per_request": None,
                    "client_cpu": None, "client_saturated": None, "littles_law_bound_rps": None,
                    "idle_connections": None, "idle_connections_wanted": load.stream.connections,
                    "rss_per_connection_bytes": None, "runs": []})
    else:
        out.update({"rps": None, "latency_us": None, "errors": None, "server_cpu_us_per_request": None,
                    "client_cpu": None, "client_saturated": None, "model": None, "footprint": None,
                    "littles_law_bound_rps": bound, "runs": []})
    if isinstance(load.stream, OpenStream):  # what only an open loop measures
        out["open_loop"] = summarize_open(runs)
    out.update(scenarios.get(cell.scenario).summarize(cell, load, runs))
    return Measured.from_json(out)


CSV_COLUMNS = (
    "id", "scenario", "variant", "mode", "path", "connections", "wrk_threads", "workers", "split",
    "duration_s", "repeats", "rps", "rps_min", "rps_max",
    *(f"{p}_us" for p in PERCENTILES), "mean_us", "max_us",
    "errors_total", *(f"errors_{k}" for k in ERROR_KINDS),
    "server_cpu_us_per_request", "client_cpu", "client_saturated",
    "littles_law_bound_rps", "bound_share", "concurrency_ratio", "failed",
    # added with the overhead scenario; after the older columns so that none of them moves
    "pipeline", "idle_connections", "rss_per_connection_bytes", "rss_per_connection_bytes_min",
    "rss_per_connection_bytes_max",
    # added with the overload scenario
    "overload_pause", "non2xx", "non2xx_rps", "non2xx_rps_min", "non2xx_rps_max", "pool_rejected",
    "server_cpu_us_per_success",
    # added with the pool and threads models, imbalance and io's footprint
    "parallelism", "server_cpus_busy", "footprint_rss_per_connection_bytes",
    "voluntary_switches_per_request", "involuntary_switches_per_request", "threads_alive",
    # added with descriptors per connection (schema 3)
    "fds_per_connection", "footprint_fds_per_connection",
    # added with the downstream scenario: the front's downstream pools and the downstream server's CPU
    "downstream_open", "downstream_created", "downstream_waited", "downstream_faults",
    "downstream_server_cpu_us_per_request",
    # added with open-loop load (cvp-load): the rate asked and achieved, late and dropped requests, the
    # generator's send lag and the service time (from the actual send) at p99
    "rate_asked", "rate_achieved", "late", "dropped", "send_lag_p99_us", "service_p99_us",
)


def csv_row(measured: Measured) -> dict:
    """A cell flattened into CSV_COLUMNS (empty where not measured)."""
    cell = measured.to_json()
    lat = cell.get("latency_us") or {}
    errors = cell.get("errors") or {}
    ll = cell.get("littles_law") or {}
    row = {k: cell.get(k) for k in ("id", "scenario", "variant", "mode", "path", "connections", "wrk_threads",
                                     "workers", "duration_s", "repeats", "rps", "rps_min", "rps_max",
                                     "server_cpu_us_per_request", "client_cpu", "client_saturated",
                                     "littles_law_bound_rps")}
    row["split"] = cell.get("params", {}).get("split")
    row["pipeline"] = cell.get("params", {}).get("pipeline")
    row["overload_pause"] = cell.get("params", {}).get("overload_pause")
    row.update({k: cell.get(k) for k in ("non2xx", "non2xx_rps", "non2xx_rps_min", "non2xx_rps_max", "pool_rejected",
                                         "server_cpu_us_per_success")})
    row.update({k: cell.get(k) for k in ("idle_connections", "rss_per_connection_bytes",
                                         "rss_per_connection_bytes_min", "rss_per_connection_bytes_max")})
    row.update({f"{p}_us": lat.get(p) for p in PERCENTILES})
    row["mean_us"], row["max_us"] = lat.get("mean"), lat.get("max")
    row["errors_total"] = errors.get("total")
    row.update({f"errors_{k}": errors.get(k) for k in ERROR_KINDS})
    row["bound_share"], row["concurrency_ratio"] = ll.get("bound_share"), ll.get("concurrency_ratio")
    row["failed"] = "; ".join(f["error"].splitlines()[0] for f in cell.get("failures", []))
    row["parallelism"], row["server_cpus_busy"] = cell.get("parallelism"), cell.get("server_cpus_busy")
    fp = cell.get("footprint") or {}
    row["footprint_rss_per_connection_bytes"] = fp.get("rss_per_connection_bytes")
    row["voluntary_switches_per_request"] = fp.get("voluntary_switches_per_request")
    row["involuntary_switches_per_request"] = fp.get("involuntary_switches_per_request")
    row["threads_alive"] = fp.get("threads_alive", (cell.get("model") or {}).get("threads_alive"))
    row["fds_per_connection"] = cell.get("fds_per_connection")
    row["footprint_fds_per_connection"] = fp.get("fds_per_connection")
    ds = cell.get("downstream") or {}
    row.update({f"downstream_{k}": ds.get(k) for k in ("open", "created", "waited")})
    row["downstream_faults"] = ds.get("faults_total")
    row["downstream_server_cpu_us_per_request"] = ds.get("server_cpu_us_per_request")
    ol = cell.get("open_loop") or {}
    row.update({k: ol.get(k) for k in ("rate_asked", "rate_achieved", "late", "dropped")})
    row["send_lag_p99_us"] = (ol.get("send_lag_us") or {}).get("p99")
    row["service_p99_us"] = (ol.get("service_us") or {}).get("p99")
    return {k: "" if v is None else v for k, v in row.items()}


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write(out_dir: Path, manifest: dict, cells: list[Measured], skipped: list[dict]) -> None:
    """Writes results.json and results.csv (each replaced atomically, so a reader never sees half)."""
    doc = {"schema_version": RESULTS_SCHEMA_VERSION, "manifest": manifest, "cells": [c.to_json() for c in cells],
           "skipped": skipped}
    _atomic_write(out_dir / "results.json", json.dumps(doc, indent=1) + "\n")
    tmp = out_dir / "results.csv.tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for cell in cells:
            writer.writerow(csv_row(cell))
    os.replace(tmp, out_dir / "results.csv")


def load(path: Path) -> dict:
    """Reads a results.json of any schema version this lab reads (docs/results-format.md).

    ``cells`` come back as :class:`~cvplab.cells.Measured`; the manifest and ``skipped`` as they are.
    """
    doc = json.loads(Path(path).read_text())
    if doc.get("schema_version") not in READABLE_SCHEMA_VERSIONS:
        raise ValueError(f"{path}: schema_version {doc.get('schema_version')!r}, "
                         f"this lab reads {', '.join(map(str, READABLE_SCHEMA_VERSIONS))}")
    try:
        doc["cells"] = [Measured.from_json(c) for c in doc["cells"]]
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: a cell lacks a field or has one this lab does not know how to read: {e}") from None
    return doc
