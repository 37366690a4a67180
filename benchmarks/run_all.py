"""Run every benchmark and assemble benchmarks/RESULTS.md.

    python benchmarks/run_all.py [NAME ...]     # all bench_*.py, or only the named ones

Each ``benchmarks/bench_<name>.py`` is run as its own process (so timings and
peak memory are its own) and writes ``benchmarks/results/<name>.md``: a
section with its figures and the exact command that made them. This script
then concatenates the sections, in name order, under a header naming the
machine, into ``benchmarks/RESULTS.md``. A benchmark that fails keeps its last
section and is reported; benchmarks never run inside the test suite.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}")


def assemble() -> Path:
    parts = [
        "# sitewatch benchmark results\n",
        "Made by `make bench` (`python benchmarks/run_all.py`); each section below names the "
        "exact command that produced it and when. Benchmarks need `../shared/data`.\n",
        f"Assembled {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} on: {_machine()}.\n",
    ]
    for p in sorted(RESULTS.glob("*.md")):
        parts.append(p.read_text().rstrip() + "\n")
    out = HERE / "RESULTS.md"
    out.write_text("\n".join(parts))
    return out


def main(names: list[str]) -> int:
    RESULTS.mkdir(exist_ok=True)
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in names]
    failed = []
    for script in scripts:
        t0 = time.perf_counter()
        print(f"== {script.name}", flush=True)
        rc = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"   {script.name}: exit {rc} in {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(script.name)
    out = assemble()
    print(f"wrote {out}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
