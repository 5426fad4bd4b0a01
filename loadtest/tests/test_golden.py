"""The re-render check: a run made before the scenario split still renders, to the committed report."""

import importlib.util
import shutil
import tempfile
import unittest
from pathlib import Path

from cvplab import report, results

BASELINE = Path(__file__).resolve().parents[2] / "docs" / "lab" / "baseline-smoke"


@unittest.skipUnless(importlib.util.find_spec("matplotlib"), "matplotlib is not available to this Python")
class BaselineRerenderTest(unittest.TestCase):
    def test_the_old_run_renders_to_the_committed_report(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            shutil.copy(BASELINE / "results.json", out)
            doc = results.load(out / "results.json")
            self.assertEqual(doc["schema_version"], 2, "the baseline is a run from before schema 3")
            report.write(out, doc)
            got = (out / "report.md").read_text()
        want = (BASELINE / "report.md").read_text()
        self.assertEqual(got.splitlines(), want.splitlines(),
                         "re-rendered docs/lab/baseline-smoke/results.json differs from its report.md; if the "
                         "change is on purpose, re-render it (docs/lab/baseline-smoke/README.md)")


if __name__ == "__main__":
    unittest.main()
