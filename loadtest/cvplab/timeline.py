"""A window of a run's work intervals, fetched once from ``/stats/timeline`` in the middle of the run.

The servers of the scenarios that draw a timeline start with ``--timeline`` :data:`TIMELINE_EVENTS` (every
model alike; docs/API.md "/stats/timeline").  A :class:`Probe` started as the run starts waits until the
middle of it, then asks for the events that ended in the last :data:`SLACK_MS` plus the window, on a
connection of its own.  The window ends :data:`MARGIN_MS` before the answer's ``now_ns``: an interval is
recorded when its handler gets its result, a little after its end, so the newest events may be missing.

:func:`cut` keeps what the report needs of the window: per worker its id and kind, and each event overlapping
the window as ``[start_ms, end_ms, kind, connection]``, milliseconds from the window's start (a bar that began
before it starts below 0).  ``complete`` is false for a worker whose ring had overwritten events it would need.
The probe asks for the events with ``since`` from this machine's CLOCK_MONOTONIC (``time.monotonic_ns``), the
server's clock too, so it runs only against a server the lab started here.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass

from .servers import Server, get_json

#: Events each worker's ring keeps (``--timeline``): more than the busiest worker of cpu, mixed and split
#: records between the probe's ``since`` and its answer at the full profile's rates (mixed's loop: 2,000 waits
#: and 400 hashes a second), and at most 4096 × 128 bytes of memory per worker that runs work.
TIMELINE_EVENTS = 4096
TIMELINE_FLAGS = ("--timeline", str(TIMELINE_EVENTS))
#: The window ends this long before the answer's now_ns (see the module's docstring).
MARGIN_MS = 100
#: How much earlier than the window the probe's ``since`` reaches, for bars that began before it.
SLACK_MS = 200
#: The kinds of interval the server records.
KINDS = ("cpu", "blocking", "io-wait")


@dataclass(frozen=True)
class Window:
    """Where in a run to look: the middle of the part from ``from_s`` (s after the run starts) to its end, over
    ``span_ms``."""

    span_ms: int
    from_s: float = 0.0

    def fetch_at_s(self, duration_s: float) -> float:
        """Seconds after the run starts at which to ask, so that the window is centred in the run's part."""
        middle = (self.from_s + duration_s) / 2
        return middle + (MARGIN_MS + self.span_ms / 2) / 1000


class Probe:
    """One fetch of ``/stats/timeline`` on a thread of its own, ``at_s`` after :meth:`start`."""

    def __init__(self, server: Server, window: Window, at_s: float) -> None:
        self.server, self.window, self.at_s = server, window, at_s
        self.result: dict | None = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cvplab-timeline", daemon=True)

    def start(self) -> "Probe":
        self._thread.start()
        return self

    def _run(self) -> None:
        if self._cancel.wait(self.at_s):
            return
        since = time.monotonic_ns() - (self.window.span_ms + MARGIN_MS + SLACK_MS) * 1_000_000
        try:
            answer = get_json(self.server.base_url, f"/stats/timeline?since={max(0, since)}")
            self.result = cut(answer, self.window.span_ms)
        except (OSError, ValueError, KeyError, TypeError, http.client.HTTPException) as e:
            self.result = {"error": str(e)}

    def finish(self, timeout_s: float = 5.0) -> dict | None:
        """The cut window; None where the run ended before it was due (a warm-up shorter than the cell's runs):
        a probe still waiting is called off, one already asking is waited for."""
        self._cancel.set()
        self._thread.join(timeout_s)
        return self.result


def start_probe(server: Server, window: Window, duration_s: float) -> Probe | None:
    """A probe for a run of ``duration_s`` that starts now; None for a server the lab did not start."""
    if server.proc is None:
        return None
    return Probe(server, window, window.fetch_at_s(duration_s)).start()


def cut(answer: dict, span_ms: int) -> dict:
    """The window of a ``/stats/timeline`` answer: ``{"span_ms", "model", "workers": [{"id", "kind", "complete",
    "events": [[start_ms, end_ms, kind, connection], ...]}]}``."""
    end_ns = int(answer["now_ns"]) - MARGIN_MS * 1_000_000
    start_ns = end_ns - span_ms * 1_000_000
    workers = []
    for w in answer["workers"]:
        events = [e for e in w.get("events", []) if int(e["end_ns"]) >= start_ns and int(e["start_ns"]) <= end_ns]
        # The ring kept recorded - overwritten events; the answer has those that ended at or after since.  Where
        # it has them all and the ring has overwritten some, the ring may not reach back to since.
        kept = int(w.get("recorded", 0)) - int(w.get("overwritten", 0))
        complete = not (w.get("overwritten", 0) and len(w.get("events", [])) >= kept)
        workers.append({"id": w["id"], "kind": w.get("kind"), "complete": complete,
                        "events": [[round((int(e["start_ns"]) - start_ns) / 1e6, 3),
                                    round((int(e["end_ns"]) - start_ns) / 1e6, 3), e["kind"], e.get("connection")]
                                   for e in events]})
    return {"span_ms": span_ms, "model": answer.get("model"), "workers": workers}


def recorded(flags: list[str] | tuple[str, ...]) -> bool:
    """Whether a server was started with ``--timeline`` (its flags as results keep them)."""
    return "--timeline" in flags


def without_timeline(flags: list[str] | tuple[str, ...]) -> list[str]:
    """A server's flags less ``--timeline N``: the ones that make the model what it is."""
    out, skip = [], False
    for f in flags:
        if skip:
            skip = False
        elif f == "--timeline":
            skip = True
        else:
            out.append(f)
    return out


def chosen(timelines: list[dict | None]) -> dict | None:
    """The timeline the report draws of a cell's repeats: the middle one of those that have one."""
    good = [t for t in timelines if t and "workers" in t]
    return good[len(good) // 2] if good else None
