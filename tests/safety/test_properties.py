"""Property-based bad-input suite (issue 16, Deliver 6), with hypothesis.

Generated site strings, GeoJSON, dates, detector parameters, command-line numbers, corrupt
files and output folders go through the real command line. Each must end in a valid result
or a one-line error with a non-zero exit code; never the internal-error path, never a file
outside ``--out`` touched, never a file sitewatch did not write replaced.

Bounded for ``make test`` (derandomised, a fixed number of examples per property, under two
minutes in all); ``SITEWATCH_PROPERTY_EXAMPLES=500`` (examples per property) and
``SITEWATCH_PROPERTY_SEED=random`` run a larger, randomised search.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from safety_helpers import make_pair, run_cli, snapshot

from sitewatch.aoi import parse_site
from sitewatch.aoi.parse import MIN_SITE_PIXELS
from sitewatch.detectors.registry import available_detectors, get_detector
from sitewatch.errors import SitewatchError
from sitewatch.outdir import MANIFEST

_SCALE = int(os.environ.get("SITEWATCH_PROPERTY_EXAMPLES", "0") or 0)
_RANDOM = os.environ.get("SITEWATCH_PROPERTY_SEED", "") == "random"


def bounded(examples: int) -> Any:
    """Settings of one property: ``examples`` in ``make test`` (or the environment's)."""
    return settings(max_examples=_SCALE or examples, deadline=None, derandomize=not _RANDOM,
                    database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


def check_outcome(r: Any, *, ok_codes: tuple[int, ...] = (0,)) -> bool:
    """A valid result (an ok code) or one error line and exit 1 or 2; never internal.
    Returns whether it succeeded."""
    out = r.stdout + r.stderr
    assert "internal error" not in out and "Traceback" not in out, out
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"escaped: {r.exception!r}")
    event(f"exit code {r.exit_code}")  # the mix shows with --hypothesis-show-statistics
    if r.exit_code in ok_codes:
        return True
    assert r.exit_code in (1, 2), (r.exit_code, out)
    errors = [ln for ln in out.splitlines() if ln.lower().startswith("error:")]
    assert len(errors) == 1, out
    assert len(errors[0]) > len("error: ") + 10, errors  # says something
    return False


# -- strategies ------------------------------------------------------------------------------
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                   st.floats(-200, 200), st.sampled_from([0.0, -0.0, 90.0, -90.0, 180.0,
                                                          -180.0, 1e308, -1e-320]))
NEAR = st.floats(-0.02, 0.02)  # around Apple Park: some generated sites are usable


def _num(x: float) -> str:
    return repr(x) if math.isfinite(x) else str(x)


@st.composite
def bbox_strings(draw: Any) -> str:
    if draw(st.booleans()):
        vals = [draw(FLOATS) for _ in range(draw(st.integers(2, 5)))]
    else:  # near a real place, sometimes tiny, sometimes reversed
        x0, y0 = -122.0135 + draw(NEAR), 37.325 + draw(NEAR)
        vals = [x0, y0, x0 + draw(st.floats(-0.02, 0.05)), y0 + draw(st.floats(-0.02, 0.05))]
    sep = draw(st.sampled_from([",", ", ", " ", ";", ",,"]))
    return sep.join(_num(v) for v in vals)


COORD = st.one_of(FLOATS, st.none(), st.text(max_size=3), st.booleans(), st.integers(-400, 400))


@st.composite
def rings(draw: Any) -> Any:
    n = draw(st.integers(0, 6))
    if draw(st.booleans()):
        x0, y0 = -122.0135 + draw(NEAR), 37.325 + draw(NEAR)
        pts = [[x0 + draw(st.floats(0, 0.01)), y0 + draw(st.floats(0, 0.01))] for _ in range(n)]
        if pts:
            pts.append(pts[0])
        return pts
    return draw(st.lists(st.lists(COORD, max_size=3), max_size=n))


