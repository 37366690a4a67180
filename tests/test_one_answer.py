"""One run, one answer: `sitewatch demo` and `sitewatch report` state the same totals in every
output, each layer's provenance names its detector, and every polygon written is valid.

The detector is read from the run's own summary, never assumed: whichever detector is the
default, the outputs must agree with it and with each other.
"""

from __future__ import annotations

import csv
import html as htmllib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from shapely.geometry import shape

from sitewatch.cli.main import cli
from sitewatch.detectors.composition import landscaped
from sitewatch.imagery.io import read_raster
from sitewatch.types import CHANGE_TYPE_NAMES, ChangeType

TOLERANCE = 0.005  # 0.5 %


def _area(text: str) -> float:
    """'811,000 m²' -> 811000; '1.2 km²' -> 1.2e6."""
    m = re.fullmatch(r"([\d,.]+) (m²|km²)", text.strip())
    assert m, text
    return float(m.group(1).replace(",", "")) * (1e6 if m.group(2) == "km²" else 1)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(abs(a), abs(b))


def _svg_texts(path: Path) -> list[str]:
    return ["".join(t.itertext()) for t in ET.parse(path).iter() if t.tag.endswith("text")]


def _report_provenance(page: str) -> dict:
    """The provenance JSON embedded in a report page."""
    m = re.search(r'<section[^>]*id="provenance".*?<pre[^>]*>(.*?)</pre>', page, re.S)
    assert m, "the report has a provenance section"
    return json.loads(htmllib.unescape(m.group(1)))


