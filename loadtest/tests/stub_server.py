#!/usr/bin/env python3
"""A stand-in for cvp-server, for testing the lab's plumbing without the C++ build.

It speaks just enough of docs/API.md: the start-up line (with ``parallelism=N``), the flags the lab
passes, /plaintext, /json, /io/sleep, /io/block, /io/http, /cpu/pbkdf2, /cpu/primes, /healthz
and /stats with its ``model`` object and per-worker counters by ``kind``, over keep-alive connections
(pipelined requests too).  A connection idle for ``--idle-timeout`` is closed.  It is slow and serves every connection on one asyncio loop; it proves the
lab's wiring, never anything about performance.  The five models differ only where the lab can see it:

- single, reactors (--threads loops, connections handed round-robin), offload (one loop and a pool of
  --pool-threads; /cpu/pbkdf2 runs there, admitting --pool-queue more: beyond them it answers 503 with
  Retry-After and reads that connection's next request only after --overload-pause, as cvp-server does,
  docs/API.md "Overload"; /stats has the pool's counts);
- pool: --threads workers of kind pool-thread, whose per-worker connection counts are null (the
  connections belong to the shared loop, as offload's pool threads own none either); /cpu/pbkdf2 and
  /io/block run on a pool of that many threads;
- threads: an acceptor loop (worker 0) and a connection-thread worker per connection, made when first
  needed and its slot reused by a later connection; /cpu/pbkdf2 and /io/block run on a thread of the
  connection's own; parallelism is --max-connections.

- /io/http (with ``--upstream http://HOST:PORT``): GET /io/sleep?ms=N on the downstream through a pool of
  keep-alive connections, one per loop (single, reactors, offload) or one shared (pool, threads), each
  opening at most ``--upstream-connections`` and queueing at most ``--upstream-queue`` calls (more: 503,
  fault ``exhausted``); an idle connection the downstream closed is dropped with the other idle ones and
  the call sent once more on a new one (``retried``); /stats ``downstream`` has the pools' counts, as
  docs/API.md "Downstream calls" and "/stats" describe; without ``--upstream`` /io/http answers 503.
- /db/query, /db/queries?n=N, /db/query-blocking (with ``--db CONNINFO``): rows of the shape cvp answers
  with, made up, never queried (the stub has no libpq: the lab's tests check that it starts the database,
  passes the conninfo and reads the pools, not PostgreSQL); /stats ``database`` counts pools of
  ``--db-connections`` as the downstream pools are counted (the blocking path's pool is ``blocking``);
  without ``--db`` they answer 503.
- /state/counter, /state/counter/value, /state/transfer, /state/accounts, POST /state/reset (docs/API.md,
  "Shared state"), with cvp-server's parameters and bounds; what runs in parallel there is played on the
  stub's one loop by yielding where the real race has its window (``FakeSharedState``): split loses
  updates and naive transfers deadlock (409 after ``timeout_ms``) only in a model whose parallelism is 2
  or more, await loses updates in every model once two requests overlap their waits.

- ``--timeline N``: /stats/timeline, /metrics's lag and queue-wait histograms, and /stats ``loops[]``,
  ``lived_ns`` and ``event_wait_ns`` (``stub_timeline``).

``--fail-start`` makes it exit with status 2 and a message, as a bad flag would.  ``--list-models``
prints its model table as cvp-server does (the contract of docs/architecture.md) and exits 0: the lab
and its tests take the list of models from there.
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

try:  # run as a script (the lab's --server-binary), or imported by the tests
    import stub_timeline
except ImportError:
    from tests import stub_timeline


def duration_s(text):
    """cvp-server's durations: ms, s or m; a bare number is milliseconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m)?", text)
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {text!r}")
    return int(m.group(1)) * {"ms": 0.001, None: 0.001, "s": 1.0, "m": 60.0}[m.group(2)]


