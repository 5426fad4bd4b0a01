"""The report: the verdict matrix, the run's header, each scenario's section, problems, method, all cells, and the
lab's self-check (the expected results) at the end.

What is about one scenario lives in its module (``cvplab/scenarios/<name>.py``); this module
asks the registry's scenarios in order and adds what is generic.  Rendering is
:mod:`cvplab.render`, the charts' style :mod:`cvplab.charts`, the cell queries
:mod:`cvplab.query`, the verdict matrix :mod:`cvplab.verdict`.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from .cells import Measured
from . import models
from .checks import Check, expectations
from .fmt import CLOSED_LOOP, fmt_bytes, fmt_pct, fmt_rps, fmt_us, join
from .query import ordered_by
from .render import Block, h, p, table, to_html, to_markdown, ul
from .scenarios import REGISTRY, get
from .scenarios.base import ReportContext
from .stats import NOISY_CPUS
from .timeline_report import lead_blocks
from .verdict import Row, matrix


def summary_rows(cells: list[Measured]) -> list[list[str]]:
    rows = []
    for c in cells:
        lat = c.latency_us or {}
        scenario = get(c.scenario)
        idle = c.idle
        point = scenario.summary_point(c)
        flags = []
        if idle and c.rss_per_connection_bytes is not None:
            flags.append(f"RSS {fmt_bytes(c.rss_per_connection_bytes)}/conn "
                         f"({fmt_bytes(c.rss_per_connection_bytes_min)}–"
                         f"{fmt_bytes(c.rss_per_connection_bytes_max)})"
                         + (f" {c.idle_connections:,} held" if c.idle_connections < c.idle_connections_wanted
                            else ""))
        flags += scenario.summary_flags(c)
        if c.client_saturated:
            flags.append("wrk-saturated")
        if c.failures:
            flags.append(f"{len(c.failures)} failed")
        if (c.repeats or 0) < (c.repeats_planned or 0):
            flags.append(f"{c.repeats}/{c.repeats_planned} repeats")
        share = (c.littles_law or {}).get("bound_share")
        rows.append([c.scenario, c.variant or "", c.mode, point, fmt_rps(c.rps),
                     f"{fmt_rps(c.rps_min)}–{fmt_rps(c.rps_max)}" if c.rps is not None else "-",
                     fmt_us(lat.get("p50")), fmt_us(lat.get("p99")), fmt_us(lat.get("p999")),
                     str((c.errors or {}).get("total", "-")),
                     "-" if c.server_cpu_us_per_request is None else f"{c.server_cpu_us_per_request:.1f}",
                     fmt_pct(c.client_cpu, 0), fmt_pct(share) if share is not None else "",
                     " ".join(flags)])
    return rows


SUMMARY_HEADER = ["scenario", "variant", "mode", "point", "req/s", "min–max", "p50", "p99", "p99.9", "errors",
                  "srv µs/req", "wrk CPU", "of bound", "flags"]


def header(doc: dict) -> list[Block]:
    """The run's title, where and how it was measured, and how busy the machine was."""
    cells, m = doc["cells"], doc["manifest"]
    host = m["host"]
    blocks = [h(1, f"cvp load lab: {m['lab']['profile']['name']} profile")]
    cg = host["cgroup"]
    blocks.append(p(
        f"Measured {m['started_at']} on {host['cpu_model']}, {host['usable_cpus']} usable CPU(s) (allowed "
        f"{host['cpus_allowed']}; cgroup {cg['version']}, quota {cg['quota_cpus'] or 'none'}), Linux "
        f"{host['kernel']}. Server binary: {m['server']['binary'] or m['server']['target']} "
        f"({m['tools']['build_type'] or 'build type unknown'}), {m['tools']['wrk']}. "
        f"Each cell is the median of {m['lab']['profile']['repeats']} interleaved repeat(s), with min–max; "
        f"status: {m['status']}" + (f", {m['wall_s']:.0f} s of measuring." if m.get("wall_s") else ".")))

    background = [r["background_cpus"] for c in cells for r in c.runs if r.get("background_cpus") is not None]
    if background:
        blocks.append(p(f"Other processes on the machine kept a median of {statistics.median(background):.2f} CPUs "
                        f"busy during the runs (at most {max(background):.2f}; "
                        f"{host.get('background_cpus_at_start', 0):.2f} just before the first); the lab subtracts the "
                        "server's and wrk's own CPU from the machine's total to get this."))
    return blocks


def expected_checks(cells: list[Measured]) -> list[Check]:
    """The expectation rows of every scenario the run has cells of, in the registry's order."""
    ran = {c.scenario for c in cells}
    return [check for s in REGISTRY if s.name in ran for check in s.checks(cells)]


def verdict_rows(cells: list[Measured]) -> list[Row]:
    """The verdict matrix's rows of every scenario the run has cells of."""
    ran = {c.scenario for c in cells}
    return [row for s in REGISTRY if s.name in ran for row in s.verdict(cells)]


