import stat
import tempfile
import unittest
from pathlib import Path

from cvplab import node_packages


def fake_npm(folder: Path, script: str) -> str:
    """An executable standing in for npm: `script` is its shell body."""
    path = folder / "npm"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


class EnsureTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        self.peers = self.dir / "peers"
        self.peers.mkdir()

    def tearDown(self):
        self.tmp.cleanup()

    def test_an_install_already_there_runs_no_npm(self):
        (self.peers / "node_modules" / "pg").mkdir(parents=True)
        (self.peers / "node_modules" / "pg" / "package.json").write_text("{}")
        npm = fake_npm(self.dir, "touch " + str(self.dir / "ran") + "\nexit 1\n")
        result = node_packages.ensure(self.peers, npm=npm)
        self.assertTrue(result.ready)
        self.assertFalse((self.dir / "ran").exists(), "npm ran although node-postgres was installed")

    def test_npm_ci_installs_from_the_lockfile_into_the_peers_folder(self):
        # The fake records its arguments and makes node_modules/pg as npm ci would.
        npm = fake_npm(self.dir, f'echo "$@" > {self.dir / "args"}\n'
                                 'mkdir -p node_modules/pg && echo {} > node_modules/pg/package.json\n')
        result = node_packages.ensure(self.peers, npm=npm)
        self.assertTrue(result.ready, result.detail)
        args = (self.dir / "args").read_text().split()
        self.assertEqual(args[0], "ci")
        self.assertIn(str(self.peers), args)
        self.assertTrue(node_packages.installed(self.peers))

    def test_an_unreachable_registry_is_said_not_raised(self):
        npm = fake_npm(self.dir, 'echo "npm ERR! network request to https://registry.npmjs.org/pg failed" >&2\nexit 1\n')
        result = node_packages.ensure(self.peers, npm=npm)
        self.assertFalse(result.ready)
        self.assertIn("npm ci failed (exit 1", result.detail)
        self.assertIn("registry", result.detail)
        self.assertIn("no /db/*", result.detail)

    def test_npm_that_hangs_is_cut_off(self):
        npm = fake_npm(self.dir, "sleep 30\n")
        result = node_packages.ensure(self.peers, npm=npm, timeout_s=0.5)
        self.assertFalse(result.ready)
        self.assertIn("did not finish", result.detail)

    def test_the_committed_lockfile_pins_node_postgres(self):
        import json
        lock = json.loads((node_packages.PEERS_DIR / "package-lock.json").read_text())
        manifest = json.loads((node_packages.PEERS_DIR / "package.json").read_text())
        self.assertEqual(lock["packages"]["node_modules/pg"]["version"], manifest["dependencies"]["pg"])


if __name__ == "__main__":
    unittest.main()