#: The model table, in the catalog's order, as ``cvp-server --list-models`` prints it.
MODELS = [
    {"name": "single", "description": "One event loop on one thread serves every connection and runs all work inline.",
     "sizing_flags": [], "worker_kinds": ["loop"], "serving_kind": "loop", "work_kind": "loop"},
    {"name": "reactors",
     "description": "N event loops, one per thread, each owning the connections it was handed and running their work.",
     "sizing_flags": ["--threads"], "worker_kinds": ["loop"], "serving_kind": "loop", "work_kind": "loop"},
    {"name": "offload", "description": "One event loop for I/O hands CPU and blocking work to a pool of threads.",
     "sizing_flags": ["--pool-threads", "--pool-queue"], "worker_kinds": ["loop", "pool-thread"],
     "serving_kind": "loop", "work_kind": "pool-thread"},
    {"name": "pool",
     "description": "One event loop run by N threads; each connection on a strand, its work inline on whichever "
                    "thread runs it.",
     "sizing_flags": ["--threads"], "worker_kinds": ["pool-thread"], "serving_kind": "pool-thread",
     "work_kind": "pool-thread"},
    {"name": "threads", "description": "A thread per connection, each with its own event loop, beside one acceptor loop.",
     "sizing_flags": ["--max-connections", "--thread-stack"], "worker_kinds": ["loop", "connection-thread"],
     "serving_kind": "connection-thread", "work_kind": "connection-thread"},
]
DESCRIPTIONS = {m["name"]: m["description"] for m in MODELS}


