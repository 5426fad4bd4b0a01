"""cvp-server's /dashboard in a real browser: Debian's headless Chromium at laptop size.

The test starts build/release/cvp-server (offload, so that every panel has something to show, with
``--timeline``), puts a small bounded load on it from a thread of its own (loopback, stopped by the
test), loads /dashboard twice in ``chromium --headless --dump-dom`` seconds apart, and checks from the
DOM that the workers are listed (one row per worker of /stats), that the figures moved between two
reads, and that the timeline has bars. A second server, without ``--timeline`` and with no Chart.js
to serve, shows that the page says how to turn each on and still lists the workers. The screenshot
is kept in build/test-artifacts/dashboard-chromium.png (ignored by git).

Chromium missing is a failure, not a skip: CI installs it (scripts/deps). The server binary missing
skips outside CI (CI=true), as test_e2e does: scripts/test builds it first.
"""

import html.parser
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
from pathlib import Path

from tests.test_browser import png_size

REPO = Path(__file__).resolve().parents[2]
SERVER = REPO / "build" / "release" / "cvp-server"
ARTIFACTS = REPO / "build" / "test-artifacts"
SCREENSHOT = ARTIFACTS / "dashboard-chromium.png"
WIDTH, HEIGHT = 1366, 768
INSTALL = "scripts/deps (Debian 12: apt-get install chromium)"
#: Virtual time Chromium gives the page before it dumps it: several of its one-second polls.
BUDGET_MS = 4500
#: The load: CPU work for the pool (two chunks, one per pool thread) and timer waits for the loop.
LOAD_TARGETS = ("/cpu/primes?limit=300000&split=2", "/io/sleep?ms=2")
#: A bound on the load, should the test never stop it.
LOAD_LIMIT_S = 120


class _Dom(html.parser.HTMLParser):
    """What the test reads from a dumped page: the body's data attributes, the worker rows (their
    ``data-worker`` and their cells by class), the timeline's bars, and the notices' text and classes."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.workers: list[dict[str, str]] = []
        self.bars = 0
        self.notices: dict[str, tuple[str, str]] = {}
        self._in_worker = False
        self._cell: str | None = None
        self._notice: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "body":
            self.body = a
        elif tag == "tr" and "worker" in classes:
            self.workers.append({"id": a.get("data-worker", "")})
            self._in_worker = True
        elif tag == "td" and self._in_worker and self._cell is None:
            self._cell = classes[0] if classes else ""
        elif tag == "rect" and "tl-bar" in classes:
            self.bars += 1
        elif tag == "p" and a.get("id", "").endswith("-notice"):
            self._notice = a["id"]
            self.notices[a["id"]] = ("", a.get("class", ""))

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._in_worker = False
        elif tag == "p":
            self._notice = None

    def handle_data(self, data):
        if self._cell:
            self.workers[-1][self._cell] = self.workers[-1].get(self._cell, "") + data
        if self._notice:
            text, cls = self.notices[self._notice]
            self.notices[self._notice] = (text + data, cls)


def number(text: str) -> float | None:
    """A figure the page wrote (``1,234``, ``57%``), or None for its ``–``."""
    m = re.match(r"\s*([0-9][0-9,]*(?:\.[0-9]+)?)", text)
    return float(m.group(1).replace(",", "")) if m else None


class _Server:
    """cvp-server on 127.0.0.1, port 0, with ``flags``; stopped by stop()."""

    def __init__(self, *flags: str) -> None:
        self.proc = subprocess.Popen([str(SERVER), "--address", "127.0.0.1", "--port", "0", *flags],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening=127\.0\.0\.1:(\d+)$", line.strip())
        if not m:
            self.stop()
            raise AssertionError(f"cvp-server printed no start-up line: {line!r} {self.proc.stderr.read()[-2000:]}")
        self.port = int(m.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, str, bytes]:
        """One GET: status, Content-Type, body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.getheader("Content-Type", ""), r.read()
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


