"""The servers the lab measures, behind one small interface.

- :class:`CvpServer`: ``cvp-server`` started by the lab (``--port 0``; the port is
  read from its start-up line, see docs/API.md).
- nginx answering ``return 200`` (:func:`start_nginx`), a peer for plaintext and overhead.
- Node.js running ``loadtest/peers/node_server.js`` (:func:`start_node`), a peer for overhead.
- a server started elsewhere (``--target``, :func:`connect_remote`); its model and CPU use
  are read from ``/stats``.

A cvp-server may call another (``/io/http``): its spec's ``upstream`` is the spec of that
downstream server.  The runner starts the downstream first and passes its address to
:func:`start_cvp` as ``--upstream http://HOST:PORT`` (the port is known only once it listens).

What a server runs in parallel is read from it (:attr:`Server.parallelism`): cvp-server's
start-up line says ``parallelism=N``, a target's ``/stats`` ``model.parallelism``, the Node
peer's line its libuv pool (``threadpool=N``); nginx's is the ``worker_processes`` the lab
wrote into its configuration.

Every server the lab starts is a :class:`Server`, the leader of its own process group.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from . import peers, procs
from .cpus import format_cpu_list

if TYPE_CHECKING:  # cvplab.database imports this module
    from .database import DatabaseSpec

#: How long a server may take to print its start-up line or open its port.
START_TIMEOUT_S = 10.0
#: cvp-server's drain timeout in the lab: stopping should not wait for long sleeps.
DRAIN_TIMEOUT = "1s"
#: Servers that are not cvp: they have no /stats.
NODE_SERVER = Path(__file__).resolve().parent.parent / "peers" / "node_server.js"


class ServerError(procs.ProcessError):
    """A server failed to start, died, or did not answer.  Carries its name and stderr."""

    label = "{name}"


@dataclass(frozen=True)
class ServerSpec:
    """What to start: a model (or nginx), its extra flags, and its CPUs."""

    label: str  # the model as results name it: single, reactors, offload, pool, threads; or a peer: nginx, node
    flags: tuple[str, ...] = ()
    cpus: tuple[int, ...] = ()
    # the n it was asked for: a model's flags are plan.model_flags(label, n); nginx's worker processes,
    # Node's libuv pool; a target's parallelism, at most its usable CPUs.  What a server really runs in
    # parallel is its own to say: Server.parallelism.
    workers: int = 1
    # the cvp-server this one calls (/io/http): the runner starts it first and adds
    # --upstream http://HOST:PORT to this one's flags once it listens
    upstream: "ServerSpec | None" = None
    # the PostgreSQL cluster it queries (the db scenario): the runner starts it first and passes its
    # conninfo (cvp-server's --db, the Node peer's PG_CONNINFO, pgbench's last argument)
    database: "DatabaseSpec | None" = None
    # environment it starts with, beyond the lab's own (the Node peer's PG_POOL_SIZE)
    env: tuple[tuple[str, str], ...] = ()

    @property
    def description(self) -> str:
        if self.label == "nginx":
            what = f"nginx, {self.workers} worker{'s' if self.workers != 1 else ''}"
        elif self.label == "node":
            what = f"node {NODE_SERVER.name}, UV_THREADPOOL_SIZE={self.workers}"
        elif self.label == "pgbench":
            what = f"pgbench -M prepared -c {self.workers}"
        else:
            what = f"cvp-server --mode {self.label}"
        up = self.upstream
        upstream = f" --upstream <{up.label} on CPUs {format_cpu_list(up.cpus)}>" if up is not None else ""
        database = (f" <PostgreSQL on CPUs {format_cpu_list(self.database.cpus)}>" if self.database is not None
                    else "")
        env = "".join(f" {k}={v}" for k, v in self.env)
        return " ".join([what, *self.flags]) + env + upstream + database + f" (CPUs {format_cpu_list(self.cpus)})"


def parse_startup_line(line: str, program: str = "cvp-server") -> dict[str, str]:
    """Parses a start-up line (``cvp-server k=v ... listening=HOST:PORT``; the Node peer's
    starts with ``node-peer``)."""
    words = line.strip().split(" ")
    if not words or words[0] != program:
        raise ValueError(f"not a {program} start-up line: {line.strip()!r}")
    pairs: dict[str, str] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ValueError(f"start-up line has {word!r}, expected key=value")
        pairs[key] = value
    if words[-1].partition("=")[0] != "listening":
        raise ValueError("start-up line does not end with listening=HOST:PORT")
    split_host_port(pairs["listening"])
    return pairs


def split_host_port(text: str) -> tuple[str, int]:
    """Splits ``HOST:PORT`` or ``[V6]:PORT``."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not (0 < int(port) < 65536):
        raise ValueError(f"bad HOST:PORT {text!r}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and for addresses in 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_for(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _connect(base_url: str, timeout_s: float) -> http.client.HTTPConnection:
    parts = urlsplit(base_url)
    return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout_s)


