"""The model list comes from the server (--list-models); peers are declared; anything else is an error."""

import copy
import importlib.util
import io
import contextlib
import json
import shutil
import tempfile
import unittest
from pathlib import Path

from cvplab import cli, models, peers, report, results
from tests import stub_server
from tests.fakes import STUB, catalog, synthetic_doc

BASELINE = Path(__file__).resolve().parents[2] / "docs" / "lab" / "baseline-smoke" / "results.json"


class ListModelsTest(unittest.TestCase):
    def test_the_stub_prints_the_contract(self):
        cat = models.from_binary(STUB)
        self.assertEqual([m.to_json() for m in cat.models], stub_server.MODELS)
        for m in cat.models:
            self.assertTrue(m.description, m.name)
            self.assertIn(m.serving_kind, m.worker_kinds, m.name)
            self.assertIn(m.work_kind, m.worker_kinds, m.name)

    def test_worker_flags_come_from_the_table(self):
        flags = {m.name: m.worker_flags(3) for m in catalog().models}
        self.assertEqual(flags, {"single": (), "reactors": ("--threads", "3"), "offload": ("--pool-threads", "3"),
                                 "pool": ("--threads", "3"), "threads": ()})

    def test_a_binary_without_the_flag_is_named(self):
        with tempfile.TemporaryDirectory() as tmp:
            old = Path(tmp) / "cvp-server"
            old.write_text("#!/bin/sh\necho 'cvp-server: unknown option --list-models' >&2\nexit 2\n")
            old.chmod(0o755)
            with self.assertRaisesRegex(models.ModelsError, "unknown option --list-models"):
                models.from_binary(old)
            with self.assertRaisesRegex(models.ModelsError, "model table"):
                models.parse("not json")

    def test_the_run_records_the_table_and_an_old_run_its_chosen_models(self):
        self.assertEqual(report.catalog_of(synthetic_doc()).names, catalog().names)
        old = results.load(BASELINE)
        self.assertNotIn("models", old["manifest"])
        self.assertEqual(report.catalog_of(old).names, tuple(old["manifest"]["lab"]["options"]["models"]))


class PeersTest(unittest.TestCase):
    def test_models_and_peers_are_told_apart_and_ordered(self):
        cat = catalog()
        self.assertEqual([cat.is_peer(m) for m in ("single", "threads", "nginx", "node")], [False, False, True, True])
        self.assertEqual(cat.order, cat.names + peers.NAMES)
        self.assertEqual(cat.color("nginx"), peers.get("nginx").color)
        self.assertEqual(len({cat.color(m) for m in cat.names}), len(cat.names), "a colour per model")

    def test_an_unknown_mode_is_an_error_not_a_peer(self):
        cat = catalog()
        for call in (cat.is_peer, cat.rank, cat.color):
            with self.assertRaisesRegex(models.ModelsError, "'fibers' is neither one of the server's models"):
                call("fibers")

    @unittest.skipUnless(importlib.util.find_spec("matplotlib"), "matplotlib is not available to this Python")
    def test_the_report_refuses_a_cell_of_an_unknown_mode(self):
        doc = synthetic_doc()
        stray = copy.deepcopy(doc["cells"][0])
        stray.mode, stray.id = "fibers", "plaintext/fibers/c64"
        doc["cells"].append(stray)
        with tempfile.TemporaryDirectory() as tmp:
            with self.assertRaisesRegex(models.ModelsError, "fibers"):
                report.write(Path(tmp), doc)
            (Path(tmp) / "results.json").write_text(json.dumps(dict(doc, cells=[c.to_json() for c in doc["cells"]])))
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(cli.main(["--report", tmp]), cli.EXIT_USAGE)
            self.assertIn("'fibers' is neither", err.getvalue())
            self.assertFalse((Path(tmp) / "report.md").exists())


@unittest.skipUnless(importlib.util.find_spec("matplotlib"), "matplotlib is not available to this Python")
class OldSchemaTest(unittest.TestCase):
    def test_a_schema_2_run_renders_with_report(self):
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(BASELINE, tmp)
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(cli.main(["--report", tmp]), cli.EXIT_OK)
            md = (Path(tmp) / "report.md").read_text()
        self.assertEqual(results.load(BASELINE)["schema_version"], 2)
        for heading in ("## plaintext", "## overhead", "## io", "## cpu", "## mixed", "## imbalance", "## split",
                        "## accept", "## overload", "## Method", "## All cells"):
            self.assertIn(heading, md)
        # no descriptor counts before schema 3: said, not invented
        self.assertIn("open descriptors per connection 1 for every model (±0.05) | - | not measured |", md)


if __name__ == "__main__":
    unittest.main()
