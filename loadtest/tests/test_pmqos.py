"""The PM QoS holder: what it writes, that it keeps the file open while held and closes it after, and that a
file it cannot open or write is recorded, not raised."""

import os
import struct
import sys
import tempfile
import unittest
from pathlib import Path

from cvplab import pmqos


def open_fds() -> list[str]:
    """The paths this process has open, one per descriptor, from /proc/self/fd."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return out


class LatencyHoldTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = Path(self.tmp.name) / "cpu_dma_latency"
        self.path.write_bytes(b"")

    def tearDown(self):
        self.tmp.cleanup()

    def test_writes_a_native_int32_and_keeps_the_file_open_while_held(self):
        hold = pmqos.LatencyHold(0, self.path)
        record = hold.acquire()
        self.assertEqual(record, {"held": True, "value_us": 0, "path": str(self.path), "error": None})
        self.assertTrue(hold.held)
        self.assertIn(str(self.path), open_fds(), "the request lasts while the file is open")
        self.assertEqual(self.path.read_bytes(), struct.pack("=i", 0))
        self.assertEqual(len(self.path.read_bytes()), 4)
        hold.release()
        self.assertFalse(hold.held)
        self.assertNotIn(str(self.path), open_fds(), "released: the file is closed")
        hold.release()  # a second release does nothing

    def test_the_value_in_the_machines_byte_order(self):
        with pmqos.LatencyHold(20, self.path) as hold:
            self.assertTrue(hold.held)
            self.assertEqual(int.from_bytes(self.path.read_bytes(), sys.byteorder, signed=True), 20)
        self.assertFalse(hold.held)
        self.assertNotIn(str(self.path), open_fds())

    def test_acquire_again_holds_one_descriptor(self):
        hold = pmqos.LatencyHold(0, self.path)
        hold.acquire()
        hold.acquire()
        self.assertTrue(hold.held)
        self.assertEqual(open_fds().count(str(self.path)), 1, "the first request was closed before the second")
        hold.release()
        self.assertEqual(open_fds().count(str(self.path)), 0)

    def test_a_missing_file_is_recorded_not_raised(self):
        missing = Path(self.tmp.name) / "none"
        record = pmqos.LatencyHold(0, missing).acquire()
        self.assertFalse(record["held"])
        self.assertIn("cannot open", record["error"])
        self.assertFalse(missing.exists(), "write-only, without O_CREAT: nothing is created")

    def test_a_directory_is_recorded_not_raised(self):
        record = pmqos.LatencyHold(0, self.tmp.name).acquire()
        self.assertFalse(record["held"])
        self.assertIn("Is a directory", record["error"])

    @unittest.skipIf(os.geteuid() == 0, "root may write a read-only file")
    def test_a_file_without_permission_is_recorded(self):
        self.path.chmod(0o444)
        record = pmqos.LatencyHold(0, self.path).acquire()
        self.assertFalse(record["held"])
        self.assertIn("Permission denied", record["error"])

    def test_a_negative_value_is_refused(self):
        with self.assertRaises(ValueError):
            pmqos.LatencyHold(-1, self.path)


@unittest.skipUnless(os.access(pmqos.DEVICE, os.R_OK | os.W_OK), f"{pmqos.DEVICE} is not writable here (not root?)")
class DeviceTest(unittest.TestCase):
    """On the real device: while held, the kernel's CPU latency target (read back from the device) is 0."""

    def test_the_kernel_target_is_zero_while_held(self):
        with pmqos.LatencyHold(0) as hold:
            self.assertTrue(hold.held, hold.record)
            with open(pmqos.DEVICE, "rb") as f:
                target = int.from_bytes(f.read(4), sys.byteorder, signed=True)
            self.assertEqual(target, 0, "the aggregate request of every holder is the lowest: ours")


if __name__ == "__main__":
    unittest.main()
