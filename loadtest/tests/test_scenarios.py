"""The registry: every scenario module is in it, and the CLI, profiles, plan and report take the scenarios from it."""

import dataclasses
import importlib
import importlib.util
import tempfile
import unittest
from pathlib import Path

from cvplab import cli, plan, profiles, report, scenarios
from cvplab.cpus import Placement
from cvplab.scenarios.base import PROFILE_NAMES, Scenario
from tests.fakes import catalog, synthetic_doc

SCENARIO_DIR = Path(scenarios.__file__).parent


class RegistryTest(unittest.TestCase):
    def test_every_scenario_module_is_registered_under_its_name(self):
        # A module is named as its scenario, with "_" for the "-" no module name may have (shared_state).
        # base.py is the contract, watched.py a base for the scenarios that watch their runs.
        modules = sorted(p.stem for p in SCENARIO_DIR.glob("*.py") if p.stem not in ("__init__", "base", "watched"))
        self.assertEqual(sorted(n.replace("-", "_") for n in scenarios.NAMES), modules)
        for name in scenarios.NAMES:
            module = importlib.import_module(f"cvplab.scenarios.{name.replace('-', '_')}")
            self.assertIsInstance(module.SCENARIO, Scenario, name)
            self.assertIs(scenarios.get(name), module.SCENARIO)
            self.assertEqual(module.SCENARIO.name, name)
        with self.assertRaises(KeyError):
            scenarios.get("fibers")

    def test_each_has_its_parameters_for_every_profile(self):
        for s in scenarios.REGISTRY:
            self.assertEqual(set(s.profiles), set(PROFILE_NAMES), s.name)
            kinds = {type(v) for v in s.profiles.values()}
            self.assertEqual(len(kinds), 1, f"{s.name}: one dataclass for every profile")
            self.assertTrue(dataclasses.is_dataclass(kinds.pop()), s.name)


class ReadersTest(unittest.TestCase):
    def test_the_cli_takes_its_choices_and_help_from_the_registry(self):
        parser = cli.build_parser()
        self.assertEqual(parser.parse_args([]).scenarios, scenarios.NAMES)
        self.assertEqual(parser.parse_args(["--scenarios", ",".join(reversed(scenarios.NAMES))]).scenarios,
                         scenarios.NAMES, "in the registry's order")
        self.assertIn(", ".join(scenarios.NAMES), parser.epilog)
        help_text = parser.format_help().replace("\n", " ")
        self.assertIn(",".join(scenarios.NAMES), help_text.replace(", ", ",").replace(" ", ""))

    def test_profiles_are_the_scenarios_own_parameters(self):
        for name, prof in profiles.PROFILES.items():
            self.assertEqual(list(prof.scenarios), list(scenarios.NAMES), name)
            for s in scenarios.REGISTRY:
                self.assertIs(prof.params(s.name), s.profiles[name], f"{name}/{s.name}")

    def test_duration_overrides_reach_every_scenario(self):
        p = profiles.QUICK.with_overrides(duration_s=7)
        durations = [getattr(params, f.name) for params in p.scenarios.values()
                     for f in dataclasses.fields(params) if f.name.endswith("duration_s")]
        self.assertGreater(len(durations), len(scenarios.NAMES) // 2)
        self.assertEqual(set(durations), {7})
        self.assertEqual(profiles.QUICK.params("io").duration_s, 2, "the profile itself is unchanged")

    def test_the_plan_runs_them_in_registry_order(self):
        s = plan.Settings(profile=profiles.QUICK, scenarios=scenarios.NAMES, models=catalog().names,
                          placement=Placement((0,), (1,)), pbkdf2_iterations=5000, max_connections=20_000,
                          catalog=catalog())
        order = list(dict.fromkeys(g.scenario for g in plan.build(s).groups))
        self.assertEqual(order, list(scenarios.NAMES))

    @unittest.skipUnless(importlib.util.find_spec("matplotlib"), "matplotlib is not available to this Python")
    def test_the_report_shows_them_in_registry_order(self):
        with tempfile.TemporaryDirectory() as tmp:
            report.write(Path(tmp), synthetic_doc())
            md = (Path(tmp) / "report.md").read_text()
        headings = [line[3:].split(":")[0] for line in md.splitlines() if line.startswith("## ")]
        self.assertEqual([h for h in headings if h in scenarios.NAMES], list(scenarios.NAMES))


if __name__ == "__main__":
    unittest.main()
