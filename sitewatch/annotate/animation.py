"""Timelapse animations of epochs: GIF always, MP4 when an encoder is available.

Every frame shows one epoch under the same stretch (computed once over all
epochs), its date window as the caption, the scale bar and north arrow, the
change overlay so far (optional) and the attribution for every year shown.
A gap epoch (no clear observation) keeps its frame, marked as such, so the
frame count always equals the epoch count and time runs evenly.

MP4 uses ``ffmpeg``: from ``PATH``, or the binary shipped by the
``imageio-ffmpeg`` package (``pip install 'sitewatch[video]'``). Without one
the GIF is still written and the MP4 is skipped with a log message.

Examples
--------
>>> import numpy as np, tempfile
>>> from pathlib import Path
>>> from affine import Affine
>>> from sitewatch.raster import Raster
>>> t = Affine(10, 0, 500000, 0, -10, 4000000)
>>> eps = [Raster(np.full((3, 30, 30), 0.05 * (i + 1), "float32"), t, "EPSG:32651",
...               band_names=("B04", "B03", "B02"), dates=(f"202{i}-06-01",))
...        for i in range(3)]
>>> frames = render_frames(eps, preset="web", width_px=400)
>>> len(frames), frames[0].shape[1]
(3, 400)
>>> gif = write_gif(frames, Path(tempfile.mkdtemp()) / "t.gif")
>>> from PIL import Image
>>> with Image.open(gif) as im:
...     im.n_frames
3
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sitewatch.annotate.overlay import change_types, draw_changes
from sitewatch.annotate.style import Preset, get_preset
from sitewatch.annotate.views import View, prepare_view
from sitewatch.atomic import atomic_write_bytes, publish, temp_path_beside
from sitewatch.errors import DataError
from sitewatch.raster import Raster

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from sitewatch.aoi.site import Site

__all__ = ["render_frames", "encode_gif", "write_gif", "write_mp4", "find_ffmpeg", "timelapse"]

log = logging.getLogger(__name__)


def find_ffmpeg() -> str | None:
    """Path of an ffmpeg executable (PATH first, then imageio-ffmpeg's), or None."""
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError, OSError):
        return None


def _frame_types(k: int, *, first_change: np.ndarray | None, types: np.ndarray | None,
                 n: int) -> np.ndarray | None:
    """Change types to show on frame ``k``: cumulative first changes, or the mask at the end."""
    if first_change is not None:
        shown = (first_change >= 0) & (first_change <= k)
        base = types if types is not None else np.full(first_change.shape, 7, "uint8")
        return np.where(shown, np.where(base > 0, base, 7), 0).astype("uint8")
    if types is not None and k == n - 1:
        return types
    return None


