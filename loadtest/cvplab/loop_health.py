"""Loop lag, loop utilization and the offload pool's queue wait over one run (docs/API.md, "/stats").

``/stats`` summarises each loop's lag since the server started (``lag``) and over its last 512 ticks
(``lag_recent``: 5 s at 10 ms, longer than a quick run, so it would mix in what ran before).  What happened
during one run is the difference of two readings of the cumulative histograms ``/metrics`` exposes
(``cvp_loop_lag_seconds``, ``cvp_pool_queue_wait_seconds``: Prometheus's buckets), read just before and
just after it.  Its quantiles are interpolated within a bucket, as Prometheus's ``histogram_quantile``
does; its maximum is exact where the since-start ``lag.max_ms`` of ``/stats`` grew during the run (that
tick was the run's), else the upper bound of the highest bucket that got a tick.  Utilization is
``1 - Δevent_wait_ns / Δlived_ns`` over a loop's workers (``workers[]`` of ``/stats``).  A model's figure
sums all its loops' ticks: ``reactors``' loops together, the others' one.
"""

from __future__ import annotations

import math
import re
import statistics

#: The histogram families read from /metrics: each loop's lag, and offload's pool queue wait.
LAG_FAMILY = "cvp_loop_lag_seconds"
QUEUE_FAMILY = "cvp_pool_queue_wait_seconds"

_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)\s*$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_histograms(text: str, family: str) -> dict[str, dict]:
    """The ``family`` histograms of a Prometheus text exposition, by their ``loop`` label ("" where none):
    ``{"le": [bounds, +inf last], "n": [cumulative counts], "count": total}``."""
    out: dict[str, dict] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if not m or not m["name"].startswith(family):
            continue
        labels = dict(_LABEL.findall(m["labels"] or ""))
        h = out.setdefault(labels.get("loop", ""), {"le": [], "n": [], "count": 0})
        if m["name"] == family + "_bucket" and "le" in labels:
            h["le"].append(math.inf if labels["le"] == "+Inf" else float(labels["le"]))
            h["n"].append(int(float(m["value"])))
        elif m["name"] == family + "_count":
            h["count"] = int(float(m["value"]))
    return out


def merged(histograms: list[dict]) -> dict | None:
    """One histogram from several with the same bounds (every loop of a model); None for none."""
    if not histograms:
        return None
    le = histograms[0]["le"]
    return {"le": le, "n": [sum(h["n"][i] for h in histograms) for i in range(len(le))],
            "count": sum(h["count"] for h in histograms)}


def difference(before: dict | None, after: dict) -> dict:
    """What ``after`` counted that ``before`` had not: the run's own histogram (before None: since start)."""
    if not before or before["le"] != after["le"]:
        return dict(after)
    return {"le": after["le"], "n": [a - b for a, b in zip(after["n"], before["n"])],
            "count": after["count"] - before["count"]}


def quantile(h: dict, q: float) -> float | None:
    """The q-quantile of a cumulative histogram, interpolated linearly within its bucket (the first bucket
    from 0); the highest finite bound where it falls in +Inf; None without a count."""
    total = h["n"][-1] if h["n"] else 0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0
    for bound, n in zip(h["le"], h["n"]):
        if n >= rank and n > below:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (n - below)
        if not math.isinf(bound):
            lower = bound
        below = n
    return lower


def top_bound(h: dict) -> float | None:
    """The upper bound of the highest bucket that counted something (+inf: past the last finite bound)."""
    prev = 0
    top = None
    for bound, n in zip(h["le"], h["n"]):
        if n > prev:
            top = bound
        prev = n
    return top


def snapshot(stats: dict, metrics_text: str) -> dict:
    """What :func:`delta` needs of one moment: the histograms, each loop's since-start maximum and workers, and
    each worker's lived and event-wait nanoseconds."""
    return {"lag": parse_histograms(metrics_text, LAG_FAMILY),
            "queue_wait": parse_histograms(metrics_text, QUEUE_FAMILY).get(""),
            "loops": [{"name": l["name"], "workers": l.get("workers", []),
                       "max_ms": (l.get("lag") or {}).get("max_ms")} for l in stats.get("loops") or []],
            "workers": {w["id"]: (w.get("lived_ns"), w.get("event_wait_ns")) for w in stats.get("workers", [])}}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def delta(before: dict, after: dict) -> dict:
    """The run between two snapshots: ``lag`` (ticks, p50/p99/max ms over every loop, whether the max is exact),
    ``utilization`` (busy share of the loops' threads; None where /stats has no lived_ns) and offload's
    ``queue_wait`` (tasks, p50/p99 ms; None for the other models)."""
    runs = [difference(before["lag"].get(name), h) for name, h in after["lag"].items()]
    lag = merged(runs)
    out: dict = {"lag": None, "utilization": None, "queue_wait": None, "loops": len(after["loops"])}
    if lag and lag["count"] > 0:
        maxima = {l["name"]: l["max_ms"] for l in before["loops"]}
        grown = [l["max_ms"] for l in after["loops"]
                 if l["max_ms"] is not None and maxima.get(l["name"]) is not None and l["max_ms"] > maxima[l["name"]]]
        top = top_bound(lag)
        exact = bool(grown)
        most = max(grown) if grown else (None if top is None or math.isinf(top) else top * 1000)
        p50, p99 = _ms(quantile(lag, 0.5)), _ms(quantile(lag, 0.99))
        if exact:  # interpolation within a bucket may pass the run's true maximum: no quantile is above it
            p50, p99 = min(p50, most), min(p99, most)
        out["lag"] = {"ticks": lag["count"], "p50_ms": p50, "p99_ms": p99, "max_ms": most, "max_exact": exact}
    lived = waited = 0
    for loop in after["loops"]:
        for wid in loop["workers"]:
            l1, w1 = after["workers"].get(wid, (None, None))
            l0, w0 = before["workers"].get(wid, (0, 0))
            if l1 is None or w1 is None:
                continue
            lived, waited = lived + l1 - (l0 or 0), waited + w1 - (w0 or 0)
    if lived > 0:
        out["utilization"] = round(min(1.0, max(0.0, 1 - waited / lived)), 4)
    if after["queue_wait"]:
        q = difference(before["queue_wait"], after["queue_wait"])
        if q["count"] > 0:
            out["queue_wait"] = {"tasks": q["count"], "p50_ms": _ms(quantile(q, 0.5)),
                                 "p99_ms": _ms(quantile(q, 0.99))}
    return out


def median_health(runs: list[dict]) -> dict | None:
    """The median of each figure over the repeats' :func:`delta` (a max exact only where every repeat's was)."""
    runs = [r for r in runs if r and r.get("lag")]
    if not runs:
        return None

    def med(values: list) -> float | None:
        values = [v for v in values if v is not None]
        return round(statistics.median(values), 3) if values else None

    lag = {k: med([r["lag"][k] for r in runs]) for k in ("p50_ms", "p99_ms", "max_ms")}
    lag["ticks"] = int(med([r["lag"]["ticks"] for r in runs]) or 0)
    lag["max_exact"] = all(r["lag"]["max_exact"] for r in runs)
    queues = [r["queue_wait"] for r in runs if r.get("queue_wait")]
    queue = ({k: med([qw[k] for qw in queues]) for k in ("p50_ms", "p99_ms", "tasks")} if queues else None)
    return {"lag": lag, "utilization": med([r.get("utilization") for r in runs]), "queue_wait": queue,
            "loops": runs[0].get("loops"), "repeats": len(runs)}
