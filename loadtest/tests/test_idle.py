import socket
import threading
import time
import unittest
from pathlib import Path
from unittest import mock

from cvplab import idle, procs
from cvplab.servers import ServerSpec, start_cvp

STUB = Path(__file__).resolve().parent / "stub_server.py"


class RawServer:
    """A listening socket on loopback whose every connection gets ``answer`` to its first request."""

    def __init__(self, answer: bytes | None, close: bool = False) -> None:
        self.answer, self.close = answer, close
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            try:
                conn.recv(4096)
                if self.answer is not None:
                    conn.sendall(self.answer)
                if self.close:
                    conn.close()
            except OSError:
                pass

    def stop(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


class HoldAgainstStubTest(unittest.TestCase):
    """The helper against the Python stub standing in for cvp-server."""

    def setUp(self):
        import tempfile
        self.tmp = tempfile.TemporaryDirectory()
        self.registry = procs.ProcessRegistry()
        self.server = start_cvp(STUB, ServerSpec("single", (), (0,), 1), max_connections=1000,
                                log_dir=Path(self.tmp.name), registry=self.registry)
        self.port = int(self.server.base_url.rsplit(":", 1)[1])

    def tearDown(self):
        self.server.stop()
        self.registry.stop_all()
        self.tmp.cleanup()

    def test_holds_every_connection_and_reads_the_server_s_rss(self):
        stats = self.server.stats()
        before = stats["totals"]["requests"]
        out = idle.hold("127.0.0.1", self.port, 300, pgid=self.server.pgid, settle_s=0.1, window=64)
        self.assertEqual((out["wanted"], out["tried"], out["held"]), (300, 300, 300))
        self.assertEqual(out["errors"], dict.fromkeys(idle.ERROR_KINDS, 0))
        self.assertGreater(out["rss_before_bytes"], 0)
        self.assertGreaterEqual(out["rss_after_bytes"], out["rss_before_bytes"])
        self.assertAlmostEqual(out["rss_per_connection_bytes"],
                               (out["rss_after_bytes"] - out["rss_before_bytes"]) / 300, places=0)
        self.assertEqual(out["notes"], [])
        stats = self.server.stats()
        # one request on each connection, the priming one, and this /stats read
        self.assertEqual(stats["totals"]["requests"] - before, 300 + 1 + 1)
        for _ in range(200):  # every connection was closed (reset) when the helper finished
            if self.server.stats()["totals"]["connections_open"] == 1:
                break
            time.sleep(0.01)
        self.assertEqual(self.server.stats()["totals"]["connections_open"], 1, "only the lab's /stats connection")

    def test_as_a_process_pinned_to_the_client_cpus(self):
        with self.subTest("command line"):
            argv = idle.command(idle.Hold(50, "/plaintext", 0.1), "127.0.0.1", self.port, 1234, (1,))
            self.assertEqual(argv[:3], ["taskset", "-c", "1"])
            self.assertEqual(argv[argv.index("--connections") + 1], "50")
            self.assertEqual(argv[argv.index("--pgid") + 1], "1234")
        cpus = (sorted(__import__("os").sched_getaffinity(0))[-1],)
        run = idle.IdleRun(hold_=idle.Hold(50, "/plaintext", 0.1), host="127.0.0.1", port=self.port,
                           pgid=self.server.pgid, cpus=cpus, name="test", raw_stem=Path(self.tmp.name) / "idle",
                           registry=self.registry)
        result = run.finish()
        self.assertEqual(result.data["held"], 50)
        self.assertIsNotNone(result.data["rss_per_connection_bytes"])
        self.assertGreater(result.cpu_s, 0)
        self.assertIn("CVPLAB_IDLE", run.stdout_path.read_text())


class HoldErrorsTest(unittest.TestCase):
    def test_refused_connections_are_connect_errors(self):
        with socket.socket() as s:  # a port that nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        out = idle.hold("127.0.0.1", port, 5, settle_s=0.0, timeout_s=5)
        self.assertEqual((out["held"], out["errors"]["connect"]), (0, 5))
        self.assertIn("the priming request failed", out["notes"][0])
        self.assertIsNone(out["rss_per_connection_bytes"])

    def test_refusals_and_closes_are_not_idle_connections(self):
        cases = {"status": (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", False),
                 "read": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", False)}
        for kind, (answer, close) in cases.items():
            with self.subTest(kind):
                server = RawServer(answer, close)
                try:
                    out = idle.hold("127.0.0.1", server.port, 4, settle_s=0.05, timeout_s=5, prime=False)
                finally:
                    server.stop()
                self.assertEqual(out["held"], 0)
                self.assertEqual(out["errors"][kind], 4)

    def test_a_server_that_closes_during_the_settle_is_counted(self):
        server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        try:
            def close_them():
                time.sleep(0.2)
                for c in server.conns:
                    c.close()
            threading.Thread(target=close_them, daemon=True).start()
            out = idle.hold("127.0.0.1", server.port, 3, settle_s=1.0, timeout_s=5, prime=False)
        finally:
            server.stop()
        self.assertEqual((out["held"], out["errors"]["read"]), (0, 3))

    def test_a_server_that_closes_an_idle_connection_while_others_open_is_counted(self):
        # nginx closed idle connections while the helper was still opening more; the helper
        # then crashed on the readable idle socket instead of counting it.
        server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        try:
            def close_the_first():
                while not server.conns:
                    time.sleep(0.001)
                time.sleep(0.02)
                server.conns[0].close()
            threading.Thread(target=close_the_first, daemon=True).start()
            out = idle.hold("127.0.0.1", server.port, 1000, settle_s=0.05, timeout_s=10, prime=False, window=1)
        finally:
            server.stop()
        self.assertEqual((out["held"], out["errors"]["read"]), (999, 1))

    def test_unanswered_connections_time_out(self):
        server = RawServer(None)
        try:
            out = idle.hold("127.0.0.1", server.port, 3, settle_s=0.0, timeout_s=0.3, prime=False)
        finally:
            server.stop()
        self.assertEqual((out["held"], out["errors"]["timeout"]), (0, 3))
        self.assertTrue(any("gave up" in n for n in out["notes"]))

    def test_a_low_open_file_limit_caps_the_count_and_says_so(self):
        server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        low = procs.FileLimit(soft=idle.FD_MARGIN + 3, hard=idle.FD_MARGIN + 3, needed=10 + idle.FD_MARGIN)
        try:
            with mock.patch.object(procs, "raise_file_limit", return_value=low):
                out = idle.hold("127.0.0.1", server.port, 10, settle_s=0.0, timeout_s=5, prime=False)
        finally:
            server.stop()
        self.assertEqual((out["wanted"], out["tried"], out["held"]), (10, 3, 3))
        self.assertIn(f"RLIMIT_NOFILE could only be raised to {idle.FD_MARGIN + 3}", out["notes"][0])
        self.assertIn("held 3 of 10", out["notes"][-1])


class ParseTest(unittest.TestCase):
    GOOD = ('CVPLAB_IDLE {"wanted": 10, "tried": 10, "held": 9, "errors": {"connect": 0, "read": 1, "write": 0, '
            '"timeout": 0, "status": 0}, "rss_before_bytes": 1000, "rss_after_bytes": 10000, '
            '"rss_per_connection_bytes": 1000.0, "open_s": 0.1, "settle_s": 0.1, "window": 256, '
            '"nofile_soft": 1024, "nofile_hard": 1024, "notes": ["held 9 of 10 connections"]}\n')

    def test_good_line(self):
        d = idle.parse_result("noise\n" + self.GOOD)
        self.assertEqual((d["held"], d["errors"]["read"], d["rss_per_connection_bytes"]), (9, 1, 1000.0))

    def test_bad_lines(self):
        for bad in ("", self.GOOD * 2, 'CVPLAB_IDLE {"wanted": 1}', "CVPLAB_IDLE {not json"):
            with self.subTest(bad=bad[:30]), self.assertRaises(ValueError):
                idle.parse_result(bad)


if __name__ == "__main__":
    unittest.main()
