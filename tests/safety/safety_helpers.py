"""Helpers of the safety tests (issue 16): a tiny GeoTIFF pair, a CLI runner, checks that an
error is one line with the right exit code and never the internal-error path, and snapshots
of folders (to prove nothing outside --out, or nothing foreign, was touched)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from affine import Affine
from click.testing import CliRunner, Result

from sitewatch.cli.main import cli
from sitewatch.imagery.io import write_cog
from sitewatch.raster import Provenance, Raster

BANDS = ("B02", "B03", "B04", "B08")


def make_pair(folder: Path, size: int = 48) -> tuple[Path, Path]:
    """Two 4-band uint16 GeoTIFFs on one 10 m UTM grid; a 12 x 12 patch changes."""
    rng = np.random.default_rng(12345)
    base = rng.normal(1200, 60, (len(BANDS), size, size)).clip(1, None)
    after = base + rng.normal(0, 20, base.shape)
    after[:, 10:22, 10:22] += 1500
    t = Affine(10, 0, 585000, 0, -10, 4130000)
    paths = []
    for name, data, date in (("before", base, "2016-05-01"), ("after", after, "2018-05-01")):
        r = Raster(data.astype("uint16"), t, "EPSG:32610", band_names=BANDS, nodata=0,
                   dates=(date,), provenance=Provenance("test", (f"TEST_{name}",)))
        p = folder / f"{name}.tif"
        write_cog(r, p, blocksize=16, overviews=False)
        paths.append(p)
    return paths[0], paths[1]


@pytest.fixture(scope="session", name="tiny_pair")
def tiny_pair_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two 4-band GeoTIFFs on one grid with a changed patch (see ``make_pair``). Test modules
    import it (no conftest.py here: ``tests/imagery`` imports its own as ``conftest``)."""
    return make_pair(tmp_path_factory.mktemp("pair"))


def run_cli(args: Sequence[str], **kw: Any) -> Result:
    """The CLI in process; exceptions reach the group's handler, as for a user."""
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


def assert_clear_error(r: Result, code: int, *needles: str) -> str:
    """A non-zero exit with ``code``, one error line naming ``needles``; never a traceback or
    the internal-error path. Returns the error line."""
    out = r.stderr + r.stdout
    assert "internal error" not in out and "Traceback" not in out, out
    assert r.exit_code == code, (r.exit_code, out)
    lines = [ln for ln in out.splitlines() if ln.lower().startswith("error:")]
    assert len(lines) == 1, out
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def snapshot(root: Path, skip: Callable[[Path], bool] = lambda p: False) -> dict[str, Any]:
    """Every entry under ``root`` (not following links): kind, size, mtime and content hash."""
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if skip(p):
                continue
            st = p.lstat()
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", st.st_size, st.st_mtime_ns,
                            hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def user_project(root: Path) -> dict[str, Any]:
    """A folder as a user keeps it: a thesis, photos, a git repository, sources; plus a
    ``summary.json`` of their own (the name that made the old --overwrite delete it all)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "thesis.docx").write_bytes(b"PK\x03\x04 thesis")
    (root / "summary.json").write_text('{"mine": true}')
    (root / "photos").mkdir()
    (root / "photos" / "bridge.jpg").write_bytes(b"\xff\xd8\xff jpeg")
    (root / ".git" / "objects").mkdir(parents=True)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "src").mkdir()
    (root / "src" / "analysis.py").write_text("print('mine')\n")
    return snapshot(root)