def _get(conn: http.client.HTTPConnection, path: str, method: str = "GET") -> dict:
    conn.request(method, path)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        raise ValueError(f"{method} {path} answered {resp.status}: {body[:200]!r}")
    return json.loads(body)


def get_json(base_url: str, path: str, timeout_s: float = 5.0) -> dict:
    """GETs ``path`` on a new connection and decodes the JSON body.  Raises OSError or ValueError."""
    conn = _connect(base_url, timeout_s)
    try:
        return _get(conn, path)
    finally:
        conn.close()


def post_json(base_url: str, path: str, timeout_s: float = 5.0) -> dict:
    """POSTs an empty body to ``path`` on a new connection and decodes the JSON answer.  Raises OSError or
    ValueError (any status but 200)."""
    conn = _connect(base_url, timeout_s)
    try:
        return _get(conn, path, "POST")
    finally:
        conn.close()


@dataclass
class Server:
    """A running server: where it listens and how to ask it about itself."""

    spec: ServerSpec
    base_url: str
    info: dict = field(default_factory=dict)  # start-up line pairs, or /stats facts
    proc: subprocess.Popen | None = None
    registry: procs.ProcessRegistry | None = None
    stderr_path: Path | None = None
    _stats_conn: http.client.HTTPConnection | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.description

    @property
    def has_stats(self) -> bool:
        return self.spec.label not in peers.NAMES

    @property
    def parallelism(self) -> int | None:
        """What the server runs in parallel, as it said (see the module's docstring); None if it did not."""
        value = str(self.info.get("parallelism", ""))
        return int(value) if value.isdigit() else None

    @property
    def pgid(self) -> int | None:
        """The process group of a server the lab started (its pid: it leads the group)."""
        return self.proc.pid if self.proc is not None else None

    def stats(self, timeout_s: float = 5.0) -> dict:
        """The server's ``/stats``, over one keep-alive connection kept for the server's life.

        Reusing the connection keeps the lab's own reads out of the per-worker
        connection counts; each read still counts as one request on some worker.
        """
        for attempt in (1, 2):
            if self._stats_conn is None:
                self._stats_conn = _connect(self.base_url, timeout_s)
            try:
                return _get(self._stats_conn, "/stats")
            except (OSError, http.client.HTTPException):
                self._stats_conn.close()
                self._stats_conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def settle(self, timeout_s: float = 5.0, poll_s: float = 0.02) -> int:
        """Waits until no connection but the lab's own /stats one is open, or ``timeout_s``
        passes; returns how many others were still open.

        A run's connections outlive wrk: a session still waiting on a timer when wrk exits
        closes only once it tries to write its response.  Without this wait the next run
        would find them still counted against ``--max-connections`` and costing CPU.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            others = int(self.stats()["totals"]["connections_open"]) - 1
            if others <= 0 or time.monotonic() >= deadline:
                return max(0, others)
            time.sleep(poll_s)

    def cpu_s(self) -> float:
        """CPU seconds the server has used so far (all its threads and processes)."""
        if self.proc is not None:
            return procs.group_cpu_s(self.proc.pid)
        process = self.stats()["process"]
        return float(process["cpu_user_s"]) + float(process["cpu_system_s"])

    @property
    def alive(self) -> bool:
        """False once a server the lab started has exited."""
        return self.proc is None or self.proc.poll() is None

    def check_alive(self) -> None:
        """Raises ServerError, with the server's stderr, if it has exited."""
        if not self.alive:
            raise ServerError(self.name, f"exited with status {self.proc.returncode} during the run",
                              procs.tail_text(self.stderr_path) if self.stderr_path else "")

    def stop(self, grace_s: float = 3.0) -> None:
        """Stops a server the lab started (a remote one is left alone): SIGTERM, SIGKILL after ``grace_s``."""
        if self._stats_conn is not None:
            self._stats_conn.close()
            self._stats_conn = None
        if self.proc is not None and self.registry is not None:
            self.registry.stop(self.proc, grace_s)


