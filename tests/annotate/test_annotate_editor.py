"""The editor's figure: a capped number of outlines, the rest counted, a legend of what is
drawn, an inset that hides no outline, and the composition of the labelled changes."""

from __future__ import annotations

import numpy as np
from shapely.geometry import box

from sitewatch.annotate.figures import before_after
from sitewatch.annotate.inset import callout_text
from sitewatch.annotate.overlay import minor_label
from sitewatch.detectors.composition import composition_text
from sitewatch.detectors.polygons import regions_from_mask
from sitewatch.types import ChangeType

from .annotate_helpers import find_gid, render


def _busy(rgb_pair):
    """40 square regions of falling size over a 120 x 160 panel; the largest are mixed."""
    before, after = rgb_pair(shape=(120, 160))
    types = np.zeros(before.shape, "uint8")
    k = 0
    for r in range(4, 116, 14):
        for c in range(4, 156, 20):
            if k == 40:
                break
            side = max(2, 10 - k // 5)
            block = types[r:r + side, c:c + side]
            block[:] = ChangeType.ROOF if k % 3 else ChangeType.PAVING
            if k < 6:  # a mixed region: vegetation, paving and roof in thirds
                block[:, : side // 3] = ChangeType.VEGETATION
                block[:, side // 3: 2 * side // 3] = ChangeType.PAVING
                block[:, 2 * side // 3:] = ChangeType.ROOF
            k += 1
    regions = regions_from_mask(types > 0, before.transform, before.crs, change_type=types)
    return before, after, types, regions


def test_outlines_are_capped_and_the_rest_is_a_counted_fill(rgb_pair):
    before, after, types, regions = _busy(rgb_pair)
    assert len(regions) == 40
    fig = before_after(before, after, change_type=types, regions=regions, outlines=25,
                       inset=True, callouts=3, preset="double")
    render(fig)
    ax = fig.axes[1]
    outlined = [p for p in ax.patches if str(p.get_gid()).startswith("change-")
                and p.get_gid() != "change-minor"]
    rings = sum(int((p.get_path().codes == 1).sum()) for p in outlined)  # MOVETO per ring
    assert rings == sum(len(getattr(r.geometry, "geoms", [r.geometry])) for r in regions[:25])
    assert len(find_gid(fig, "change-minor")) >= 1
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    drawn = sorted({r.change_type for r in regions[:25]})
    assert labels == [ChangeType(c).label for c in drawn] + [minor_label(15)]
    assert "demolition" not in labels and "water change" not in labels


def test_the_inset_hides_no_outline_and_the_key_gives_compositions(rgb_pair):
    before, after, types, regions = _busy(rgb_pair)
    fig = before_after(before, after, change_type=types, regions=regions, outlines=25,
                       inset=True, callouts=3, preset="web")
    render(fig)
    ax = fig.axes[1]
    (inset,) = [a for a in ax.child_axes if a.get_gid() == "zoom-inset"]
    (x0, y0), (x1, y1) = ax.transData.inverted().transform(
        inset.get_window_extent().get_points())
    footprint = box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    hidden = [r.id for r in regions[1:25] if r.geometry.intersects(footprint)]
    assert hidden == []
    (key,) = find_gid(fig, "composition-key")
    assert regions[0].change_type == ChangeType.MIXED
    first = key.get_text().replace("\n", " ")
    r0 = regions[0]
    assert first.startswith(f"{callout_text(r0)}: {composition_text(r0.composition)}")
