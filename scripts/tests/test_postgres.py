"""scripts/postgres: a throwaway cluster starts, serves world over TCP and the socket, counts
statements, halts and resumes on its port, and stops without leaving its folder or its port behind.

Skips only when the server binaries are missing and this is not root; root installs them
first (scripts/deps). Run: /usr/bin/python3 -m unittest discover -s scripts/tests -t scripts
"""

import os
import socket
import subprocess
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "postgres"


def run(*args: str, env: dict, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout)


def bindir() -> Path | None:
    """The server binaries' folder, installing them first when root may."""
    found = subprocess.run([str(SCRIPT), "bindir"], capture_output=True, text=True)
    if found.returncode != 0 and os.geteuid() == 0:
        subprocess.run([str(REPO / "scripts" / "deps")], check=True)
        found = subprocess.run([str(SCRIPT), "bindir"], capture_output=True, text=True)
        assert found.returncode == 0, "scripts/deps ran, yet no server binaries: " + found.stderr
    return Path(found.stdout.strip()) if found.returncode == 0 else None


def port_of(conninfo: str) -> int:
    return int(dict(kv.split("=", 1) for kv in conninfo.split())["port"])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class PostgresTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bin = bindir()
        if cls.bin is None:
            raise unittest.SkipTest("no PostgreSQL server binaries, and not root to install them")
        cls.psql_bin = str(cls.bin / "psql")
        # The "last started" pointer lives in this test's folder, not the checkout's build/.
        cls.tmp = tempfile.TemporaryDirectory()
        os.chmod(cls.tmp.name, 0o755)  # the server's user (postgres) must reach folders made in it
        cls.env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        cls.env["CVP_PG_CURRENT"] = os.path.join(cls.tmp.name, "current")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def psql(self, conninfo: str, sql: str) -> str:
        out = subprocess.run([self.psql_bin, "-X", "-At", "-v", "ON_ERROR_STOP=1", conninfo, "-c", sql],
                             capture_output=True, text=True, timeout=60, env=self.env)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout.strip()

    def start(self, *args: str) -> str:
        proc = run("start", *args, env=self.env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(proc.stdout.splitlines()), 1, "stdout is the conninfo alone: " + proc.stdout)
        return proc.stdout.strip()


