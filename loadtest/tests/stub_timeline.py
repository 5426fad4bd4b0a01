"""The stub server's work intervals (``--timeline N``, ``/stats/timeline``) and loop health (``loops[]`` of
/stats, ``workers[].lived_ns``/``event_wait_ns``, the lag and queue-wait histograms of ``/metrics``), shaped
as docs/API.md gives cvp-server's.

The stub runs every connection on one asyncio loop, so its lag is measured for real there, by a 10 ms ticker,
and reported for each loop the model lists.  Intervals are what the stub itself timed around each piece of
work; a /cpu/primes request's chunks are its one computation cut into equal parts.
"""

import asyncio
import collections
import json
import time

#: Prometheus's bounds for delay histograms (seconds), as cvp-server's /metrics has them.
BOUNDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
TICK_S = 0.01


class Histogram:
    """Counts per bucket, as cumulative counts are read; the count, sum and max."""

    def __init__(self):
        self.counts = [0] * (len(BOUNDS) + 1)
        self.count, self.sum_s, self.max_s = 0, 0.0, 0.0

    def add(self, seconds):
        i = next((i for i, b in enumerate(BOUNDS) if seconds <= b), len(BOUNDS))
        self.counts[i] += 1
        self.count += 1
        self.sum_s += seconds
        self.max_s = max(self.max_s, seconds)

    def summary(self):
        return {"count": self.count, "min_ms": 0.0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": self.max_s * 1000,
                "mean_ms": self.sum_s * 1000 / self.count if self.count else 0.0}

    def exposition(self, name, labels):
        out, total = [], 0
        for bound, n in zip(BOUNDS, self.counts):
            total += n
            out.append(f'{name}_bucket{{{labels},le="{bound:g}"}} {total}')
        out += [f'{name}_bucket{{{labels},le="+Inf"}} {self.count}', f"{name}_sum{{{labels}}} {self.sum_s}",
                f"{name}_count{{{labels}}} {self.count}"]
        return out


class Health:
    """The stub's timeline rings, its loop's lag and offload's queue wait."""

    def __init__(self, events_per_worker):
        self.events = events_per_worker
        self.rings = collections.defaultdict(lambda: collections.deque(maxlen=max(1, events_per_worker)))
        self.recorded = collections.Counter()
        self.lag = Histogram()
        self.queue_wait = Histogram()
        self.started_ns = time.monotonic_ns()

    async def tick(self):
        """How late a 10 ms sleep wakes up, forever: the loop's lag."""
        while True:
            due = time.monotonic() + TICK_S
            await asyncio.sleep(TICK_S)
            self.lag.add(max(0.0, time.monotonic() - due))

    def record(self, worker_id, start_ns, end_ns, kind, target, chunks=1):
        """One interval (or ``chunks`` equal ones one after another) on a worker, when recording is on."""
        if self.events <= 0:
            return
        step = (end_ns - start_ns) // max(1, chunks)
        for i in range(max(1, chunks)):
            self.rings[worker_id].append({"start_ns": start_ns + i * step, "end_ns": start_ns + (i + 1) * step,
                                          "kind": kind, "target": target[:98], "connection": 0})
            self.recorded[worker_id] += 1

    def timeline(self, query, model, workers):
        """``/stats/timeline``'s status and body."""
        since = query.get("since", "0")
        if not since.isdigit() or int(since) >= 2 ** 63:
            return 400, json.dumps({"error": "bad since", "status": 400})
        if self.events <= 0:
            return 409, json.dumps({"error": "timeline recording is off: start the server with --timeline N "
                                             "(events kept per worker)", "status": 409, "recording": False,
                                    "model": model})
        now = time.monotonic_ns()
        out = []
        for w in workers:
            ring = self.rings.get(w["id"], ())
            out.append({"id": w["id"], "kind": w["kind"], "recorded": self.recorded[w["id"]],
                        "overwritten": self.recorded[w["id"]] - len(ring),
                        "events": [e for e in ring if e["end_ns"] >= int(since)]})
        return 200, json.dumps({"model": model, "recording": True, "events_per_worker": self.events,
                                "since_ns": int(since), "now_ns": now, "workers": out})

    def lived(self, worker):
        """``lived_ns`` and ``event_wait_ns`` of a /stats worker: its busy time is what it ran."""
        lived = time.monotonic_ns() - self.started_ns
        return {"lived_ns": lived, "event_wait_ns": max(0, lived - int(worker.get("busy_ns", 0)))}

    def loops(self, mode, workers):
        """``loops[]`` of /stats: each loop worker, pool's one shared loop; every one with the stub's lag."""
        if mode == "pool":
            named = [("shared loop", [w["id"] for w in workers])]
        else:
            named = [(f"loop {w['id']}", [w["id"]]) for w in workers if w["kind"] == "loop"]
        lag = self.lag.summary()
        return [{"name": name, "workers": ids, "lag": lag, "lag_recent": lag, "utilization": 0.5,
                 "utilization_recent": 0.5, "stalls": 0, "last_stall": None} for name, ids in named]

    def metrics(self, mode, workers, pool):
        """``/metrics``: each loop's lag histogram, and offload's pool queue wait."""
        lines = ["# TYPE cvp_loop_lag_seconds histogram"]
        for loop in self.loops(mode, workers):
            lines += self.lag.exposition("cvp_loop_lag_seconds", f'mode="{mode}",loop="{loop["name"]}"')
        if pool:
            lines += ["# TYPE cvp_pool_queue_wait_seconds histogram"]
            lines += self.queue_wait.exposition("cvp_pool_queue_wait_seconds", f'mode="{mode}"')
        return "\n".join(lines) + "\n"
