"""A site over time: epochs, change between the ends, figures, animation and the report.

:func:`run_site` fetches one composite per epoch from any source and detects
change between the first and the last clear epochs; :func:`write_site_outputs`
writes the figures, the timelapse and the tables with their provenance, and
:func:`write_report` one self-contained HTML page with all of it.

One run, one answer: the figure, the regions (GeoJSON, CSV), the summary and the
headline come from one two-date result; the timelapse and the progress table show
that same result, dated by epoch, unless the site has three clear epochs or more.
Then a timeline (:mod:`sitewatch.pipeline.timeline`) measures lasting change over
the whole series, drives the timelapse, the progress chart and the events, and the
report says what each measures and reconciles the two (:meth:`SiteRun.reconcile`).
Every output's provenance names the detector of the layer it shows
(:meth:`SiteRun.layers`).

Examples
--------
>>> run = run_site("cupertino-apple-park", source="sample", every="year")
>>> [e.label for e in run.epochs], [e.is_gap for e in run.epochs]
(['2015', '2016', '2017', '2018'], [False, True, True, False])
>>> run.result.after.dates
('2018-03-26',)
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sitewatch._version import __version__
from sitewatch.aoi import resolve_site
from sitewatch.aoi.site import Site
from sitewatch.attribution import OSCD_CREDIT, copernicus_attribution
from sitewatch.bands import S2_LAND_BANDS
from sitewatch.imagery.cache import TileCache
from sitewatch.imagery.epochs import Epoch, ProgressFn
from sitewatch.imagery.sources import get_source
from sitewatch.pipeline.change import DEFAULT_MIN_AREA_M2, detect_change, detect_change_epochs
from sitewatch.pipeline.result import ChangeResult

__all__ = ["SiteRun", "run_site", "run_epochs", "write_site_outputs", "write_site_timelapse",
           "build_report", "write_report"]

log = logging.getLogger(__name__)


@dataclass
class SiteRun:
    """Epochs of a site and the change between its first and last clear epochs."""

    site: Site
    source: str
    start: str
    end: str
    every: str | Sequence[tuple[str, str]]
    epochs: list[Epoch]
    result: ChangeResult
    first_change: np.ndarray
    first_change_method: str
    credits: list[str] = field(default_factory=list)
    timeline: Any = None
    notes: list[str] = field(default_factory=list)
    first_change_type: np.ndarray | None = None

    @property
    def rasters(self) -> list[Any]:
        return [e.raster for e in self.epochs]

    @property
    def labels(self) -> list[str]:
        return [e.label for e in self.epochs]

    @property
    def frame_types(self) -> np.ndarray | None:
        """Change types to colour the timelapse with (the timeline's, else the two-date's)."""
        if self.first_change_type is not None:
            return self.first_change_type
        return self.result.change.change_type

    @property
    def scenes(self) -> list[Any]:
        return [s for e in self.epochs for s in e.scenes]

    @property
    def overlay_layer(self) -> str:
        """The layer the timelapse and the progress show: ``timeline`` or ``change``."""
        return "timeline" if self.timeline is not None else "change"

    def layers(self) -> dict[str, dict[str, Any]]:
        """What produced each layer of the run's outputs, and what it measures.

        ``change`` (figure, regions, masks, summary, headline) is the two-date
        result; ``timeline`` exists with three clear epochs or more; ``timelapse``
        and ``progress`` name the layer they show.
        """
        res, ch = self.result, self.result.change
        d0, d1 = ", ".join(res.before.dates), ", ".join(res.after.dates)
        out: dict[str, dict[str, Any]] = {"change": {
            "detector": ch.method,
            "measures": f"change between {d0} and {d1}, the first and last clear epochs, "
                        "by two-date comparison",
            "changed_area_m2": round(res.changed_area_m2, 1), "regions": len(res.regions),
            "outputs": ["change_mask.tif", "change_magnitude.tif", "changes.geojson",
                        "changes.csv", "before_after.*", "summary.json"]}}
        if self.timeline is not None:
            tl = self.timeline
            out["timeline"] = {
                "detector": tl.params.get("detector"),
                "measures": "first lasting change per pixel over every epoch, by the timeline",
                "changed_area_m2": round(tl.changed_area_m2, 1), "events": len(tl.events),
                "persistence": tl.params.get("persistence")}
        src = out[self.overlay_layer]
        for name in ("timelapse", "progress"):
            out[name] = {"detector": src["detector"], "shows": self.overlay_layer,
                         "measures": src["measures"] if self.timeline is not None else
                         f"{src['measures']}, dated to the first epoch that shows it",
                         "outputs": ["timelapse.gif", "timelapse.mp4"]
                         if name == "timelapse" else ["report.html"]}
        return out

    def reconcile(self) -> dict[str, float] | None:
        """Areas (m²) found by the two-date result and by the timeline, both and each alone.

        None without a timeline (every output then shows the two-date result).
        """
        if self.timeline is None:
            return None
        area = np.broadcast_to(self.result.before.pixel_area_m2(), self.first_change.shape)
        two, lasting = self.result.change.mask, np.asarray(self.timeline.changed, bool)
        return {"two_date_m2": float(area[two].sum()), "timeline_m2": float(area[lasting].sum()),
                "both_m2": float(area[two & lasting].sum()),
                "two_date_only_m2": float(area[two & ~lasting].sum()),
                "timeline_only_m2": float(area[~two & lasting].sum())}


def _first_change(epochs: Sequence[Epoch], i0: int, result: ChangeResult, *,
                  method: str | None, min_area_m2: float,
                  params: dict[str, Any] | None = None) -> np.ndarray:
    """Index of the first epoch whose pixel differs from epoch ``i0`` (-1 = never).

    Only the pixels of the two-date result are dated, so the last frame of a
    timelapse shows that result exactly.
    """
    first = np.full(result.change.shape, -1, "int16")
    base = epochs[i0].raster
    assert base is not None
    for k in range(i0 + 1, len(epochs)):
        r = epochs[k].raster
        if r is None:
            continue
        mask = result.change.mask if r is result.after else \
            detect_change(base, r, method=method, min_area_m2=min_area_m2,
                          **(params or {})).change.mask
        first[(first < 0) & mask & result.change.mask] = k
    return first


def run_site(site: str | Site, *, source: str = "sample", start: str | None = None,
             end: str | None = None, every: str | Sequence[tuple[str, str]] = "year",
             method: str | None = None, min_area_m2: float = DEFAULT_MIN_AREA_M2,
             bands: Sequence[str] = S2_LAND_BANDS, source_options: dict[str, Any] | None = None,
             cache: TileCache | bool = True, fetch_options: dict[str, Any] | None = None,
             progress: ProgressFn | None = None,
             detector_params: dict[str, Any] | None = None) -> SiteRun:
    """Build the epochs of a site and detect change between the first and last clear ones.

    The epochs are built as ``sitewatch fetch`` builds them
    (:func:`sitewatch.pipeline.fetch.run_fetch`: cloud screening, median composites of
    the clearest scenes, co-registration) through the same tile cache, so a figure,
    animation or report of a site already fetched reads the scenes from disk.

    Parameters
    ----------
    site : str or Site
        Catalogue id, GeoJSON, bbox or WKT.
    source : str
        Imagery source name (``sample``, ``local``, ``earth-search``...).
    start, end : str, optional
        ISO dates; default the site's ``default_start``/``default_end`` or the
        last five years.
    every : cadence or explicit windows
        ``month``, ``quarter``, ``year``.
    method : str, optional
        Detector.
    min_area_m2 : float
    bands : sequence of str
    source_options : dict, optional
        Passed to the source's constructor.
    cache : TileCache or bool
        The tile cache; True: the shared one for sources that download
        (:func:`~sitewatch.pipeline.fetch.default_cache`), False: none.
    fetch_options : dict, optional
        More options of ``run_fetch`` (``max_scenes``, ``coregister``...).
    progress : callable, optional
        ``progress(stage, done, total)``: the fetch's stages, then ``detect`` and
        ``timeline``.
    detector_params : dict, optional
        Parameters of the detector (``far``, ``threshold``...).
    """
    from sitewatch.pipeline.fetch import default_cache, default_period, run_fetch

    s = site if isinstance(site, Site) else resolve_site(site)
    start, end = default_period(s, start, end)
    src = get_source(source, **(source_options or {}))
    tiles = default_cache(src) if cache is True else (cache or None)
    epochs = run_fetch(s, start, end, every, source=src, bands=bands, cache=tiles,
                       progress=progress, **(fetch_options or {})).epochs
    run = run_epochs(s, epochs, source=source, start=start, end=end, every=every,
                     method=method, min_area_m2=min_area_m2,
                     credits=[OSCD_CREDIT] if source == "sample" else [], progress=progress,
                     detector_params=detector_params)
    if source == "sample":
        from sitewatch.imagery.sources.sample import SampleSource
        from sitewatch.pipeline.change import score_against

        if isinstance(src, SampleSource):
            run.result.metrics = score_against(run.result, src.labels())
    return run


def run_epochs(site: Site, epochs: list[Epoch], *, source: str = "", start: str = "",
               end: str = "", every: str | Sequence[tuple[str, str]] = "",
               method: str | None = None, min_area_m2: float = DEFAULT_MIN_AREA_M2,
               credits: Sequence[str] = (), progress: ProgressFn | None = None,
               detector_params: dict[str, Any] | None = None) -> SiteRun:
    """Detect change between the first and last clear epochs; the timeline when there
    are three clear epochs or more (see the module docs).

    ``progress(stage, done, total)`` hears ``detect`` and ``timeline``;
    ``detector_params`` go to the detector.

    Raises
    ------
    NoClearSceneError
        Fewer than two clear epochs.
    """
    tick = progress or (lambda stage, done, total: None)
    params = dict(detector_params or {})
    tick("detect", 0, 1)
    result = detect_change_epochs(epochs, method=method, min_area_m2=min_area_m2, site=site,
                                  **params)
    tick("detect", 1, 1)
    tick("timeline", 0, 1)
    timeline, notes = _timeline(epochs, site, min_area_m2=min_area_m2, method=result.change.method)
    tick("timeline", 1, 1)
    if timeline is not None:
        first = np.where(timeline.changed, timeline.date, -1).astype("int16")
        prm = timeline.params
        how = (f"the timeline's first lasting change per pixel ({prm.get('detector', '?')}, "
               f"confirmed by {prm.get('persistence', '?')} later clear epoch(s))")
        run = SiteRun(site, source, start, end, every, epochs, result, first, how,
                      list(credits), timeline, notes)
        run.first_change_type = timeline.change_type
        return run
    first_clear = next(i for i, e in enumerate(epochs) if e.raster is not None)
    first = _first_change(epochs, first_clear, result, method=method, min_area_m2=min_area_m2,
                          params=params)
    how = (f"the two-date change ({result.change.method}), each pixel dated to the first "
           "epoch that differs from the first clear epoch (no persistence check)")
    return SiteRun(site, source, start, end, every, epochs, result, first, how, list(credits),
                   None, notes)


def _timeline(epochs: Sequence[Epoch], site: Site, *, min_area_m2: float, method: str
              ) -> tuple[Any, list[str]]:
    """The site's timeline (per-pixel first lasting change, events, progress), when possible.

    It needs three clear epochs: with two, a timeline could confirm nothing and would
    only be a second two-date comparison disagreeing with the first. A series too
    short or too cloudy is no error for figures and animations: the reason is
    returned as a note and every output shows the two-date result.
    """
    from sitewatch.errors import SitewatchError
    from sitewatch.pipeline.timeline import run_timeline

    n_clear = sum(e.raster is not None for e in epochs)
    if n_clear < 3:
        return None, [f"{n_clear} clear epochs of {len(epochs)}: a timeline needs three or "
                      f"more, so the timelapse and progress show the two-date change "
                      f"({method}), dated by epoch"]
    try:
        tl = run_timeline(epochs, site=site, min_area_m2=min_area_m2)
    except SitewatchError as err:
        log.info("no timeline: %s", err)
        return None, [f"no timeline ({err}); the timelapse and progress show the two-date "
                      f"change ({method}), dated by epoch"]
    return tl, list(tl.notes)


def write_site_outputs(run: SiteRun, out_dir: str | os.PathLike[str], *,
                       formats: Sequence[str] = ("png", "pdf", "svg"), preset: str = "double",
                       view: str = "true", overlay: str = "outline", figure: bool = True,
                       animate: bool = True, report: bool = True,
                       command: Sequence[str] | None = None) -> dict[str, Path]:
    """Figures, timelapse, tables and the report of a site run, each with its provenance.

    ``summary.json`` is written last: the run's results, what produced each layer
    (:meth:`SiteRun.layers`), the reconciliation of the two-date result with the
    timeline when there is one, and the run's notes (what was skipped and why).
    """
    from sitewatch.pipeline.outputs import write_change_outputs, write_summary

    out = Path(out_dir)
    paths = write_change_outputs(run.result, out, figure=figure,
                                 command=list(command) if command is not None else None,
                                 formats=formats, preset=preset, view=view, overlay=overlay,
                                 extra_credit="; ".join(run.credits), summary=False)
    if animate:
        paths.update(write_site_timelapse(run, out, view=view, command=command))
        if "timelapse_mp4" not in paths:
            run.notes.append(_mp4_note())
    if report:
        assets = {k: paths[p].read_bytes() for k, p in (("before_after", "figure_web"),
                                                         ("timelapse", "timelapse"))
                  if p in paths}
        paths["report"] = write_report(run, out / "report.html", command=command,
                                       assets=assets)
    extra: dict[str, Any] = {"layers": run.layers(), "notes": list(run.notes)}
    if run.timeline is not None:
        extra["reconciliation"] = {k: round(v, 1) for k, v in (run.reconcile() or {}).items()}
    paths["summary"] = write_summary(run.result, out, paths, command=command, extra=extra)
    return paths


def _mp4_note() -> str:
    """Why the MP4 was skipped, in one line."""
    from sitewatch.annotate.animation import find_ffmpeg

    if find_ffmpeg() is None:
        return ("MP4 skipped: no ffmpeg encoder found (pip install imageio-ffmpeg, or "
                "'sitewatch[video]'; `make demo` installs it); the GIF has the same frames")
    return "MP4 skipped: ffmpeg failed (the log says why); the GIF has the same frames"


def write_site_timelapse(run: SiteRun, out_dir: str | os.PathLike[str], *, view: str = "true",
                         overlay: bool | str = True, width_px: int = 800, mp4: bool = True,
                         command: Sequence[str] | None = None) -> dict[str, Path]:
    """The run's timelapse (GIF, MP4 when an encoder exists) with its provenance.

    The overlay shows the layer :meth:`SiteRun.layers` names for it (the timeline's
    lasting change, else the two-date result), and its sidecar names that detector.
    ``overlay`` is ``outline``, ``fill`` or ``none`` (True: outline, False: none).
    """
    style: str = ("outline" if overlay else "none") if isinstance(overlay, bool) else overlay
    overlay = style != "none"
    from sitewatch.pipeline.outputs import write_timelapse

    layer = run.layers()["timelapse"]
    ch = run.result.change
    detector: dict[str, Any] = {"method": layer["detector"], "layer": layer["shows"],
                                "measures": layer["measures"],
                                "first_change": run.first_change_method}
    if run.timeline is not None:
        detector["params"] = run.timeline.params
    else:
        detector.update(params=ch.params, threshold=ch.threshold,
                        min_area_m2=run.result.min_area_m2,
                        changed_area_m2=round(run.result.changed_area_m2, 1),
                        regions=len(run.result.regions))
    return write_timelapse(run.rasters, Path(out_dir), labels=run.labels,
                           first_change=run.first_change if overlay else None,
                           change_type=run.frame_types if overlay else None, view=view,
                           title=run.site.name, credits=run.credits, site=run.site,
                           scenes=run.scenes, detector=detector, command=command,
                           method=_overlay_note(run) if overlay else "", mp4=mp4,
                           width_px=width_px, overlay=style if overlay else "outline")


def _overlay_note(run: SiteRun) -> str:
    """The timelapse's credit note: which layer its overlay shows, by which detector."""
    layer = run.layers()["timelapse"]
    what = "lasting change (timeline)" if layer["shows"] == "timeline" else \
        "the two-date change"
    return f"overlay: {what}, {layer['detector']}"


