import os
import resource
import subprocess
import sys
import time
import unittest
from pathlib import Path

from cvplab import procs


def live_in_group(pgid: int) -> list[int]:
    """Processes in a process group that are not zombies (an orphan's zombie waits for init to reap it)."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(pid))
    return out


class RegistryTest(unittest.TestCase):
    def test_stop_all_kills_the_whole_group(self):
        registry = procs.ProcessRegistry()
        # A shell whose child would outlive it if only the shell were killed.
        proc = registry.spawn(["sh", "-c", "sleep 300 & wait"], name="sleeper", stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        time.sleep(0.2)
        self.assertEqual(os.getpgid(proc.pid), proc.pid, "each child leads its own process group")
        self.assertEqual(registry.stop_all(grace_s=0.5), ["sleeper"])
        self.assertIsNotNone(proc.returncode)
        time.sleep(0.1)
        self.assertEqual(live_in_group(proc.pid), [])
        self.assertEqual(len(registry), 0)

    def test_wait_with_rusage_counts_child_cpu(self):
        registry = procs.ProcessRegistry()
        started = time.monotonic()
        proc = registry.spawn([sys.executable, "-c", "import time\nwhile time.process_time() < 0.3: pass"],
                              name="busy", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        exit_ = procs.wait_with_rusage(proc, started=started, timeout_s=10, registry=registry)
        self.assertEqual(exit_.returncode, 0)
        self.assertGreaterEqual(exit_.cpu_s, 0.3)
        self.assertGreaterEqual(exit_.wall_s, exit_.cpu_s * 0.9)
        self.assertEqual(len(registry), 0)

    def test_wait_times_out(self):
        registry = procs.ProcessRegistry()
        proc = registry.spawn(["sleep", "30"], name="sleep", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with self.assertRaises(subprocess.TimeoutExpired):
            procs.wait_with_rusage(proc, started=time.monotonic(), timeout_s=0.1, registry=registry)
        registry.stop_all(0.1)


class CpuAccountingTest(unittest.TestCase):
    def test_group_cpu_grows_with_work(self):
        registry = procs.ProcessRegistry()
        proc = registry.spawn([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<5: pass"],
                              name="busy", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            first = procs.group_cpu_s(proc.pid)
            deadline = time.monotonic() + 5
            while procs.group_cpu_s(proc.pid) - first < 0.1 and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertGreaterEqual(procs.group_cpu_s(proc.pid) - first, 0.1)
        finally:
            registry.stop_all(0.1)
        self.assertEqual(procs.group_cpu_s(proc.pid), 0.0)

    def test_a_thread_that_has_exited_still_counts(self):
        """The threads model ends a connection's thread with it; its CPU time must not leave the sum."""
        registry = procs.ProcessRegistry()
        code = ("import sys, threading, time\n"
                "def burn():\n    t = time.thread_time()\n    while time.thread_time() - t < 0.4: pass\n"
                "th = threading.Thread(target=burn); th.start(); th.join()\n"
                "print('done', flush=True)\ntime.sleep(30)")
        proc = registry.spawn([sys.executable, "-c", code], name="burner", stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
        try:
            self.assertEqual(proc.stdout.readline(), b"done\n")
            tasks = os.listdir(f"/proc/{proc.pid}/task")
            self.assertEqual(len(tasks), 1, "the burning thread is gone")
            live = int(Path(f"/proc/{proc.pid}/task/{tasks[0]}/schedstat").read_text().split()[0]) / 1e9
            self.assertLess(live, 0.3, "the live thread alone did not burn it")
            self.assertGreaterEqual(procs.group_cpu_s(proc.pid), 0.37, "utime + stime keep the exited thread's")
        finally:
            registry.stop_all(0.1)
            proc.stdout.close()


class ContextSwitchesTest(unittest.TestCase):
    def test_every_thread_is_counted_apart(self):
        registry = procs.ProcessRegistry()
        code = ("import threading, time\n"
                "def nap():\n    for _ in range(20): time.sleep(0.001)\n    time.sleep(30)\n"
                "for _ in range(3): threading.Thread(target=nap, daemon=True).start()\n"
                "time.sleep(0.2); print('ready', flush=True); time.sleep(30)")
        proc = registry.spawn([sys.executable, "-c", code], name="napper", stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
        try:
            self.assertEqual(proc.stdout.readline(), b"ready\n")
            switches = procs.task_switches(proc.pid)
            self.assertEqual(len(switches), 4, "the main thread and three others")
            self.assertTrue(all(k.startswith(f"{proc.pid}/") for k in switches))
            naps = [v for k, (v, _) in switches.items() if k != f"{proc.pid}/{proc.pid}"]
            self.assertTrue(all(v >= 20 for v in naps), f"each thread slept 20 times and more: {naps}")
            main = Path(f"/proc/{proc.pid}/status").read_text()
            leader = int(next(l for l in main.splitlines() if l.startswith("voluntary_ctxt_switches")).split()[1])
            self.assertLess(leader, sum(v for v, _ in switches.values()), "/proc/<pid>/status has the leader's only")
        finally:
            registry.stop_all(0.1)
            proc.stdout.close()
        self.assertEqual(procs.task_switches(proc.pid), {})


class MemoryTest(unittest.TestCase):
    def test_group_rss_grows_with_what_the_group_holds(self):
        registry = procs.ProcessRegistry()
        proc = registry.spawn([sys.executable, "-c", "import sys, time\nb = bytearray(64 << 20)\nfor i in range(0, "
                               "len(b), 4096): b[i] = 1\nprint('ready', flush=True)\ntime.sleep(30)"],
                              name="holder", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            self.assertEqual(proc.stdout.readline(), b"ready\n")
            self.assertGreater(procs.group_rss_bytes(proc.pid), 64 << 20)
            self.assertEqual(procs.group_rss_bytes(proc.pid), procs.rss_bytes(proc.pid), "one process in its group")
        finally:
            registry.stop_all(0.1)
            proc.stdout.close()
        self.assertIsNone(procs.rss_bytes(proc.pid))
        self.assertEqual(procs.group_rss_bytes(proc.pid), 0)

    def test_spawn_adds_to_the_environment(self):
        registry = procs.ProcessRegistry()
        proc = registry.spawn([sys.executable, "-c", "import os; print(os.environ['CVPLAB_T'], 'PATH' in os.environ)"],
                              name="env", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={"CVPLAB_T": "x"})
        out, _ = proc.communicate(timeout=10)
        registry.reaped(proc)
        self.assertEqual(out, b"x True\n")


class MachineLoadTest(unittest.TestCase):
    def test_busy_time_only_grows(self):
        first = procs.system_busy_s()
        self.assertGreaterEqual(procs.system_busy_s(), first)
        self.assertGreaterEqual(procs.background_cpus(0.05), 0.0)


class FileLimitTest(unittest.TestCase):
    def test_raise_up_to_hard(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:
            limit = procs.raise_file_limit(needed=1000)
            self.assertEqual(limit.hard, hard)
            if hard != resource.RLIM_INFINITY:
                self.assertEqual(limit.soft, hard)
            self.assertEqual(limit.enough, limit.soft >= 1000)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    def test_not_enough_is_reported(self):
        limit = procs.FileLimit(soft=1024, hard=1024, needed=10_064)
        self.assertFalse(limit.enough)


if __name__ == "__main__":
    unittest.main()
