import shutil
import socket
import tempfile
import threading
import time
import unittest
from pathlib import Path

from cvplab import procs
from cvplab.cpus import parse_cpu_list
from cvplab.servers import (Server, ServerError, ServerSpec, connect_remote, is_loopback, parse_startup_line,
                            split_host_port, start_cvp)

STUB = Path(__file__).resolve().parent / "stub_server.py"
LINE = ("cvp-server mode=pool threads=2 accept=round-robin pool_threads=0 pool_nice=0 pinned=none allowed=0-1 "
        "cgroup=v1 quota=none usable=2 parallelism=2 listening=127.0.0.1:41234\n")


class StartupLineTest(unittest.TestCase):
    def test_api_example(self):
        info = parse_startup_line(LINE)
        self.assertEqual(info["mode"], "pool")
        self.assertEqual(info["pinned"], "none")
        self.assertEqual(split_host_port(info["listening"]), ("127.0.0.1", 41234))
        self.assertEqual(Server(ServerSpec("pool"), "", info=info).parallelism, 2)
        self.assertIsNone(Server(ServerSpec("pool"), "", info={"mode": "pool"}).parallelism)

    def test_rejects(self):
        for bad in ("listening on 8080", "cvp-server mode=single", "cvp-server listening=127.0.0.1:0",
                    "cvp-server mode single listening=127.0.0.1:1", "nginx listening=127.0.0.1:80"):
            with self.subTest(line=bad), self.assertRaises(ValueError):
                parse_startup_line(bad)

    def test_ipv6(self):
        self.assertEqual(split_host_port("[::1]:8080"), ("::1", 8080))

    def test_node_peer_line(self):
        info = parse_startup_line("node-peer version=v18.20.4 threadpool=2 pid=7 listening=127.0.0.1:4000\n",
                                  "node-peer")
        self.assertEqual((info["version"], info["threadpool"]), ("v18.20.4", "2"))
        with self.assertRaises(ValueError):
            parse_startup_line("node-peer version=v18.20.4 listening=127.0.0.1:4000")  # not a cvp-server line


class LoopbackTest(unittest.TestCase):
    def test_loopback(self):
        for host in ("127.0.0.1", "127.1.2.3", "::1", "localhost"):
            self.assertTrue(is_loopback(host), host)
        for host in ("0.0.0.0", "10.0.0.1", "example.com", "::"):
            self.assertFalse(is_loopback(host), host)


