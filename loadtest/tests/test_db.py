"""The db scenario: its plan (every model, Node with pg and pgbench over one database), pgbench's script
and summary, the database's CPU over its process tree, and the scenario's sentences and checks on
synthetic cells."""

import os
import subprocess
import sys
import unittest
from dataclasses import replace

from cvplab import database, plan, procs
from cvplab.cpus import Placement
from cvplab.profiles import QUICK
from cvplab.scenarios import db
from cvplab.servers import ServerSpec
from tests.fakes import catalog, change, synthetic_doc
from tests.test_plan import settings


def build(**kw) -> plan.Plan:
    return plan.build(settings(scenarios=("db",), **kw))


class PlanTest(unittest.TestCase):
    def test_three_points_every_model_and_the_peers_beside_them(self):
        p = build(node=True, node_db=True)
        self.assertEqual(len(p.groups), 1)
        points = p.groups[0].points
        self.assertEqual([{l.variant for c in pt for l in c.loads} for pt in points],
                         [{"query"}, {"queries"}, {"blocking"}])
        models = list(catalog().names)
        self.assertEqual([c.mode for c in points[0]], models + ["node", "pgbench"])
        self.assertEqual([c.mode for c in points[1]], models + ["node", "pgbench"])
        self.assertEqual([c.mode for c in points[2]], models, "only cvp has a blocking driver to compare")
        paths = [{c.loads[0].path for c in pt if c.mode != "pgbench"} for pt in points]
        self.assertEqual(paths, [{"/db/query"}, {"/db/queries?n=20"}, {"/db/query-blocking"}])

    def test_one_database_for_every_server_with_pools_as_the_profile_says(self):
        p = build(node=True, node_db=True)
        specs = p.groups[0].servers
        self.assertEqual({sp.database for sp in specs}, {database.DatabaseSpec((1,))},
                         "two CPUs: the database shares the client CPU with wrk, never the front's")
        for sp in specs:
            if sp.label in catalog().names:
                flags = list(sp.flags)
                self.assertEqual(flags[flags.index("--db-connections") + 1], str(QUICK.params("db").db_connections))
                self.assertEqual(sp.cpus, (0,))
        node = next(sp for sp in specs if sp.label == "node")
        self.assertEqual(dict(node.env), {"PG_POOL_SIZE": "16"})
        bench = next(sp for sp in specs if sp.label == "pgbench")
        self.assertEqual(bench.cpus, (0,), "pgbench stands where the front servers stand")
        streams = [c.loads[0].stream for c in p.cells if c.mode == "pgbench"]
        self.assertEqual([(s.connections, s.queries) for s in streams], [(16, 1), (16, 20)],
                         "as many connections as the pools may open, the same queries per request")
        self.assertTrue(all(not c.read_stats for c in p.cells if c.mode == "pgbench"))
        self.assertTrue(all(any("shares CPU 1 with wrk" in n for n in c.notes) for c in p.cells), "and says so")

    def test_with_three_server_cpus_the_database_gets_one_of_its_own(self):
        p = build(placement=Placement((0, 1, 2), (3,)))
        specs = p.groups[0].servers
        self.assertEqual({sp.database.cpus for sp in specs}, {(2,)})
        fronts = [sp for sp in specs if sp.label in catalog().names]
        self.assertTrue(all(sp.cpus == (0, 1) and sp.workers == 2 for sp in fronts))
        self.assertEqual(next(sp for sp in specs if sp.label == "pgbench").cpus, (0, 1))
        self.assertTrue(all(not c.notes for c in p.cells), "nothing shares the database's CPU")
        bench = [c.loads[0].stream.connections for c in p.cells if c.mode == "pgbench"]
        self.assertEqual(set(bench), {32}, "two loops' pools of 16 at most")

    def test_node_without_node_postgres_is_left_out_and_said_so(self):
        p = build(node=True, node_db=False, node_db_left_out="npm ci failed")
        self.assertNotIn("node", {c.mode for c in p.cells})
        self.assertIn({"scenario": "db", "what": "node", "reason": "npm ci failed"}, p.skipped)

    def test_no_postgres_skips_the_scenario_with_the_reason(self):
        p = build(database_left_out="PostgreSQL's server binaries are not installed")
        self.assertEqual(p.cells, [])
        self.assertEqual(p.skipped, [{"scenario": "db", "what": "the scenario",
                                      "reason": "PostgreSQL's server binaries are not installed"}])

    def test_a_remote_target_is_skipped(self):
        target = ServerSpec("reactors", (), (), 2)
        p = build(target=target)
        self.assertEqual(p.cells, [])
        self.assertEqual(p.skipped[0]["scenario"], "db")

    def test_the_estimate_counts_the_database_start(self):
        with_db, without = build(), plan.build(settings(scenarios=("overhead",)))
        self.assertGreaterEqual(with_db.estimate_s() - plan.FIXED_S,
                                plan.DATABASE_START_S + sum(c.estimate_run_s() * 3 for c in with_db.cells))
        self.assertTrue(without.cells)


