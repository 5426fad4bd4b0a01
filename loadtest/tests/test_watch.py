"""Which runs a Watch reads the loops' health around: all, none, or those its predicate picks."""

import unittest
from dataclasses import dataclass
from types import SimpleNamespace
from unittest import mock

from cvplab import watch
from cvplab.scenarios.io import Io


@dataclass(frozen=True)
class _Cell:
    """What a Watch asks of a cell here: its variant (hashable, as plan.Cell is)."""

    variant: str

    @property
    def loads(self):
        """Its one load, whose variant the io scenario asks."""
        return (SimpleNamespace(variant=self.variant),)


class WatchHealthTest(unittest.TestCase):
    def reads(self, health, cell) -> int:
        server = SimpleNamespace(has_stats=True)
        with mock.patch.object(watch, "read_snapshot", return_value={"snapshot": 1}) as read, \
                mock.patch.object(watch, "delta", return_value={}):
            w = watch.Watch(health=health)
            w.begin(cell, server)
            w.end(cell, server)
        return read.call_count

    def test_a_predicate_picks_the_cells(self):
        sleep, block = _Cell("sleep"), _Cell("block")
        self.assertEqual(self.reads(True, block), 2, "before and after the run")
        self.assertEqual(self.reads(False, sleep), 0)
        self.assertEqual(self.reads(lambda c: c.loads[0].variant != "block", sleep), 2)
        self.assertEqual(self.reads(lambda c: c.loads[0].variant != "block", block), 0)

    def test_io_leaves_the_blocking_cells_alone(self):
        io = Io()
        self.assertTrue(io.watch.health(_Cell("sleep")))
        self.assertFalse(io.watch.health(_Cell("block")),
                         "a read after /io/block waits behind the requests queued on the blocked loop")


if __name__ == "__main__":
    unittest.main()
