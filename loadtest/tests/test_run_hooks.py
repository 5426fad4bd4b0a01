"""The runner's hooks around each run: a scenario acts on the server before it and reads it after it."""

import json
import shutil
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from cvplab import plan, procs, results, runner, scenarios
from cvplab.scenarios.base import Scenario
from cvplab.servers import ServerSpec, get_json, post_json
from cvplab.wrk import Stream
from tests.fakes import STUB

WRK = shutil.which("wrk")


class Recording(Scenario):
    """A scenario that notes when its hooks run, and what the server had answered by then."""

    name = "plaintext"

    def __init__(self):
        self.calls = []

    def before_run(self, cell, server):
        self.calls.append(("before", get_json(server.base_url, "/stats")["totals"]["requests"]))

    def after_run(self, cell, server):
        requests = get_json(server.base_url, "/stats")["totals"]["requests"]
        self.calls.append(("after", requests))
        return {"requests_seen": requests}


@unittest.skipUnless(WRK, "wrk is not installed")
class RunHooksTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.registry = procs.ProcessRegistry()
        self.spec = ServerSpec("single", (), (0,), 1)
        stream = Stream("main", "plaintext.lua", (), 2, 1, 5)
        self.cell = plan.Cell("plaintext", self.spec, (plan.Load(stream, None, "/plaintext"),), 1, 1)
        env = runner.Environment(out_dir=Path(self.tmp.name), wrk=WRK, client_cpus=(0,), registry=self.registry,
                                 server_binary=STUB)
        self.runner = runner.Runner(plan.Plan([plan.Group("plaintext", (self.spec,), ((self.cell,),))], [], 1, 0),
                                    env, {})
        self.runner.say = lambda text: None
        self.server = self.runner.start_server(self.spec)

    def tearDown(self):
        self.server.stop(0.5)
        self.registry.stop_all()
        self.tmp.cleanup()

    def test_the_scenario_acts_before_the_run_and_reads_after_it(self):
        recording = Recording()
        with mock.patch.object(scenarios, "get", lambda name: recording):
            m = self.runner._measure(self.cell, self.server, 1, tag="r1")
        (when0, seen0), (when1, seen1) = recording.calls
        self.assertEqual((when0, when1), ("before", "after"))
        wrk_requests = m.wrk[0][0].requests
        self.assertGreater(wrk_requests, 0)
        # /stats counts itself too: the settle's, the runner's two, the hooks' own
        self.assertGreaterEqual(seen1 - seen0, wrk_requests, "before: ahead of wrk; after: once wrk was done")
        self.assertEqual(m.after_run, {"requests_seen": seen1})
        runs = self.runner._to_runs(0, m)
        self.assertEqual(runs[0].after_run, {"requests_seen": seen1})
        self.assertEqual(runs[0].to_json()["after_run"], {"requests_seen": seen1}, "kept in the run's entry")

    def test_a_scenario_without_hooks_keeps_nothing(self):
        m = self.runner._measure(self.cell, self.server, 1, tag="r1")
        self.assertIsNone(m.after_run)
        run = self.runner._to_runs(0, m)[0]
        self.assertNotIn("after_run", run.to_json())
        cell = results.make_cell(self.cell, self.cell.loads[0], [run], server_info={}, client_cpus=(0,),
                                 repeats_planned=1, failures=[])
        self.assertNotIn("after_run", json.dumps(cell.to_json()["runs"]))

    def test_a_failing_hook_fails_the_run_with_its_reason(self):
        class Failing(Scenario):
            name = "plaintext"

            def before_run(self, cell, server):
                post_json(server.base_url, "/no/such/endpoint")

        with mock.patch.object(scenarios, "get", lambda name: Failing()):
            self.runner.run_point((self.cell,), {self.spec: self.server})
        measured = self.runner.cells[-1]
        self.assertEqual(measured.runs, [])
        self.assertIn("POST /no/such/endpoint answered 404", measured.failures[0]["error"])


if __name__ == "__main__":
    unittest.main()