def start_cvp(binary: Path, spec: ServerSpec, *, max_connections: int, log_dir: Path,
              registry: procs.ProcessRegistry, upstream_url: str | None = None,
              db_conninfo: str | None = None) -> Server:
    """Starts cvp-server on loopback with ``--port 0`` and waits for its start-up line.

    The line must say ``parallelism=N``: the lab reads each model's parallelism from it.
    ``upstream_url``: where the downstream of ``spec.upstream`` listens (``--upstream``);
    ``db_conninfo``: the libpq conninfo of ``spec.database`` (``--db``).
    A flag of ``spec.flags`` wins over the lab's own (``--max-connections``): the last one given counts.
    """
    if (spec.upstream is None) != (upstream_url is None):
        raise ValueError(f"{spec.description}: an upstream spec needs its URL, and a URL its spec")
    if (spec.database is None) != (db_conninfo is None):
        raise ValueError(f"{spec.description}: a database spec needs its conninfo, and a conninfo its spec")
    argv = ["taskset", "-c", format_cpu_list(spec.cpus), str(binary), "--mode", spec.label,
            "--address", "127.0.0.1", "--port", "0", "--max-connections", str(max_connections),
            "--drain-timeout", DRAIN_TIMEOUT, *spec.flags,
            *(("--upstream", upstream_url) if upstream_url else ()), *(("--db", db_conninfo) if db_conninfo else ())]
    server = _start_with_line(argv, spec, "cvp-server", log_dir=log_dir, registry=registry, env=dict(spec.env) or None)
    if server.parallelism is None or server.parallelism < 1:
        server.stop()
        raise ServerError(spec.description, "its start-up line has no parallelism=N (N ≥ 1), which the lab reads "
                                            "each model's parallelism from (docs/API.md)",
                          procs.tail_text(server.stderr_path) if server.stderr_path else "")
    return server


