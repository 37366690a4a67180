"""Progress bars of the ``sitewatch`` commands: one bar per long step, on stderr.

Bars are drawn only when stderr is a terminal and ``-q`` was not given: a pipe, a
log file or a notebook cell gets the data on stdout and the logs, never bar
redraws. The pipeline reports ``progress(stage, done, total)`` (the fetch's
``search``, ``screen``, ``load``; ``detect``, ``timeline``; the block runner's
passes); :meth:`Progress.step` wraps a step the CLI runs itself (drawing, writing).

Examples
--------
>>> p = Progress(enabled=False)
>>> p("load", 1, 3)  # nothing drawn
>>> with p.step("draw"):
...     pass
>>> p.close()
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import click

from sitewatch.cli.options import progress_enabled

__all__ = ["Progress", "bars_wanted"]

#: Labels of the stages, padded to one width so the bars line up.
LABELS = {"search": "searching", "screen": "cloud check", "load": "loading",
          "detect": "detecting", "timeline": "timeline", "draw": "drawing",
          "write": "writing", "fit": "fitting", "apply": "detecting", "regions": "regions",
          "cities": "cities", "sites": "sites"}
_WIDTH = max(len(v) for v in LABELS.values())


def bars_wanted() -> bool:
    """Whether bars are drawn: stderr is a terminal, and no ``-q``."""
    try:
        tty = bool(sys.stderr.isatty())
    except (AttributeError, ValueError):
        tty = False
    return tty and progress_enabled()


class Progress:
    """``progress(stage, done, total)`` callback drawing one click progress bar per stage.

    Parameters
    ----------
    enabled : bool, optional
        Default :func:`bars_wanted`.
    """

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = bars_wanted() if enabled is None else enabled
        self.stage: str | None = None
        self.bar: Any = None
        self.pos = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.pos = 0
            label = LABELS.get(stage, stage).ljust(_WIDTH)
            self.bar = click.progressbar(length=total, label=label, file=sys.stderr,
                                         show_pos=True)
            self.bar.__enter__()
        if self.bar is not None and done > self.pos:
            self.bar.update(done - self.pos)
            self.pos = done

    @contextlib.contextmanager
    def step(self, stage: str) -> Iterator[None]:
        """A step of one unit: the bar shows while it runs and completes after it."""
        self(stage, 0, 1)
        yield
        self(stage, 1, 1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
        self.stage = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
