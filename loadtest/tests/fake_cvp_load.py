#!/usr/bin/env python3
"""A stand-in for cvp-load (the open-loop generator), as stub_server.py stands in for cvp-server.

It takes cvp-load's flags and writes JSON of cvp-load's shape (/work/notes/cvp-load-contract.md),
so the lab's tests run without a C++ build.  It really sends the requests, on their schedule,
over one keep-alive connection, and times each from its scheduled send; a Python loop cannot
keep a high rate, so it sends at most MAX_RATE a second and says it fell behind when asked for
more.  Its histograms keep three significant digits per bucket; ``merge`` adds them bucket by
bucket and computes the percentiles again from the sum, as cvp-load does.
"""

import argparse
import http.client
import json
import math
import random
import re
import resource
import sys
import time
from urllib.parse import urlsplit

#: The most requests a second the fake really sends.
MAX_RATE = 200.0
LATE_AFTER_US = 1000
PERCENTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999), ("p9999", 0.9999))


def bucket(us: float) -> int:
    """The lowest value of ``us``'s bucket: three significant digits."""
    v = max(1, int(us))
    digits = len(str(v))
    step = 10 ** max(0, digits - 3)
    return v // step * step


def histogram(buckets: dict[int, int], total_us: float) -> dict:
    """A contract histogram from ``{bucket: count}``."""
    keys = sorted(buckets)
    return {"unit": "us", "significant_digits": 3, "lowest_us": 1, "highest_us": 60_000_000,
            "count": sum(buckets.values()), "sum_us": total_us, "min_us": keys[0] if keys else None,
            "max_us": keys[-1] if keys else None, "buckets": [[k, buckets[k]] for k in keys]}


def figures(h: dict) -> dict:
    """min, mean, the percentiles and max from a histogram (None everywhere when it is empty)."""
    count = h["count"]
    if not count:
        return dict.fromkeys(("min", "mean", *(p for p, _ in PERCENTILES), "max"))
    out = {"min": h["min_us"], "mean": h["sum_us"] / count}
    for name, q in PERCENTILES:
        want, seen = max(1, math.ceil(q * count)), 0
        for value, n in h["buckets"]:
            seen += n
            if seen >= want:
                out[name] = value
                break
    out["max"] = h["max_us"]
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(prog="cvp-load")
    p.add_argument("urls", nargs="+")
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=0.0)
    p.add_argument("--arrival", choices=("constant", "poisson"), default="constant")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--max-connections", type=int, default=1000)
    p.add_argument("--backlog", type=int, default=10000)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--json", required=True)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.rate <= 0:
        p.error("--rate must be above 0")
    return args


def weighted(urls: list[str]) -> list[tuple[int, str, str]]:
    """(weight, host:port, path) for each URL argument."""
    out = []
    for u in urls:
        weight, rest = (u.split("@", 1) if re.match(r"^\d+@", u) else ("1", u))
        parts = urlsplit(rest)
        out.append((int(weight), parts.netloc, parts.path + (f"?{parts.query}" if parts.query else "")))
    return out