class PgbenchTest(unittest.TestCase):
    def test_one_query_is_the_statement_db_query_prepares(self):
        script = database.PgbenchStream("main", 16, 1, 1).script()
        self.assertEqual(script, "\\set id0 random(1, 10000)\nSELECT id, randomnumber FROM world WHERE id = :id0;\n")

    def test_many_queries_go_in_one_pipeline(self):
        lines = database.PgbenchStream("main", 16, 1, 3).script().splitlines()
        self.assertEqual(lines[:3], [f"\\set id{i} random(1, 10000)" for i in range(3)])
        self.assertEqual(lines[3], "\\startpipeline")
        self.assertEqual(lines[4:7], [f"SELECT id, randomnumber FROM world WHERE id = :id{i};" for i in range(3)])
        self.assertEqual(lines[7], "\\endpipeline")

    def test_the_command_is_pinned_prepared_and_skips_vacuum(self):
        argv = database.pgbench_command("pgbench", database.PgbenchStream("main", 16, 1, 1), "/x.sql",
                                        "host=127.0.0.1 port=5 dbname=cvp user=cvp", 2, (1,))
        self.assertEqual(argv[:3], ["taskset", "-c", "1"])
        bench = argv[3:]  # after taskset's own -c
        for pair in (["-M", "prepared"], ["-c", "16"], ["-j", "1"], ["-T", "2"], ["-f", "/x.sql"]):
            i = bench.index(pair[0])
            self.assertEqual(bench[i:i + 2], pair)
        self.assertIn("-n", argv)
        self.assertEqual(argv[-1], "host=127.0.0.1 port=5 dbname=cvp user=cvp")

    SUMMARY = """pgbench (15.14 (Debian 15.14-0+deb12u1))
transaction type: /tmp/q.sql
scaling factor: 1
query mode: prepared
number of clients: 16
number of threads: 1
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: 40000
number of failed transactions: 3 (0.007%)
latency average = 0.800 ms
initial connection time = 20.500 ms
tps = 20000.000000 (without initial connection time)
"""

    def test_the_summary_gives_transactions_failures_latency_and_seconds(self):
        got = database.parse_pgbench(self.SUMMARY)
        self.assertEqual(got, {"transactions": 40000, "failed": 3, "latency_ms": 0.8, "duration_s": 2.0})

    def test_a_summary_without_tps_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "tps"):
            database.parse_pgbench(self.SUMMARY.replace("tps =", "rate ="))


class TreeCpuTest(unittest.TestCase):
    def test_a_reaped_child_and_a_live_one_count(self):
        # The parent forks a child that burns 0.3 s of CPU and exits (reaped: the parent's cutime), then a
        # second one that burns as much and stays, then prints and waits to be told to go.
        code = """
import os, sys, time
def burn():
    t = time.process_time()
    while time.process_time() - t < 0.3:
        pass
pid = os.fork()
if pid == 0:
    burn(); os._exit(0)
os.waitpid(pid, 0)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(w); burn(); os.read(r, 1); os._exit(0)
os.close(r)
while True:
    f = open(f"/proc/{pid}/stat").read().split(")")[1].split()
    if (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK") >= 0.29:
        break
    time.sleep(0.01)
print("ready", flush=True)
sys.stdin.readline()
os.write(w, b"x"); os.waitpid(pid, 0)
"""
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(proc.stdout.readline().strip(), "ready")
            own = procs.tree_cpu_s(os.getpid())
            tree = procs.tree_cpu_s(proc.pid)
            self.assertGreaterEqual(tree, 0.58, "both children's CPU: the reaped one's from the parent's cutime")
            self.assertTrue(procs.is_running(proc.pid))
            self.assertGreater(own, 0)
        finally:
            proc.communicate("\n", timeout=30)
        self.assertFalse(procs.is_running(proc.pid))


def db_cells(good: bool = True) -> list:
    return db.select_cells(synthetic_doc(good)["cells"])


class ReportTest(unittest.TestCase):
    def test_the_checks_are_met_on_a_healthy_run(self):
        checks = db.SCENARIO.checks(db_cells())
        self.assertEqual([c.verdict for c in checks], ["met", "met", "met"], [c.figure for c in checks])
        self.assertIn("1.5× Node", checks[0].expectation)
        self.assertIn("0.5× pgbench", checks[1].expectation)
        self.assertIn("/db/queries?n=20", checks[2].expectation)

    def test_a_slow_front_misses_and_says_where_the_cpu_went(self):
        cells = db_cells()
        for c in cells:
            if c.mode in catalog().names and c.variant == "query":
                change(c, rps=c.rps / 4)
        verdicts = {c.expectation: c for c in db.SCENARIO.checks(cells)}
        node = next(c for e, c in verdicts.items() if "Node" in e and "/db/query`" in e)
        self.assertEqual(node.verdict, "missed")
        self.assertTrue(any("µs per query" in w for w in node.why), node.why)

    def test_the_sentences_name_the_ratios_and_littles_law_over_single(self):
        cells = db_cells()
        text = " ".join(db.sentences(cells))
        single = next(c for c in cells if c.mode == "single" and c.variant == "blocking")
        trip_us = 1e6 / single.rps
        threads = next(c for c in cells if c.mode == "threads" and c.variant == "blocking")
        self.assertIn(f"threads {threads.rps * trip_us / 1e6:.1f}", text)
        self.assertIn("× Node with pg", text)
        self.assertIn("pgbench's", text)
        self.assertIn("PostgreSQL on CPU 1 (shared with wrk", text)

    def test_the_database_cpu_is_per_query(self):
        cells = db_cells()
        many = next(c for c in cells if c.mode == "reactors" and c.variant == "queries")
        self.assertAlmostEqual(db.db_us_per_query(many), many.downstream["server_cpu_us_per_request"] / 20)
        one = replace(many, params=dict(many.params, queries=1))
        self.assertAlmostEqual(db.db_us_per_query(one), many.downstream["server_cpu_us_per_request"])


if __name__ == "__main__":
    unittest.main()
