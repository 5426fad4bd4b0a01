"""The registry: every scenario, in report order.

Adding a scenario is adding its module here (docs/architecture.md, "How to add a
scenario").  The CLI's ``--scenarios``, the profiles, the plan, the results and the report
read :data:`REGISTRY`; none of them names a scenario.
"""

from __future__ import annotations

from . import (accept, cpu, db, downstream, imbalance, io, latency, mixed, overhead, overload, plaintext,
               shared_state, split)
from .base import Scenario

#: Every scenario, in the order the plan runs them and the report shows them.
REGISTRY: tuple[Scenario, ...] = tuple(m.SCENARIO for m in (plaintext, overhead, io, downstream, db, cpu, mixed,
                                                            latency, imbalance, split, shared_state, accept,
                                                            overload))
NAMES: tuple[str, ...] = tuple(s.name for s in REGISTRY)


def get(name: str) -> Scenario:
    """The scenario called ``name``; KeyError for anything else."""
    for s in REGISTRY:
        if s.name == name:
            return s
    raise KeyError(name)
