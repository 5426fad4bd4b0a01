import tempfile
import unittest
from pathlib import Path

from cvplab.cpus import (CgroupLimits, Placement, default_placement, format_cpu_list, parse_cpu_list,
                         read_cgroup_limits, usable_cpus)


class CpuListTest(unittest.TestCase):
    def test_parse(self):
        self.assertEqual(parse_cpu_list("0"), (0,))
        self.assertEqual(parse_cpu_list("0-3,8,10-11\n"), (0, 1, 2, 3, 8, 10, 11))
        self.assertEqual(parse_cpu_list("3,1,1-2"), (1, 2, 3))

    def test_parse_rejects(self):
        for bad in ("", "a", "1-", "3-1", "-1", "1,,2x"):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                parse_cpu_list(bad)

    def test_format_round_trip(self):
        self.assertEqual(format_cpu_list((0, 1, 2, 5, 7, 8)), "0-2,5,7-8")
        self.assertEqual(format_cpu_list([1]), "1")
        self.assertEqual(parse_cpu_list(format_cpu_list((0, 2, 3, 4, 9))), (0, 2, 3, 4, 9))


class PlacementTest(unittest.TestCase):
    def test_two_cpus_are_split(self):
        p = default_placement((0, 1))
        self.assertEqual((p.server, p.client), ((0,), (1,)))
        self.assertTrue(p.disjoint)

    def test_one_cpu_is_shared(self):
        p = default_placement((3,))
        self.assertEqual((p.server, p.client), ((3,), (3,)))
        self.assertFalse(p.disjoint)

    def test_eight_cpus_give_wrk_a_quarter(self):
        p = default_placement(tuple(range(8)))
        self.assertEqual(p.client, (6, 7))
        self.assertEqual(p.server, tuple(range(6)))

    def test_scaling_takes_server_cpus_first(self):
        p = Placement((0,), (1,))
        self.assertEqual(p.server_cpus_for(1), (0,))
        self.assertEqual(p.server_cpus_for(2), (0, 1))
        self.assertEqual(p.server_cpus_for(5), (0, 1))
        self.assertEqual(Placement((2, 3), (0,)).server_cpus_for(3), (0, 2, 3))


class CgroupTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def test_v1_quota_and_cpuset(self):
        self.write("proc/self/cgroup", "3:cpuset:/\n2:cpu,cpuacct:/docker/abc\n")
        self.write("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n")
        self.write("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n")
        self.write("sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us", "150000\n")
        self.write("sys/fs/cgroup/cpu/docker/abc/cpu.cfs_period_us", "100000\n")
        self.write("sys/fs/cgroup/cpuset/cpuset.cpus", "0-1\n")
        limits = read_cgroup_limits(self.root)
        self.assertEqual(limits, CgroupLimits("v1", 1.5, "0-1"))
        self.assertEqual(usable_cpus((0, 1, 2, 3), limits), 2)

    def test_v1_path_missing_in_container_falls_back_to_root(self):
        self.write("proc/self/cgroup", "2:cpu:/host/path/not/mounted\n")
        self.write("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "50000\n")
        self.write("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n")
        limits = read_cgroup_limits(self.root)
        self.assertEqual(limits.quota_cpus, 0.5)
        self.assertEqual(usable_cpus((0, 1), limits), 1)

    def test_v2_unlimited_and_limited(self):
        self.write("proc/self/cgroup", "0::/app\n")
        self.write("sys/fs/cgroup/cgroup.controllers", "cpu cpuset\n")
        self.write("sys/fs/cgroup/app/cpu.max", "max 100000\n")
        self.assertEqual(read_cgroup_limits(self.root).quota_cpus, None)
        self.write("sys/fs/cgroup/app/cpu.max", "250000 100000\n")
        self.write("sys/fs/cgroup/app/cpuset.cpus.effective", "0-3\n")
        self.assertEqual(read_cgroup_limits(self.root), CgroupLimits("v2", 2.5, "0-3"))

    def test_nothing_readable(self):
        self.assertEqual(read_cgroup_limits(self.root), CgroupLimits("none", None, None))
        self.assertEqual(usable_cpus((0, 1), CgroupLimits("none", None, None)), 2)


if __name__ == "__main__":
    unittest.main()
