"""Helpers shared by the benchmarks: data location, timing, peak memory, result sections."""

from __future__ import annotations

import datetime as dt
import os
import resource
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHARED_DATA = Path(os.environ.get("SITEWATCH_SHARED_DATA", HERE.parents[1] / "shared" / "data"))
OSCD_ROOT = SHARED_DATA / "oscd"


def require_data(path: Path) -> Path:
    """Exit with a clear message when the real data is absent."""
    if not path.exists():
        sys.exit(f"benchmark needs {path} (set SITEWATCH_SHARED_DATA to the shared data folder)")
    return path


def best_of(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Fastest wall time of ``repeat`` calls (seconds) and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_section(name: str, title: str, body: str) -> Path:
    """Write ``benchmarks/results/<name>.md`` with the command that made it."""
    cmd = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0]),
                                                       *sys.argv[1:]])
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    text = f"## {title}\n\nCommand: `{cmd}` ({when})\n\n{body.strip()}\n"
    out = HERE / "results" / f"{name}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(text)
    return out
