import tempfile
import unittest
from pathlib import Path

from cvplab import manifest
from cvplab.cpus import CgroupLimits, Placement
from cvplab.procs import FileLimit
from cvplab.profiles import QUICK


class PiecesTest(unittest.TestCase):
    def test_cpu_model(self):
        text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n"
        self.assertEqual(manifest.cpu_model(text), "Intel(R) Xeon(R) Processor")

    def test_cmake_cache_and_boost(self):
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "CMakeCache.txt").write_text(
                "# comment\nCMAKE_BUILD_TYPE:STRING=Release\nCMAKE_CXX_COMPILER:FILEPATH=/usr/bin/c++\n"
                "Boost_DIR:PATH=/usr/lib/x86_64-linux-gnu/cmake/Boost-1.81.0\n")
            cache = manifest.cmake_cache(Path(tmp))
        self.assertEqual(cache["CMAKE_BUILD_TYPE"], "Release")
        self.assertEqual(manifest.boost_version(cache), "1.81.0")
        self.assertEqual(manifest.cmake_cache(Path("/nonexistent")), {})


class CollectTest(unittest.TestCase):
    def test_required_facts(self):
        m = manifest.collect(repo=Path(__file__).resolve().parents[2], argv=["loadtest/lab", "--quick"],
                             options={"profile": "quick"}, profile=QUICK, placement=Placement((0,), (1,)),
                             allowed=(0, 1), limits=CgroupLimits("v1", None, "0-1"), usable=2,
                             file_limit=FileLimit(20_000, 20_000, 1_064), wrk_version="wrk 4.1.0",
                             server_binary=Path("/x/build/release/cvp-server"), target=None)
        self.assertEqual(m["lab"]["argv"], ["loadtest/lab", "--quick"])
        self.assertEqual(m["lab"]["profile"]["name"], "quick")
        for key in ("cpu_model", "cpus_allowed", "cgroup", "usable_cpus", "kernel"):
            self.assertIn(key, m["host"])
        for key in ("compiler", "boost", "wrk"):
            self.assertIn(key, m["tools"])
        self.assertIn("commit", m["git"])
        self.assertTrue(m["limits"]["nofile_enough"])
        self.assertEqual(m["placement"], {"server_cpus": "0", "client_cpus": "1", "disjoint": True})
        self.assertEqual(m["status"], "running")
        self.assertIn("exited", m["accounting"]["server_cpu"], "threads that end with their connection still count")
        self.assertIn("task/*/status", m["accounting"]["footprint"])
        manifest.finish(m, status="complete", wall_s=12.34)
        self.assertEqual((m["status"], m["wall_s"]), ("complete", 12.3))
        self.assertIsNotNone(m["finished_at"])


if __name__ == "__main__":
    unittest.main()