def _report_total(page: str) -> float:
    """The headline area of a report's facts ("Detected change")."""
    text = re.sub(r"<[^>]+>", " ", page)
    m = re.search(r"Detected change\s+([\d,.]+ (?:m²|km²)) in (\d+) regions", text)
    assert m, "the report states the detected change"
    return _area(m.group(1))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("one-answer") / "demo"
    r = CliRunner().invoke(cli, ["demo", "--out", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    report = out.parent / "report.html"
    r2 = CliRunner().invoke(cli, ["report", "cupertino-apple-park", "--source", "sample",
                                  "-o", str(report)], catch_exceptions=False)
    assert r2.exit_code == 0, r2.output
    return out, report, r.output


def test_every_output_states_the_same_total(demo):
    out, report, _ = demo
    summary = json.loads((out / "summary.json").read_text())
    total = summary["results"]["changed_area_m2"]
    n = summary["results"]["regions"]
    assert total > 0 and n > 0
    with open(out / "changes.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    fc = json.loads((out / "changes.geojson").read_text())
    assert len(rows) == len(fc["features"]) == n
    totals = {
        "changes.csv": sum(float(r["area_m2"]) for r in rows),
        "changes.geojson": sum(f["properties"]["area_m2"] for f in fc["features"]),
        "summary.json area by type": sum(summary["results"]["area_by_type_m2"].values()),
        "summary.json layers": summary["layers"]["change"]["changed_area_m2"],
    }
    # the figure's headline (SVG keeps its text as text)
    caption = next(t for t in _svg_texts(out / "before_after.svg")
                   if t.startswith("Change detected between"))
    m = re.search(r": ([\d,.]+ (?:m²|km²)) in (\d+) regions", caption)
    assert m, caption
    totals["figure caption"] = _area(m.group(1))
    assert int(m.group(2)) == n
    # both reports: the demo's and the one `sitewatch report` writes on its own
    for name, page in (("demo report.html", (out / "report.html").read_text()),
                       ("sitewatch report", report.read_text())):
        totals[name] = _report_total(page)
        assert f"{n} regions" in page
    bad = {k: v for k, v in totals.items() if not _close(v, total)}
    assert not bad, f"summary.json says {total} m²; these differ by more than 0.5 %: {bad}"
    # and the mask: the pixels behind the number
    mask = read_raster(out / "change_mask.tif")
    px = float((mask.pixel_area_m2() * (mask.data[0] == 1)).sum())
    assert _close(px, total)


def test_each_layer_names_its_detector(demo):
    out, report, _ = demo
    summary = json.loads((out / "summary.json").read_text())
    method = summary["detector"]["method"]
    layers = summary["layers"]
    assert layers["change"]["detector"] == method
    # the timelapse and progress show the layer they name, whose detector they carry
    for name in ("timelapse", "progress"):
        assert layers[name]["detector"] == layers[layers[name]["shows"]]["detector"]
    if "timeline" not in layers:  # two clear epochs: one result everywhere
        assert layers["timelapse"]["detector"] == method
    sidecars = {"figure": out / "before_after.provenance.json",
                "web figure": out / "before_after_web.provenance.json",
                "regions": out / "changes.provenance.json",
                "table": out / "changes.provenance.json",
                "timelapse": out / "timelapse.provenance.json"}
    for what, path in sidecars.items():
        rec = json.loads(path.read_text())
        expected = layers["timelapse"]["detector"] if what == "timelapse" else method
        assert rec["detector"]["method"] == expected, what
    assert json.loads((out / "timelapse.provenance.json").read_text())["detector"]["layer"] \
        == layers["timelapse"]["shows"]
    assert json.loads((out / "changes.geojson").read_text())["properties"]["detector"] == method
    for tif in ("change_mask.tif", "change_magnitude.tif"):
        assert read_raster(out / tif).provenance.processing["detector"] == method
    for page in ((out / "report.html").read_text(), report.read_text()):
        prov = _report_provenance(page)
        assert prov["detector"]["method"] == method
        assert prov["layers"] == json.loads(json.dumps(layers))


def test_every_polygon_is_valid_and_regions_are_named_by_their_composition(demo):
    out, _, _ = demo
    fc = json.loads((out / "changes.geojson").read_text())
    labels = set(CHANGE_TYPE_NAMES.values())
    for f in fc["features"]:
        g = shape(f["geometry"])
        assert g.is_valid and not g.is_empty, f["id"]
        p = f["properties"]
        shares = p["composition"]
        assert sum(shares.values()) == pytest.approx(1.0, abs=0.01)
        top = max(shares, key=shares.get)
        codes = {int(ChangeType[k.upper()]): v for k, v in shares.items()}
        if abs(shares[top] - 0.5) > 0.001:  # shares are rounded to 0.001
            dominant = shares[top] > 0.5 and not (top == "vegetation" and landscaped(codes))
            assert p["change_type"] == (top if dominant else "mixed")
        assert p["change_type_label"] in labels
        assert p["name"].split(":")[0] in labels | {
            "construction completed", "construction under way", "demolition and clearing",
            "mixed change"}
    # the largest region (Apple Park, a campus built between the dates) is not typed
    # vegetation or water
    largest = max(fc["features"], key=lambda f: f["properties"]["area_m2"])["properties"]
    assert largest["change_type"] not in ("vegetation", "water")
    assert not largest["name"].startswith(("vegetation", "water"))


def test_one_vocabulary_in_tables_figure_and_report(demo):
    out, report, _ = demo
    labels = set(CHANGE_TYPE_NAMES.values())
    slugs = {c.slug for c in ChangeType}
    with open(out / "changes.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            assert row["change_type"] in slugs and row["change_type_label"] in labels
            assert all(part.split(":")[0] in slugs for part in row["composition"].split(";"))
    # the figure's legend: class names, the light-filled smaller regions, the site outline
    texts = _svg_texts(out / "before_after.svg")
    legend = [t for t in texts if t in labels or t.startswith("smaller changes")]
    assert legend and all(t in labels or t.startswith("smaller changes (") for t in legend)
    for retired in ("change of undecided type", "detected change"):
        assert retired not in " ".join(texts)
        assert retired not in report.read_text()


def test_at_most_25_outlines_and_the_rest_counted(demo):
    out, _, _ = demo
    summary = json.loads((out / "summary.json").read_text())
    n = summary["results"]["regions"]
    texts = _svg_texts(out / "before_after.svg")
    caption = next(t for t in texts if t.startswith("Change detected between"))
    if n > 25:
        assert "the 25 largest outlined" in caption
        assert f"smaller changes ({n - 25} regions), not outlined" in texts


def test_the_run_says_what_it_skipped(tmp_path, monkeypatch):
    import sitewatch.annotate.animation as animation

    monkeypatch.setattr(animation, "find_ffmpeg", lambda: None)
    monkeypatch.setattr(animation.shutil, "which", lambda name: None)
    out = tmp_path / "demo"
    r = CliRunner().invoke(cli, ["demo", "--out", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert not (out / "timelapse.mp4").exists() and (out / "timelapse.gif").exists()
    notes = json.loads((out / "summary.json").read_text())["notes"]
    skipped = [n for n in notes if n.startswith("MP4 skipped")]
    assert len(skipped) == 1 and "imageio-ffmpeg" in skipped[0]
    assert skipped[0] in r.output  # one line in the run summary


def _series_run():
    """A 12-quarter synthetic site (a road, a yard) through :func:`run_epochs`: a timeline."""
    import sys

    from shapely.geometry import box

    sys.path.insert(0, str(Path(__file__).resolve().parent / "timeline"))
    from timeline_helpers import ASPHALT, CRS, SOIL, TRANSFORM, make_epochs, make_series

    from sitewatch.aoi.site import Site
    from sitewatch.geometry import reproject_geometry
    from sitewatch.pipeline.report import run_epochs

    s = make_series(12, (40, 40), changes=[((slice(4, 10), slice(3, 27)), 5, ASPHALT),
                                           ((slice(16, 26), slice(4, 14)), 8, SOIL)])
    eps = make_epochs(s.stack, start="2020-01-01")
    x0, y0 = TRANSFORM.c, TRANSFORM.f
    outline = reproject_geometry(box(x0 - 50, y0 - 450, x0 + 450, y0 + 50), CRS, "EPSG:4326")
    site = Site("synthetic", "Synthetic site", outline)
    return run_epochs(site, eps, source="test", start="2020-01-01", end="2022-12-31",
                      every="quarter")


def test_a_timeline_and_the_two_date_result_are_labelled_and_reconciled(tmp_path):
    from sitewatch.pipeline.report import write_site_outputs
    from sitewatch.pipeline.timeline_outputs import write_timeline_outputs

    run = _series_run()
    assert run.timeline is not None
    paths = write_site_outputs(run, tmp_path, formats=("svg",), preset="web")
    summary = json.loads(paths["summary"].read_text())
    layers = summary["layers"]
    method, tl_method = run.result.change.method, run.timeline.params["detector"]
    assert layers["change"]["detector"] == summary["detector"]["method"] == method
    assert layers["timeline"]["detector"] == tl_method
    assert layers["timelapse"]["shows"] == layers["progress"]["shows"] == "timeline"
    side = json.loads((tmp_path / "timelapse.provenance.json").read_text())
    assert side["detector"]["method"] == tl_method and side["detector"]["layer"] == "timeline"
    rec = summary["reconciliation"]
    assert rec["two_date_m2"] == pytest.approx(summary["results"]["changed_area_m2"], abs=1)
    assert rec["both_m2"] + rec["two_date_only_m2"] == pytest.approx(rec["two_date_m2"], abs=1)
    assert rec["both_m2"] + rec["timeline_only_m2"] == pytest.approx(rec["timeline_m2"], abs=1)
    assert rec["timeline_m2"] == pytest.approx(run.timeline.changed_area_m2, abs=1)
    assert rec["both_m2"] > 0
    page = paths["report"].read_text()
    assert 'id="two-measures"' in page and 'id="events"' in page
    text = re.sub(r"<[^>]+>", " ", page)
    assert "Lasting change" in text and "(two-date comparison)" in text
    assert page.index('id="two-measures"') > page.index('id="fig-false-colour"')
    prov = _report_provenance(page)
    assert prov["layers"]["timeline"]["detector"] == tl_method
    assert prov["reconciliation"]["both_m2"] == pytest.approx(rec["both_m2"], abs=1)
    # the timeline's own polygons are valid too
    tl_paths = write_timeline_outputs(run.timeline, tmp_path / "timeline", figure=False)
    for name in ("events", "first_change"):
        for f in json.loads(tl_paths[name].read_text())["features"]:
            assert shape(f["geometry"]).is_valid, (name, f["id"])


def test_the_readme_lists_every_class_by_its_one_name():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("### Change classes", 1)[1].split("\n#", 1)[0]
    rows = dict(re.findall(r"^\| `([a-z]+)` \| ([^|]+?) \|", table, re.M))
    assert rows == {c.slug: c.label for c in ChangeType if c is not ChangeType.NONE}
