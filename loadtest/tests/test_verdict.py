"""The verdict matrix: the best model of a row, the figures each scenario chooses, and the table the report opens with."""

import unittest

from cvplab import render, report, verdict
from cvplab.cells import Measured
from cvplab.query import ordered_by
from cvplab.scenarios import get
from cvplab.verdict import HIGHER, LOWER, Figure, Row
from tests.fakes import catalog, change, synthetic_doc


def cell(scenario: str, mode: str, variant: str | None = None, **figures) -> Measured:
    """A measured cell with only what a verdict row reads."""
    c = Measured(id=f"{scenario}-{variant}-{mode}", scenario=scenario, variant=variant, mode=mode,
                 path=figures.pop("path", "/x"), connections=figures.pop("connections", 8))
    change(c, **figures)
    return c


def row(better: str, **values: float) -> Row:
    return Row("CPU-bound", "load", "req/s", better, {m: Figure(v, f"{v:g}") for m, v in values.items()})


class BestTest(unittest.TestCase):
    def test_highest_or_lowest(self):
        self.assertEqual(verdict.best(row(HIGHER, single=200, reactors=384, offload=380)), ("reactors",))
        self.assertEqual(verdict.best(row(LOWER, single=95, reactors=80, offload=52.5)), ("offload",))

    def test_a_tie_at_the_figure_shown_marks_every_one(self):
        r = Row("I/O-bound", "load", "share", HIGHER, {"single": Figure(0.9851, "98.5%"), "pool": Figure(0.9849, "98.5%"),
                                                      "threads": Figure(0.90, "90.0%")})
        self.assertEqual(verdict.best(r), ("single", "pool"))

    def test_no_figures_no_best(self):
        self.assertEqual(verdict.best(row(HIGHER)), ())

    def test_a_row_names_a_known_workload_and_direction(self):
        with self.assertRaises(ValueError):
            Row("fast", "load", "req/s", HIGHER, {})
        with self.assertRaises(ValueError):
            Row("mixed", "load", "p99", "smaller", {})


class MatrixTest(unittest.TestCase):
    def test_the_table_marks_the_best_and_blanks_the_missing(self):
        with ordered_by(catalog()):
            blocks = verdict.matrix([row(HIGHER, threads=372, single=200, reactors=384)])
        table = blocks[-1]
        self.assertEqual(table.kind, "table")
        self.assertEqual(table.id, "verdict")
        header, body = table.items
        self.assertEqual(header, ["workload", "figure", "single", "reactors", "threads"])  # the catalog's order
        self.assertEqual(body, ["CPU-bound: load", "req/s; higher is better", "200", "**★ 384**", "372"])
        html = render.to_html(blocks, "t")
        self.assertIn('<table id="verdict">', html)
        self.assertIn("<td><strong>★ 384</strong></td>", html)

    def test_rows_follow_the_workloads_order_and_empty_rows_are_left_out(self):
        rows = [Row("shared state", "s", "lost", LOWER, {"single": Figure(0, "none")}),
                Row("mixed", "m", "p99", LOWER, {}),
                Row("CPU-bound", "c", "req/s", HIGHER, {"single": Figure(1, "1")})]
        body = verdict.matrix(rows)[-1].items[1:]
        self.assertEqual([r[0] for r in body], ["CPU-bound: c", "shared state: s"])
        self.assertEqual(verdict.matrix([Row("mixed", "m", "p99", LOWER, {})]), [])

    def test_figures_leave_out_peers_and_cells_without_the_figure(self):
        cells = [cell("overhead", "nginx", rps=9e4), cell("overhead", "single", rps=8e4),
                 cell("overhead", "pool", rps=None)]
        self.assertEqual(verdict.rps_figures(cells), {"single": Figure(8e4, "80,000")})


