"""Output folders never lose a user's file (issue 16, case 1 and Deliver 1).

- ``--overwrite`` replaces only the files sitewatch recorded writing; a folder holding
  anything else (a thesis, photos/, .git/, src/) is refused, named, and left untouched;
- replacement is atomic: a run killed while computing, or killed or failing at any step of
  the replacement itself, leaves the earlier outputs whole.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from safety_helpers import (
    assert_clear_error,
    run_cli,
    snapshot,
    tiny_pair_fixture,  # noqa: F401 (the tiny_pair fixture)
    user_project,
)

import sitewatch.outdir as outdir
from sitewatch.errors import OutputFolderError
from sitewatch.outdir import MANIFEST, OutputFolder, read_manifest, recover


def detect_files(pair: tuple[Path, Path], out: Path, *extra: str):  # type: ignore[no-untyped-def]
    before, after = pair
    return run_cli(["detect-files", before, after, "--method", "cva", "--out", out, *extra])


def outputs(folder: Path) -> dict[str, object]:
    """Everything in the folder but a killed run's staging folder (the next run removes it)."""
    return snapshot(folder, skip=lambda p: ".sitewatch-staging-" in str(p))


# -- case 1: data loss -------------------------------------------------------------------
def test_overwrite_on_a_folder_with_foreign_files_and_git_leaves_them_untouched(
        tiny_pair: tuple[Path, Path], tmp_path: Path) -> None:
    """The audit's case: summary.json + thesis.docx + photos/ (+ .git/, src/) and --overwrite."""
    folder = tmp_path / "project"
    before = user_project(folder)
    r = detect_files(tiny_pair, folder, "--overwrite")
    line = assert_clear_error(r, 1, "did not write", "choose a fresh folder")
    for name in (".git/", "photos/", "src/"):  # named, not entered
        assert name in line or "more" in line
    assert str(folder / "sitewatch-detect-files") in line  # a fresh folder to use instead
    assert snapshot(folder) == before  # byte for byte, times included
    # the suggested folder works
    r = detect_files(tiny_pair, folder / "sitewatch-detect-files")
    assert r.exit_code == 0, r.output
    assert {k: v for k, v in snapshot(folder).items()
            if not k.startswith("sitewatch-detect-files")} == before