class StubServerTest(unittest.TestCase):
    """Starting, reading and stopping a server, with the Python stub standing in for cvp-server."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        self.registry = procs.ProcessRegistry()

    def tearDown(self):
        self.registry.stop_all()
        self.tmp.cleanup()

    def test_start_stats_cpu_stop(self):
        spec = ServerSpec("reactors", ("--threads", "2"), (0,), 2)
        server = start_cvp(STUB, spec, max_connections=100, log_dir=self.dir, registry=self.registry)
        self.assertTrue(server.base_url.startswith("http://127.0.0.1:"))
        self.assertEqual(server.info["mode"], "reactors")
        stats = server.stats()
        self.assertEqual(len(stats["workers"]), 2)
        again = server.stats()  # the same keep-alive connection: no new connection counted
        self.assertEqual(sum(w["connections_total"] for w in again["workers"]),
                         sum(w["connections_total"] for w in stats["workers"]))
        self.assertGreaterEqual(server.cpu_s(), 0.0)
        self.assertEqual(server.parallelism, 2, "from the start-up line's parallelism=")
        self.assertEqual([w["kind"] for w in stats["workers"]], ["loop", "loop"])
        self.assertEqual(stats["model"]["parallelism"], 2)
        remote = connect_remote(server.base_url)
        self.assertEqual((remote.spec.label, remote.parallelism), ("reactors", 2), "from /stats model.parallelism")
        self.assertEqual(stats["cpu"]["usable"], 1, "the stub's own affinity: taskset gave it CPU 0")
        self.assertEqual(remote.spec.workers, 1, "the plan's width: its parallelism, at most its usable CPUs")
        self.assertGreaterEqual(remote.cpu_s(), 0.0)
        remote.stop()  # closes its /stats connection; the process is not the lab's to stop
        server.check_alive()
        server.check_alive()
        server.stop()
        self.assertEqual(len(self.registry), 0)
        with self.assertRaises(ServerError):
            server.check_alive()

    def test_settle_waits_for_an_earlier_run_s_connections_to_close(self):
        spec = ServerSpec("single", (), (0,), 1)
        server = start_cvp(STUB, spec, max_connections=100, log_dir=self.dir, registry=self.registry)
        self.assertEqual(server.settle(timeout_s=1), 0, "only the lab's own /stats connection is open")
        port = int(server.base_url.rsplit(":", 1)[1])
        lingering = socket.create_connection(("127.0.0.1", port))
        try:
            for _ in range(100):  # until the stub has accepted it
                if server.stats()["totals"]["connections_open"] == 2:
                    break
                time.sleep(0.01)
            self.assertEqual(server.settle(timeout_s=0.2), 1, "gives up after its timeout, and says how many")
            threading.Timer(0.2, lingering.close).start()
            self.assertEqual(server.settle(timeout_s=5), 0, "returns once the connection has closed")
        finally:
            lingering.close()
        server.stop()

    def test_each_model_says_its_parallelism_and_worker_kinds(self):
        """The stub as the lab starts it in each model; what the lab reads is what the server says."""
        cases = {"single": ((), 1, ["loop"]), "reactors": (("--threads", "2"), 2, ["loop", "loop"]),
                 "offload": (("--pool-threads", "3"), 3, ["loop", "pool-thread", "pool-thread", "pool-thread"]),
                 "pool": (("--threads", "2"), 2, ["pool-thread", "pool-thread"]),
                 "threads": ((), 100, ["loop", "connection-thread"])}
        for mode, (flags, parallelism, kinds) in cases.items():
            with self.subTest(mode=mode):
                server = start_cvp(STUB, ServerSpec(mode, flags, (0,), 2), max_connections=100, log_dir=self.dir,
                                   registry=self.registry)
                try:
                    self.assertEqual(server.parallelism, parallelism)
                    stats = server.stats()
                    self.assertEqual(stats["model"]["name"], mode)
                    self.assertEqual(stats["model"]["parallelism"], parallelism)
                    self.assertEqual([w["kind"] for w in stats["workers"]], kinds)
                    if mode in ("pool", "offload"):  # pool threads own no connections (pool's: the shared loop)
                        pool_threads = [w for w in stats["workers"] if w["kind"] == "pool-thread"]
                        self.assertEqual({w["connections_open"] for w in pool_threads}, {None})
                        self.assertEqual(stats["totals"]["connections_open"], 1)
                    if mode == "threads":
                        # the acceptor loop, and the thread of the lab's /stats connection (worker 1)
                        self.assertEqual(stats["model"]["threads_alive"], 2)
                        self.assertEqual(stats["workers"][1]["connections_open"], 1)
                        self.assertEqual(connect_remote(server.base_url).spec.workers, 1,
                                         "a thread per connection: as wide as its CPUs, not its connection limit")
                finally:
                    server.stop()

    def test_a_start_up_line_without_parallelism_is_refused(self):
        fake = self.dir / "old-server"
        fake.write_text("#!/bin/sh\necho 'cvp-server mode=single threads=1 listening=127.0.0.1:8080'\nsleep 30\n")
        fake.chmod(0o755)
        with self.assertRaisesRegex(ServerError, "no parallelism=N"):
            start_cvp(fake, ServerSpec("single", (), (0,), 1), max_connections=10, log_dir=self.dir,
                      registry=self.registry)
        self.assertEqual(len(self.registry), 0, "and stopped")

    def test_failed_start_names_the_server_and_shows_stderr(self):
        spec = ServerSpec("single", ("--fail-start",), (0,), 1)
        with self.assertRaises(ServerError) as ctx:
            start_cvp(STUB, spec, max_connections=100, log_dir=self.dir, registry=self.registry)
        text = str(ctx.exception)
        self.assertIn("cvp-server --mode single --fail-start", text)
        self.assertIn("exited with status 2", text)
        self.assertIn("refusing to start, as asked", text)

    def test_binary_that_prints_nonsense(self):
        fake = self.dir / "fake-server"
        fake.write_text("#!/bin/sh\necho hello\nsleep 30\n")
        fake.chmod(0o755)
        with self.assertRaisesRegex(ServerError, "unusable start-up line"):
            start_cvp(fake, ServerSpec("single", (), (0,), 1), max_connections=10, log_dir=self.dir,
                      registry=self.registry)
        self.assertEqual(len(self.registry), 0)

    def test_non_loopback_listener_is_refused(self):
        fake = self.dir / "fake-server"
        fake.write_text("#!/bin/sh\necho 'cvp-server mode=single listening=10.1.2.3:8080'\nsleep 30\n")
        fake.chmod(0o755)
        with self.assertRaisesRegex(ServerError, "not a loopback address"):
            start_cvp(fake, ServerSpec("single", (), (0,), 1), max_connections=10, log_dir=self.dir,
                      registry=self.registry)


def fetch(base_url: str, path: str) -> tuple[int, str, bytes]:
    """GET ``path``: status, Content-Type and body."""
    import http.client
    from urllib.parse import urlsplit
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type"), resp.read()
    finally:
        conn.close()


def pipelined(base_url: str, path: str, depth: int) -> bytes:
    """``depth`` requests for ``path`` in one write, as wrk's pipeline.lua sends them; every byte of the answers."""
    from urllib.parse import urlsplit
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * depth)
        data = b""
        while data.count(b"Hello, World!") < depth:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