def build(doc: dict, out_dir: Path) -> list[Block]:
    """Draws the charts into ``out_dir`` and returns the report's blocks: the title, the verdict matrix, where and
    how the run was measured, each scenario's section in the registry's order, problems, method, all cells, and
    the expected results last, as the lab's self-check."""
    cells = doc["cells"]
    title, *context = header(doc)
    ctx = ReportContext(doc, cells, out_dir)
    # The answer, then one or two timelines that show why, then where and how it was measured.
    blocks = [title, *matrix(verdict_rows(cells)), *lead_blocks(ctx), *context]
    for scenario in REGISTRY:
        blocks += scenario.section(ctx)
    blocks += problems(doc)
    blocks += method(doc)
    blocks += [h(2, "All cells"), table(SUMMARY_HEADER, summary_rows(cells)),
               p("`srv µs/req`: server CPU time per request. `wrk CPU`: wrk's CPU use as a share of the CPUs it had "
                 "(flagged from 90%). `of bound`: throughput as a share of the Little's-law bound.")]
    blocks += expectations(expected_checks(cells))
    return blocks


def problems(doc: dict) -> list[Block]:
    items = []
    for c in doc["cells"]:
        for f in c.failures:
            items.append(f"{c.id} repeat {f['repeat']}: {f['error'].splitlines()[0]}")
        if c.client_saturated:
            items.append(f"{c.id}: wrk was saturated ({fmt_pct(c.client_cpu, 0)} of its CPU); "
                         "the server may have had more to give.")
        # Some scenarios expect errors by design (a flood's 503s, /io/block's timeouts): each says which count.
        e = get(c.scenario).problem_errors(c)
        if e.get("total"):
            items.append(f"{c.id}: {e['total']} errors (" + ", ".join(f"{k} {v}" for k, v in e.items()
                                                                         if k != "total" and v) + ").")
    for c in doc["cells"]:
        notes = dict.fromkeys(n for r in c.runs if isinstance(r, dict) for n in r.get("notes", []))
        items += [f"{c.id}: {n}." for n in notes]
    noisy = [c for c in doc["cells"] if (c.background_cpus_max or 0) >= NOISY_CPUS]
    if noisy:
        worst = max(c.background_cpus_max for c in noisy)
        items.append(f"{len(noisy)} of {len(doc['cells'])} cells had runs during which other processes on this "
                     f"machine kept at least {NOISY_CPUS} CPUs busy (up to {worst:.2f}); their figures are noisy: "
                     + ", ".join(c.id for c in noisy[:12]) + (", ..." if len(noisy) > 12 else "") + ".")
    for s in doc.get("skipped", []):
        items.append(f"skipped in {s['scenario']}: {s['what']} ({s['reason']}).")
    items += doc["manifest"]["limits"].get("notes", [])
    if not items:
        return []
    return [h(2, "Problems and notes"), ul(items)]


def method(doc: dict) -> list[Block]:
    m = doc["manifest"]
    pl = m["placement"]
    apart = [s for s in REGISTRY if s.apart]
    return [h(2, "Method"), ul([
        f"CPU placement: {join([s.name for s in apart])} run the server on CPU {pl['server_cpus']} and wrk on CPU "
        f"{pl['client_cpus']}{'' if pl['disjoint'] else ' (they overlap)'}; the other scenarios"
        f"{''.join(s.apart_note for s in apart)} give the server one CPU per worker, taken from those CPUs in turn, "
        "and record wrk's CPU use.",
        f"A warm-up of {m['lab']['profile']['warmup_s']} s per server is thrown away; then the repeats are "
        "interleaved across models, each round starting with a different model.",
        "Throughput and latency come from wrk's Lua `done()`, printed as JSON (`scripts/common.lua`). " + CLOSED_LOOP,
        "Little's law: for a closed loop, connections ≈ throughput × mean latency; the `io` bound is connections ÷ "
        "wait, and threads ÷ wait when the wait blocks a thread.",
        f"Server CPU: {m['accounting']['server_cpu']}. Client CPU: {m['accounting']['client_cpu']}.",
        f"Open files: soft limit {m['limits']['nofile_soft']} (hard {m['limits']['nofile_hard']}), "
        f"{m['limits']['nofile_needed']} wanted.",
        f"Git commit: {m['git']['commit'] or m['git']['note']}{' (tree has changes)' if m['git']['dirty'] else ''}; "
        f"compiler: {m['tools']['compiler']}; Boost {m['tools']['boost']}.",
        "Raw wrk outputs are in `raw/`; every figure here is in `results.json` and `results.csv`.",
    ])]


def catalog_of(doc: dict) -> models.Catalog:
    """The run's models (from its manifest), checked against every cell's mode: an unknown mode is an error."""
    catalog = models.from_manifest(doc["manifest"])
    catalog.check(c.mode for c in doc["cells"])
    return catalog


def write(out_dir: Path, doc: dict) -> None:
    """Writes the charts, report.md and report.html into ``out_dir``."""
    with ordered_by(catalog_of(doc)):
        blocks = build(doc, out_dir)
    (out_dir / "report.md").write_text(to_markdown(blocks))
    title = f"cvp load lab: {doc['manifest']['lab']['profile']['name']}"
    (out_dir / "report.html").write_text(to_html(blocks, title))


def summary_table(cells: list[Measured]) -> str:
    """The terminal's summary: one aligned line per cell."""
    rows = [SUMMARY_HEADER, *summary_rows(cells)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(SUMMARY_HEADER))]
    lines = ["  ".join(v.ljust(w) if i < 4 or i == len(widths) - 1 else v.rjust(w)
                       for i, (v, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