def _progress_rows(run: SiteRun) -> list[list[Any]]:
    """Per epoch: scenes, clear share, and changed area so far (m²) from the first change."""
    area = np.broadcast_to(run.result.before.pixel_area_m2(), run.first_change.shape)
    rows = []
    for k, e in enumerate(run.epochs):
        new = float(area[run.first_change == k].sum())
        cum = float(area[(run.first_change >= 0) & (run.first_change <= k)].sum())
        clear = float((e.clear_count > 0).mean()) if e.clear_count.size else 0.0
        rows.append([e.label, f"{e.window.start} to {e.window.end}", len(e.scenes),
                     f"{clear:.0%}", "gap" if e.is_gap else "", round(new), round(cum)])
    return rows


def build_report(run: SiteRun, *, command: Sequence[str] | None = None,
                 preset: str = "web", assets: dict[str, bytes] | None = None) -> str:
    """The site report as one self-contained HTML string.

    ``assets`` may hold already rendered ``before_after`` (PNG) and ``timelapse``
    (GIF) bytes to embed instead of drawing them again.
    """
    assets = assets or {}
    from sitewatch.annotate.animation import encode_gif, render_frames
    from sitewatch.annotate.figures import (
        change_figure,
        figure_bytes,
        figure_subtitle,
        show_raster,
    )
    from sitewatch.annotate.provenance import result_provenance
    from sitewatch.annotate.report_html import Image, ReportPage, Section, Table, render_report
    from sitewatch.annotate.style import format_area
    from sitewatch.annotate.views import prepare_view
    from sitewatch.detectors.composition import composition_text, region_title

    res = run.result
    ch = res.change
    layers = run.layers()
    sections: list[Section] = []
    ba = assets.get("before_after") or figure_bytes(change_figure(res, preset=preset,
                                                                   credits=run.credits))
    sections.append(Section("Before and after", id="before-after", images=[Image(
        ba, caption=f"True colour, one stretch for both dates. {figure_subtitle(res)}: the "
        f"two-date comparison ({ch.method}).", id="fig-before-after")]))
    fig_fc = change_figure(res, preset=preset, credits=run.credits, view="false",
                           inset=False, callouts=0,
                           title=f"{run.site.name}: false colour infrared")
    sections[-1].images.append(Image(figure_bytes(fig_fc), caption="False colour infrared "
                                     "(B08, B04, B03): vegetation red, built surfaces grey-blue.",
                                     id="fig-false-colour"))
    if run.timeline is not None:
        sections.append(_two_measures_section(run))
    # swipe pair: the two dates, same stretch, no furniture
    pv = prepare_view([res.before, res.after], "true")
    pair = []
    for r, role in ((res.before, "before"), (res.after, "after")):
        ax = show_raster(r, stretch=pv.stretch, caption="", scalebar=False, north=False,
                         preset=preset)
        pair.append(Image(figure_bytes(ax.figure, dpi=250),  # type: ignore[arg-type]
                          caption=f"{role} {', '.join(r.dates)}"))
    sections.append(Section("Swipe", id="swipe", swipe=(pair[0], pair[1]),
                            text="The same two dates under the same stretch."))
    gif = assets.get("timelapse") or encode_gif(render_frames(
        run.rasters, labels=run.labels, first_change=run.first_change,
        change_type=run.frame_types, title=run.site.name, credits=run.credits, width_px=640,
        method=_overlay_note(run)))
    sections.append(Section("Timelapse", id="timelapse", images=[Image(
        gif, mime="image/gif", caption=f"{len(run.epochs)} epochs ({run.every}); "
        f"{_overlay_note(run)}, each change shown from the epoch it first appears.",
        id="fig-timelapse")]))
    sections.append(_progress_section(run))
    if run.timeline is not None:
        sections.append(_events_section(run))
    sections.append(Section("Largest changes", id="regions", table=Table(
        ["#", "change", "composition", "area m²", "lon", "lat"],
        [[r.id, region_title(r.composition) if r.composition else r.name,
          composition_text(r.composition) if r.composition else "", round(r.area_m2),
          f"{r.centroid_lonlat[0]:.5f}", f"{r.centroid_lonlat[1]:.5f}"]
         for r in res.regions[:15]],
        caption=f"{len(res.regions)} regions of at least {res.min_area_m2:g} m² "
                f"({format_area(res.changed_area_m2)} in all, the two-date comparison, "
                f"{ch.method}); largest 15. A region is named by the type covering more "
                "than half of it, otherwise by its composition.")))
    sections.append(Section("Scenes used", id="scenes", table=Table(
        ["epoch", "scene id", "date", "source", "processing baseline", "cloud %"],
        [[e.label, s.id, s.date, s.source, s.processing_baseline or "", s.cloud_cover]
         for e in run.epochs for s in e.scenes])))
    prov = result_provenance(res, command=command, credits=run.credits, epochs=run.labels,
                             scenes=run.scenes, layers=layers,
                             reconciliation=run.reconcile())
    sections.append(Section("Provenance", id="provenance", json_data=prov,
                            text="Everything needed to trace each number to its scenes."))
    m = res.metrics or {}
    facts = [("Site", f"{run.site.name} ({run.site.id})"),
             ("Dates", f"{run.start} to {run.end}, every {run.every}"),
             ("Source", run.source),
             ("Detected change", f"{format_area(res.changed_area_m2)} in {len(res.regions)} "
                                 f"regions between {', '.join(res.before.dates)} and "
                                 f"{', '.join(res.after.dates)} (two-date comparison)"),
             ("Detector", f"{ch.method}" + (f", threshold {ch.threshold:.3g}"
                                            if ch.threshold is not None else ""))]
    if run.timeline is not None:
        tl = run.timeline
        facts.append(("Lasting change", f"{format_area(tl.changed_area_m2)} in "
                                        f"{len(tl.events)} events over {len(run.epochs)} "
                                        f"epochs (timeline, {layers['timeline']['detector']}); "
                                        "see Two measures of change"))
    if run.notes:
        facts.append(("Notes", " ".join(run.notes)))
    if m.get("f1") is not None:
        facts.append(("Accuracy vs reference", f"precision {m['precision']:.2f}, recall "
                                               f"{m['recall']:.2f}, F1 {m['f1']:.2f}"))
    page = ReportPage(
        title=f"{run.site.name}", subtitle=run.site.description, facts=facts,
        sections=sections,
        footer=[copernicus_attribution([d for r in run.rasters if r is not None
                                        for d in r.dates]) + ".", *run.credits,
                f"Made with sitewatch {__version__} on "
                f"{_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')}."])
    return render_report(page)


