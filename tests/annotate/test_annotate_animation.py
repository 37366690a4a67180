"""Timelapse: one frame per epoch, distinct date labels, one stretch, overlay, MP4."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from sitewatch.annotate.animation import find_ffmpeg, render_frames, timelapse, write_mp4
from sitewatch.annotate.style import CHANGE_COLOURS
from sitewatch.types import ChangeType

from .annotate_helpers import hex_rgb


def _epochs(rgb_pair, n=5):
    before, _ = rgb_pair(shape=(40, 50))
    eps = []
    for i in range(n):
        eps.append(before.with_data(before.data, dates=(f"{2020 + i}-06-15",),
                                    attrs={"epoch": f"{2020 + i}"}))
    return eps


def _gif_frames(path):
    with Image.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(np.asarray(im.convert("RGB")).astype(int))
        return im.n_frames, out


def test_gif_has_one_frame_per_epoch_with_distinct_date_labels(rgb_pair, tmp_path):
    eps = _epochs(rgb_pair)
    eps[2] = None  # a gap keeps its frame
    paths = timelapse(eps, tmp_path / "site", mp4=False, width_px=400,
                      labels=["2020", "2021", "2022", "2023", "2024"])
    n, frames = _gif_frames(paths["gif"])
    assert n == len(eps) == 5
    # identical pixels in every non-gap epoch: frames may differ only where the date is written
    rows_changed = [np.flatnonzero((a != b).any(axis=(1, 2)))
                    for a, b in itertools.combinations(frames, 2)]
    assert all(r.size > 0 for r in rows_changed)  # every pair of frames differs
    top = frames[0].shape[0] * 0.12  # ... in the caption band above the panel
    for (i, j), rows in zip(itertools.combinations(range(5), 2), rows_changed, strict=True):
        if 2 not in (i, j):  # same image, same stretch: only the caption differs
            assert rows.max() < top, (i, j, rows.max())


def test_frames_carry_the_epoch_and_date_as_caption(rgb_pair):
    from matplotlib.figure import Figure

    captured = []
    real_draw = Figure.draw

    def spy(self, renderer):
        captured.append([t.get_text() for t in self.findobj(
            lambda a: a.get_gid() in ("frame-date", "attribution"))])
        return real_draw(self, renderer)

    eps = _epochs(rgb_pair, 3)
    Figure.draw = spy
    try:
        frames = render_frames(eps, width_px=300)
    finally:
        Figure.draw = real_draw
    assert len(frames) == 3
    dates = [next(t for t in c if "·" in t and "Copernicus" not in t) for c in captured]
    assert dates == ["2020 · 2020-06-15", "2021 · 2021-06-15", "2022 · 2022-06-15"]
    for c in captured:  # every frame credits every year shown
        assert any("Contains modified Copernicus Sentinel data 2020-2022" in t for t in c)


def test_same_stretch_on_every_frame(rgb_pair):
    eps = _epochs(rgb_pair, 2)
    brighter = eps[1].with_data(eps[1].data + 0.04)
    f_same = render_frames([eps[0], eps[1]], width_px=300)
    f_diff = render_frames([eps[0], brighter], width_px=300)
    h = f_same[0].shape[0]
    body = slice(int(h * 0.2), int(h * 0.7))
    assert np.array_equal(f_same[0][body], f_same[1][body])
    assert f_diff[1][body].mean() > f_diff[0][body].mean() + 10  # brighter stays brighter


def test_cumulative_overlay_grows_with_first_change(rgb_pair):
    eps = _epochs(rgb_pair, 3)
    first = np.full(eps[0].shape, -1)
    first[5:15, 5:15] = 1
    first[25:35, 30:45] = 2
    types = np.zeros(eps[0].shape, "uint8")
    types[5:15, 5:15] = ChangeType.PAVING
    types[25:35, 30:45] = ChangeType.ROOF
    frames = render_frames(eps, first_change=first, change_type=types, overlay="outline",
                           width_px=400)

    def count(frame, code):
        return int((np.abs(frame.astype(int) - hex_rgb(CHANGE_COLOURS[code])).max(axis=-1)
                    <= 3).sum())

    # the legend shows both colours on every frame; the map adds them as epochs pass
    paving = [count(f, ChangeType.PAVING) for f in frames]
    roof = [count(f, ChangeType.ROOF) for f in frames]
    assert paving[0] < paving[1] == paving[2]
    assert roof[0] == roof[1] < roof[2]
    assert paving[0] > 0 and roof[0] > 0  # legend entries


def test_mp4_written_when_an_encoder_exists(rgb_pair, tmp_path):
    if find_ffmpeg() is None:
        pytest.skip("no ffmpeg on PATH and imageio-ffmpeg not installed: MP4 is optional")
    paths = timelapse(_epochs(rgb_pair, 3), tmp_path / "t", width_px=301)  # odd width
    data = paths["mp4"].read_bytes()
    assert data[4:8] == b"ftyp" and len(data) > 1000


def test_mp4_skipped_cleanly_without_encoder(rgb_pair, tmp_path):
    frames = render_frames(_epochs(rgb_pair, 2), width_px=200)
    assert write_mp4(frames, tmp_path / "x.mp4", ffmpeg=str(tmp_path / "no-ffmpeg")) is None
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_gif_palette_keeps_the_house_colours_exact():
    import io

    from sitewatch.annotate.animation import encode_gif

    rng = np.random.default_rng(12345)
    frames = [rng.integers(0, 256, (60, 80, 3), dtype=np.uint8) for _ in range(3)]
    for f in frames:  # small patches of every change colour in a busy image
        for k, colour in enumerate(CHANGE_COLOURS.values()):
            f[2:5, 2 + 8 * k:6 + 8 * k] = hex_rgb(colour)
    with Image.open(io.BytesIO(encode_gif(frames))) as im:
        for i in range(im.n_frames):
            im.seek(i)
            rgb = np.asarray(im.convert("RGB")).astype(int)
            for k, colour in enumerate(CHANGE_COLOURS.values()):
                assert (rgb[3, 3 + 8 * k] == hex_rgb(colour)).all(), (i, colour)
