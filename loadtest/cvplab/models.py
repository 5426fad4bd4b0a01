"""cvp's models, as the server lists them: ``cvp-server --list-models`` (docs/architecture.md).

The lab keeps no copy of the list.  A run reads it once from the binary it will start,
and writes it into results.json (``manifest.models``), so that ``--report`` renders a run
without the binary.  Results written before the server could list its models (schema 2)
name the models the run chose in ``manifest.lab.options.models``; they are read from there.
A remote ``--target`` is measured as the one model its ``/stats`` names.

:class:`Catalog` is the list together with the declared peers (:mod:`cvplab.peers`): it orders
modes for reports and charts, and refuses a mode that is neither.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from . import peers

#: The colours of cvp's models in the charts, given in the catalog's order.
MODEL_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:olive", "tab:cyan")
#: A colour for a mode past the palette.
OTHER_COLOR = "tab:pink"
#: Seconds ``--list-models`` may take.
LIST_TIMEOUT_S = 10.0


class ModelsError(Exception):
    """The model list could not be read, or a mode is neither a model nor a declared peer."""


@dataclass(frozen=True)
class Model:
    """One row of the server's model table."""

    name: str
    description: str = ""
    sizing_flags: tuple[str, ...] = ()
    worker_kinds: tuple[str, ...] = ()
    serving_kind: str | None = None  # the kind of worker that serves connections
    work_kind: str | None = None  # the kind of worker that runs CPU work

    @classmethod
    def from_json(cls, row: dict) -> "Model":
        kinds = tuple(row.get("worker_kinds") or ())
        return cls(name=row["name"], description=row.get("description", ""),
                   sizing_flags=tuple(row.get("sizing_flags") or ()), worker_kinds=kinds,
                   serving_kind=row.get("serving_kind"), work_kind=row.get("work_kind"))

    def to_json(self) -> dict:
        out = asdict(self)
        out["sizing_flags"], out["worker_kinds"] = list(self.sizing_flags), list(self.worker_kinds)
        return out

    def worker_flags(self, n: int) -> tuple[str, ...]:
        """The flags that start this model with ``n`` workers, from its sizing flags.

        A model whose CPU work runs on a pool beside the threads that serve connections is
        sized by ``--pool-threads``; one sized by ``--threads`` gets n of them; a model with
        neither (one loop, or a thread per connection) takes no flag and gets n CPUs like
        the others.  What it then runs in parallel is the server's to say.
        """
        if "--pool-threads" in self.sizing_flags and self.work_kind != self.serving_kind:
            return ("--pool-threads", str(n))
        if "--threads" in self.sizing_flags:
            return ("--threads", str(n))
        return ()


@dataclass(frozen=True)
class Catalog:
    """cvp's models in the server's order, and the declared peers after them."""

    models: tuple[Model, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    @property
    def order(self) -> tuple[str, ...]:
        """Every known mode: the models, then the peers."""
        return self.names + peers.NAMES

    def model(self, name: str) -> Model:
        for m in self.models:
            if m.name == name:
                return m
        raise ModelsError(f"{name!r} is not one of the server's models ({', '.join(self.names)})")

    def is_model(self, mode: str) -> bool:
        return mode in self.names

    def is_peer(self, mode: str) -> bool:
        """True for a declared peer, False for a model; anything else is an error."""
        if mode in peers.NAMES:
            return True
        if mode in self.names:
            return False
        raise ModelsError(f"mode {mode!r} is neither one of the server's models ({', '.join(self.names)}) "
                          f"nor a declared peer ({', '.join(peers.NAMES)})")

    def rank(self, mode: str) -> int:
        """The mode's place in reports; an unknown mode is an error."""
        self.is_peer(mode)
        return self.order.index(mode)

    def color(self, mode: str) -> str:
        if self.is_peer(mode):
            return peers.get(mode).color
        i = self.names.index(mode)
        return MODEL_COLORS[i] if i < len(MODEL_COLORS) else OTHER_COLOR

    def check(self, modes) -> None:
        """Raises ModelsError for the first mode that is neither a model nor a peer."""
        for mode in modes:
            self.is_peer(mode)

    def to_json(self) -> list[dict]:
        return [m.to_json() for m in self.models]


def parse(text: str) -> Catalog:
    """The catalog from ``--list-models``' JSON."""
    try:
        rows = json.loads(text)["models"]
        models = tuple(Model.from_json(r) for r in rows)
    except (ValueError, KeyError, TypeError) as e:
        raise ModelsError(f"--list-models printed something else than the model table: {e}") from None
    if not models:
        raise ModelsError("--list-models printed no model")
    return Catalog(models)


def from_binary(binary: Path) -> Catalog:
    """Runs ``binary --list-models`` and parses what it prints."""
    try:
        proc = subprocess.run([str(binary), "--list-models"], capture_output=True, text=True,
                              timeout=LIST_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ModelsError(f"{binary} --list-models: {e}") from None
    if proc.returncode != 0:
        raise ModelsError(f"{binary} --list-models exited {proc.returncode}: {proc.stderr.strip()[:300]} "
                          "(a server built before --list-models? rebuild it)")
    return parse(proc.stdout)


def from_manifest(manifest: dict) -> Catalog:
    """The catalog a run recorded: ``manifest.models``, or for schema 2 the run's chosen models."""
    if manifest.get("models"):
        return Catalog(tuple(Model.from_json(r) for r in manifest["models"]))
    chosen = (manifest.get("lab") or {}).get("options", {}).get("models")
    if not chosen:
        raise ModelsError("results.json names no model (manifest.models, or manifest.lab.options.models)")
    return Catalog(tuple(Model(name) for name in chosen))
