"""The peers: servers other than cvp that some scenarios run beside its models.

They are declared here, and only here.  A cell whose mode is neither one of the server's
models (``cvp-server --list-models``, see :mod:`cvplab.models`) nor a peer below is an
error, never a peer by default.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Peer:
    """A server the lab starts beside cvp to compare with it."""

    name: str  # the mode its cells carry
    package: str  # the Debian package that installs it (scripts/deps)
    color: str  # its colour in the charts


#: Every peer, in the order reports list them (after cvp's models).
PEERS = (
    Peer("nginx", "nginx-light", "tab:gray"),
    Peer("node", "nodejs", "tab:red"),
    Peer("pgbench", "postgresql", "tab:olive"),  # the database's own limit (db); its "server" is PostgreSQL
)
NAMES = tuple(p.name for p in PEERS)


def get(name: str) -> Peer:
    """The peer called ``name``; KeyError for anything else."""
    for peer in PEERS:
        if peer.name == name:
            return peer
    raise KeyError(name)
