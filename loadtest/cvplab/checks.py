"""Expectations: one row per expected result of a scenario, checked against the run, and their table."""

from __future__ import annotations

from dataclasses import dataclass

from .cells import Measured
from .fmt import fmt_pct, join
from .query import catalog, models_among, one, ratio_range, rps_range
from .render import Block, h, p, table, ul
from .stats import NOISY_CPUS


@dataclass
class Check:
    """One of the issue's expected results, checked against this run."""

    name: str  # the scenario it is about
    expectation: str
    figure: str
    verdict: str  # "met", "missed", "not measured"
    why: list[str]  # why it was missed, or what to know about the figure


def noise(cells: list[Measured]) -> list[str]:
    """A note when other processes were busy during these cells' runs."""
    worst = max((c.background_cpus_max or 0 for c in cells), default=0)
    if worst < NOISY_CPUS:
        return []
    return [f"other processes on this machine kept up to {worst:.2f} CPUs busy during these runs"]


def cpu_per_request(cells: list[Measured]) -> str:
    return join([f"{c.mode} {c.server_cpu_us_per_request:.1f} µs" for c in cells
                 if c.server_cpu_us_per_request is not None])


def check_against(cells: list[Measured], name: str, want: str, peer_mode: str,
                  models: tuple[str, ...] | None = None) -> Check:
    """cvp's best of ``models`` (default: every model of the run) against ``peer_mode`` in one point's cells:
    met at 1.0× or more."""
    if models is None:
        cat = catalog()
        models = cat.names if cat is not None else tuple(models_among(cells))
    peer = one(cells, mode=peer_mode)
    cvp = [c for c in cells if c.mode in models and c.rps]
    if not cvp or not peer or not peer.rps:
        missing = [what for what, ok in ((join(list(models)), cvp), (peer_mode, peer and peer.rps)) if not ok]
        return Check(name, want, "-", "not measured", [f"needs a measured cell for {join(missing)}"])
    best = max(cvp, key=lambda c: c.rps)
    ratio, lo, hi = ratio_range(best, peer)
    figure = (f"{best.mode} {rps_range(best)} against {peer_mode} {rps_range(peer)}: "
              f"{ratio:.2f}× ({lo:.2f}–{hi:.2f})")
    why = []
    cpu = cpu_per_request([best, peer])
    if cpu:
        why.append(f"server CPU per request {cpu}")
    if lo < 1.0 <= hi:
        why.append("the repeats' ranges straddle 1.0×: within this run's noise")
    sat = [c.mode for c in (best, peer) if c.client_saturated]
    if sat:
        why.append(f"wrk was saturated for {join(sat)} (up to {fmt_pct(max(c.client_cpu for c in (best, peer)), 0)} "
                   "of its CPU): the throughput there is wrk's limit, not the server's")
    if any(c.notes for c in (best, peer)):
        why.append("wrk shares a CPU with the servers here")
    return Check(name, want, figure, "met" if ratio >= 1.0 else "missed", why + noise([best, peer]))


def expectations(checks: list[Check]) -> list[Block]:
    """The lab's self-check: the project's expected results against this run, and why each figure came out as it
    did.  The report closes with it."""
    blocks = [h(2, "Self-check: the project's expected results"),
              p("What the project expects of each scenario, checked against this run: a missed row is a finding "
                "about the models, the machine or the lab, and the reasons below say which."),
              table(["expectation", "this run", "verdict"], [[c.expectation, c.figure, c.verdict] for c in checks])]
    whys = [f"{c.name} ({c.verdict}): {'; '.join(c.why)}." for c in checks if c.why and c.verdict != "not measured"]
    if whys:
        blocks.append(p("What the data says about these figures:"))
        blocks.append(ul(whys))
    return blocks


#: Descriptors a model should hold per connection (its socket), and how far a figure may be from it.
DESCRIPTORS_PER_CONNECTION, DESCRIPTORS_TOLERANCE = 1.0, 0.05


def check_descriptors(name: str, where: str, figures: list[tuple[str, float | None]]) -> Check:
    """Every model's open descriptors per connection, ``(mode, figure)``, against one each (±0.05)."""
    want = (f"{where}: open descriptors per connection {DESCRIPTORS_PER_CONNECTION:g} for every model "
            f"(±{DESCRIPTORS_TOLERANCE})")
    measured = [(m, f) for m, f in figures if f is not None]
    if not measured:
        return Check(name, want, "-", "not measured",
                     ["needs descriptor counts (/proc/<pid>/fd, recorded since results schema 3)"])
    figure = join([f"{m} {f:.2f}" for m, f in measured])
    off = [m for m, f in measured if abs(f - DESCRIPTORS_PER_CONNECTION) > DESCRIPTORS_TOLERANCE]
    why = [f"{m} holds {f:.2f} descriptors per connection" for m, f in measured if m in off]
    why += [f"{m} not measured" for m, f in figures if f is None]
    return Check(name, want, figure, "missed" if off else "met", why)