def parse_args(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--mode", default="reactors", choices=[m["name"] for m in MODELS])
    p.add_argument("--list-models", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pool-threads", type=int, default=2)
    p.add_argument("--pool-queue", type=int, default=256)
    p.add_argument("--overload-pause", type=duration_s, default=0.1)
    p.add_argument("--accept", default="round-robin")
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--max-connections", type=int, default=10000)
    p.add_argument("--drain-timeout", default="10s")
    p.add_argument("--pin", action="store_true")
    p.add_argument("--thread-stack", default="256K")
    p.add_argument("--idle-timeout", type=duration_s, default=60.0)
    p.add_argument("--upstream", default=None)
    p.add_argument("--upstream-connections", type=int, default=64)
    p.add_argument("--upstream-queue", type=int, default=1024)
    p.add_argument("--db", default=None)
    p.add_argument("--db-connections", type=int, default=16)
    p.add_argument("--timeline", type=int, default=0)
    p.add_argument("--fail-start", action="store_true")
    return p.parse_args(argv)


#: The faults /stats counts per downstream pool (docs/API.md, "Downstream calls").
FAULTS = ("bad_response", "connect_failed", "connect_timeout", "exhausted", "queue_timeout", "refused", "reset",
          "timeout", "too_large")


class DownstreamFault(Exception):
    """A downstream call that failed: the fault's name and the status the front answers with."""

    def __init__(self, fault, status):
        super().__init__(fault)
        self.fault, self.status = fault, status


class FakeDatabasePool:
    """A database pool that only counts: the connections a call holds while it is in flight, never queried."""

    def __init__(self, name, capacity):
        self.name, self.capacity = name, capacity
        self.open = self.in_use = 0
        self.counts = {"created": 0, "reused": 0, "waited": 0, "retried": 0}

    def stats(self):
        return {"name": self.name, "capacity": self.capacity, "queue_capacity": 1024, "open": self.open,
                "idle": self.open - self.in_use, "in_use": self.in_use, "waiting": 0, **self.counts,
                "faults": dict.fromkeys(FAULTS, 0)}

    async def rows(self, n):
        """n made-up rows, after a turn of the loop with a connection held."""
        self.in_use += 1
        if self.in_use > self.open:
            self.open += 1
            self.counts["created"] += 1
        else:
            self.counts["reused"] += 1
        try:
            await asyncio.sleep(0)
            return [{"id": 1 + i % 10000, "randomNumber": 1 + (i * 7919) % 10000} for i in range(n)]
        finally:
            self.in_use -= 1


class DownstreamPool:
    """Keep-alive connections to the downstream: the most recently returned idle one first, a new one while
    there is room, else a place in the queue until one comes back."""

    def __init__(self, name, host, port, capacity, queue_capacity):
        self.name, self.host, self.port = name, host, port
        self.capacity, self.queue_capacity = capacity, queue_capacity
        self.idle = []  # (reader, writer), the most recently returned last
        self.in_use = 0
        self.waiters = []  # futures of queued calls
        self.counts = {"created": 0, "reused": 0, "waited": 0, "retried": 0}
        self.faults = dict.fromkeys(FAULTS, 0)

    def stats(self):
        return {"name": self.name, "capacity": self.capacity, "queue_capacity": self.queue_capacity,
                "open": self.in_use + len(self.idle), "idle": len(self.idle), "in_use": self.in_use,
                "waiting": len(self.waiters), **self.counts, "faults": dict(self.faults)}

    async def acquire(self):
        """(connection or None to open one, reused): a place is taken either way."""
        if self.idle:
            self.in_use += 1
            self.counts["reused"] += 1
            return self.idle.pop(), True
        if self.in_use < self.capacity:
            self.in_use += 1
            return None, False
        if len(self.waiters) >= self.queue_capacity:
            raise DownstreamFault("exhausted", 503)
        self.counts["waited"] += 1
        fut = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        conn = await fut  # handed over with its place: in_use already counts it
        return conn, conn is not None

    def release(self, conn):
        """A connection back (None: it broke and its place is free): to the first waiter, or idle."""
        if self.waiters:
            self.waiters.pop(0).set_result(conn)  # a None lets the waiter open one in the freed place
            return
        self.in_use -= 1
        if conn is not None:
            self.idle.append(conn)

    async def open(self):
        try:
            conn = await asyncio.open_connection(self.host, self.port)
        except ConnectionRefusedError:
            raise DownstreamFault("refused", 502) from None
        except OSError:
            raise DownstreamFault("connect_failed", 502) from None
        self.counts["created"] += 1
        return conn

    async def get(self, path):
        """One GET on the downstream: (status, body bytes, reused, attempts, queued_ns, start_ns, end_ns)."""
        asked = time.monotonic_ns()
        try:
            conn, reused = await self.acquire()
        except DownstreamFault as e:
            self.faults[e.fault] += 1
            raise
        sent = time.monotonic_ns()
        attempts = 1
        while True:
            try:
                if conn is None:
                    conn = await self.open()
                status, body = await exchange(conn, path, f"{self.host}:{self.port}")
            except DownstreamFault as e:
                self.faults[e.fault] += 1
                self.release(None)
                raise
            except (ConnectionError, asyncio.IncompleteReadError) as e:
                close(conn)
                conn = None
                got_nothing = isinstance(e, asyncio.IncompleteReadError) and not e.partial
                if reused and attempts == 1 and (got_nothing or isinstance(e, ConnectionResetError)):
                    # The downstream had closed the idle connection: the others are as stale; once more.
                    for old in self.idle:
                        close(old)
                    self.idle.clear()
                    self.counts["retried"] += 1
                    attempts += 1
                    continue
                self.faults["reset"] += 1
                self.release(None)
                raise DownstreamFault("reset", 502) from None
            self.release(conn)
            return status, body, reused, attempts, sent - asked, sent, time.monotonic_ns()


async def exchange(conn, path, host):
    """Sends a GET on ``conn`` and reads its answer (Content-Length framing, as cvp-server answers)."""
    reader, writer = conn
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise DownstreamFault("bad_response", 502)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return int(parts[1]), await reader.readexactly(length)


def close(conn):
    if conn is not None:
        conn[1].close()


#: The counter strategies and lock orders of /state/* (docs/API.md, "Shared state"), the accounts and their start.
STRATEGIES = ("split", "mutex", "atomic", "sharded", "await")
ORDERS = ("naive", "ordered")
ACCOUNTS, BALANCE = 8, 1_000_000


class BadParameter(Exception):
    """A /state/* parameter out of its bounds: the 400 cvp-server answers with."""


def number(q, name, lo, hi, default=None):
    """An integer query parameter within [lo, hi]; its default when absent (required without one)."""
    text = q.get(name)
    if text is None:
        if default is None:
            raise BadParameter(f"{name} is required")
        return default
    if not text.isdigit() or not lo <= int(text) <= hi:
        raise BadParameter(f"{name} must be an integer in {lo}..{hi}")
    return int(text)


class FakeSharedState:
    """The /state/* counters and accounts, faked where the lab can see the difference.

    cvp-server runs increments and transfers on threads at once in a model whose parallelism is 2 or
    more; the stub has one loop, so it yields where the real race has its window.  split reads the
    counter, yields, and writes what it read plus n (two requests in flight at once lose one's n); a naive
    transfer takes ``from``, yields for ``hold_us``, then waits at most ``timeout_ms`` for ``to`` and answers
    409 when it does not come (two opposite transfers deadlock, as on threads); ordered takes both in
    account order.  With parallelism 1 neither yields, as one thread runs a request from start to end.  await
    reads, sleeps ``ms`` and writes what it read plus one in every model, as cvp-server's timer does.
    """

    def __init__(self, parallel):
        self.parallel = parallel
        self.reset()

    def reset(self):
        self.values = dict.fromkeys(STRATEGIES, 0)
        self.increments = dict.fromkeys(STRATEGIES, 0)
        self.balances = [BALANCE] * ACCOUNTS
        self.transfers = dict.fromkeys(ORDERS, 0)
        self.deadlocks = 0
        self.waits = 0  # naive waits for a second lock so far
        self.locks = [asyncio.Lock() for _ in range(ACCOUNTS)]

    async def counter(self, q):
        """/state/counter: the work fields, strategy, n (ms for await), the value before and after."""
        strategy = q.get("strategy", "")
        if strategy not in STRATEGIES:
            raise BadParameter("strategy must be split, mutex, atomic, sharded or await")
        n = number(q, "n", 1, 100_000, 1)
        if strategy != "await" and "ms" in q:
            raise BadParameter("ms applies only to strategy=await")
        ms = number(q, "ms", 0, 1_000, 1) if strategy == "await" else None
        if ms is not None and n * ms > 10_000:
            raise BadParameter("n times ms must be at most 10000")
        start = time.monotonic_ns()
        before = self.values[strategy]
        if strategy == "await":
            for _ in range(n):
                # Another request may write while this one waits: its update is then overwritten.
                seen = self.values["await"]
                await asyncio.sleep(ms / 1000)
                self.values["await"] = seen + 1
        elif strategy == "split" and self.parallel:
            # The other threads run meanwhile: what they add between this read and this write is lost.
            seen = self.values["split"]
            await asyncio.sleep(0)
            self.values["split"] = seen + n
        else:
            self.values[strategy] += n
        self.increments[strategy] += n
        end = time.monotonic_ns()
        return {"strategy": strategy, "n": n, **({"ms": ms} if ms is not None else {}), "before": before,
                "after": self.values[strategy], "queue_ns": 0, "start_ns": start, "end_ns": end,
                "cpu_ns": end - start}

    def counter_value(self):
        """/state/counter/value's strategies."""
        return {s: {"value": self.values[s], "increments": self.increments[s],
                    "lost": self.increments[s] - self.values[s]} for s in STRATEGIES}

    async def transfer(self, q):
        """/state/transfer: (status, fields); 409 when naive gave up waiting for its second lock."""
        order = q.get("order", "")
        if order not in ORDERS:
            raise BadParameter("order must be naive or ordered")
        src, dst = number(q, "from", 0, ACCOUNTS - 1), number(q, "to", 0, ACCOUNTS - 1)
        amount = number(q, "amount", 1, 1_000_000, 1)
        hold_us = number(q, "hold_us", 0, 100_000, 100)
        if order == "ordered" and "timeout_ms" in q:
            raise BadParameter("timeout_ms applies only to order=naive")
        timeout_ms = number(q, "timeout_ms", 1, 10_000, 50) if order == "naive" else None
        if src == dst:
            raise BadParameter("from and to must be different accounts")
        start = time.monotonic_ns()
        locks = self.locks
        first, second = (src, dst) if order == "naive" else sorted((src, dst))
        moved = True
        if self.parallel:
            # The first lock is taken by polling, so a transfer waiting for it as its second lock (queued on
            # it) gets it first: asyncio's lock is first come first served, a mutex is not.
            while locks[first].locked():
                await asyncio.sleep(0.0001)
            async with locks[first]:
                # Hold the first lock for hold_us: the window in which an opposite transfer takes the other.
                await asyncio.sleep(hold_us / 1e6)
                # Every other naive wait a quarter longer: of two deadlocked transfers one backs out first and
                # the other then gets its lock, as one of two threads' timed waits usually does.
                self.waits += 1
                wait_s = timeout_ms * (1.25 if self.waits % 2 else 1.0) / 1000 if timeout_ms else None
                try:
                    async with asyncio.timeout(wait_s):
                        await locks[second].acquire()
                except TimeoutError:
                    moved = False
                else:
                    self._move(order, src, dst, amount)
                    locks[second].release()
        else:
            self._move(order, src, dst, amount)
        end = time.monotonic_ns()
        fields = {"order": order, "from": src, "to": dst, "amount": amount, "moved": moved,
                  "balances": {"from": self.balances[src], "to": self.balances[dst]}, "queue_ns": 0,
                  "start_ns": start, "end_ns": end, "cpu_ns": end - start}
        if moved:
            return 200, fields
        self.deadlocks += 1
        return 409, {**fields, "status": 409, "error": f"deadlock detected: held account {src}, then waited "
                                                       f"{timeout_ms} ms for account {dst}; backed out, nothing moved"}

    def _move(self, order, src, dst, amount):
        self.balances[src] -= amount
        self.balances[dst] += amount
        self.transfers[order] += 1

    def accounts(self):
        """/state/accounts's fields."""
        return {"accounts": list(self.balances), "total": sum(self.balances), "expected_total": ACCOUNTS * BALANCE,
                "transfers": dict(self.transfers), "deadlocks_detected": self.deadlocks}


def parallelism_of(args):
    """What the model runs in parallel, as the start-up line and /stats say it (docs/API.md)."""
    return {"single": 1, "reactors": args.threads, "offload": args.pool_threads, "pool": args.threads,
            "threads": args.max_connections}[args.mode]


def worker(id_, kind, connections=True):
    """A /stats worker; pool threads (offload's, and those sharing pool's loop) own no connections: null."""
    zero = 0 if connections else None
    return {"id": id_, "kind": kind, "cpu": None, "requests": 0, "responses": 0, "writes": 0, "tasks": 0,
            "busy_ns": 0, "connections_open": zero, "connections_total": zero, "requests_in_flight": zero}


class Stub:
    def __init__(self, args):
        self.args = args
        mode = args.mode
        if mode == "pool":
            self.workers = [worker(i, "pool-thread", connections=False) for i in range(args.threads)]
        else:
            loops = args.threads if mode == "reactors" else 1
            self.workers = [worker(i, "loop") for i in range(loops)]
            if mode == "offload":
                self.workers += [worker(loops + i, "pool-thread", connections=False) for i in range(args.pool_threads)]
        self.parallelism = parallelism_of(args)
        self.next_loop = 0
        self.started = time.monotonic()
        self.pool = None
        if mode == "offload":
            self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.pool_threads)
        # Where pool and threads run CPU and blocking work: a pool of --threads, or a thread per connection.
        self.executor = None
        if mode in ("pool", "threads"):
            self.executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=args.threads if mode == "pool" else args.max_connections)
        self.admitted = 0  # pool tasks running or queued
        self.state = FakeSharedState(parallel=self.parallelism >= 2)
        self.health = stub_timeline.Health(args.timeline)
        self.counts = {"completed": 0, "rejected": 0, "tasks": 0, "requests": 0}
        self.open = 0  # connections open now
        self.accepted = 0  # connections accepted so far
        # The downstream's pools: one per loop where connections stay on their loop, else one shared.
        self.pools = {}
        if args.upstream:
            origin = urlsplit(args.upstream)
            names = ([f"loop {w['id']}" for w in self.workers if w["kind"] == "loop"]
                     if mode in ("single", "reactors", "offload") else ["shared"])
            self.pools = {n: DownstreamPool(n, origin.hostname, origin.port, args.upstream_connections,
                                            args.upstream_queue) for n in names}
        # The database's pools, named as the downstream's, and one "blocking" for the synchronous path.
        self.db_pools = {}
        if args.db:
            names = ([f"loop {w['id']}" for w in self.workers if w["kind"] == "loop"]
                     if mode in ("single", "reactors", "offload") else ["shared"])
            self.db_pools = {n: FakeDatabasePool(n, args.db_connections) for n in names + ["blocking"]}

    def stats(self):
        t = os.times()
        mode = self.args.mode
        alive = len(self.workers) if mode != "threads" else 1 + self.open
        return {"mode": mode, "accept": self.args.accept, "draining": False,
                "uptime_s": time.monotonic() - self.started,
                "model": {"name": mode, "description": DESCRIPTIONS[mode], "parallelism": self.parallelism,
                          "threads_alive": alive},
                "cpu": {"allowed": sorted(os.sched_getaffinity(0)), "pinned": [], "cgroup": "none",
                        "quota_cpus": None, "usable": len(os.sched_getaffinity(0))},
                "process": {"pid": os.getpid(), "cpu_user_s": t.user, "cpu_system_s": t.system, "rss_bytes": 0},
                "workers": [{**w, **self.health.lived(w)} for w in self.workers],
                "loops": self.health.loops(mode, self.workers),
                "pool": None if self.pool is None else {
                    "threads": self.args.pool_threads, "queue_capacity": self.args.pool_queue,
                    "queue_depth": max(0, self.admitted - self.args.pool_threads),
                    "running": min(self.admitted, self.args.pool_threads), "completed": self.counts["completed"],
                    "rejected": self.counts["rejected"], "nice_below_loop": 0},
                "downstream": None if not self.pools else {
                    "origin": self.args.upstream, "pools": [pool.stats() for pool in self.pools.values()]},
                "database": None if not self.db_pools else {
                    "pools": [pool.stats() for pool in self.db_pools.values()]},
                "totals": {"requests": self.counts["requests"], "connections_open": self.open,
                           "connections_total": self.accepted, "connections_rejected": 0}}

    def connection_worker(self):
        """The worker that owns a new connection: a loop in turn; threads: a free slot, or a new one."""
        mode = self.args.mode
        if mode == "threads":
            slot = next((w for w in self.workers[1:] if w["connections_open"] == 0), None)
            if slot is None:
                slot = worker(len(self.workers), "connection-thread")
                self.workers.append(slot)
            return slot
        if mode == "pool":
            return None
        loops = [w for w in self.workers if w["kind"] == "loop"]
        w = loops[self.next_loop % len(loops)]
        self.next_loop += 1
        return w

    def request_worker(self, conn_worker):
        """The worker a request runs on: the connection's own, or in pool any of the pool's threads."""
        if conn_worker is not None:
            return conn_worker
        return self.workers[self.counts["requests"] % len(self.workers)]

    async def blocking(self, fn, *args):
        """Runs CPU or blocking work where the model runs it: on the loop, or (pool, threads) on their threads."""
        if self.executor is None:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def handle(self, path, query, loop_worker, method="GET"):
        q = {k: v[0] for k, v in parse_qs(query).items()}
        if path.startswith("/state/"):
            return await self.shared_state(path, q, loop_worker, method)
        if path == "/plaintext":
            return 200, "text/plain", "Hello, World!"
        if path == "/json":
            return 200, "application/json", json.dumps({"message": "Hello, World!"})
        if path == "/healthz":
            return 200, "application/json", '{"status":"ok"}'
        if path == "/stats":
            return 200, "application/json", json.dumps(self.stats())
        if path == "/stats/timeline":
            status, body = self.health.timeline(q, self.args.mode, self.workers)
            return status, "application/json", body
        if path == "/metrics":
            return 200, "text/plain", self.health.metrics(self.args.mode, self.workers, self.pool is not None)
        target, t0 = f"{path}?{query}", time.monotonic_ns()
        if path == "/io/sleep":
            await asyncio.sleep(int(q["ms"]) / 1000)
            self.health.record(loop_worker["id"], t0, time.monotonic_ns(), "io-wait", target)
            return 200, "application/json", json.dumps({"ms": int(q["ms"]), "worker": loop_worker["id"]})
        if path == "/io/http":
            return await self.io_http(int(q["ms"]), loop_worker)
        if path in ("/db/query", "/db/queries", "/db/query-blocking"):
            if not self.db_pools:
                return 503, "application/json", '{"error":"no database: start the server with --db","status":503}'
            pool = (self.db_pools["blocking"] if path == "/db/query-blocking" else
                    self.db_pools.get(f"loop {loop_worker['id']}") or self.db_pools.get("shared"))
            rows = await pool.rows(int(q.get("n", 1)))
            return 200, "application/json", json.dumps(rows if path == "/db/queries" else rows[0])
        if path == "/io/block":
            await self.blocking(time.sleep, int(q["ms"]) / 1000)
            self.health.record(loop_worker["id"], t0, time.monotonic_ns(), "blocking", target)
            return 200, "application/json", json.dumps({"ms": int(q["ms"])})
        if path == "/cpu/pbkdf2":
            if self.pool is not None:
                return await self.offload_pbkdf2(int(q["iterations"]))
            h, cpu_ns = await self.blocking(pbkdf2, int(q["iterations"]))
            self.health.record(loop_worker["id"], t0, time.monotonic_ns(), "cpu", target)
            loop_worker["tasks"] += 1
            loop_worker["busy_ns"] += cpu_ns
            work = {"mode": self.args.mode, "worker": loop_worker["id"], "cpu_ns": cpu_ns}
            return 200, "application/json", json.dumps({**work, "hash": h})
        if path == "/cpu/primes":
            limit = int(q["limit"])
            sieve = bytearray([1]) * (limit + 1)
            sieve[0:2] = b"\0\0"
            for i in range(2, int(limit ** 0.5) + 1):
                if sieve[i]:
                    sieve[i * i::i] = bytes(len(range(i * i, limit + 1, i)))
            self.health.record(loop_worker["id"], t0, time.monotonic_ns(), "cpu", target, int(q.get("split", 1)))
            return 200, "application/json", json.dumps({"count": sum(sieve), "split": int(q.get("split", 1))})
        return 404, "application/json", '{"error":"not found","status":404}'

    async def shared_state(self, path, q, loop_worker, method):
        """/state/*: POST only for /state/reset (405 otherwise), GET for the others; 400 for a bad parameter."""
        if (path == "/state/reset") != (method == "POST"):
            return 405, "application/json", '{"error":"method not allowed","status":405}'
        work = {"mode": self.args.mode, "worker": loop_worker["id"]}
        try:
            if path == "/state/counter":
                return 200, "application/json", json.dumps({**work, **await self.state.counter(q)})
            if path == "/state/transfer":
                status, fields = await self.state.transfer(q)
                return status, "application/json", json.dumps({**work, **fields})
        except BadParameter as e:
            return 400, "application/json", json.dumps({"error": str(e), "status": 400})
        if path == "/state/counter/value":
            return 200, "application/json", json.dumps({"mode": self.args.mode,
                                                        "strategies": self.state.counter_value()})
        if path == "/state/accounts":
            return 200, "application/json", json.dumps({"mode": self.args.mode, **self.state.accounts()})
        if path == "/state/reset":
            self.state.reset()
            return 200, "application/json", '{"reset":true}'
        return 404, "application/json", '{"error":"not found","status":404}'

    async def io_http(self, ms, loop_worker):
        """GET /io/sleep?ms=N on the downstream, through the pool of the connection's loop (or the shared one)."""
        if not self.pools:
            return 503, "application/json", '{"error":"no downstream: start the server with --upstream","status":503}'
        pool = self.pools.get(f"loop {loop_worker['id']}") or next(iter(self.pools.values()))
        try:
            status, body, reused, attempts, queued, start, end = await pool.get(f"/io/sleep?ms={ms}")
        except DownstreamFault as e:
            return e.status, "application/json", json.dumps({"error": e.fault, "status": e.status,
                                                             "downstream": self.args.upstream, "fault": e.fault})
        if status // 100 != 2:
            return 502, "application/json", json.dumps({"error": "status", "status": 502, "fault": "status",
                                                        "downstream_status": status})
        return 200, "application/json", json.dumps({
            "mode": self.args.mode, "worker": loop_worker["id"], "ms": ms, "downstream": self.args.upstream,
            "status": status, "reused": reused, "attempts": attempts, "queued_ns": queued, "start_ns": start,
            "end_ns": end, "answer": json.loads(body)})

    async def offload_pbkdf2(self, iterations):
        """PBKDF2 on the pool, or a 503 when as many tasks as it admits are running or queued."""
        if self.admitted >= self.args.pool_threads + self.args.pool_queue:
            self.counts["rejected"] += 1
            return 503, "application/json", '{"error":"overloaded","status":503}'
        self.admitted += 1
        pool_workers = [w for w in self.workers if w["kind"] == "pool-thread"]
        worker = pool_workers[self.counts["tasks"] % len(pool_workers)]
        self.counts["tasks"] += 1
        queued = time.monotonic_ns()
        try:
            h, cpu_ns, t0 = await asyncio.get_running_loop().run_in_executor(self.pool, timed_pbkdf2, iterations)
        finally:
            self.admitted -= 1
        self.health.queue_wait.add((t0 - queued) / 1e9)
        self.health.record(worker["id"], t0, time.monotonic_ns(), "cpu", f"/cpu/pbkdf2?iterations={iterations}")
        self.counts["completed"] += 1
        worker["tasks"] += 1
        worker["busy_ns"] += cpu_ns
        work = {"mode": self.args.mode, "worker": worker["id"], "cpu_ns": cpu_ns}
        return 200, "application/json", json.dumps({**work, "hash": h})

    async def session(self, reader, writer):
        w = self.connection_worker()
        self.open += 1
        self.accepted += 1
        if w is not None:
            w["connections_open"] += 1
            w["connections_total"] += 1
        try:
            while True:
                try:
                    async with asyncio.timeout(self.args.idle_timeout):
                        head = await reader.readuntil(b"\r\n\r\n")
                except TimeoutError:
                    break  # --idle-timeout: no request came
                method, target = (w.decode() for w in head.split(b" ", 2)[:2])
                parts = urlsplit(target)
                rw = self.request_worker(w)
                status, ctype, body = await self.handle(parts.path, parts.query, rw, method)
                rw["requests"] += 1
                rw["responses"] += 1
                rw["writes"] += 1
                self.counts["requests"] += 1
                data = body.encode()
                extra = b"Retry-After: 1\r\n" if status == 503 else b"Allow: POST\r\n" if status == 405 else b""
                writer.write(b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\nX-Mode: %s\r\n%s\r\n%s"
                             % (status, ctype.encode(), len(data), self.args.mode.encode(), extra, data))
                await writer.drain()
                if status == 503:  # overload: the next request on this connection waits to be read
                    await asyncio.sleep(self.args.overload_pause)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self.open -= 1
            if w is not None:
                w["connections_open"] -= 1
            writer.close()