def test_out_dot_in_a_project_folder_is_refused(tiny_pair: tuple[Path, Path], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`sitewatch detect ... --out . --overwrite` in a project used to delete .git/ and src/."""
    before = user_project(tmp_path / "proj")
    monkeypatch.chdir(tmp_path / "proj")
    r = detect_files(tiny_pair, Path("."), "--overwrite")
    assert_clear_error(r, 1, "did not write", "--out sitewatch-detect-files")
    assert snapshot(tmp_path / "proj") == before


def test_overwrite_replaces_exactly_the_earlier_outputs(tiny_pair: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert detect_files(tiny_pair, out).exit_code == 0
    first = read_manifest(out)
    assert first is not None and first["command"] == "detect-files"
    assert sorted(first["files"]) == sorted(p.name for p in out.iterdir() if p.name != MANIFEST)
    # a second run without --overwrite is refused and changes nothing
    snap = snapshot(out)
    r = detect_files(tiny_pair, out)
    assert_clear_error(r, 1, "earlier `sitewatch detect-files` run", "--overwrite",
                       str(tmp_path / "run-2"))
    assert snapshot(out) == snap
    # with --overwrite: the run's files are replaced, nothing else is left or added
    r = detect_files(tiny_pair, out, "--overwrite", "--min-area", "0")
    assert r.exit_code == 0, r.output
    second = read_manifest(out)
    assert second is not None and sorted(second["files"]) == sorted(first["files"])
    assert json.loads((out / "summary.json").read_text())["detector"]["min_area_m2"] == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".sitewatch-")
                and p.name != MANIFEST]  # no staging or backup left


def test_a_file_added_or_changed_after_the_run_makes_the_folder_foreign(
        tiny_pair: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert detect_files(tiny_pair, out).exit_code == 0
    (out / "notes.txt").write_text("my notes on the result")
    r = detect_files(tiny_pair, out, "--overwrite")
    assert_clear_error(r, 1, "notes.txt")
    (out / "notes.txt").unlink()
    with open(out / "changes.geojson", "a") as fh:  # edited by hand in a GIS
        fh.write("\n")
    snap = snapshot(out)
    r = detect_files(tiny_pair, out, "--overwrite")
    assert_clear_error(r, 1, "changes.geojson (changed since sitewatch wrote it)")
    assert snapshot(out) == snap


def test_a_link_or_folder_inside_is_never_entered(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with OutputFolder(out, command="demo") as stage:
        (stage / "a.txt").write_text("1")
    target = tmp_path / "precious"
    target.mkdir()
    (target / "data.csv").write_text("1,2\n")
    (out / "link").symlink_to(target)
    with pytest.raises(OutputFolderError, match="link"):
        OutputFolder(out, overwrite=True, command="demo").open()
    assert (target / "data.csv").read_text() == "1,2\n"


def test_one_run_at_a_time_per_folder(tmp_path: Path) -> None:
    first = OutputFolder(tmp_path / "o", command="demo")
    first.open()
    try:
        with pytest.raises(OutputFolderError, match="in use by another sitewatch run"):
            OutputFolder(tmp_path / "o", command="demo").open()
    finally:
        first.close()
    with OutputFolder(tmp_path / "o", command="demo") as stage:  # free again
        (stage / "x").write_text("x")


def test_an_error_during_the_run_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "o"
    with OutputFolder(out, command="demo") as stage:
        (stage / "summary.json").write_text("old")
    snap = snapshot(out)
    with pytest.raises(RuntimeError), OutputFolder(out, overwrite=True, command="demo") as stage:
        (stage / "summary.json").write_text("new, half written")
        raise RuntimeError("the detector failed")
    assert snapshot(out) == snap


# -- atomic replacement ---------------------------------------------------------------------
def _earlier_run(out: Path) -> dict[str, object]:
    with OutputFolder(out, command="demo") as stage:
        for name in ("summary.json", "changes.geojson", "only_in_old.csv"):
            (stage / name).write_text(f"old {name}")
        (stage / "sub").mkdir()
        (stage / "sub" / "deep.txt").write_text("old deep")
    return snapshot(out)


def _new_run(out: Path) -> None:
    with OutputFolder(out, overwrite=True, command="demo") as stage:
        for name in ("summary.json", "changes.geojson", "only_in_new.png"):
            (stage / name).write_text(f"new {name}")
        (stage / "sub").mkdir()
        (stage / "sub" / "deep.txt").write_text("new deep")


def test_overwrite_without_failure_replaces_the_whole_run(tmp_path: Path) -> None:
    out = tmp_path / "o"
    _earlier_run(out)
    _new_run(out)
    assert (out / "summary.json").read_text() == "new summary.json"
    assert not (out / "only_in_old.csv").exists()  # no file of the earlier run stays behind
    assert (out / "sub" / "deep.txt").read_text() == "new deep"


@pytest.mark.parametrize("step", range(1, 10))
def test_a_failure_at_any_replace_step_leaves_the_earlier_outputs_whole(
        step: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inject a failure at the n-th rename of the replacement (old files out, new ones in)."""
    out = tmp_path / "o"
    before = _earlier_run(out)
    real, calls = outdir._move, []

    def failing(src: Path, dst: Path) -> None:
        calls.append(src)
        if len(calls) == step:
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(outdir, "_move", failing)
    with pytest.raises(OutputFolderError, match="No space left"):
        _new_run(out)
    assert len(calls) >= step  # the failure did happen at that step
    monkeypatch.setattr(outdir, "_move", real)
    assert snapshot(out) == before


_KILL_AT_STEP = textwrap.dedent("""
    import os, sys
    import sitewatch.outdir as outdir
    real, n = outdir._move, [0]
    def move(src, dst):
        n[0] += 1
        if n[0] == int(sys.argv[1]):
            os._exit(9)          # killed: no finally, no rollback in this process
        real(src, dst)
    outdir._move = move
    sys.path.insert(0, sys.argv[3])
    from test_outdir_safety import _new_run
    _new_run(__import__("pathlib").Path(sys.argv[2]))
""")


@pytest.mark.parametrize("step", [1, 3, 6])
def test_a_kill_during_the_replacement_is_undone_by_the_next_run(step: int,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "o"
    before = _earlier_run(out)
    p = subprocess.run([sys.executable, "-c", _KILL_AT_STEP, str(step), str(out),
                        str(Path(__file__).parent)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 9, p.stderr
    assert (out / ".sitewatch-journal.json").exists()  # killed inside the replacement
    assert snapshot(out) != before
    assert recover(out)  # what every later run on the folder does first
    assert snapshot(out) == before
    _new_run(out)  # and the folder is usable again
    assert (out / "only_in_new.png").exists()


_SLOW_WRITER = textwrap.dedent("""
    import sys, time
    import sitewatch.pipeline.blockwise as bw
    real = bw._write_outputs
    def slow(*args, **kw):
        out = real(*args, **kw)   # every new output is written (into the staging folder)...
        time.sleep(120)           # ...and the run is killed before it is moved into place
        return out
    bw._write_outputs = slow
    from sitewatch.cli.main import cli
    cli(sys.argv[1:], prog_name="sitewatch")
""")


def test_an_overwrite_killed_midway_leaves_the_previous_outputs_intact(
        tiny_pair: tuple[Path, Path], tmp_path: Path) -> None:
    """SIGKILL a real `sitewatch detect-files --overwrite` once it has written its new
    outputs: the previous outputs are untouched, byte for byte; the next run cleans up."""
    out = tmp_path / "run"
    assert detect_files(tiny_pair, out, "--min-area", "0").exit_code == 0
    previous = outputs(out)
    before, after = tiny_pair
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, "detect-files", str(before),
                             str(after), "--method", "cva", "--out", str(out), "--overwrite"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        staged: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None:
            staged = [p for p in out.glob(".sitewatch-staging-*/summary.json")]
            if staged:
                break
            time.sleep(0.05)
        assert staged, "the run never wrote its outputs"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert outputs(out) == previous  # nothing of the earlier run touched
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".sitewatch-staging-")]
    assert leftovers  # the killed run's staging folder is still there...
    r = detect_files(tiny_pair, out)
    assert_clear_error(r, 1, "--overwrite")  # ...until the next run on the folder
    assert not any(p.name.startswith(".sitewatch-staging-") for p in out.iterdir())
    assert outputs(out) == previous


def test_a_bookkeeping_write_cut_short_is_not_a_foreign_file(tmp_path: Path) -> None:
    """A kill while the manifest or journal was being written leaves sitewatch's own
    temporary file: the next run removes it, and a user file of a similar name stays."""
    out = tmp_path / "o"
    _earlier_run(out)
    (out / f".{MANIFEST}.k3j2.tmp").write_text("{half")
    _new_run(out)  # not refused
    assert not list(out.glob(f".{MANIFEST}.*.tmp"))
    (out / f"{MANIFEST}.backup").write_text("the user's copy")
    with pytest.raises(OutputFolderError, match="did not write"):
        _new_run(out)