@st.composite
def geojson(draw: Any) -> Any:
    geom_type = draw(st.sampled_from(["Polygon", "MultiPolygon", "Point", "LineString",
                                      "GeometryCollection", "Polygonn", 7]))
    coords: Any = [draw(rings())]
    if geom_type == "MultiPolygon":
        coords = [coords, [draw(rings())]]
    geom: Any = {"type": geom_type, "coordinates": coords}
    if draw(st.booleans()):
        geom = draw(st.sampled_from([None, [], "x", {"type": "Polygon"}, geom]))
    kind = draw(st.sampled_from(["geometry", "feature", "collection"]))
    props = draw(st.one_of(st.none(), st.just("text"), st.dictionaries(
        st.sampled_from(["id", "name", "x"]), st.one_of(st.text(max_size=5), FLOATS),
        max_size=2)))
    if kind == "geometry":
        return geom
    feat = {"type": "Feature", "properties": props, "geometry": geom}
    if kind == "feature":
        return feat
    return {"type": "FeatureCollection",
            "features": draw(st.lists(st.just(feat), max_size=3))}


SITE_TEXT = st.one_of(
    bbox_strings(),
    geojson().map(lambda g: json.dumps(g, allow_nan=True)),
    st.text(alphabet="-0123456789.,; eE+POLYGON()abc{}[]\"", max_size=40),
    st.builds(lambda a, b: f"POLYGON(({a} {b}, {a} 1, 1 1, {a} {b}))",
              FLOATS.map(_num), FLOATS.map(_num)),
    st.sampled_from(["cupertino-apple-park", "no-such-site", "", "-", "--", "-1",
                     "sinuiju-customs", "~/nope.geojson", "/dev/null", "."]),
)


# -- sites ----------------------------------------------------------------------------------
@bounded(120)
@given(site=SITE_TEXT, merge=st.booleans())
def test_any_site_text_is_a_valid_site_or_one_clear_error(site: str, merge: bool) -> None:
    args = ["aoi", "show", site, "--grid"] + (["--merge"] if merge else [])
    r = run_cli(args)
    if check_outcome(r):
        feat = json.loads(r.stdout)
        grid = feat["properties"]["grid"]
        assert min(grid["width"], grid["height"]) >= MIN_SITE_PIXELS
        if site.strip().startswith("{") or "," in site:  # a user site, parsed again the same
            assert parse_site(site, merge=merge).id == feat["id"]


@bounded(80)
@given(obj=geojson(), merge=st.booleans())
def test_any_geojson_object_in_python_is_a_site_or_a_sitewatch_error(obj: Any,
                                                                      merge: bool) -> None:
    try:
        s = parse_site(obj, merge=merge)
    except SitewatchError as err:
        assert str(err) and "\n" not in str(err)
        return
    minx, miny, maxx, maxy = s.bounds
    assert all(math.isfinite(v) for v in s.bounds) and minx <= maxx and miny <= maxy
    assert s.geometry.is_valid and s.geometry.area > 0


# -- dates ------------------------------------------------------------------------------------
#: Dates around the bundled sample's two scenes (2015-09-18, 2018-03-26), so some runs
#: succeed, and anything else.
DATE = st.one_of(st.dates().map(lambda d: d.isoformat()),
                 st.dates(min_value=_dt.date(2014, 6, 1), max_value=_dt.date(2019, 6, 1))
                 .map(lambda d: d.isoformat()),
                 st.sampled_from(["2015-01-01", "2015-09-18", "2015-12-31", "2018-01-01",
                                  "2018-03-26", "2018-12-31"]),
                 st.sampled_from(["2015-02-30", "2015-13-01", "15-01-01", "2015/01/01",
                                  "2015-01-01T00:00:00Z", "yesterday", "", " 2016-01-01 "]))
WINDOW = st.one_of(st.builds(lambda a, b: f"{a}/{b}", DATE, DATE),
                   st.sampled_from(["2015-06-01/2015-12-31", "2018-01-01/2018-06-30"]))


@bounded(40)
@given(start=DATE, end=DATE, every=st.one_of(
    st.sampled_from(["year", "quarter", "fortnight", "", "2015-01-01/2015-12-31",
                     "2018-12-31/2018-01-01"]),
    st.builds(lambda a, b: f"{a}/{b}", DATE, DATE)))
