"""The Node peer's npm packages: node-postgres for its /db/* endpoints.

They are installed with ``npm ci`` from ``loadtest/peers/package-lock.json`` into
``loadtest/peers/node_modules/``, a folder of their own, only when a run needs them and
they are not there yet.  Where npm cannot reach its registry, the lab says so and runs
without the peer's /db cells; it never fails the run for it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Where package.json, the lockfile and node_modules/ live.
PEERS_DIR = Path(__file__).resolve().parent.parent / "peers"
#: The package whose presence says the install is done.
REQUIRED = "pg"


@dataclass(frozen=True)
class Install:
    """What ensure() found or did: ready, and if not, why not in words."""

    ready: bool
    detail: str


def installed(peers_dir: Path = PEERS_DIR) -> bool:
    """True when node-postgres is in the peer's node_modules/."""
    return (peers_dir / "node_modules" / REQUIRED / "package.json").is_file()


def ensure(peers_dir: Path = PEERS_DIR, npm: str | None = None, timeout_s: float = 180.0) -> Install:
    """Installs the peer's packages with ``npm ci`` unless they are there already."""
    if installed(peers_dir):
        return Install(True, f"node-postgres already in {peers_dir / 'node_modules'}")
    npm = npm or shutil.which("npm")
    if npm is None:
        return Install(False, "npm is not installed (Debian's `npm` package): the Node peer serves no /db/*")
    # npm ci: exactly the lockfile's versions, into node_modules/ next to it.
    try:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefix", str(peers_dir)], cwd=peers_dir,
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return Install(False, f"npm ci did not finish within {timeout_s:.0f} s (is the npm registry reachable?): "
                              "the Node peer serves no /db/*")
    if done.returncode != 0 or not installed(peers_dir):
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        return Install(False, f"npm ci failed (exit {done.returncode}; is the npm registry reachable?): {tail}: "
                              "the Node peer serves no /db/*")
    return Install(True, f"installed node-postgres into {peers_dir / 'node_modules'} (npm ci, package-lock.json)")
