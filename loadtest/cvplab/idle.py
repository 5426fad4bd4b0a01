"""Idle keep-alive connections, for the ``overhead`` scenario's memory figure.

The helper opens N connections to a server, sends one ``GET`` on each and reads the
answer, then leaves them open and idle, as a browser or a connection pool does between
requests.  It reads the server's resident memory (``VmRSS`` in ``/proc/<pid>/status``,
summed over the server's process group) before the first connection and again once
every answer is in and a short settle has passed, and reports
``(after - before) / connections held``: what one idle connection costs the server.

It runs as its own process (``python3 -m cvplab.idle``, pinned to wrk's CPUs by the
runner), so that its sockets count against its own open-file limit, not the lab's, and
Ctrl-C stops it with everything else.  It prints one line, ``CVPLAB_IDLE`` and JSON.

Sockets are non-blocking and served by ``selectors`` (epoll): at most ``window``
connections are being opened or answered at once, so a server's accept queue never
overflows (a dropped SYN costs a second).  Closing uses ``SO_LINGER`` 0, a reset, so
that tens of thousands of closed connections leave no TIME_WAIT behind to use up the
loopback's ephemeral ports before the next repeat.
"""

from __future__ import annotations

import argparse
import errno
import json
import selectors
import socket
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python3 loadtest/cvplab/idle.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "cvplab"

from . import procs  # noqa: E402
from .cpus import format_cpu_list  # noqa: E402

RESULT_MARKER = "CVPLAB_IDLE "
#: File descriptors the helper keeps for itself beyond its connections.
FD_MARGIN = 32
ERROR_KINDS = ("connect", "read", "write", "timeout", "status")
LOADTEST_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Hold:
    """What an idle cell runs instead of a wrk stream: N connections, one request each, then idle."""

    connections: int
    path: str = "/plaintext"
    settle_s: float = 0.3
    timeout_s: int = 60
    name: str = "idle"
    threads: int = 1  # one helper process, one thread (results' wrk_threads stays empty for these cells)
    script: str = "cvplab/idle.py"


class IdleError(procs.ProcessError):
    """The helper failed or held no connection.  Carries its name and stderr."""

    label = "idle helper ({name})"


class _Conn:
    """One connection's state: connecting, sending its request, reading the answer, idle."""

    __slots__ = ("sock", "out", "buf", "need", "status", "close", "connected")

    def __init__(self, sock: socket.socket, request: bytes) -> None:
        self.sock, self.out, self.buf = sock, request, b""
        self.connected = False
        self.need: int | None = None  # header + body bytes, once the header is in
        self.status = 0
        self.close = False  # the server said Connection: close

    def on_writable(self) -> str | None:
        """Connect finished (or failed); sends what is left of the request.  Returns an error kind or None."""
        if not self.connected:
            if self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                return "connect"
            self.connected = True
        try:
            sent = self.sock.send(self.out)
        except BlockingIOError:
            return None
        except OSError:
            return "write"
        self.out = self.out[sent:]
        return None

    def on_readable(self) -> str | None:
        """Reads the answer.  Returns "done", an error kind, or None for more to come."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return None
        except OSError:
            return "read"
        if not data:
            return "read"
        self.buf += data
        if self.need is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return "read" if len(self.buf) > 65536 else None
            lines = self.buf[:end].decode("latin-1").split("\r\n")
            try:
                self.status = int(lines[0].split(" ", 2)[1])
            except (IndexError, ValueError):
                return "read"
            length = None
            for line in lines[1:]:
                key, _, value = line.partition(":")
                key, value = key.strip().lower(), value.strip().lower()
                if key == "content-length" and value.isdigit():
                    length = int(value)
                elif key == "connection" and "close" in value:
                    self.close = True
            if length is None:
                return "read"  # the lab's servers all send Content-Length for these paths
            self.need = end + 4 + length
        if len(self.buf) >= self.need:
            return "done"
        return None


def _abort(sock: socket.socket) -> None:
    """Closes with a reset (SO_LINGER 0): no TIME_WAIT left on the client's side."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def _prime(host: str, port: int, family: int, request: bytes, timeout_s: float) -> None:
    """One request on one connection, closed, before the first RSS reading.

    Whatever a server allocates once, on its first connection or request (buffers kept
    for reuse, lazily built tables), is then in the baseline instead of in the figure.
    """
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)  # blocking, so on_readable's recv waits for the answer
        sock.connect((host, port))
        sock.sendall(request)
        conn = _Conn(sock, b"")
        while not conn.on_readable():
            pass
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.05)  # let the server see the reset and free the connection


