"""The parameter sets behind ``--quick``, ``--full`` and ``--smoke``.

A profile is the settings every scenario shares (repeats, warm-up, the default run
length, the CPU one PBKDF2 request is calibrated to) and ``{scenario: parameters}``,
each scenario's own dataclass as its module gives it for that profile.  wrk takes whole
seconds for ``-d`` and ``--timeout``, so every duration here is an integer number of seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .scenarios import REGISTRY
from .scenarios.base import with_duration


@dataclass(frozen=True)
class Profile:
    """Everything that sizes a run."""

    name: str
    repeats: int
    warmup_s: int  # thrown away, once per server before its first measured run
    duration_s: int  # measured wrk run, unless a scenario's parameters say otherwise
    cpu_work_ms: float  # PBKDF2 iterations are calibrated to take about this long
    scenarios: dict[str, Any] = field(default_factory=dict)  # {scenario: its parameters}

    def params(self, scenario: str) -> Any:
        """The parameters of ``scenario`` in this profile."""
        return self.scenarios[scenario]

    def with_overrides(self, *, repeats: int | None = None, duration_s: int | None = None,
                       warmup_s: int | None = None) -> "Profile":
        """The profile with the command line's ``--repeats``/``--duration``/``--warmup`` applied.

        ``--duration`` sets every measured run's length, whatever the scenario.
        """
        p = self
        if repeats is not None:
            p = replace(p, repeats=repeats)
        if warmup_s is not None:
            p = replace(p, warmup_s=warmup_s)
        if duration_s is not None:
            p = replace(p, duration_s=duration_s,
                        scenarios={k: with_duration(v, duration_s) for k, v in p.scenarios.items()})
        return p

    def to_json(self) -> dict:
        """The profile as the manifest records it."""
        out = {k: v for k, v in asdict(self).items() if k != "scenarios"}
        out["scenarios"] = {k: asdict(v) for k, v in self.scenarios.items()}
        return out


def _profile(name: str, repeats: int, warmup_s: int, duration_s: int, cpu_work_ms: float) -> Profile:
    return Profile(name, repeats, warmup_s, duration_s, cpu_work_ms,
                   {s.name: s.profiles[name] for s in REGISTRY})


QUICK = _profile("quick", repeats=3, warmup_s=1, duration_s=2, cpu_work_ms=5.0)
FULL = _profile("full", repeats=5, warmup_s=2, duration_s=10, cpu_work_ms=5.0)
SMOKE = _profile("smoke", repeats=1, warmup_s=0, duration_s=1, cpu_work_ms=2.0)

PROFILES = {p.name: p for p in (QUICK, FULL, SMOKE)}
