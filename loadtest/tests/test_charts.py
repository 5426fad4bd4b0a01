"""The charts' shared helpers: each mode's marks, the sideways dodge, direct labels that do not overlap, panels."""

import importlib.util
import unittest

from cvplab import charts
from cvplab.query import ordered_by
from tests.fakes import catalog

HAVE_MPL = importlib.util.find_spec("matplotlib") is not None


class MarksTest(unittest.TestCase):
    def test_every_model_has_its_own_marker_and_line_style(self):
        with ordered_by(catalog()):
            names = catalog().names
            self.assertEqual(len({charts.marker(m) for m in names}), len(names))
            self.assertEqual(len({str(charts.linestyle(m)) for m in names}), len(names))

    def test_dodge_is_centred_and_evenly_spaced(self):
        modes = ["single", "reactors", "offload"]
        self.assertEqual([charts.dodge(m, modes, 0.1) for m in modes], [-0.1, 0.0, 0.1])


@unittest.skipUnless(HAVE_MPL, "matplotlib is not available to this Python (Debian: python3-matplotlib)")
class LayoutTest(unittest.TestCase):
    def test_labels_at_one_height_are_pushed_apart_within_the_axes(self):
        plt = charts.pyplot()
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot([1, 2], [0, 100])
        with ordered_by(catalog()):
            charts.label_ends(ax, [(m, 2, 100, m) for m in ("single", "reactors", "offload", "pool")], gap_pt=10)
        fig.canvas.draw()
        to_pt = 72.0 / fig.dpi
        ys = sorted(t.get_window_extent().y0 * to_pt for t in ax.texts)
        top = ax.get_window_extent().y1 * to_pt
        self.assertEqual(len(ys), 4)
        self.assertTrue(all(b - a >= 9.5 for a, b in zip(ys, ys[1:])), ys)
        self.assertLessEqual(max(t.get_window_extent().y1 for t in ax.texts) * to_pt, top + 10)
        plt.close(fig)

    def test_a_panel_per_model_and_one_for_the_legend(self):
        fig, panels, key = charts.panel_grid(5)
        self.assertEqual(len(panels), 5)
        self.assertNotIn(key, panels)
        self.assertEqual(len(fig.axes), 6)
        charts.pyplot().close(fig)


if __name__ == "__main__":
    unittest.main()
