import contextlib
import importlib.util
import io
import shutil
import tempfile
import unittest
from pathlib import Path

from cvplab import cli, scenarios
from tests.fakes import STUB, catalog


def parse(*argv):
    return cli.build_parser().parse_args(list(argv))


def usage_error(*argv) -> str:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            cli.main(list(argv))
        except SystemExit as e:
            if e.code != cli.EXIT_USAGE:
                raise AssertionError(f"exit {e.code}, expected {cli.EXIT_USAGE}") from None
            return err.getvalue()
    raise AssertionError("no usage error")


class FlagsTest(unittest.TestCase):
    def test_defaults(self):
        a = parse()
        self.assertEqual(a.profile, "quick")
        self.assertEqual(a.scenarios, scenarios.NAMES)
        self.assertIsNone(a.models)

    def test_lists_keep_canonical_order(self):
        a = parse("--scenarios", "split,io", "--models", "offload,single")
        self.assertEqual(a.scenarios, ("io", "split"))
        # --models is checked against the list the server binary prints, in its order
        self.assertEqual(cli.choose(a.models, catalog().names, "model"), ("single", "offload"))

    def test_rejections_name_the_flag(self):
        cases = {
            ("--server-binary", str(STUB), "--models", "fibers"): "--models",
            ("--server-binary", str(STUB), "--models", "single,single"): "listed twice",
            ("--scenarios", "io,io"): "listed twice",
            ("--scenarios", ""): "--scenarios",
            ("--repeats", "0"): "--repeats",
            ("--duration", "1.5"): "not a whole number",
            ("--server-cpus", "1-0"): "--server-cpus",
            ("--target", "https://example.com"): "--target",
            ("--target", "http://127.0.0.1:8080/stats"): "without a path",
            ("--target", "http://127.0.0.1:99999"): "--target",
            ("--quick", "--full"): "not allowed with",
            ("--target", "http://127.0.0.1:8080", "--models", "single"): "--models cannot be used with --target",
            ("--server-cpus", "4096"): "may only use CPUs",
        }
        for argv, needle in cases.items():
            with self.subTest(argv=argv):
                self.assertIn(needle, usage_error(*argv))

    def test_target_is_normalised(self):
        self.assertEqual(parse("--target", "http://localhost").target, "http://localhost:80")
        self.assertEqual(parse("--target", "http://[::1]:9000/").target, "http://[::1]:9000")


class PeersTest(unittest.TestCase):
    def test_flags_and_missing_binaries_say_why(self):
        from unittest import mock
        with mock.patch.object(cli.servers, "find_nginx", return_value=None), \
                mock.patch.object(cli.servers, "find_node", return_value="/usr/bin/node"):
            peers, why = cli._peers(parse(), None)
            self.assertEqual(peers, {"node"})
            self.assertEqual(why, (("nginx", "nginx is not installed (scripts/deps installs Debian's nginx-light)"),))
            peers, why = cli._peers(parse("--no-node"), None)
            self.assertEqual(peers, set())
            self.assertEqual(why[1], ("node", "left out with --no-node"))
            self.assertEqual(cli._peers(parse(), object()), (set(), ()), "no peers beside a remote target")


class PlacementFlagsTest(unittest.TestCase):
    def test_default_and_partial(self):
        p, w = cli.resolve_placement(parse(), (0, 1))
        self.assertEqual((p.server, p.client, w), ((0,), (1,), []))
        p, _ = cli.resolve_placement(parse("--client-cpus", "0"), (0, 1, 2))
        self.assertEqual((p.server, p.client), ((1, 2), (0,)))
        p, _ = cli.resolve_placement(parse("--server-cpus", "1"), (0, 1))
        self.assertEqual(p.client, (0,))

    def test_overlap_warns(self):
        p, w = cli.resolve_placement(parse("--server-cpus", "0-1", "--client-cpus", "1"), (0, 1))
        self.assertFalse(p.disjoint)
        self.assertIn("overlap", w[0])

    def test_outside_affinity_is_refused(self):
        with self.assertRaisesRegex(ValueError, "--client-cpus 7"):
            cli.resolve_placement(parse("--client-cpus", "7"), (0, 1))


class ReportOnlyTest(unittest.TestCase):
    @unittest.skipUnless(importlib.util.find_spec("matplotlib"), "matplotlib is not available to this Python")
    def test_rewrites_the_report_from_results(self):
        from cvplab import results
        from tests.fakes import synthetic_doc
        doc = synthetic_doc()
        with tempfile.TemporaryDirectory() as tmp:
            results.write(Path(tmp), doc["manifest"], doc["cells"], [])
            with contextlib.redirect_stdout(io.StringIO()) as out:
                self.assertEqual(cli.main(["--report", tmp]), cli.EXIT_OK)
            self.assertTrue((Path(tmp) / "report.html").is_file())
            self.assertIn("scenario", out.getvalue().splitlines()[0])

    def test_missing_results_is_a_usage_error(self):
        with contextlib.redirect_stderr(io.StringIO()) as err:
            self.assertEqual(cli.main(["--report", "/nonexistent"]), cli.EXIT_USAGE)
        self.assertIn("results.json", err.getvalue())


class DryRunTest(unittest.TestCase):
    @unittest.skipUnless(shutil.which("wrk") and shutil.which("taskset"), "wrk and taskset are needed for a dry run")
    def test_overload_alone_is_three_cells_and_a_few_seconds(self):
        stub = Path(__file__).resolve().parent / "stub_server.py"
        with contextlib.redirect_stdout(io.StringIO()) as out:
            self.assertEqual(cli.main(["--dry-run", "--scenarios", "overload", "--server-binary", str(stub)]),
                             cli.EXIT_OK)
        self.assertIn("cvplab quick: 1 scenario(s), 3 cells, 9 measured runs of 3 repeat(s)", out.getvalue())


class EnvironmentTest(unittest.TestCase):
    def test_missing_binary_exits_3(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(["--server-binary", "/nonexistent/cvp-server", "--dry-run"])
        self.assertEqual(code, cli.EXIT_ENVIRONMENT)
        self.assertIn("cmake --preset release", err.getvalue())

    def test_missing_wrk_exits_3(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(["--wrk", "/nonexistent/wrk", "--dry-run"])
        self.assertEqual(code, cli.EXIT_ENVIRONMENT)
        self.assertIn("wrk not found", err.getvalue())

    def test_unreachable_target_exits_3(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(["--target", "http://127.0.0.1:1", "--dry-run"])
        self.assertEqual(code, cli.EXIT_ENVIRONMENT)
        self.assertIn("/stats could not be read", err.getvalue())


if __name__ == "__main__":
    unittest.main()