def _start_with_line(argv: list[str], spec: ServerSpec, program: str, *, log_dir: Path,
                     registry: procs.ProcessRegistry, env: dict[str, str] | None = None) -> Server:
    """Starts a server that prints ``program k=v ... listening=HOST:PORT`` once it listens, and waits for it."""
    stem = log_dir / f"server-{spec.label}-{time.monotonic_ns()}"
    out_path, err_path = stem.with_suffix(".stdout"), stem.with_suffix(".stderr")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = registry.spawn(argv, name=spec.description, stdout=out, stderr=err, env=env)
    server = Server(spec, "", proc=proc, registry=registry, stderr_path=err_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        text = out_path.read_text(errors="replace")
        if "\n" in text:
            break
        if proc.poll() is not None:
            registry.stop(proc, 0.1)
            raise ServerError(spec.description, f"exited with status {proc.returncode} before its start-up line",
                              procs.tail_text(err_path))
        if time.monotonic() > deadline:
            server.stop()
            raise ServerError(spec.description, f"printed no start-up line within {START_TIMEOUT_S:.0f} s",
                              procs.tail_text(err_path))
        time.sleep(0.01)
    try:
        info = parse_startup_line(text.splitlines()[0], program)
        host, port = split_host_port(info["listening"])
        if not is_loopback(host):
            raise ValueError(f"it listens on {host}, which is not a loopback address")
    except ValueError as e:
        server.stop()
        raise ServerError(spec.description, f"unusable start-up line: {e}", procs.tail_text(err_path)) from None
    server.base_url, server.info = url_for(host, port), info
    return server


def find_nginx() -> str | None:
    """The nginx binary, if installed (Debian puts it in /usr/sbin)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


NGINX_CONF = """\
# Written by cvplab: nginx as a peer for plaintext and overhead.  Everything stays under the prefix.
worker_processes {workers};
worker_rlimit_nofile {nofile};
pid {prefix}/nginx.pid;
error_log stderr warn;
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    keepalive_requests 100000000;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type text/plain;
            return 200 "Hello, World!";
        }}
        location = /json {{
            default_type application/json;
            return 200 '{{"message":"Hello, World!"}}';
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(binary: str, spec: ServerSpec, *, max_connections: int, log_dir: Path,
                registry: procs.ProcessRegistry) -> Server:
    """Starts nginx in the foreground with its own prefix, one worker per CPU given."""
    prefix = log_dir / f"nginx-{time.monotonic_ns()}"
    (prefix / "tmp").mkdir(parents=True)
    port = _free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=len(spec.cpus), nofile=max_connections + 64,
                                      connections=max_connections + 64, prefix=prefix, port=port))
    err_path = prefix / "stderr.log"
    argv = ["taskset", "-c", format_cpu_list(spec.cpus), binary, "-p", str(prefix), "-c", str(conf),
            "-e", "stderr", "-g", "daemon off;"]
    with open(prefix / "stdout.log", "wb") as out, open(err_path, "wb") as err:
        proc = registry.spawn(argv, name="nginx", stdout=out, stderr=err)
    server = Server(spec, url_for("127.0.0.1", port), proc=proc, registry=registry, stderr_path=err_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            registry.stop(proc, 0.1)
            raise ServerError("nginx", f"exited with status {proc.returncode} at start-up", procs.tail_text(err_path))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise ServerError("nginx", f"did not open port {port} within {START_TIMEOUT_S:.0f} s",
                                  procs.tail_text(err_path)) from None
            time.sleep(0.02)
    version = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
    server.info = {"version": version.removeprefix("nginx version: "), "listening": f"127.0.0.1:{port}",
                   "parallelism": str(len(spec.cpus))}  # the worker_processes of its configuration
    return server


def find_node() -> str | None:
    """The Node.js binary, if installed (Debian's package installs both ``node`` and ``nodejs``)."""
    return shutil.which("node") or shutil.which("nodejs")


def start_node(binary: str, spec: ServerSpec, *, log_dir: Path, registry: procs.ProcessRegistry,
               db_conninfo: str | None = None) -> Server:
    """Starts the Node peer on loopback, any free port, pinned, with a libuv pool of ``spec.workers``.

    One process, one event loop; UV_THREADPOOL_SIZE is set in its environment before it
    starts, as libuv reads it once.  With ``db_conninfo`` it serves /db/* over a pg.Pool
    (PG_CONNINFO; its size PG_POOL_SIZE, from ``spec.env``).  Waits for its start-up line, as
    for cvp-server.
    """
    argv = ["taskset", "-c", format_cpu_list(spec.cpus), binary, str(NODE_SERVER), "0"]
    env = {"UV_THREADPOOL_SIZE": str(spec.workers), "HOST": "127.0.0.1", **dict(spec.env),
           **({"PG_CONNINFO": db_conninfo} if db_conninfo else {})}
    server = _start_with_line(argv, spec, "node-peer", log_dir=log_dir, registry=registry, env=env)
    if "threadpool" in server.info:  # its CPU work runs on libuv's pool; its JavaScript on one thread
        server.info["parallelism"] = server.info["threadpool"]
    return server


def connect_remote(url: str) -> Server:
    """Attaches to a server started elsewhere; its model and parallelism come from ``/stats``.

    The plan gives it as many workers as it has parallelism, at most its usable CPUs
    (``cpu.usable``): a thread-per-connection server's parallelism is its connection limit.
    """
    try:
        stats = get_json(url, "/stats")
        mode = str(stats["mode"])
        cpus = tuple(stats.get("cpu", {}).get("allowed") or ())
        usable = stats.get("cpu", {}).get("usable")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ServerError(f"target {url}", f"/stats could not be read: {e}") from None
    model = stats.get("model")
    try:
        parallelism = int(model["parallelism"])
        if parallelism < 1:
            raise ValueError(parallelism)
    except (KeyError, TypeError, ValueError):
        raise ServerError(f"target {url}", "/stats has no model.parallelism (N ≥ 1), which the lab reads the "
                                           "model's parallelism from (docs/API.md)") from None
    workers = min(parallelism, int(usable)) if isinstance(usable, int) and usable > 0 else parallelism
    spec = ServerSpec(mode, cpus=cpus, workers=workers)
    return Server(spec, url.rstrip("/"), info={"mode": mode, "accept": stats.get("accept"),
                                               "parallelism": str(parallelism), "workers": workers,
                                               "model": model.get("name"), "pid": stats.get("process", {}).get("pid")})
