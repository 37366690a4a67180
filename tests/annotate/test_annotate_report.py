"""The site report: self-contained HTML, checked in a real headless Chromium."""

from __future__ import annotations

import re

import pytest

from sitewatch.annotate.report_html import ReportPage, Section, Table, render_report
from sitewatch.pipeline.report import run_site, write_report

from .headless_browser import Browser, find_chromium


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    run = run_site("cupertino-apple-park", source="sample", every="year")
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(run, path, command=["sitewatch", "report", "cupertino-apple-park"])
    return run, path


def test_report_is_self_contained_and_complete(sample_report):
    run, path = sample_report
    html = path.read_text(encoding="utf-8")
    # no reference to anything outside the file
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs and all(r.startswith("data:") for r in refs), refs[:5]
    assert "<link" not in html and "@import" not in html and "url(" not in html
    for section in ("before-after", "swipe", "timelapse", "progress", "regions", "scenes",
                    "provenance"):
        assert f'id="{section}"' in html, section
    # two clear epochs: no timeline, one answer, and the page says why
    assert run.timeline is None and 'id="events"' not in html
    assert "a timeline needs three or more" in html
    assert html.count('id="fig-progress"') == 0
    for sid in run.result.scene_ids:  # every scene used is listed
        assert sid in html
    assert "Contains modified Copernicus Sentinel data 2015, 2018" in html
    assert "Daudt" in html and "sitewatch report cupertino-apple-park" in html
    assert html.count("data:image/gif") == 1 and html.count("data:image/png") >= 4


def test_report_escapes_text():
    page = render_report(ReportPage(title="<script>alert(1)</script>", sections=[
        Section("t", text="a & b", table=Table(["x"], [["<img src=x onerror=alert(1)>"]]))]))
    assert "<script>alert(1)" not in page and "&lt;img src=x" in page and "a &amp; b" in page


def test_report_in_headless_chromium_loads_offline_without_errors(sample_report):
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium not installed (Debian: apt-get install chromium; `make test` "
                    "installs it when it can): the report was not checked in a browser")
    _, path = sample_report
    with Browser(exe) as browser:
        page = browser.open(path)
    assert page.errors == [], page.errors
    # offline: the page asked for nothing but itself and its inline data
    assert [u for u in page.requests if not u.startswith(("data:", "file:"))] == []
    assert page.title.startswith("Apple Park")
    figures = {i["id"] for i in page.images if i["id"]}
    assert {"fig-before-after", "fig-false-colour", "fig-timelapse"} <= figures
    assert len(page.images) >= 5  # + the two swipe images
    for img in page.images:  # every image decoded and laid out at a visible size
        assert img["complete"] and img["naturalWidth"] > 100, img
        assert img["width"] > 100 and img["height"] > 100, img
        assert img["scheme"] == "data"


def test_two_epochs_make_no_timeline_and_say_so():
    run = run_site("cupertino-apple-park", source="sample",
                   every=[("2015-01-01", "2015-12-31"), ("2018-01-01", "2018-12-31")])
    assert run.timeline is None and "three or more" in run.notes[0]
    assert run.first_change.max() == 1 and (run.first_change == 1).sum() == \
        run.result.change.mask.sum()  # the two-date change, dated to the second epoch