class DefaultClusterTest(PostgresTestCase):
    """One cluster in a new folder under TMPDIR, found later through the pointer file."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        proc = run("start", env=cls.env)
        if proc.returncode != 0:
            super().tearDownClass()
            raise AssertionError("scripts/postgres start failed: " + proc.stderr)
        cls.conninfo = proc.stdout.strip()
        cls.dir = Path(Path(cls.env["CVP_PG_CURRENT"]).read_text().strip())

    @classmethod
    def tearDownClass(cls):
        run("stop", "--dir", str(cls.dir), env=cls.env)
        super().tearDownClass()

    def test_folder_is_new_under_tmpdir_and_private(self):
        self.assertEqual(str(self.dir.parent), tempfile.gettempdir())
        self.assertTrue(self.dir.name.startswith("cvp-pg."), self.dir)
        self.assertEqual(self.dir.stat().st_mode & 0o777, 0o700)
        self.assertTrue((self.dir / "data" / "PG_VERSION").is_file())
        if os.geteuid() == 0:
            self.assertNotEqual(self.dir.stat().st_uid, 0, "the server's folder belongs to an unprivileged user")

    def test_world_has_10000_rows_in_range(self):
        got = self.psql(self.conninfo, "SELECT count(*), count(DISTINCT id), min(id), max(id), "
                                       "min(randomnumber), max(randomnumber), count(DISTINCT randomnumber) FROM world")
        rows, ids, lo, hi, rlo, rhi, distinct = map(int, got.split("|"))
        self.assertEqual((rows, ids, lo, hi), (10000, 10000, 1, 10000))
        self.assertGreaterEqual(rlo, 1)
        self.assertLessEqual(rhi, 10000)
        self.assertGreater(distinct, 5000, "randomnumber is random, not one value")

    def test_pg_stat_statements_counts_each_query(self):
        self.psql(self.conninfo, "SELECT pg_stat_statements_reset()")
        for n in (7, 42, 9999):
            self.assertRegex(self.psql(self.conninfo, f"SELECT id, randomnumber FROM world WHERE id = {n}"),
                             rf"^{n}\|\d+$")
        calls = self.psql(self.conninfo, "SELECT sum(calls) FROM pg_stat_statements "
                                         "WHERE query = 'SELECT id, randomnumber FROM world WHERE id = $1'")
        self.assertEqual(calls, "3", "one normalized statement, called three times")

    def test_tcp_and_socket_conninfo(self):
        self.assertRegex(self.conninfo, r"^host=127\.0\.0\.1 port=\d+ dbname=cvp user=cvp$")
        self.assertEqual(self.psql(self.conninfo, "SELECT current_user, current_database(), inet_server_addr()"),
                         "cvp|cvp|127.0.0.1")
        conninfo = run("conninfo", env=self.env)
        self.assertEqual((conninfo.returncode, conninfo.stdout.strip()), (0, self.conninfo))
        on_socket = run("conninfo", "--socket", env=self.env).stdout.strip()
        self.assertEqual(on_socket, f"host={self.dir} port={port_of(self.conninfo)} dbname=cvp user=cvp")
        self.assertTrue((self.dir / f".s.PGSQL.{port_of(self.conninfo)}").is_socket())
        # A Unix-socket session has no server address.
        self.assertEqual(self.psql(on_socket, "SELECT current_user, inet_server_addr() IS NULL"), "cvp|t")

    def test_status_says_running(self):
        proc = run("status", env=self.env)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertTrue(proc.stdout.startswith(f"running: {self.dir} (pid "), proc.stdout)


class LifecycleTest(PostgresTestCase):
    """--dir and --port, a taken port, stop, and a second stop."""

    def test_start_stop_leaves_nothing(self):
        folder = Path(self.tmp.name) / "pg"
        conninfo = self.start("--dir", str(folder))
        port = port_of(conninfo)
        self.addCleanup(run, "stop", "--dir", str(folder), env=self.env)
        self.assertTrue(port_open(port))
        self.assertEqual(self.psql(conninfo, "SELECT count(*) FROM world"), "10000")

        # The same port again: a clear error, and the failed start leaves no folder behind.
        other = Path(self.tmp.name) / "pg2"
        taken = run("start", "--dir", str(other), "--port", str(port), env=self.env)
        self.assertNotEqual(taken.returncode, 0)
        self.assertIn(f"port {port} on 127.0.0.1 is taken", taken.stderr)
        self.assertFalse(other.exists())
        self.assertEqual(self.psql(conninfo, "SELECT 1"), "1", "the first cluster still serves")

        # Stop without --dir: the one started last. Its folder and its port are gone.
        stop = run("stop", env=self.env)
        self.assertEqual(stop.returncode, 0, stop.stderr)
        self.assertIn(f"stopped {folder}", stop.stderr)
        self.assertFalse(folder.exists())
        self.assertFalse(port_open(port))
        self.assertFalse(Path(self.env["CVP_PG_CURRENT"]).exists(), "the pointer is dropped")

        # Stopping again is no error, and says so.
        again = run("stop", "--dir", str(folder), env=self.env)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("already gone", again.stderr)
        status = run("status", "--dir", str(folder), env=self.env)
        self.assertEqual((status.returncode, status.stdout.strip()), (3, f"gone: {folder}"))

    def test_explicit_port_and_no_tcp(self):
        folder = Path(self.tmp.name) / "sock"
        with socket.socket() as s:  # a port free a moment ago
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        conninfo = self.start("--dir", str(folder), "--port", str(port), "--no-tcp")
        self.addCleanup(run, "stop", "--dir", str(folder), env=self.env)
        self.assertEqual(conninfo, f"host={folder} port={port} dbname=cvp user=cvp")
        self.assertFalse(port_open(port), "--no-tcp: nothing on 127.0.0.1")
        self.assertEqual(self.psql(conninfo, "SELECT count(*) FROM world"), "10000")
        self.assertEqual(run("stop", "--dir", str(folder), env=self.env).returncode, 0)
        self.assertFalse(folder.exists())


class HaltResumeTest(PostgresTestCase):
    """halt keeps the folder, the data and the port; resume brings the same cluster back."""

    def test_halt_then_resume_on_the_same_port_and_socket(self):
        folder = Path(self.tmp.name) / "halted"
        conninfo = self.start("--dir", str(folder))
        self.addCleanup(run, "stop", "--dir", str(folder), env=self.env)
        port = port_of(conninfo)
        on_socket = run("conninfo", "--dir", str(folder), "--socket", env=self.env).stdout.strip()
        self.psql(conninfo, "CREATE TABLE kept (n integer); INSERT INTO kept VALUES (42)")

        # Halted: nothing answers, on TCP or the socket; the folder and its conninfo stay.
        halt = run("halt", "--dir", str(folder), env=self.env)
        self.assertEqual(halt.returncode, 0, halt.stderr)
        self.assertIn(f"halted {folder}", halt.stderr)
        self.assertFalse(port_open(port))
        self.assertFalse((folder / f".s.PGSQL.{port}").exists(), "the socket is gone while halted")
        self.assertTrue((folder / "data" / "PG_VERSION").is_file())
        status = run("status", "--dir", str(folder), env=self.env)
        self.assertEqual((status.returncode, status.stdout.strip()), (3, f"stopped: {folder}"))
        self.assertEqual(run("conninfo", "--dir", str(folder), env=self.env).stdout.strip(), conninfo)

        # Halting again is no error, and says so.
        again = run("halt", "--dir", str(folder), env=self.env)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("already halted", again.stderr)

        # Resumed: the same port, the same socket, the same data.
        resume = run("resume", "--dir", str(folder), env=self.env)
        self.assertEqual(resume.returncode, 0, resume.stderr)
        self.assertIn(f"resumed {folder}", resume.stderr)
        self.assertEqual(resume.stdout, "", "resume prints nothing on stdout: the conninfo is unchanged")
        self.assertTrue(port_open(port))
        self.assertEqual(self.psql(conninfo, "SELECT n FROM kept"), "42")
        self.assertEqual(self.psql(on_socket, "SELECT count(*) FROM world"), "10000")
        self.assertTrue(run("status", "--dir", str(folder), env=self.env).stdout.startswith(f"running: {folder} (pid "))

        # Resuming a running cluster is no error either.
        twice = run("resume", "--dir", str(folder), env=self.env)
        self.assertEqual(twice.returncode, 0, twice.stderr)
        self.assertIn("already runs", twice.stderr)

        # Without --dir: the one started last.
        self.assertEqual(run("halt", env=self.env).returncode, 0)
        self.assertFalse(port_open(port))
        self.assertEqual(run("resume", env=self.env).returncode, 0)
        self.assertEqual(self.psql(conninfo, "SELECT 1"), "1")

        # stop still removes a cluster that was halted.
        self.assertEqual(run("halt", "--dir", str(folder), env=self.env).returncode, 0)
        self.assertEqual(run("stop", "--dir", str(folder), env=self.env).returncode, 0)
        self.assertFalse(folder.exists())

    def test_resume_refuses_a_port_taken_meanwhile(self):
        folder = Path(self.tmp.name) / "taken"
        port = port_of(self.start("--dir", str(folder)))
        self.addCleanup(run, "stop", "--dir", str(folder), env=self.env)
        self.assertEqual(run("halt", "--dir", str(folder), env=self.env).returncode, 0)
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", port))
            squatter.listen(1)
            resume = run("resume", "--dir", str(folder), env=self.env)
        self.assertEqual(resume.returncode, 1)
        self.assertIn(f"port {port} on 127.0.0.1 is taken", resume.stderr)
        self.assertTrue((folder / "data" / "PG_VERSION").is_file(), "a failed resume keeps the folder")
        # Once the port is free again, it resumes.
        self.assertEqual(run("resume", "--dir", str(folder), env=self.env).returncode, 0)
        self.assertTrue(port_open(port))

    def test_halt_and_resume_need_a_cluster_of_ours(self):
        foreign = Path(self.tmp.name) / "foreign"
        foreign.mkdir()
        gone = Path(self.tmp.name) / "never-made"
        for cmd in ("halt", "resume"):
            proc = run(cmd, "--dir", str(foreign), env=self.env)
            self.assertEqual(proc.returncode, 1, cmd)
            self.assertIn("not made by scripts/postgres", proc.stderr)
            proc = run(cmd, "--dir", str(gone), env=self.env)
            self.assertEqual(proc.returncode, 1, cmd)
            self.assertIn("it is gone", proc.stderr)
            self.assertFalse(gone.exists())
            for args in ([cmd, "--bogus"], [cmd, "--dir"]):
                bad = run(*args, env=self.env)
                self.assertNotEqual(bad.returncode, 0, args)
                self.assertIn("scripts/postgres: ", bad.stderr, args)
        self.assertEqual(run("resume", "--dir", str(foreign), "--timeout", "0", env=self.env).returncode, 2)


class BadInputTest(PostgresTestCase):
    """Bad arguments and foreign folders: a message, a non-zero exit, nothing touched."""

    def test_bad_arguments(self):
        for args in (["start", "--port", "abc"], ["start", "--port", "80"], ["start", "--bogus"],
                     ["start", "--timeout", "0"], ["frobnicate"], []):
            proc = run(*args, env=self.env)
            self.assertEqual(proc.returncode, 2, args)
            self.assertIn("scripts/postgres: ", proc.stderr, args)

    def test_foreign_folders_are_left_alone(self):
        folder = Path(self.tmp.name) / "mine"
        folder.mkdir()
        (folder / "keep").write_text("x")
        stop = run("stop", "--dir", str(folder), env=self.env)
        self.assertEqual(stop.returncode, 1)
        self.assertIn("not made by scripts/postgres", stop.stderr)
        start = run("start", "--dir", str(folder), env=self.env)
        self.assertEqual(start.returncode, 1)
        self.assertIn("not an empty folder", start.stderr)
        self.assertTrue((folder / "keep").is_file())

    def test_nothing_started(self):
        for cmd in ("halt", "resume"):
            proc = run(cmd, env=self.env)
            self.assertEqual(proc.returncode, 1, cmd)
            self.assertIn("no cluster started", proc.stderr)
        stop = run("stop", env=self.env)
        self.assertEqual(stop.returncode, 0)
        self.assertIn("no cluster to stop", stop.stderr)
        self.assertEqual(run("status", env=self.env).returncode, 3)
        self.assertEqual(run("conninfo", env=self.env).returncode, 1)


if __name__ == "__main__":
    unittest.main()
