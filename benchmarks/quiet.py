"""Timing hygiene for a machine shared with other work: wait for quiet, record the load.

Timing benchmarks call :func:`wait_for_quiet` before they measure: it polls the
1-minute load average until it is below ``max_load`` (default 0.5, or
``SITEWATCH_BENCH_MAX_LOAD``) and gives up after ``timeout`` seconds
(``SITEWATCH_BENCH_WAIT``), exiting without writing results, so no noisy figure
is ever reported as a clean one. :func:`load` is reported beside each figure.
"""

from __future__ import annotations

import os
import sys
import time


def load() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def wait_for_quiet(max_load: float | None = None, timeout: float | None = None) -> float:
    """Block until the 1-minute load is below ``max_load``; return it (or exit)."""
    limit = float(os.environ.get("SITEWATCH_BENCH_MAX_LOAD", 0.5) if max_load is None
                  else max_load)
    wait = float(os.environ.get("SITEWATCH_BENCH_WAIT", 3600) if timeout is None else timeout)
    t0 = time.monotonic()
    told = False
    while (now := load()) >= limit:
        if time.monotonic() - t0 > wait:
            sys.exit(f"machine busy: 1-minute load {now:.2f} >= {limit} for {wait:.0f} s; "
                     "not measuring (set SITEWATCH_BENCH_WAIT to wait longer)")
        if not told:
            print(f"waiting for a quiet machine (load {now:.2f} >= {limit})...", flush=True)
            told = True
        time.sleep(10)
    return now


def cpu_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot (from /proc/stat)."""
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Foreign:
    """CPU used by *other* processes while a measured child runs, in cores.

    Use ``with Foreign() as f: <run child>`` then ``f.cores(child_cpu_seconds)``.
    """

    def __enter__(self) -> Foreign:
        self.t0, self.busy0 = time.perf_counter(), cpu_busy_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.busy = cpu_busy_seconds() - self.busy0

    def cores(self, own_cpu_seconds: float) -> float:
        return max(0.0, self.busy - own_cpu_seconds) / self.wall if self.wall else 0.0