class _Load(threading.Thread):
    """Requests the load targets in turn over one keep-alive connection until stopped (or LOAD_LIMIT_S)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.stopped, self.answered, self.failures = port, threading.Event(), 0, []

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        deadline = time.monotonic() + LOAD_LIMIT_S
        try:
            while not self.stopped.is_set() and time.monotonic() < deadline:
                for target in LOAD_TARGETS:
                    conn.request("GET", target)
                    r = conn.getresponse()
                    r.read()
                    if r.status != 200:
                        self.failures.append(f"{target}: {r.status}")
                    self.answered += 1
        except (OSError, http.client.HTTPException) as e:
            self.failures.append(repr(e))
        finally:
            conn.close()


class DashboardInChromiumTest(unittest.TestCase):
    def setUp(self):
        if shutil.which("chromium") is None:
            self.fail(f"chromium is not installed; the dashboard's browser test needs Debian's chromium: run {INSTALL}")
        if not SERVER.exists():
            if os.environ.get("CI") == "true":
                self.fail(f"{SERVER} is missing: scripts/test builds it before this suite")
            self.skipTest(f"{SERVER} is not built (cmake --build --preset release --target cvp-server)")
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def chromium(self, url: str, *args: str) -> str:
        """Loads ``url`` in headless Chromium for BUDGET_MS of virtual time; its stdout (the DOM with --dump-dom)."""
        run = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                              f"--user-data-dir={Path(self.tmp.name) / 'profile'}", f"--window-size={WIDTH},{HEIGHT}",
                              "--hide-scrollbars", f"--virtual-time-budget={BUDGET_MS}", *args, url],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        return run.stdout

    def dump(self, url: str) -> _Dom:
        dom = _Dom()
        dom.feed(self.chromium(url, "--dump-dom"))
        self.assertIn("data-updates", dom.body, "not the dashboard's page")
        return dom

    def start(self, *flags: str) -> _Server:
        server = _Server(*flags)
        self.addCleanup(server.stop)
        return server

    def test_live_workers_figures_and_timeline_under_load(self):
        server = self.start("--mode", "offload", "--pool-threads", "2", "--timeline", "256")
        load = _Load(server.port)
        load.start()
        try:
            # Let the load reach the server before the first read.
            deadline = time.monotonic() + 20
            while load.answered < 10 and load.is_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            first = self.dump(server.url + "/dashboard")
            time.sleep(2)
            second = self.dump(server.url + "/dashboard")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            SCREENSHOT.unlink(missing_ok=True)
            self.chromium(server.url + "/dashboard", f"--screenshot={SCREENSHOT}")
            stats = json.loads(server.get("/stats")[2])
            chart_status = server.get("/dashboard/chart.js")[0]
        finally:
            load.stopped.set()
            load.join(timeout=30)
        self.assertEqual(load.failures, [], "the load's requests failed")

        for dom in (first, second):
            # Every worker of /stats has its row, in the same order.
            self.assertEqual([w["id"] for w in dom.workers], [str(w["id"]) for w in stats["workers"]])
            self.assertEqual(dom.body["data-workers"], str(len(stats["workers"])))
            # The page polled more than once, and the last two polls read different totals.
            self.assertGreaterEqual(int(dom.body["data-updates"]), 2)
            self.assertGreater(int(dom.body["data-requests"]), int(dom.body["data-requests-prev"]))
            # The load shows: requests per second on the loop, busy pool threads, work in the timeline.
            loop = dom.workers[0]
            self.assertGreater(number(loop["rps"]) or 0, 0, loop)
            busy = [number(w["busy"]) for w in dom.workers[1:]]
            self.assertTrue(any(b is not None and b > 0 for b in busy), dom.workers)
            self.assertEqual(dom.body["data-timeline"], "on")
            self.assertGreater(dom.bars, 0, "the timeline has no bars")
            self.assertEqual(str(dom.bars), dom.body["data-timeline-bars"])
            self.assertIn("hidden", dom.notices["timeline-notice"][1], "the timeline says recording is off")
            # Charts: drawn when the server serves Chart.js, or a notice saying why not.
            self.assertEqual(dom.body["data-chart"], "ready" if chart_status == 200 else "missing")
        # The figures moved between the two reads, seconds apart.
        self.assertGreater(number(second.workers[0]["requests"]), number(first.workers[0]["requests"]))
        self.assertGreater(int(second.body["data-requests"]), int(first.body["data-requests"]))

        self.assertEqual(png_size(SCREENSHOT), (WIDTH, HEIGHT))
        self.assertGreater(SCREENSHOT.stat().st_size, 20_000, "an empty-looking screenshot")

    def test_without_timeline_or_chart_js_the_page_says_how_to_get_them(self):
        server = self.start("--mode", "reactors", "--threads", "2", "--chart-js", str(Path(self.tmp.name) / "none.js"))
        self.assertEqual(server.get("/stats/timeline")[0], 409)
        dom = self.dump(server.url + "/dashboard")
        # The tables still fill.
        self.assertEqual([w["id"] for w in dom.workers], ["0", "1"])
        self.assertGreaterEqual(int(dom.body["data-updates"]), 2)
        # The timeline says how to turn recording on, and draws nothing.
        self.assertEqual(dom.body["data-timeline"], "off")
        text, classes = dom.notices["timeline-notice"]
        self.assertNotIn("hidden", classes)
        self.assertIn("--timeline N", text)
        self.assertEqual(dom.bars, 0)
        # No charts, and the notice names the package to install.
        self.assertEqual(dom.body["data-chart"], "missing")
        text, classes = dom.notices["chart-notice"]
        self.assertNotIn("hidden", classes)
        self.assertIn("libjs-chart.js", text)


if __name__ == "__main__":
    unittest.main()
