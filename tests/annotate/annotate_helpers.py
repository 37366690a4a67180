"""Measuring helpers shared by the figure tests."""

from __future__ import annotations

import re

import numpy as np


def render(fig) -> np.ndarray:
    """(H, W, 4) uint8 RGBA of a figure drawn by Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not hasattr(fig.canvas, "buffer_rgba"):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


def find_gid(fig, gid: str) -> list:
    """Every artist of the figure (patches inside offset boxes included) with this gid."""
    return [a for a in fig.findobj(lambda a: a.get_gid() == gid)]


def parse_length_m(label: str) -> float:
    """'500 m' -> 500, '2 km' -> 2000."""
    m = re.fullmatch(r"([\d.]+) (m|km)", label.strip())
    assert m, f"unreadable scale label {label!r}"
    return float(m.group(1)) * (1000 if m.group(2) == "km" else 1)


def hex_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