def hold(host: str, port: int, connections: int, *, path: str = "/plaintext", pgid: int | None = None,
         settle_s: float = 0.3, timeout_s: float = 60.0, window: int = 256, prime: bool = True) -> dict:
    """Opens ``connections`` idle keep-alive connections, reads the server's RSS around them, closes them.

    ``pgid`` is the server's process group (its pid when it leads one, as the lab's servers
    do); without it no RSS is read.  Never raises for the server's behaviour: refused,
    reset or unanswered connections are counted in ``errors`` and the figure is taken over
    the connections actually held.
    """
    limit = procs.raise_file_limit(connections + FD_MARGIN)
    notes = []
    tried = connections
    if limit.soft - FD_MARGIN < connections:
        tried = max(0, limit.soft - FD_MARGIN)
        notes.append(f"RLIMIT_NOFILE could only be raised to {limit.soft} (hard limit {limit.hard}): "
                     f"{tried:,} of {connections:,} connections were tried")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    errors = dict.fromkeys(ERROR_KINDS, 0)
    sel = selectors.DefaultSelector()
    idle: list[socket.socket] = []
    if prime:
        try:
            _prime(host, port, family, request, timeout_s)
        except OSError as e:
            notes.append(f"the priming request failed: {e}")
    rss_before = procs.group_rss_bytes(pgid) if pgid else None
    fds_before = procs.group_fd_count(pgid) if pgid else None
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    started = in_flight = 0
    stopped = False

    def finish(conn: _Conn, kind: str | None) -> None:
        nonlocal in_flight
        in_flight -= 1
        sel.unregister(conn.sock)
        if kind is None:
            idle.append(conn.sock)
            sel.register(conn.sock, selectors.EVENT_READ)  # readable from now on means closed by the server
        else:
            errors[kind] += 1
            _abort(conn.sock)

    def dropped(sock: socket.socket) -> None:
        """An idle connection that the server closed: no longer held."""
        sel.unregister(sock)
        idle.remove(sock)
        errors["read"] += 1
        _abort(sock)

    try:
        while (started < tried and not stopped) or in_flight:
            while in_flight < window and started < tried and not stopped:
                try:
                    sock = socket.socket(family, socket.SOCK_STREAM)
                except OSError as e:  # EMFILE, ENFILE: the limit is lower than it said
                    stopped = True
                    notes.append(f"stopped opening after {started:,} connections: {e}")
                    break
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                started += 1
                err = sock.connect_ex((host, port))
                if err not in (0, errno.EINPROGRESS):
                    errors["connect"] += 1
                    sock.close()
                    continue
                sel.register(sock, selectors.EVENT_WRITE, _Conn(sock, request))
                in_flight += 1
            if not in_flight:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                for key in list(sel.get_map().values()):
                    if isinstance(key.data, _Conn):
                        finish(key.data, "timeout")
                stopped = True
                notes.append(f"gave up after {timeout_s:g} s with {started - len(idle):,} connections unanswered")
                break
            for key, mask in sel.select(min(left, 1.0)):
                conn = key.data
                if conn is None:  # an idle connection turned readable: the server closed it
                    dropped(key.fileobj)
                    continue
                if mask & selectors.EVENT_WRITE:
                    kind = conn.on_writable()
                    if kind:
                        finish(conn, kind)
                    elif not conn.out:
                        sel.modify(conn.sock, selectors.EVENT_READ, conn)
                    continue
                kind = conn.on_readable()
                if kind == "done":
                    if conn.status >= 400 or conn.status < 200:
                        finish(conn, "status")
                    elif conn.close:
                        finish(conn, "read")
                    else:
                        finish(conn, None)
                elif kind:
                    finish(conn, kind)
        open_s = time.monotonic() - t0
        # The settle: answers are in; let the server finish with them.  A connection that turns
        # readable meanwhile was closed (or reset) by the server and is not idle any more.
        settle_end = time.monotonic() + settle_s
        while idle:
            left = settle_end - time.monotonic()
            if left <= 0:
                break
            for key, _ in sel.select(left):
                dropped(key.fileobj)
        rss_after = procs.group_rss_bytes(pgid) if pgid else None
        fds_after = procs.group_fd_count(pgid) if pgid else None
        held = len(idle)
    finally:
        for key in list(sel.get_map().values()):  # every connection still open, idle or not
            sel.unregister(key.fileobj)
            _abort(key.fileobj)
        sel.close()
    per = None
    if rss_before is not None and rss_after is not None and held:
        per = (rss_after - rss_before) / held
    fds_per = (fds_after - fds_before) / held if fds_before is not None and fds_after is not None and held else None
    if held < connections:
        notes.append(f"held {held:,} of {connections:,} connections")
    return {"wanted": connections, "tried": tried, "held": held, "errors": errors,
            "rss_before_bytes": rss_before, "rss_after_bytes": rss_after,
            "rss_per_connection_bytes": None if per is None else round(per, 1),
            "fds_before": fds_before, "fds_after": fds_after,
            "fds_per_connection": None if fds_per is None else round(fds_per, 3),
            "open_s": round(open_s, 3), "settle_s": settle_s, "window": window,
            "nofile_soft": limit.soft, "nofile_hard": limit.hard, "notes": notes}