def run(args) -> int:
    targets = weighted(args.urls)
    netloc = targets[0][1]
    host, _, port = netloc.partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=args.timeout)
    try:
        conn.connect()
    except OSError as e:
        print(f"cvp-load: cannot reach {netloc}: {e}", file=sys.stderr)
        return 1
    rate = min(args.rate, MAX_RATE)
    rng = random.Random(args.seed)
    # The smooth weighted round-robin: each pick adds every weight and takes the largest.
    current = [0] * len(targets)
    total_w = sum(w for w, _, _ in targets)
    sent = [0] * len(targets)
    lat, svc, lag = {}, {}, {}
    sums = [0.0, 0.0, 0.0]
    status, errors = {}, dict.fromkeys(("connect", "read", "write", "timeout", "framing", "status"), 0)
    late = scheduled = 0
    start = time.monotonic()
    at = 0.0
    while at < args.duration:
        scheduled += 1
        for i, (w, _, _) in enumerate(targets):
            current[i] += w
        pick = max(range(len(targets)), key=lambda i: current[i])
        current[pick] -= total_w
        time.sleep(max(0.0, start + at - time.monotonic()))
        sent_at = time.monotonic()
        try:
            conn.request("GET", targets[pick][2])
            resp = conn.getresponse()
            resp.read()
        except OSError:
            errors["read"] += 1
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=args.timeout)
            at += rng.expovariate(rate) if args.arrival == "poisson" else 1.0 / rate
            continue
        done = time.monotonic()
        sent[pick] += 1
        status[str(resp.status)] = status.get(str(resp.status), 0) + 1
        if resp.status >= 400:
            errors["status"] += 1
        for store, i, us in ((lat, 0, (done - start - at) * 1e6), (svc, 1, (done - sent_at) * 1e6),
                             (lag, 2, (sent_at - start - at) * 1e6)):
            store[bucket(us)] = store.get(bucket(us), 0) + 1
            sums[i] += us
        late += (sent_at - start - at) * 1e6 > LATE_AFTER_US
        at += rng.expovariate(rate) if args.arrival == "poisson" else 1.0 / rate
    wall = time.monotonic() - start
    completed = sum(sent)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    h, hs, hl = histogram(lat, sums[0]), histogram(svc, sums[1]), histogram(lag, sums[2])
    behind = args.rate > MAX_RATE
    doc = {"tool": "cvp-load", "format": 1, "target": f"http://{netloc}",
           "urls": [{"path": p, "weight": w, "sent": n, "completed": n} for (w, _, p), n in zip(targets, sent)],
           "arrival": args.arrival, "seed": args.seed, "rate_asked": args.rate,
           "rate_achieved": scheduled / args.duration, "throughput": completed / args.duration,
           "duration_s": args.duration, "warmup_s": args.warmup, "generators": 1, "scheduled": scheduled,
           "sent": completed + errors["read"], "completed": completed, "late": late, "late_after_us": LATE_AFTER_US,
           "dropped": 0, "unfinished": 0, "errors": errors, "status": status,
           "connections": {"opened": 1, "max_open": 1, "max_allowed": args.max_connections},
           "latency_us": figures(h), "service_us": figures(hs), "send_lag_us": figures(hl),
           "behind": behind, "behind_reason": f"the fake sends at most {MAX_RATE:g}/s" if behind else None,
           "cpu_s": cpu, "cpu_share": cpu / wall if wall > 0 else 0.0, "histogram": h, "service_histogram": hs}
    write(doc, args.json)
    return 0


def merge(paths: list[str], out: str) -> int:
    """Adds the histograms and counts of several results, as ``cvp-load merge`` does."""
    docs = [json.loads(open(p).read()) for p in paths]
    first = docs[0]
    merged = dict(first)
    for key in ("rate_asked", "rate_achieved", "throughput", "scheduled", "sent", "completed", "late", "dropped",
                "unfinished", "cpu_s"):
        merged[key] = sum(d[key] for d in docs)
    merged["generators"] = sum(d.get("generators", 1) for d in docs)
    merged["duration_s"] = max(d["duration_s"] for d in docs)
    merged["behind"] = any(d["behind"] for d in docs)
    merged["errors"] = {k: sum(d["errors"][k] for d in docs) for k in first["errors"]}
    for hkey, fkey in (("histogram", "latency_us"), ("service_histogram", "service_us")):
        buckets: dict[int, int] = {}
        for d in docs:
            for value, n in d[hkey]["buckets"]:
                buckets[value] = buckets.get(value, 0) + n
        merged[hkey] = histogram(buckets, sum(d[hkey]["sum_us"] for d in docs))
        merged[fkey] = figures(merged[hkey])
    write(merged, out)
    return 0


def write(doc: dict, path: str) -> None:
    text = json.dumps(doc, indent=1)
    if path == "-":
        print(text)
    else:
        with open(path, "w") as f:
            f.write(text + "\n")


def main(argv: list[str]) -> int:
    if argv and argv[0] == "merge":
        if "--json" not in argv or argv.index("--json") + 1 >= len(argv):
            print("cvp-load merge: --json OUT is required", file=sys.stderr)
            return 2
        i = argv.index("--json")
        return merge(argv[1:i] + argv[i + 2:], argv[i + 1])
    if argv and argv[0] == "--help":
        print("cvp-load (the lab tests' fake): open-loop HTTP load")
        return 0
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