def _two_measures_section(run: SiteRun) -> Any:
    """What the two-date result and the timeline each measure, and where they agree."""
    from sitewatch.annotate.report_html import Section, Table
    from sitewatch.annotate.style import format_area

    layers, rec = run.layers(), run.reconcile()
    assert rec is not None
    two, tl = layers["change"], layers["timeline"]
    text = (f"The before/after figure, the regions table, changes.geojson, changes.csv and "
            f"summary.json measure the {two['measures']} ({two['detector']}): "
            f"{format_area(rec['two_date_m2'])}. The timelapse, the progress chart and the "
            f"events measure the {tl['measures']} ({tl['detector']}; a change must be "
            f"confirmed by {tl.get('persistence', '?')} later clear epoch(s)): "
            f"{format_area(rec['timeline_m2'])}. Both find {format_area(rec['both_m2'])}; "
            f"{format_area(rec['two_date_only_m2'])} is only in the two-date comparison "
            "(changes the timeline did not confirm as lasting, set aside as transient, or "
            f"sees as pending), {format_area(rec['timeline_only_m2'])} only in the timeline "
            "(lasting changes the two-date detector did not flag, or that reverted by the "
            "last epoch).")
    rows = [["two-date comparison", two["detector"], round(rec["two_date_m2"]),
             round(rec["two_date_only_m2"])],
            ["timeline", tl["detector"], round(rec["timeline_m2"]),
             round(rec["timeline_only_m2"])],
            ["both", "", round(rec["both_m2"]), ""]]
    return Section("Two measures of change", id="two-measures", text=text, table=Table(
        ["layer", "detector", "changed m²", "found only here m²"], rows,
        caption="Areas in m² on the same grid; see the provenance for each layer."))