@example(start="2015-01-01", end="2018-12-31", every="year")  # the success path, always
@example(start="2015-09-18", end="2018-03-26", every="2015-06-01/2015-12-31")
def test_any_dates_fetch_or_fail_clearly(start: str, end: str, every: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        r = run_cli(["fetch", "cupertino-apple-park", "--source", "sample", "--bands", "B04",
                     "--from", start, "--to", end, "--every", every, "--no-cache",
                     "--out", Path(d) / "o"])
        if check_outcome(r):
            manifest = json.loads((Path(d) / "o" / "epochs.json").read_text())
            assert manifest["epochs"]


@bounded(25)
@given(before=WINDOW, after=st.one_of(WINDOW, st.text(max_size=12)))
@example(before="2015-06-01/2015-12-31", after="2018-01-01/2018-06-30")  # a valid run
def test_any_detect_windows_are_checked_before_work(before: str, after: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        r = run_cli(["detect", "cupertino-apple-park", "--before", before, "--after", after,
                     "--method", "cva", "--out", Path(d) / "o"])
        if check_outcome(r):
            assert (Path(d) / "o" / "summary.json").exists()


# -- detector parameters and numbers ----------------------------------------------------------
VALUE = st.one_of(FLOATS.map(_num), st.integers(-5, 40).map(str),
                  st.sampled_from(["true", "no", "none", "far", "otsu", "bimodal", "chi2",
                                   "gamma", "empirical", "", "1e309", "-0", "0x10", "default"]),
                  st.text(max_size=6))


@st.composite
def param_sets(draw: Any) -> tuple[str, dict[str, str]]:
    name = draw(st.sampled_from(available_detectors()))
    names = [p.name for p in get_detector(name).parameters] + ["min_area_m2", "farr", "x"]
    keys = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
    return name, {k: draw(VALUE) for k in keys}


@bounded(150)
@given(case=param_sets())
def test_any_parameters_are_typed_and_in_range_or_refused(case: tuple[str, dict[str, str]]
                                                          ) -> None:
    name, given_params = case
    info = get_detector(name)
    try:
        values = info.check_params(given_params)
    except SitewatchError as err:
        assert "\n" not in str(err)
        return
    for p in info.parameters:
        v = values[p.name]
        if v is None:
            assert p.optional
        elif isinstance(v, str) and p.kind is not str:
            assert v in p.choices
        elif p.kind is bool:
            assert isinstance(v, bool)
        elif p.kind is str:
            assert isinstance(v, str) and (not p.choices or v in p.choices)
        else:
            assert math.isfinite(v) and not isinstance(v, bool)
            assert p.low is None or v > p.low or (v == p.low and not p.low_open)
            assert p.high is None or v < p.high or (v == p.high and not p.high_open)
        if p.name in given_params:
            assert p.applies_to(values)  # never a parameter given and then not used


@pytest.fixture(scope="module")
def sandbox() -> Any:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "mine").mkdir()
        (root / "mine" / "notes.txt").write_text("the user's")
        pair = make_pair(root)
        yield root, pair


@bounded(40)
@given(method=st.sampled_from(["cva", "irmad", "pcakmeans", "indices", "s1-omnibus"]),
       params=st.lists(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(
           ["threshold", "far", "bulk", "normalize", "block", "variance", "max_iter", "tol",
            "enl", "min_area_m2", "null_family", "x"]), VALUE), max_size=3),
       min_area=st.one_of(st.none(), VALUE), bands=st.one_of(
           st.none(), st.sampled_from(["B02,B03", "B04", "B99", ",", "B02,B02,B08", ""])))
def test_any_detect_files_command_line_is_a_result_or_a_usage_error(
        sandbox: Any, method: str, params: list[str], min_area: str | None,
        bands: str | None) -> None:
    root, (before, after) = sandbox
    around = snapshot(root)
    with tempfile.TemporaryDirectory(dir=root) as d:
        out = Path(d) / "o"
        args = ["detect-files", before, after, "--method", method, "--out", out,
                *[x for p in params for x in ("-p", p)]]
        if min_area is not None:
            args += ["--min-area", min_area]
        if bands is not None:
            args += ["--bands", bands]
        r = run_cli(args)
        if check_outcome(r):
            s = json.loads((out / "summary.json").read_text())
            assert s["detector"]["min_area_m2"] >= 0
            given_keys = {p.partition("=")[0] for p in params}
            assert given_keys <= set(s["detector"]["params"])  # what was given was applied
        else:
            assert not out.exists()  # a refused or failed run leaves nothing behind
    assert snapshot(root, skip=lambda p: _scratch(root, p)) == {
        k: v for k, v in around.items() if not k.startswith("tmp")}


