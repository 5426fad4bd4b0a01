"""The report's HTML in a real browser: Debian's headless Chromium at laptop width.

A report is rendered from synthetic results (a few scenarios, their charts drawn), loaded in
``chromium --headless``, and checked from the DOM it dumps: the verdict matrix is the first table and
fits the window's width, and every image loaded.  The screenshot is kept as a test artifact in
build/test-artifacts/ (ignored by git).  Chromium missing is a failure, not a skip: CI installs it
(scripts/deps).
"""

import html.parser
import importlib.util
import shutil
import struct
import subprocess
import tempfile
import unittest
from pathlib import Path

from cvplab import report
from tests.fakes import synthetic_doc

REPO = Path(__file__).resolve().parents[2]
#: Where the screenshot is kept after the test.
ARTIFACTS = REPO / "build" / "test-artifacts"
SCREENSHOT = ARTIFACTS / "report-chromium.png"
WIDTH, HEIGHT = 1366, 900
INSTALL = "scripts/deps (Debian 12: apt-get install chromium python3-matplotlib)"
#: The scenarios the report is rendered from: a matrix of several rows, line and bar charts.
SCENARIOS = ("io", "cpu", "mixed", "shared-state")

#: Added to a copy of the report, never to the report itself: on load, writes what the test reads into the
#: body's data attributes, which --dump-dom then shows.
PROBE = """<script>
window.addEventListener("load", () => {
  const b = document.body, first = document.querySelector("table");
  b.dataset.images = [...document.images].map(i => i.getAttribute("src") + "=" + i.naturalWidth).join(" ");
  b.dataset.firstTable = first ? first.id : "";
  if (first) {
    const r = first.getBoundingClientRect();
    b.dataset.firstTableBox = [r.left, r.top, r.right, window.innerWidth].map(Math.round).join(" ");
  }
});
</script>
"""


class _Dom(html.parser.HTMLParser):
    """The body's attributes and the images' sources of a dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self.body = {k: v or "" for k, v in attrs}
        elif tag == "img":
            self.images.append(dict(attrs)["src"])


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    """Runs headless Chromium (as root it needs --no-sandbox) with its own profile, at laptop width."""
    return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars",
                           *args], capture_output=True, text=True, timeout=120)


def png_size(path: Path) -> tuple[int, int]:
    """A PNG's width and height, from its IHDR chunk."""
    data = path.read_bytes()[:24]
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError(f"{path} is not a PNG")
    return struct.unpack(">II", data[16:24])


class ReportInChromiumTest(unittest.TestCase):
    def setUp(self):
        if shutil.which("chromium") is None:
            self.fail(f"chromium is not installed; the report's browser test needs Debian's chromium: run {INSTALL}")
        if importlib.util.find_spec("matplotlib") is None:
            self.fail(f"matplotlib is not available to this Python; the report's charts need it: run {INSTALL}")

    def test_the_report_opens_with_the_matrix_and_every_image_loads(self):
        doc = synthetic_doc()
        doc["cells"] = [c for c in doc["cells"] if c.scenario in SCENARIOS]
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "report"
            out.mkdir()
            report.write(out, doc)
            page = (out / "report.html").read_text()
            (out / "probe.html").write_text(page.replace("</body>", PROBE + "</body>"))
            dumped = chromium("--virtual-time-budget=10000", "--dump-dom", (out / "probe.html").as_uri(),
                              profile=Path(tmp) / "profile")
            self.assertEqual(dumped.returncode, 0, dumped.stderr[-2000:])
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            SCREENSHOT.unlink(missing_ok=True)
            shot = chromium(f"--screenshot={SCREENSHOT}", (out / "report.html").as_uri(), profile=Path(tmp) / "profile")
            self.assertEqual(shot.returncode, 0, shot.stderr[-2000:])

        dom = _Dom()
        dom.feed(dumped.stdout)
        self.assertIn("data-images", dom.body, "the probe did not run on load: " + dumped.stdout[:500])
        self.assertEqual(dom.body["data-first-table"], "verdict", "the verdict matrix is not the first table")
        left, top, right, inner = map(int, dom.body["data-first-table-box"].split())
        self.assertLessEqual(right, inner, "the verdict matrix is wider than a laptop's window")
        self.assertLess(top, HEIGHT, "the verdict matrix starts below the first screen")
        loaded = dict(item.rsplit("=", 1) for item in dom.body["data-images"].split())
        self.assertEqual(sorted(loaded), sorted(dom.images))
        for name in ("io.png", "cpu.png", "mixed.png", "shared-state-lost.png", "timeline-lead.png", "timeline-cpu.png",
                     "timeline-mixed.png", "lag-mixed.png", "lag-io-sleep.png"):
            self.assertIn(name, loaded)
        self.assertEqual([src for src, width in loaded.items() if int(width) <= 0], [], "images that did not load")
        self.assertEqual(png_size(SCREENSHOT), (WIDTH, HEIGHT))
        self.assertGreater(SCREENSHOT.stat().st_size, 20_000, "an empty-looking screenshot")


if __name__ == "__main__":
    unittest.main()