def _progress_section(run: SiteRun) -> Any:
    from sitewatch.annotate.report_html import Section, Table

    notes = "\n\n".join(run.notes)
    if run.timeline is None:
        return Section(
            "Progress by epoch", id="progress",
            text=f"Changed area so far, per epoch. First change: {run.first_change_method}."
                 + (f"\n\n{notes}" if notes else ""),
            table=Table(["epoch", "window", "scenes", "clear", "", "new change m²",
                         "changed so far m²"], _progress_rows(run)))
    from sitewatch.annotate.figures import figure_bytes
    from sitewatch.annotate.progress import progress_chart
    from sitewatch.annotate.report_html import Image

    tl = run.timeline
    rows = tl.progress_rows()
    fig = progress_chart(rows, title=f"{run.site.name}: changed area over time",
                         subtitle=f"First lasting change per pixel, by type ({run.every})",
                         credit=tl.attribution)
    total = [r for r in rows if r["change_type"] == "all"]
    table = Table(["epoch", "window", "scenes", "clear", "new m²", "changed so far m²",
                   "range m²", "share of site"],
                  [[r["epoch"], f"{r['start']} to {r['end']}", r["scenes"],
                    f"{r['clear_share']:.0%}", round(r["new_m2"]), round(r["cumulative_m2"]),
                    f"{r['cumulative_low_m2']:,.0f} to {r['cumulative_high_m2']:,.0f}",
                    "" if r["cumulative_share"] is None else f"{r['cumulative_share']:.2%}"]
                   for r in total],
                  caption="All change types; the range reflects the clear observations behind "
                          "each epoch")
    return Section(
        "Progress over time", id="progress",
        text=f"First change: {run.first_change_method}." + (f"\n\n{notes}" if notes else ""),
        images=[Image(figure_bytes(fig, dpi=150), caption="Cumulative changed area by type; "
                      "the band is the range the clear observations allow, the strip the share "
                      "of the site seen clear.", id="fig-progress")],
        table=table)


def _events_section(run: SiteRun) -> Any:
    from sitewatch.annotate.report_html import Section, Table

    tl = run.timeline
    recs = tl.event_records()
    shown = sorted(sorted(recs, key=lambda r: -r["area_m2"])[:40],
                   key=lambda r: (r["window_end"], -r["area_m2"]))
    return Section(
        "Events", id="events",
        text=f"{len(recs)} connected areas that changed in the same epoch"
             + (", the 40 largest" if len(recs) > 40 else "") + ", in time order.",
        table=Table(["#", "window", "type", "area m²", "confidence", "what happened"],
                    [[r["id"], f"{r['window_start']} to {r['window_end']}",
                      r["change_type_label"], round(r["area_m2"]), r["confidence"],
                      r["sentence"]] for r in shown]))


def write_report(run: SiteRun, path: str | os.PathLike[str], *,
                 command: Sequence[str] | None = None,
                 assets: dict[str, bytes] | None = None) -> Path:
    """Write :func:`build_report` atomically to ``path``."""
    from sitewatch.outdir import write_output_file

    path = write_output_file(build_report(run, command=command, assets=assets), path)
    log.info("wrote %s", path)
    return path