@unittest.skipUnless(shutil.which("nginx") or Path("/usr/sbin/nginx").exists(),
                     "nginx is not installed (scripts/deps installs nginx-light)")
class NginxTest(unittest.TestCase):
    def test_start_answer_and_stop(self):
        from cvplab.servers import find_nginx, start_nginx
        registry = procs.ProcessRegistry()
        with tempfile.TemporaryDirectory() as tmp:
            server = start_nginx(find_nginx(), ServerSpec("nginx", (), (0,), 1), max_connections=100,
                                 log_dir=Path(tmp), registry=registry)
            try:
                self.assertIn("version", server.info)
                self.assertEqual(server.spec.description, "nginx, 1 worker (CPUs 0)")
                self.assertEqual(fetch(server.base_url, "/plaintext"), (200, "text/plain", b"Hello, World!"))
                self.assertEqual(fetch(server.base_url, "/json"),
                                 (200, "application/json", b'{"message":"Hello, World!"}'))
                self.assertEqual(pipelined(server.base_url, "/plaintext", 16).count(b"HTTP/1.1 200"), 16)
                self.assertGreater(procs.group_rss_bytes(server.pgid), 0)
                self.assertGreaterEqual(server.cpu_s(), 0.0)
            finally:
                server.stop()
        self.assertEqual(len(registry), 0)


NODE = shutil.which("node") or shutil.which("nodejs")


@unittest.skipUnless(NODE, "Node.js is not installed (scripts/deps installs Debian's nodejs)")
class NodePeerTest(unittest.TestCase):
    """loadtest/peers/node_server.js started as the lab starts it: pinned, with its libuv pool's size set."""

    def test_start_answer_and_stop(self):
        import hashlib
        import json
        from cvplab.servers import find_node, start_node
        registry = procs.ProcessRegistry()
        cpus = tuple(sorted(__import__("os").sched_getaffinity(0)))
        with tempfile.TemporaryDirectory() as tmp:
            spec = ServerSpec("node", (), cpus, 2)
            server = start_node(find_node(), spec, log_dir=Path(tmp), registry=registry)
            try:
                self.assertFalse(server.has_stats)
                self.assertEqual(server.info["threadpool"], "2", "UV_THREADPOOL_SIZE from the lab")
                self.assertTrue(server.info["version"].startswith("v"))
                self.assertTrue(server.base_url.startswith("http://127.0.0.1:"))
                self.assertIn("UV_THREADPOOL_SIZE=2", spec.description)
                self.assertEqual(fetch(server.base_url, "/plaintext"), (200, "text/plain", b"Hello, World!"))
                self.assertEqual(fetch(server.base_url, "/json"),
                                 (200, "application/json", b'{"message":"Hello, World!"}'))
                status, ctype, body = fetch(server.base_url, "/cpu/pbkdf2?iterations=1000")
                self.assertEqual((status, ctype), (200, "application/json"))
                self.assertEqual(json.loads(body), {"iterations": 1000, "length": 32, "hash": hashlib.pbkdf2_hmac(
                    "sha256", b"password", b"salt", 1000, 32).hex()})
                for bad in ("", "?iterations=0", "?iterations=1000001", "?iterations=x"):
                    self.assertEqual(fetch(server.base_url, "/cpu/pbkdf2" + bad)[0], 400, bad)
                self.assertEqual(fetch(server.base_url, "/nothing")[0], 404)
                self.assertEqual(pipelined(server.base_url, "/plaintext", 16).count(b"HTTP/1.1 200"), 16)
                allowed = Path(f"/proc/{server.pgid}/status").read_text().split("Cpus_allowed_list:")[1].split()[0]
                self.assertEqual(parse_cpu_list(allowed), cpus, "pinned like the other servers")
                self.assertGreater(procs.group_rss_bytes(server.pgid), 0)
                self.assertGreaterEqual(server.cpu_s(), 0.0)
            finally:
                server.stop()
        self.assertEqual(len(registry), 0)

    def test_port_from_the_command_line_or_the_environment(self):
        import subprocess
        from cvplab.servers import NODE_SERVER
        for argv, env in (([str(NODE_SERVER), "PORT"], {}), ([str(NODE_SERVER)], {"PORT": "PORT"})):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            argv = [a.replace("PORT", str(port)) for a in argv]
            env = {k: v.replace("PORT", str(port)) for k, v in env.items()}
            proc = subprocess.Popen([NODE, *argv], stdout=subprocess.PIPE, text=True,
                                    env={**__import__("os").environ, **env})
            try:
                line = proc.stdout.readline()
                self.assertTrue(line.startswith("node-peer "), line)
                self.assertTrue(line.strip().endswith(f"listening=127.0.0.1:{port}"), line)
            finally:
                proc.terminate()
                proc.wait(5)
                proc.stdout.close()
            self.assertEqual(proc.returncode, 0, "SIGTERM is a clean exit")


if __name__ == "__main__":
    unittest.main()
