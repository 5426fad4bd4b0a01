#!/usr/bin/env python3
"""A stand-in for cvp-server, for testing the lab's plumbing without the C++ build.

It speaks just enough of docs/API.md: the start-up line, the flags the lab
passes, /plaintext, /json, /io/sleep, /io/block, /cpu/pbkdf2, /cpu/primes, /healthz
and /stats with per-worker counters, over keep-alive connections (pipelined requests too).  It is slow and
single-threaded (asyncio); it proves the lab's wiring, never anything about performance.  In offload mode
/cpu/pbkdf2 runs on a pool of --pool-threads threads that admits --pool-queue more: beyond them it answers
503 with Retry-After and reads that connection's next request only after --overload-pause, as cvp-server
does (docs/API.md, "Overload"), and /stats has the pool's counts.

``--fail-start`` makes it exit with status 2 and a message, as a bad flag would.
"""

import argparse
import asyncio
import concurrent.futures
import hashlib
import json
import os
import re
import sys
import time
from urllib.parse import parse_qs, urlsplit


def duration_s(text):
    """cvp-server's durations: ms, s or m; a bare number is milliseconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m)?", text)
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {text!r}")
    return int(m.group(1)) * {"ms": 0.001, None: 0.001, "s": 1.0, "m": 60.0}[m.group(2)]


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", default="reactors", choices=["single", "reactors", "offload"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pool-threads", type=int, default=2)
    p.add_argument("--pool-queue", type=int, default=256)
    p.add_argument("--overload-pause", type=duration_s, default=0.1)
    p.add_argument("--accept", default="round-robin")
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--max-connections", type=int, default=10000)
    p.add_argument("--drain-timeout", default="10s")
    p.add_argument("--pin", default="on")
    p.add_argument("--fail-start", action="store_true")
    return p.parse_args()


class Stub:
    def __init__(self, args):
        self.args = args
        loops = args.threads if args.mode == "reactors" else 1
        pool = args.pool_threads if args.mode == "offload" else 0
        self.workers = [{"id": i, "role": "loop", "cpu": None, "requests": 0, "connections_open": 0,
                         "connections_total": 0, "tasks": 0, "busy_ns": 0} for i in range(loops)]
        self.workers += [{"id": loops + i, "role": "pool", "cpu": None, "requests": 0, "connections_open": 0,
                          "connections_total": 0, "tasks": 0, "busy_ns": 0} for i in range(pool)]
        self.next_loop = 0
        self.started = time.monotonic()
        self.pool = None
        if args.mode == "offload":
            self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.pool_threads)
        self.admitted = 0  # pool tasks running or queued
        self.counts = {"completed": 0, "rejected": 0, "tasks": 0}

    def stats(self):
        t = os.times()
        loops = [w for w in self.workers if w["role"] == "loop"]
        return {"mode": self.args.mode, "accept": self.args.accept, "draining": False,
                "uptime_s": time.monotonic() - self.started,
                "cpu": {"allowed": sorted(os.sched_getaffinity(0)), "pinned": [], "cgroup": "none",
                        "quota_cpus": None, "usable": len(os.sched_getaffinity(0))},
                "process": {"pid": os.getpid(), "cpu_user_s": t.user, "cpu_system_s": t.system, "rss_bytes": 0},
                "workers": self.workers,
                "pool": None if self.pool is None else {
                    "threads": self.args.pool_threads, "queue_capacity": self.args.pool_queue,
                    "queue_depth": max(0, self.admitted - self.args.pool_threads),
                    "running": min(self.admitted, self.args.pool_threads), "completed": self.counts["completed"],
                    "rejected": self.counts["rejected"], "nice_below_loop": 0},
                "totals": {"requests": sum(w["requests"] for w in loops),
                           "connections_open": sum(w["connections_open"] for w in loops),
                           "connections_total": sum(w["connections_total"] for w in loops),
                           "connections_rejected": 0}}

    async def handle(self, path, query, loop_worker):
        q = {k: v[0] for k, v in parse_qs(query).items()}
        if path == "/plaintext":
            return 200, "text/plain", "Hello, World!"
        if path == "/json":
            return 200, "application/json", json.dumps({"message": "Hello, World!"})
        if path == "/healthz":
            return 200, "application/json", '{"status":"ok"}'
        if path == "/stats":
            return 200, "application/json", json.dumps(self.stats())
        if path == "/io/sleep":
            await asyncio.sleep(int(q["ms"]) / 1000)
            return 200, "application/json", json.dumps({"ms": int(q["ms"]), "worker": loop_worker["id"]})
        if path == "/io/block":
            time.sleep(int(q["ms"]) / 1000)
            return 200, "application/json", json.dumps({"ms": int(q["ms"])})
        if path == "/cpu/pbkdf2":
            if self.pool is not None:
                return await self.offload_pbkdf2(int(q["iterations"]))
            h, cpu_ns = pbkdf2(int(q["iterations"]))
            loop_worker["tasks"] += 1
            work = {"mode": self.args.mode, "worker": loop_worker["id"], "cpu_ns": cpu_ns}
            return 200, "application/json", json.dumps({**work, "hash": h})
        if path == "/cpu/primes":
            limit = int(q["limit"])
            sieve = bytearray([1]) * (limit + 1)
            sieve[0:2] = b"\0\0"
            for i in range(2, int(limit ** 0.5) + 1):
                if sieve[i]:
                    sieve[i * i::i] = bytes(len(range(i * i, limit + 1, i)))
            return 200, "application/json", json.dumps({"count": sum(sieve), "split": int(q.get("split", 1))})
        return 404, "application/json", '{"error":"not found","status":404}'

    async def offload_pbkdf2(self, iterations):
        """PBKDF2 on the pool, or a 503 when as many tasks as it admits are running or queued."""
        if self.admitted >= self.args.pool_threads + self.args.pool_queue:
            self.counts["rejected"] += 1
            return 503, "application/json", '{"error":"overloaded","status":503}'
        self.admitted += 1
        pool_workers = [w for w in self.workers if w["role"] == "pool"]
        worker = pool_workers[self.counts["tasks"] % len(pool_workers)]
        self.counts["tasks"] += 1
        try:
            h, cpu_ns = await asyncio.get_running_loop().run_in_executor(self.pool, pbkdf2, iterations)
        finally:
            self.admitted -= 1
        self.counts["completed"] += 1
        worker["tasks"] += 1
        work = {"mode": self.args.mode, "worker": worker["id"], "cpu_ns": cpu_ns}
        return 200, "application/json", json.dumps({**work, "hash": h})

    async def session(self, reader, writer):
        loops = [w for w in self.workers if w["role"] == "loop"]
        w = loops[self.next_loop % len(loops)]
        self.next_loop += 1
        w["connections_open"] += 1
        w["connections_total"] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode()
                parts = urlsplit(target)
                status, ctype, body = await self.handle(parts.path, parts.query, w)
                w["requests"] += 1
                data = body.encode()
                extra = b"Retry-After: 1\r\n" if status == 503 else b""
                writer.write(b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\nX-Mode: %s\r\n%s\r\n%s"
                             % (status, ctype.encode(), len(data), self.args.mode.encode(), extra, data))
                await writer.drain()
                if status == 503:  # overload: the next request on this connection waits to be read
                    await asyncio.sleep(self.args.overload_pause)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            w["connections_open"] -= 1
            writer.close()


def pbkdf2(iterations):
    """The hash and the CPU time it took on the thread that ran it."""
    t0 = time.thread_time_ns()
    h = hashlib.pbkdf2_hmac("sha256", b"password", b"salt", iterations, 32).hex()
    return h, time.thread_time_ns() - t0


async def main():
    args = parse_args()
    if args.fail_start:
        print("cvp-server: --fail-start: refusing to start, as asked", file=sys.stderr)
        sys.exit(2)
    stub = Stub(args)
    server = await asyncio.start_server(stub.session, args.address, args.port, backlog=4096)
    host, port = server.sockets[0].getsockname()[:2]
    loops = len([w for w in stub.workers if w["role"] == "loop"])
    print(f"cvp-server mode={args.mode} threads={loops} accept={args.accept} "
          f"pool_threads={len(stub.workers) - loops} pool_nice=0 pinned=none allowed=0 cgroup=none quota=none usable=1 "
          f"listening={host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
