"""Watchlists on a real dask.distributed LocalCluster, and a killed run that resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sitedata import site_folders_factory

from sitewatch.cli.main import cli
from sitewatch.pipeline.sitejob import MARKER
from sitewatch.pipeline.watchlist import read_watchlist
from sitewatch.pipeline.watchrun import run_watchlist

pytest.importorskip("distributed")

pytestmark = pytest.mark.slow


@pytest.fixture
def site_folders(tmp_path):
    return site_folders_factory(tmp_path)


def test_local_cluster_of_two_processes_runs_a_three_site_watchlist(site_folders, tmp_path):
    data = site_folders(3)
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["watch", str(data["path"]), "--workers", "2",
                                 "--out", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "LocalCluster(2 processes)" in r.stderr and "3 done" in r.stderr
    summary = json.loads((out / "watch_summary.json").read_text())
    assert summary["counts"] == {"done": 3, "skipped": 0, "failed": 0}
    assert summary["scheduler"] == "LocalCluster(2 processes)"
    for site in summary["sites"]:
        # each site ran in a worker process, not in this one
        assert int(site["worker"].rsplit(":", 1)[1]) != os.getpid()
        assert site["epochs_used"] == 2 and site["regions"] > 0
        folder = out / site["id"]
        assert (folder / MARKER).is_file() and (folder / "change" / "changes.geojson").is_file()
    rows = [line.split()[0] for line in r.stdout.splitlines()[1:]]
    assert rows == ["site0", "site1", "site2"]  # table in watchlist order


def _wait_for(paths: list[Path], proc: subprocess.Popen[bytes], timeout: float) -> None:
    t0 = time.monotonic()
    while not all(p.is_file() for p in paths):
        if proc.poll() is not None:
            pytest.fail(f"watch run ended early with exit code {proc.returncode}")
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"sites not done after {timeout} s")
        time.sleep(0.05)


def test_a_killed_run_resumes_without_redoing_finished_sites(site_folders, tmp_path):
    data = site_folders(3)
    # site2's folder gets a named pipe posing as a GeoTIFF: opening it blocks until a writer
    # comes, like a hung disk or network mount, so the run is killed with site2 mid-way
    fifo = data["root"] / "data" / "site2" / "site2_2016-06-01.tif"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    exe = Path(sys.executable).with_name("sitewatch")
    proc = subprocess.Popen([str(exe), "watch", str(data["path"]), "--workers", "2",
                             "--out", str(out)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        markers = [out / f"site{i}" / MARKER for i in (0, 1)]
        _wait_for(markers, proc, timeout=120)
        before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in markers}
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the group of the run started above
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "site2").exists()  # the interrupted site left no folder behind
    assert not (out / "watch_summary.json").exists()
    assert len(list((out / ".work").iterdir())) == 1  # site2, half-built, unpublished

    fifo.unlink()  # the stalled data is back
    report = run_watchlist(read_watchlist(data["path"]), out, workers=0)
    assert [(o.id, o.status) for o in report.outcomes] == \
        [("site0", "skipped"), ("site1", "skipped"), ("site2", "done")]
    for p, (content, mtime) in before.items():
        assert p.read_bytes() == content and p.stat().st_mtime_ns == mtime  # not redone
    assert (out / "site2" / MARKER).is_file()
    assert not (out / ".work").exists()  # the killed run's half-built site2 is cleared