def render_frames(rasters: Sequence[Raster | None], *, labels: Sequence[str] | None = None,
                  view: str | View | Sequence[str] = "true",
                  first_change: np.ndarray | None = None, change_type: np.ndarray | None = None,
                  mask: np.ndarray | None = None, overlay: str = "outline",
                  site: Site | BaseGeometry | None = None, title: str = "",
                  credits: Sequence[str] = (), preset: str | Preset = "web",
                  width_px: int = 800, method: str = "") -> list[np.ndarray]:
    """One RGB frame (H, W, 3 uint8) per epoch, all under one stretch.

    Parameters
    ----------
    rasters : sequence of Raster or None
        Epoch composites on one grid, in time order; None marks a gap.
    labels : sequence of str, optional
        Epoch labels ("2020-Q2"); default from the rasters.
    view : str, View or three band names
    first_change : (M, N) int ndarray, optional
        Index of each pixel's first lasting change (-1 = never); frame k
        shows the changes of epochs 0..k.
    change_type, mask : (M, N) ndarray, optional
        Change types (coloured) and/or a change mask; without
        ``first_change`` they are shown on the last frame only.
    overlay : {"outline", "fill"}
    site : Site or geometry, optional
    title : str
    credits : sequence of str
        Extra credit lines.
    preset : str or Preset
        Type sizes; the frame is ``width_px`` wide.
    width_px : int
        Frame width in pixels.
    method : str
        What the overlay shows and its detector, for the credit line
        (``"overlay: cnn, two-date change"``).
    """
    from sitewatch.annotate.figures import compare, date_caption, fit_for_display, wrap_caption

    n = len(rasters)
    present = [r for r in rasters if r is not None]
    if not present:
        raise DataError("every epoch is a gap (no clear observation): nothing to animate")
    if labels is None:
        labels = [str(r.attrs.get("epoch", "")) if r is not None else "" for r in rasters]
    if len(labels) != n:
        raise DataError(f"{len(labels)} labels for {n} epochs")
    captions = []
    for r, lab in zip(rasters, labels, strict=True):
        cap = date_caption(r)
        captions.append(f"{lab} · {cap}" if lab and not cap.startswith(f"{lab} ·") else cap)
    if len(set(captions)) < n:  # every frame must say which epoch it is
        captions = [f"{i + 1}/{n} · {c}" for i, c in enumerate(captions)]
    types = None
    if change_type is not None or mask is not None:
        types = change_types(mask=mask, change_type=change_type)
    legend_types = sorted(set(np.unique(types).tolist()) - {0}) if types is not None else []
    if first_change is not None and types is None:
        legend_types = [7] if (first_change >= 0).any() else []
    p = get_preset(preset)
    pv = prepare_view(list(rasters), view)
    dates = [d for r in present for d in r.dates]
    longest = max(captions, key=len)
    first = present[0]
    fig = compare([first], captions=[longest], view=pv.view, stretch=pv.stretch,
                  index_range=(pv.vmin, pv.vmax) if pv.vmin is not None else None,  # type: ignore[arg-type]
                  title=title, preset=p, credits=credits, site=site, overlay=overlay,
                  method=method,
                  attribution_dates=dates, legend_types=legend_types,
                  dpi=max(50, round(width_px / p.width_in)))
    ax = fig.axes[0]
    im = ax.images[0]
    gap_text = ax.text(0.5, 0.5, "no clear observation", transform=ax.transAxes, ha="center",
                       va="center", fontsize=p.font_pt * 1.2, color="#333333",
                       bbox={"boxstyle": "round,pad=0.3", "fc": "#FFFFFF", "ec": "none",
                             "alpha": 0.85}, visible=False)
    lw = max(p.font_pt / 12, 2.2 * 72 / fig.dpi)  # at least 2.2 px on small frames
    panel_px = ax.get_position().width * fig.get_figwidth() * fig.dpi
    frames = []
    for k in range(n):
        for patch in [pt for pt in ax.patches if str(pt.get_gid()).startswith("change-")]:
            patch.remove()
        im.set_data(fit_for_display(pv.images[k], panel_px))
        gap_text.set_visible(rasters[k] is None)
        ax.set_title(wrap_caption(captions[k], ax, p), loc="left", fontsize=p.font_pt,
                     fontweight="bold", pad=p.font_pt * 0.35, gid="frame-date")
        ft = _frame_types(k, first_change=first_change, types=types, n=n)
        if ft is not None and ft.any():
            draw_changes(ax, ft, first.transform, mode=overlay, linewidth=lw)
        fig.canvas.draw()
        rgba = np.asarray(fig.canvas.buffer_rgba())  # type: ignore[attr-defined]
        frames.append(rgba[..., :3].copy())
    return frames


def _palette(frames: Sequence[np.ndarray]) -> Any:
    """One 256-colour palette for every frame (no flicker): the house colours exactly,
    the rest from a sample of all frames."""
    from PIL import Image

    from sitewatch.annotate.style import CHANGE_COLOURS, MUTED_COLOUR, TEXT_COLOUR

    fixed_hex = [*CHANGE_COLOURS.values(), "#FFFFFF", "#000000", TEXT_COLOUR, MUTED_COLOUR,
                 "#D9D9D9"]
    fixed = [int(h[i:i + 2], 16) for h in dict.fromkeys(fixed_hex) for i in (1, 3, 5)]
    step = max(1, int(np.sqrt(len(frames) * frames[0].shape[0] * frames[0].shape[1] / 2e5)))
    sample = np.concatenate([f[::step, ::step] for f in frames], axis=0)
    free = 256 - len(fixed) // 3
    quant = Image.fromarray(sample).quantize(colors=free, method=Image.Quantize.MEDIANCUT)
    rest = (quant.getpalette() or [])[:free * 3]
    pal = Image.new("P", (1, 1))
    pal.putpalette(fixed + rest + [0] * (768 - len(fixed) - len(rest)))
    return pal


