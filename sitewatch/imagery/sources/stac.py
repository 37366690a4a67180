"""Base of the STAC sources (Earth Search, Planetary Computer): search with pystac-client,
pixels by windowed COG reads.

A subclass names its default endpoint and environment variable, its
collections, the asset key of each band, and how a scene's DNs become
reflectance (:mod:`sitewatch.imagery.radiometry`). The pystac-client
``Client`` is opened lazily, on the first search that is not cached, so a
fully cached run makes no request at all.

Search results become :class:`~sitewatch.imagery.scene.SceneRecord` objects
with canonical band names (``B02``..``B12``, ``SCL``) in ``assets``, the
processing baseline, scene cloud cover, platform and footprint.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np

from sitewatch.aoi.grid import Grid
from sitewatch.aoi.site import Site
from sitewatch.errors import ConfigError, CredentialsError, FetchError, RateLimitError
from sitewatch.imagery.acquisitions import group_acquisitions, tile_records
from sitewatch.imagery.gdal_env import HttpSettings
from sitewatch.imagery.radiometry import Harmonisation, dn_to_reflectance, harmonisation_for
from sitewatch.imagery.redact import install_redaction
from sitewatch.imagery.scene import SceneRecord
from sitewatch.imagery.sources.base import ImagerySource
from sitewatch.imagery.sources.cog import CogReader, public_url
from sitewatch.raster import Provenance, Raster

__all__ = ["StacSource"]

log = logging.getLogger(__name__)


class StacSource(ImagerySource):
    """A Sentinel-2 L2A STAC API whose assets are COGs (see subclasses)."""

    needs_network = True
    cloud_band = "SCL"
    #: Default endpoint and the environment variable that overrides it.
    default_url: ClassVar[str] = ""
    url_env: ClassVar[str] = ""
    #: Collections searched, in order of preference.
    default_collections: ClassVar[tuple[str, ...]] = ()
    #: canonical band -> asset key, per collection ("*" = any).
    asset_keys: ClassVar[dict[str, dict[str, str]]] = {}

    def __init__(self, url: str | None = None, *, collections: Sequence[str] | None = None,
                 http: HttpSettings | None = None, max_workers: int = 4,
                 max_cloud: float | None = None) -> None:
        self.url = (url or os.environ.get(self.url_env) or self.default_url).rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"{self.name} endpoint {self.url!r} is not an http(s) URL: fix "
                              f"--endpoint or {self.url_env}")
        self.collections = tuple(collections or self.default_collections)
        self.http = http or HttpSettings.from_env()
        self.max_workers = max(1, max_workers)
        self.max_cloud = max_cloud
        self._client: Any = None
        install_redaction()
        self.reader = CogReader(self.http, provider=self.name, resign=self._resign_hook())

    # -- identity -------------------------------------------------------------------
    def cache_identity(self) -> dict[str, Any]:
        return {"source": self.name, "radiometry": 1}

    def search_identity(self) -> dict[str, Any]:
        return {"source": self.name, "endpoint": public_url(self.url),
                "collections": list(self.collections), "max_cloud": self.max_cloud}

    def _resign_hook(self) -> Any:
        return None

    # -- search -----------------------------------------------------------------------
    def _open(self) -> Any:
        if self._client is not None:
            return self._client
        try:
            from pystac_client import Client
            from pystac_client.stac_api_io import StacApiIO
        except ImportError as err:
            raise ConfigError(f"source {self.name!r} needs pystac-client, a core dependency "
                              "of sitewatch that is missing here: reinstall sitewatch "
                              "(pip install --force-reinstall sitewatch)") from err
        timeout = self.http.requests_timeout()
        io = StacApiIO(timeout=timeout, max_retries=self.http.urllib3_retry())
        # Client.open resets the StacApiIO's timeout to its own argument: pass it again,
        # or a server that stops answering hangs the run.
        self._client = self._guard(lambda: Client.open(self.url, stac_io=io, timeout=timeout),
                                   "open the catalogue")
        return self._client

    def _guard(self, fn: Any, doing: str) -> Any:
        """Run a pystac-client call, turning its errors into sitewatch errors."""
        import requests
        from pystac_client.exceptions import APIError

        where = f"{self.name} at {public_url(self.url)}"
        try:
            return fn()
        except APIError as err:
            code = getattr(err, "status_code", None)
            if code is None:  # pystac-client wraps connection errors and timeouts too
                low = str(err).lower()
                if "timed out" in low or "timeout" in low:
                    raise FetchError(f"{where} did not answer within {self.http.timeout:g} s to "
                                     f"{doing} (tried {self.http.retries + 1} times): try "
                                     "again, or raise SITEWATCH_HTTP_TIMEOUT") from err
                raise FetchError(f"cannot reach {where} to {doing} (connection failed after "
                                 f"{self.http.retries + 1} tries): check your network "
                                 f"connection, or --endpoint / {self.url_env}") from err
            if code == 429:
                raise RateLimitError(f"{where} keeps answering HTTP 429 Too Many Requests "
                                     f"(tried {self.http.retries + 1} times) to {doing}: wait a "
                                     "few minutes and run again") from err
            if code in (401, 403):
                raise CredentialsError(f"{where} refused to {doing} (HTTP {code}): this "
                                       "catalogue needs access rights sitewatch does not have; "
                                       f"check --endpoint / {self.url_env}") from err
            text = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
            raise FetchError(f"{where} failed to {doing} (HTTP {code}: {text}): try again "
                             f"later, or check --endpoint / {self.url_env}") from err
        except requests.exceptions.Timeout as err:
            raise FetchError(f"{where} did not answer within {self.http.timeout:g} s to {doing}:"
                             " try again, or raise SITEWATCH_HTTP_TIMEOUT") from err
        except requests.exceptions.RequestException as err:
            reason = type(err).__name__
            if "timed out" in str(err).lower() or "timeout" in str(err).lower():
                raise FetchError(f"{where} did not answer within {self.http.timeout:g} s to "
                                 f"{doing} ({reason}): try again, or raise "
                                 "SITEWATCH_HTTP_TIMEOUT") from err
            raise FetchError(f"cannot reach {where} to {doing} ({reason}): check your network "
                             f"connection, or --endpoint / {self.url_env}") from err
        except NotImplementedError as err:  # DoesNotConformTo: not a STAC item-search API
            raise ConfigError(f"{where} is not a STAC API with item search ({err}): check "
                              f"--endpoint / {self.url_env}") from err
        except (ValueError, KeyError, TypeError) as err:
            raise FetchError(f"{where} sent an answer that is not valid STAC to {doing} "
                             f"({type(err).__name__}: {err}): check --endpoint / "
                             f"{self.url_env}") from err

    def search(self, site: Site, start: str, end: str, **options: Any) -> list[SceneRecord]:
        """Scenes of the preferred collections over the site, one record per acquisition."""
        client = self._open()
        max_cloud = options.pop("max_cloud", self.max_cloud)
        if options:
            raise ConfigError(f"unknown search options for {self.name}: {', '.join(options)}")
        query = {"eo:cloud_cover": {"lte": float(max_cloud)}} if max_cloud is not None else None
        found: dict[tuple[str, str, str], SceneRecord] = {}
        for coll in self.collections:
            def run(coll: str = coll) -> list[dict[str, Any]]:
                s = client.search(collections=[coll], bbox=list(site.bounds),
                                  datetime=f"{start}T00:00:00Z/{end}T23:59:59Z", query=query,
                                  limit=100, method="POST")
                return list(s.items_as_dicts())

            items = self._guard(run, f"search {coll}")
            for item in items:
                rec = self._record(item, coll)
                key = (rec.platform, str(rec.properties.get("tile", "")), rec.date)
                if key not in found:  # earlier collections are preferred
                    found[key] = rec
            log.info("%s: %d items in %s between %s and %s", self.name, len(items), coll,
                     start, end)
        return group_acquisitions(list(found.values()), site.geometry)

    # -- item mapping (subclasses refine) ------------------------------------------------
    def _keys(self, collection: str) -> dict[str, str]:
        return self.asset_keys.get(collection) or self.asset_keys.get("*", {})

    def _record(self, item: dict[str, Any], collection: str) -> SceneRecord:
        props = item.get("properties", {})
        keys = self._keys(collection)
        assets = {band: item["assets"][key]["href"] for band, key in keys.items()
                  if key in item.get("assets", {})}
        return SceneRecord(
            id=item["id"], datetime=props.get("datetime") or props.get("start_datetime", ""),
            source=self.name, platform=str(props.get("platform", "")).lower(),
            cloud_cover=props.get("eo:cloud_cover"), footprint=item.get("geometry"),
            processing_baseline=self._baseline(props), collection=collection, assets=assets,
            properties=self._extra(props))

    def _baseline(self, props: dict[str, Any]) -> str | None:
        v = props.get("s2:processing_baseline")
        return str(v) if v is not None else None

    def _extra(self, props: dict[str, Any]) -> dict[str, Any]:
        return {}

    # -- pixels -----------------------------------------------------------------------------
    def harmonisation(self, scene: SceneRecord, raw: dict[str, np.ndarray],
                      grid: Grid) -> Harmonisation:
        """The offset for this scene's DNs (subclasses check flags or pixels)."""
        return harmonisation_for(scene.processing_baseline, scene.date, provider=self.name)

    def read_bands(self, scene: SceneRecord, grid: Grid, bands: Sequence[str]
                   ) -> dict[str, np.ndarray]:
        """Raw arrays (file dtype, 0 = no data) of ``bands`` on ``grid``, read in parallel."""
        missing = [b for b in bands if b not in scene.assets]
        if missing:
            raise FetchError(f"scene {scene.id} of {self.name} has no asset for "
                             f"{', '.join(missing)} (has {', '.join(sorted(scene.assets))})")

        def one(band: str) -> np.ndarray:
            arr, _ = self.reader.read(scene.assets[band], grid, what=f"{band} of {scene.id}")
            return arr

        if len(bands) == 1 or self.max_workers == 1:
            return {b: one(b) for b in bands}
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(bands))) as pool:
            return dict(zip(bands, pool.map(one, bands), strict=True))

    def _load_tile(self, tile: SceneRecord, grid: Grid, bands: list[str]
                   ) -> tuple[np.ndarray, Harmonisation | None]:
        raw = self.read_bands(tile, grid, bands)
        refl_bands = [b for b in bands if b != "SCL"]
        harm = self.harmonisation(tile, raw, grid) if refl_bands else None
        data = []
        for b in bands:
            if b == "SCL":
                scl = raw[b].astype("float32")
                data.append(np.where(scl > 0, scl, np.float32(np.nan)))
            else:
                assert harm is not None
                data.append(dn_to_reflectance(raw[b], harm.offset))
        return np.stack(data), harm

    def load(self, scene: SceneRecord, grid: Grid, bands: Sequence[str]) -> Raster:
        """The scene's bands on ``grid``; tiles of the same overpass are mosaicked in order
        (first valid pixel wins), reading further tiles only while pixels are missing."""
        bands = list(bands)
        cube: np.ndarray | None = None
        used, harms = [], []
        for tile in tile_records(scene):
            part, harm = self._load_tile(tile, grid, bands)
            used.append(tile.id)
            if harm is not None:
                harms.append(harm.to_dict())
            if cube is None:
                cube = part
            else:
                hole = ~np.isfinite(cube).all(axis=0)
                cube[:, hole] = part[:, hole]
            if np.isfinite(cube).all():
                break
        assert cube is not None
        if "SCL" in bands:  # SCL 0 = no data, as in the files
            i = bands.index("SCL")
            cube[i] = np.where(np.isfinite(cube[i]), cube[i], np.float32(0))
        proc: dict[str, Any] = {"level": "L2A", "collection": scene.collection,
                                "processing_baseline": scene.processing_baseline,
                                "platform": scene.platform, "resampling": "nearest",
                                "endpoint": public_url(self.url)}
        if harms:
            proc.update(harms[0])
        if len(used) > 1:
            proc["tiles"] = used
            if any(h != harms[0] for h in harms[1:]):
                proc["tile_harmonisation"] = dict(zip(used, harms, strict=False))
        return Raster(cube, grid.transform, grid.crs, band_names=tuple(bands),
                      dates=(scene.date,), provenance=Provenance(self.name, tuple(used), proc))