def parse_result(stdout: str) -> dict:
    """The helper's ``CVPLAB_IDLE {...}`` line, decoded and checked.  Raises ValueError."""
    lines = [l for l in stdout.splitlines() if l.startswith(RESULT_MARKER)]
    if len(lines) != 1:
        raise ValueError(f"expected one CVPLAB_IDLE line, found {len(lines)}")
    data = json.loads(lines[0][len(RESULT_MARKER):])
    try:
        data["errors"] = {k: int(data["errors"][k]) for k in ERROR_KINDS}
        for key in ("wanted", "tried", "held"):
            data[key] = int(data[key])
        for key in ("rss_before_bytes", "rss_after_bytes", "rss_per_connection_bytes"):
            if data[key] is not None:
                data[key] = float(data[key])
        for key in ("fds_before", "fds_after", "fds_per_connection"):  # absent from an older helper's line
            data[key] = None if data.get(key) is None else float(data[key])
        data["open_s"] = float(data["open_s"])
        data["notes"] = [str(n) for n in data["notes"]]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"CVPLAB_IDLE lacks or garbles a field: {e}") from None
    return data


def command(hold_: Hold, host: str, port: int, pgid: int | None, cpus: tuple[int, ...]) -> list[str]:
    """The helper's command line, pinned to ``cpus`` (the client's) with taskset."""
    argv = ["taskset", "-c", format_cpu_list(cpus), sys.executable, "-m", "cvplab.idle",
            "--host", host, "--port", str(port), "--connections", str(hold_.connections), "--path", hold_.path,
            "--settle", str(hold_.settle_s), "--timeout", str(hold_.timeout_s)]
    if pgid:
        argv += ["--pgid", str(pgid)]
    return argv


@dataclass(frozen=True)
class IdleResult:
    data: dict  # parse_result's
    cpu_s: float  # the helper's user + system time
    wall_s: float
    cpus: int

    @property
    def client_cpu(self) -> float:
        return self.cpu_s / self.wall_s / self.cpus if self.wall_s > 0 else 0.0


class IdleRun(procs.LoggedRun):
    """A started helper; :meth:`finish` waits for it and parses its line."""

    error = IdleError

    def __init__(self, *, hold_: Hold, host: str, port: int, pgid: int | None, cpus: tuple[int, ...], name: str,
                 raw_stem: Path, registry: procs.ProcessRegistry) -> None:
        self.hold, self.cpus = hold_, cpus
        self._start(command(hold_, host, port, pgid, cpus), what="idle helper", name=name, raw_stem=raw_stem,
                    registry=registry, cwd=LOADTEST_DIR)

    def finish(self) -> IdleResult:
        exit_, data = self._wait(self.hold.timeout_s + self.hold.settle_s + 30, parse_result)
        if not data["held"]:
            raise IdleError(self.name, f"held no connection of {data['wanted']:,} (errors {data['errors']}; "
                                       + "; ".join(data["notes"]) + ")", self.stderr())
        return IdleResult(data, exit_.cpu_s, exit_.wall_s, len(self.cpus))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m cvplab.idle", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--connections", type=int, required=True)
    p.add_argument("--path", default="/plaintext")
    p.add_argument("--pgid", type=int, help="the server's process group, whose RSS is read")
    p.add_argument("--settle", type=float, default=0.3, help="seconds to wait after the last answer")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to get every answer")
    p.add_argument("--window", type=int, default=256, help="connections being opened or answered at once")
    a = p.parse_args(argv)
    if a.connections < 1 or a.window < 1:
        p.error("--connections and --window must be at least 1")
    result = hold(a.host, a.port, a.connections, path=a.path, pgid=a.pgid, settle_s=a.settle,
                  timeout_s=a.timeout, window=a.window)
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