def encode_gif(frames: Sequence[np.ndarray], *, duration_ms: int = 900,
               hold_last_ms: int = 2000) -> bytes:
    """Looping GIF bytes, one GIF frame per input frame, one palette for all frames."""
    from PIL import Image

    if not frames:
        raise DataError("no frames to write")
    images = [Image.fromarray(f).quantize(palette=_palette(frames), dither=Image.Dither.NONE)
              for f in frames]
    durations = [duration_ms] * (len(images) - 1) + [hold_last_ms]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=durations if len(images) > 1 else hold_last_ms, loop=0,
                   optimize=False, disposal=1)
    return buf.getvalue()


def write_gif(frames: Sequence[np.ndarray], path: str | os.PathLike[str], *,
              duration_ms: int = 900, hold_last_ms: int = 2000) -> Path:
    """Write RGB frames as a looping GIF (atomically): see :func:`encode_gif`."""
    path = Path(path)
    atomic_write_bytes(encode_gif(frames, duration_ms=duration_ms, hold_last_ms=hold_last_ms),
                       path)
    return path


def write_mp4(frames: Sequence[np.ndarray], path: str | os.PathLike[str], *,
              fps: float = 1.2, hold_last_s: float = 2.0, ffmpeg: str | None = None
              ) -> Path | None:
    """Write RGB frames as an H.264 MP4 (yuv420p, plays everywhere); None without ffmpeg."""
    exe = ffmpeg or find_ffmpeg()
    if exe is None:
        log.info("no ffmpeg found (install imageio-ffmpeg: pip install 'sitewatch[video]'): "
                 "MP4 skipped, GIF written")
        return None
    if not frames:
        raise DataError("no frames to write")
    h, w = frames[0].shape[:2]
    h2, w2 = h + h % 2, w + w % 2  # yuv420p needs even sizes
    hold = max(1, round(hold_last_s * fps))
    seq = list(frames) + [frames[-1]] * (hold - 1)
    raw = b"".join(np.pad(f, ((0, h2 - h), (0, w2 - w), (0, 0)), mode="edge").tobytes()
                   for f in seq)
    path = Path(path)
    tmp = temp_path_beside(path)
    cmd = [exe, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w2}x{h2}", "-r", f"{fps:g}", "-i", "-", "-an", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", "-crf", "18", "-movflags", "+faststart", "-f", "mp4", str(tmp)]
    try:
        proc = subprocess.run(cmd, input=raw, capture_output=True, check=False, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.warning("ffmpeg failed (%s): MP4 skipped", err)
        tmp.unlink(missing_ok=True)
        return None
    if proc.returncode != 0:
        log.warning("ffmpeg failed: %s; MP4 skipped", proc.stderr.decode(errors="replace")[-300:])
        tmp.unlink(missing_ok=True)
        return None
    publish(tmp, path)
    return path


def timelapse(rasters: Sequence[Raster | None], out: str | os.PathLike[str], *,
              mp4: bool = True, duration_ms: int = 900, **kwargs: Any) -> dict[str, Path]:
    """Render frames and write ``<out>.gif`` (and ``<out>.mp4`` when possible).

    Parameters
    ----------
    rasters : sequence of Raster or None
        Epochs in time order (None = gap).
    out : path
        Output path without (or with any) suffix.
    mp4 : bool
        Also try the MP4.
    duration_ms : int
        Time per frame (the last one is held longer).
    **kwargs
        Passed to :func:`render_frames`.

    Returns
    -------
    dict
        ``{"gif": path, "mp4": path}`` (no ``mp4`` key when it was skipped).
    """
    frames = render_frames(rasters, **kwargs)
    stem = Path(out)
    stem = stem.with_suffix("") if stem.suffix in (".gif", ".mp4") else stem
    paths = {"gif": write_gif(frames, stem.with_name(stem.name + ".gif"),
                              duration_ms=duration_ms)}
    if mp4:
        mp = write_mp4(frames, stem.with_name(stem.name + ".mp4"), fps=1000 / duration_ms)
        if mp is not None:
            paths["mp4"] = mp
    return paths