class ScenarioRowsTest(unittest.TestCase):
    """Each scenario's rows, from measured cells made by hand."""

    def test_cpu_is_requests_per_second_at_the_most_workers(self):
        cells = [cell("cpu", "single", workers=1, rps=900.0), cell("cpu", "reactors", workers=1, rps=210.0),
                 cell("cpu", "single", workers=2, rps=205.0), cell("cpu", "reactors", workers=2, rps=401.0),
                 cell("cpu", "threads", workers=2, rps=399.0)]
        (r,) = get("cpu").verdict(cells)
        self.assertEqual((r.workload, r.better), ("CPU-bound", HIGHER))
        self.assertIn("2 workers", r.load)
        self.assertEqual({m: f.text for m, f in r.figures.items()}, {"single": "205", "reactors": "401",
                                                                     "threads": "399"})
        self.assertEqual(verdict.best(r), ("reactors",))

    def test_mixed_and_imbalance_are_the_p99_of_the_stream_that_waits(self):
        lat = lambda p99: {"p50": p99 / 2, "p99": p99}  # noqa: E731
        mixed = [cell("mixed", "single", "io", rps=1.0, latency_us=lat(95_000.0)),
                 cell("mixed", "offload", "io", rps=1.0, latency_us=lat(52_700.0)),
                 cell("mixed", "offload", "cpu", rps=1.0, latency_us=lat(1_000.0))]
        (r,) = get("mixed").verdict(mixed)
        self.assertEqual((r.better, r.figures["offload"].text, r.figures["single"].text), (LOWER, "52.7 ms", "95.0 ms"))
        self.assertEqual(verdict.best(r), ("offload",))
        light = [cell("imbalance", "reactors", "light", rps=1.0, latency_us=lat(19_400.0)),
                 cell("imbalance", "threads", "light", rps=1.0, latency_us=lat(3_100.0)),
                 cell("imbalance", "threads", "heavy", rps=1.0, latency_us=lat(900.0))]
        (r,) = get("imbalance").verdict(light)
        self.assertEqual(verdict.best(r), ("threads",))
        self.assertEqual(r.figures["reactors"].text, "19.4 ms")

    def test_io_rows_timer_waits_in_steady_state_and_blocking(self):
        sleep = [cell("io", m, "sleep", connections=1000, rps=9000.0,
                      littles_law={"steady_rps": s, "steady_bound_share": s / 10_000}) for m, s in
                 (("single", 9_920.0), ("threads", 9_990.0))]
        block = [cell("io", "single", "block", connections=1000, rps=8.5),
                 cell("io", "threads", "block", connections=1000, rps=8421.0)]
        rows = get("io").verdict(sleep + block)
        self.assertEqual([r.workload for r in rows], ["I/O-bound", "blocking I/O"])
        self.assertEqual(rows[0].figures["single"].text, "9,920 (99.2%)")
        self.assertEqual(verdict.best(rows[0]), ("threads",))
        self.assertEqual((rows[1].figures["single"].text, verdict.best(rows[1])), ("8.5", ("threads",)))

    def test_shared_state_is_the_share_of_updates_lost(self):
        def counter(mode, strategy, lost, workers=2):
            return cell("shared-state", mode, strategy, rps=100.0, workers=workers,
                        params={"kind": "counter", "strategy": strategy, "contention": "high", "n": 10},
                        shared_state={"lost": lost, "increments": 1000, "lost_share": lost / 1000,
                                      "lost_share_min": lost / 1000, "lost_share_max": lost / 1000, "repeats": 1})
        cells = [counter("single", "split", 0), counter("pool", "split", 124), counter("pool", "split", 0, workers=1),
                 counter("single", "await", 875), counter("pool", "await", 870)]
        split, aw = get("shared-state").verdict(cells)
        self.assertEqual((split.better, split.figures["single"].text, split.figures["pool"].text),
                         (LOWER, "none", "12.4%"))
        self.assertEqual(verdict.best(split), ("single",))
        self.assertEqual(verdict.best(aw), ("pool",))


class FromARunTest(unittest.TestCase):
    """The rows of a whole (synthetic) run, through the report."""

    def rows(self, cells):
        with ordered_by(catalog()):
            return report.verdict_rows(cells)

    def test_every_workload_of_the_run_in_order(self):
        rows = verdict.ordered(self.rows(synthetic_doc()["cells"]))
        self.assertEqual(list(dict.fromkeys(r.workload for r in rows)), list(verdict.WORKLOADS))
        by = {r.workload: r for r in rows}
        self.assertEqual(verdict.best(by["CPU-bound"]), ("reactors",))
        self.assertEqual(verdict.best(by["blocking I/O"]), ("threads",))
        self.assertEqual(verdict.best(by["mixed"]), ("offload",))
        self.assertNotIn("nginx", {m for r in rows for m in r.figures})

    def test_rows_of_scenarios_that_did_not_run_are_left_out(self):
        cells = [c for c in synthetic_doc()["cells"] if c.scenario in ("cpu", "mixed")]
        self.assertEqual([r.workload for r in self.rows(cells)], ["CPU-bound", "mixed"])

    def test_the_mark_follows_the_data(self):
        cells = synthetic_doc()["cells"]
        threads = next(c for c in cells if c.scenario == "cpu" and c.mode == "threads" and c.workers == 2)
        change(threads, rps=1_000.0)
        (cpu,) = [r for r in self.rows(cells) if r.workload == "CPU-bound"]
        self.assertEqual(verdict.best(cpu), ("threads",))
        self.assertEqual(cpu.figures["threads"].text, "1,000")


if __name__ == "__main__":
    unittest.main()
