"""One command-line grammar: the same names for the same concept in every subcommand, old
spellings as hidden aliases, progress bars on a terminal only, data on stdout, logs on stderr."""

from __future__ import annotations

import logging
import os
import pty
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sitewatch.cli.main import cli

IMAGERY_COMMANDS = ("fetch", "detect", "timeline", "figure", "animate", "report")
IMAGERY_OPTIONS = {"source", "endpoint", "token_url", "profile", "sas_url", "start", "end",
                   "every", "cache_dir", "no_cache"}


def _commands() -> dict[str, click.Command]:
    ctx = click.Context(cli)
    out: dict[str, click.Command] = {}

    def walk(cmd: click.Command, name: str) -> None:
        if isinstance(cmd, click.Group):
            for sub in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, sub), f"{name} {sub}".strip())  # type: ignore[arg-type]
            return
        out[name] = cmd

    walk(cli, "")
    return out


def _shown(opt: click.Option) -> tuple[str, ...]:
    """The spellings --help shows."""
    hidden = set(getattr(opt, "hidden_aliases", ()))
    return tuple(sorted(o for o in opt.opts + opt.secondary_opts if o not in hidden))


def test_every_command_reading_imagery_takes_the_same_options() -> None:
    cmds = _commands()
    seen: dict[str, tuple[object, ...]] = {}
    for name in IMAGERY_COMMANDS:
        opts = {p.name: p for p in cmds[name].params if isinstance(p, click.Option)}
        assert IMAGERY_OPTIONS <= set(opts), (name, IMAGERY_OPTIONS - set(opts))
        for key in IMAGERY_OPTIONS:
            o = opts[key]
            # same spelling, same help and default (the cadence's default is the command's)
            sig = (_shown(o), o.help, None if key == "every" else o.default)
            assert seen.setdefault(key, sig) == sig, (name, key)
    assert seen["source"][0] == ("--source",) and seen["start"][0] == ("--from",)


def test_one_name_per_concept() -> None:
    spellings: dict[str, dict[tuple[str, ...], list[str]]] = {}
    for name, cmd in _commands().items():
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.hidden:
                spellings.setdefault(p.name or "", {}).setdefault(_shown(p), []).append(name)
    split = {k: v for k, v in spellings.items() if len(v) > 1}
    assert not split, split
    assert set(spellings["method"]) == {("--method", "-m")}
    assert set(spellings["min_area_m2"]) == {("--min-area",)}
    assert set(spellings["params"]) == {("--param", "-p")}
    assert len(spellings["method"][("--method", "-m")]) >= 7  # timeline included


def test_old_spellings_are_hidden_aliases(tmp_path: Path) -> None:
    help_text = CliRunner().invoke(cli, ["figure", "--help"]).output
    assert "--source NAME" in help_text and "-s," not in help_text
    assert "--no-overlay" not in CliRunner().invoke(cli, ["animate", "--help"]).output
    r = CliRunner().invoke(cli, ["animate", "cupertino-apple-park", "-s", "sample",
                                 "--no-overlay", "--no-mp4", "--width", "240",
                                 "-o", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    import json

    prov = json.loads((tmp_path / "a" / "timelapse.provenance.json").read_text())
    assert prov["source"] == "sample" and prov["overlay"] == "none"


def test_source_auto_and_a_folder_for_local(tmp_path: Path) -> None:
    """auto: the bundled sample for its site; --endpoint gives --source local its folder."""
    from sitewatch.imagery.sources.sample import sample_dir

    r = CliRunner().invoke(cli, ["detect", "cupertino-apple-park", "--every", "year",
                                 "-o", str(tmp_path / "d")])
    assert r.exit_code == 0, r.output
    assert "(source sample)" in r.stdout
    folder = tmp_path / "tifs"
    folder.mkdir()
    import shutil

    src = Path(sample_dir())
    for name, day in (("before.tif", "2015-09-18"), ("after.tif", "2018-03-26")):
        shutil.copy(src / name, folder / f"cupertino_{day}.tif")
    r = CliRunner().invoke(cli, ["detect", "cupertino-apple-park", "--source", "local",
                                 "--endpoint", str(folder), "--every", "year",
                                 "-o", str(tmp_path / "l")])
    assert r.exit_code == 0, r.output
    assert "(source local)" in r.stdout


def _run_with_stderr_on_a_terminal(args: list[str], tmp_path: Path
                                   ) -> tuple[int, str, str]:
    """Run `sitewatch ARGS` with stderr on a pseudo-terminal, stdout on a pipe."""
    master, slave = pty.openpty()
    env = {**os.environ, "MPLBACKEND": "Agg", "SITEWATCH_CACHE_DIR": str(tmp_path / "c"),
           "COLUMNS": "100"}
    proc = subprocess.Popen([sys.executable, "-c",
                             "from sitewatch.cli.main import main; main()", *args],
                            stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
                            env=env, cwd=tmp_path)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO once the child has closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    out, _ = proc.communicate(timeout=600)
    reader.join(timeout=30)
    os.close(master)
    return proc.returncode, out.decode(), b"".join(chunks).decode(errors="replace")


DETECT = ["detect", "cupertino-apple-park", "--every", "year", "-m", "cva"]


@pytest.mark.slow
def test_progress_bars_on_a_terminal_only(tmp_path: Path) -> None:
    code, out, err = _run_with_stderr_on_a_terminal([*DETECT, "-o", "a"], tmp_path)
    assert code == 0, err
    for label in ("searching", "loading", "detecting", "writing"):
        assert label in err, (label, err)
    assert "searching" not in out and "[#" not in out  # data only on stdout
    assert out.splitlines()[0].startswith("Apple Park")
    # -q: no bar on the terminal
    code, out_q, err_q = _run_with_stderr_on_a_terminal(["-q", *DETECT, "-o", "b"], tmp_path)
    assert code == 0 and "detecting" not in err_q and "loading" not in err_q
    assert out_q.splitlines()[0] == out.splitlines()[0]
    # stderr not a terminal (a pipe, a log file): no bar either; logs (-v) on stderr only
    proc = subprocess.run([sys.executable, "-c", "from sitewatch.cli.main import main; main()",
                           "-v", *DETECT, "-o", "c"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600,
                          env={**os.environ, "MPLBACKEND": "Agg"}, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "detecting" not in proc.stderr and "loading" not in proc.stderr
    assert "INFO sitewatch" in proc.stderr and "INFO" not in proc.stdout
    assert proc.stdout.splitlines()[0] == out.splitlines()[0]


def test_a_run_in_python_leaves_logging_as_it_found_it(caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    """The command run in a Python process (a notebook, CliRunner) sets up stderr logging for
    its run only: levels, handlers and warnings capture are put back, so a later DEBUG capture
    in that process still sees sitewatch's own lines (tests relied on running first)."""
    logger = logging.getLogger("sitewatch")
    before = (logger.level, list(logger.handlers), warnings.showwarning,
              logging.getLogger("distributed").level)
    for args in (["-vv", "aoi", "list"], ["-qq", "aoi", "list"], ["aoi", "show", "nowhere"]):
        CliRunner().invoke(cli, args)  # an error exit restores too
        assert (logger.level, list(logger.handlers), warnings.showwarning,
                logging.getLogger("distributed").level) == before, args
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sitewatch.imagery.cache").debug("a sitewatch debug line")
    assert "a sitewatch debug line" in caplog.text