def _scratch(root: Path, p: Path) -> bool:
    """The per-example folders that hold --out (everything around them is checked)."""
    return p.relative_to(root).parts[0].startswith("tmp")


# -- corrupt files ------------------------------------------------------------------------------
@bounded(40)
@given(kind=st.sampled_from(["truncate", "flip", "random", "empty", "text"]),
       cut=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
def test_any_corrupt_raster_is_a_clear_error(sandbox: Any, kind: str, cut: float,
                                             seed: int) -> None:
    root, (before, after) = sandbox
    data = before.read_bytes()
    import random

    rng = random.Random(seed)
    if kind == "truncate":
        bad = data[: int(len(data) * cut)]
    elif kind == "flip":
        b = bytearray(data)
        for _ in range(1 + int(cut * 50)):
            i = rng.randrange(len(b))
            b[i] = rng.randrange(256)
        bad = bytes(b)
    elif kind == "random":
        bad = bytes(rng.randrange(256) for _ in range(1 + int(cut * 4000)))
    elif kind == "empty":
        bad = b""
    else:
        bad = b"<html>Service Unavailable</html>"
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "before.tif"
        p.write_bytes(bad)
        r = run_cli(["detect-files", p, after, "--method", "cva", "--out", Path(d) / "o"])
        check_outcome(r)
        gj = Path(d) / "site.geojson"
        gj.write_bytes(bad[:2000])
        check_outcome(run_cli(["aoi", "show", gj]))
        wl = Path(d) / "watch.yaml"
        wl.write_bytes(bad[:2000])
        check_outcome(run_cli(["watch", wl, "--workers", "0", "--out", Path(d) / "w"]),
                      ok_codes=(0, 3))
        ep = Path(d) / "epochs"
        ep.mkdir()
        (ep / "epochs.json").write_bytes(bad[:2000])
        check_outcome(run_cli(["timeline", "--epochs", ep, "--out", Path(d) / "t"]))


# -- output folders -------------------------------------------------------------------------------
ENTRY = st.sampled_from(["summary.json", "thesis.docx", ".git/HEAD", "photos/a.jpg",
                         "changes.geojson", "change_mask.tif", "src/x.py", ".hidden"])


@bounded(40)
@given(earlier=st.booleans(), foreign=st.lists(ENTRY, max_size=3, unique=True),
       edit=st.booleans(), overwrite=st.booleans())
def test_any_output_folder_is_used_or_refused_never_lost(sandbox: Any, earlier: bool,
                                                         foreign: list[str], edit: bool,
                                                         overwrite: bool) -> None:
    root, (before, after) = sandbox
    with tempfile.TemporaryDirectory(dir=root) as d:
        out = Path(d) / "o"
        out.mkdir()
        if earlier:
            r = run_cli(["detect-files", before, after, "--method", "cva", "--out", out])
            assert r.exit_code == 0, r.output
            if edit:
                with open(out / "summary.json", "a") as fh:
                    fh.write(" ")
        ours = set(json.loads((out / MANIFEST).read_text())["files"]) if earlier else set()
        for rel in foreign:
            p = out / rel
            if rel in ours:
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(f"the user's {rel}")
        theirs = {k: v for k, v in snapshot(out).items() if k.split("/")[0] not in ours
                  and k != MANIFEST}
        snap = snapshot(out)
        r = run_cli(["detect-files", before, after, "--method", "cva", "--out", out]
                    + (["--overwrite"] if overwrite else []))
        if check_outcome(r):
            assert not theirs and not (earlier and (edit or not overwrite))
            assert (out / "summary.json").exists()
        else:
            assert snapshot(out) == snap  # refused: nothing touched at all
        now = snapshot(out)
        for rel, state in theirs.items():
            assert now.get(rel) == state  # the user's files, as they were