def pbkdf2(iterations):
    """The hash and the CPU time it took on the thread that ran it."""
    t0 = time.thread_time_ns()
    h = hashlib.pbkdf2_hmac("sha256", b"password", b"salt", iterations, 32).hex()
    return h, time.thread_time_ns() - t0


def timed_pbkdf2(iterations):
    """pbkdf2 on a pool thread, with when it started there (the end of its wait in the queue)."""
    started = time.monotonic_ns()
    return (*pbkdf2(iterations), started)


async def main():
    args = parse_args()
    if args.list_models:
        print(json.dumps({"models": MODELS}))
        return
    if args.fail_start:
        print("cvp-server: --fail-start: refusing to start, as asked", file=sys.stderr)
        sys.exit(2)
    stub = Stub(args)
    stub.ticker = asyncio.get_running_loop().create_task(stub.health.tick())  # a reference keeps it running
    server = await asyncio.start_server(stub.session, args.address, args.port, backlog=4096)
    host, port = server.sockets[0].getsockname()[:2]
    threads = {"single": 1, "threads": 1, "offload": 1}.get(args.mode, args.threads)
    pool_threads = args.pool_threads if args.mode == "offload" else 0
    print(f"cvp-server mode={args.mode} threads={threads} accept={args.accept} "
          f"pool_threads={pool_threads} pool_nice=0 pinned=none allowed=0 cgroup=none quota=none usable=1 "
          f"parallelism={stub.parallelism} listening={host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
