"""Sentinel Hub and the Copernicus Data Space Ecosystem (CDSE) through sentinelhub-py.

Two sources, one code path:

- ``cdse``: the free Copernicus Data Space Ecosystem (``https://sh.dataspace.copernicus.eu``,
  tokens from ``identity.dataspace.copernicus.eu``); a free account gives 10,000
  requests and 10,000 processing units a month (300 a minute).
- ``sentinelhub``: the commercial Sentinel Hub (``https://services.sentinel-hub.com``).

Search uses the Catalog API, pixels the Process API: one request per scene
returns exactly the site grid (bbox in the grid's UTM CRS, its width and
height), so nothing outside the site is transferred. Products:

- ``s2-l2a`` (default): bands as UINT16 DN with ``harmonizeValues`` on (the
  service removes the baseline 04.00 offset and clamps at 0, so reflectance is
  DN / 10000 on every date), plus ``SCL`` and ``dataMask``.
- ``s1-grd``: Sentinel-1 IW GRD, VV and VH, orthorectified (Copernicus DEM),
  terrain-flattened gamma0 backscatter in linear power units; each scene's
  orbit direction and relative orbit are kept (compare like with like).

The stock collections point at the commercial URL, which wins over the
config's base URL and turns CDSE calls into 401s (sentinelhub-py issues 523,
557): each collection is redefined with ``define_from(..., service_url=...)``
under a name holding the endpoint's hash.

Credentials come only from sentinelhub's own configuration: the profile named
by ``profile=`` / ``--profile`` / ``SH_PROFILE`` in
``~/.config/sentinelhub/config.toml``, or ``SH_CLIENT_ID`` and
``SH_CLIENT_SECRET``. They are never logged, cached or written.

Endpoints: ``url=`` / ``--endpoint`` / ``SITEWATCH_CDSE_URL`` (or
``SITEWATCH_SENTINELHUB_URL``) and ``token_url=`` / ``--token-url`` /
``SITEWATCH_CDSE_TOKEN_URL`` (``SITEWATCH_SENTINELHUB_TOKEN_URL``).

Examples
--------
The Process API request for one scene is built offline:

>>> print(s2_evalscript(["B04", "B08"]).splitlines()[4].strip())
input: [{bands: ["B04", "B08", "SCL", "dataMask"], units: "DN"}],
>>> relative_orbit("sentinel-1a", 40012), relative_orbit("sentinel-1b", 27)
(40, 1)
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from sitewatch.aoi.grid import Grid
from sitewatch.aoi.site import Site
from sitewatch.bands import S1_BANDS
from sitewatch.errors import (
    ConfigError,
    CredentialsError,
    DataError,
    FetchError,
    QuotaExceededError,
    RateLimitError,
)
from sitewatch.imagery.acquisitions import group_acquisitions, tile_ids
from sitewatch.imagery.gdal_env import HttpSettings
from sitewatch.imagery.radiometry import Harmonisation
from sitewatch.imagery.redact import install_redaction
from sitewatch.imagery.scene import SceneRecord
from sitewatch.imagery.sources.base import ImagerySource
from sitewatch.imagery.sources.cog import public_url
from sitewatch.raster import Provenance, Raster

__all__ = ["SentinelHubSource", "CdseSource", "s2_evalscript", "s1_evalscript",
           "relative_orbit", "PRODUCTS"]

log = logging.getLogger(__name__)

PRODUCTS = ("s2-l2a", "s1-grd")
_S1_PROCESSING = {"backCoeff": "GAMMA0_TERRAIN", "orthorectify": True,
                  "demInstance": "COPERNICUS", "speckleFilter": {"type": "NONE"}}
#: Seconds around a scene's acquisition time that select it (and its tile neighbours).
_SCENE_WINDOW_S = 60
_SIGNUP = {
    "cdse": ("create a free account at https://dataspace.copernicus.eu, then in the Sentinel "
             "Hub dashboard (https://shapps.dataspace.copernicus.eu/dashboard) add an OAuth "
             "client under User settings"),
    "sentinelhub": ("create an OAuth client in your Sentinel Hub dashboard "
                    "(https://apps.sentinel-hub.com/dashboard) under User settings"),
}


def s2_evalscript(bands: Sequence[str]) -> str:
    """Evalscript returning ``bands`` + SCL + dataMask as UINT16 DN."""
    names = [b for b in bands if b not in ("SCL", "dataMask")] + ["SCL", "dataMask"]
    quoted = ", ".join(f'"{b}"' for b in names)
    ret = ", ".join(f"s.{b}" for b in names)
    return ("//VERSION=3\n"
            "function setup() {\n"
            "  return {\n"
            "    // DN units, harmonised by the service (harmonizeValues)\n"
            f'    input: [{{bands: [{quoted}], units: "DN"}}],\n'
            f'    output: {{id: "default", bands: {len(names)}, sampleType: "UINT16"}}\n'
            "  };\n"
            "}\n"
            f"function evaluatePixel(s) {{ return [{ret}]; }}\n")


def s1_evalscript(bands: Sequence[str] = S1_BANDS) -> str:
    """Evalscript returning VV/VH linear backscatter + dataMask as FLOAT32."""
    names = [b for b in bands if b != "dataMask"] + ["dataMask"]
    quoted = ", ".join(f'"{b}"' for b in names)
    ret = ", ".join(f"s.{b}" for b in names)
    return ("//VERSION=3\n"
            "function setup() {\n"
            "  return {\n"
            f"    input: [{{bands: [{quoted}]}}],\n"
            f'    output: {{id: "default", bands: {len(names)}, sampleType: "FLOAT32"}}\n'
            "  };\n"
            "}\n"
            f"function evaluatePixel(s) {{ return [{ret}]; }}\n")


def relative_orbit(platform: str, absolute_orbit: int | None) -> int | None:
    """Sentinel-1 relative orbit (track, 1-175) from the absolute orbit number."""
    if absolute_orbit is None:
        return None
    offset = {"sentinel-1a": 73, "sentinel-1b": 27}.get(platform.lower())
    if offset is None:
        return None
    return (int(absolute_orbit) - offset) % 175 + 1


class SentinelHubSource(ImagerySource):
    """Sentinel-2 L2A / Sentinel-1 GRD from Sentinel Hub (see the module docstring)."""

    name = "sentinelhub"
    description = ("Sentinel-2 L2A and Sentinel-1 GRD from the commercial Sentinel Hub "
                   "(account needed; credentials from sentinelhub's SHConfig)")
    needs_network = True
    cloud_band = "SCL"
    default_url: ClassVar[str] = "https://services.sentinel-hub.com"
    default_token_url: ClassVar[str] = (
        "https://services.sentinel-hub.com/auth/realms/main/protocol/openid-connect/token")
    url_env: ClassVar[str] = "SITEWATCH_SENTINELHUB_URL"
    token_env: ClassVar[str] = "SITEWATCH_SENTINELHUB_TOKEN_URL"

    def __init__(self, url: str | None = None, *, token_url: str | None = None,
                 profile: str | None = None, product: str = "s2-l2a",
                 http: HttpSettings | None = None, max_cloud: float | None = None,
                 max_rate_retries: int = 10) -> None:
        if product not in PRODUCTS:
            raise ConfigError(f"unknown product {product!r}: use {' or '.join(PRODUCTS)}")
        self.product = product
        if product == "s1-grd":
            self.cloud_band = None  # type: ignore[misc,assignment]
        self.url = (url or os.environ.get(self.url_env) or self.default_url).rstrip("/")
        self.token_url = (token_url or os.environ.get(self.token_env) or self.default_token_url)
        for what, value, env in (("endpoint", self.url, self.url_env),
                                 ("token URL", self.token_url, self.token_env)):
            if not value.startswith(("http://", "https://")):
                raise ConfigError(f"{self.name} {what} {value!r} is not an http(s) URL: fix it "
                                  f"or {env}")
        install_redaction()
        self.profile = profile
        self.http = http or HttpSettings.from_env()
        self.max_cloud = max_cloud
        self.max_rate_retries = max_rate_retries
        self._config: Any = None
        self._collection: Any = None
        self._lock = threading.Lock()  # scenes are loaded from several threads

    # -- identity ---------------------------------------------------------------------
    def cache_identity(self) -> dict[str, Any]:
        return {"source": self.name, "product": self.product, "radiometry": 1}

    def search_identity(self) -> dict[str, Any]:
        return {**self.cache_identity(), "endpoint": public_url(self.url),
                "max_cloud": self.max_cloud}

    # -- sentinelhub objects (built lazily: a cached run never touches them) --------------
    def _sh(self) -> Any:
        try:
            import sentinelhub
        except ImportError as err:
            raise ConfigError(f"source {self.name!r} needs sentinelhub: pip install "
                              "'sitewatch[sentinelhub]'") from err
        return sentinelhub

    def config(self) -> Any:
        """The SHConfig: credentials from sentinelhub's profile/env, endpoints from sitewatch."""
        with self._lock:
            return self._make_config()

    def _make_config(self) -> Any:
        if self._config is not None:
            return self._config
        sh = self._sh()
        try:
            cfg = sh.SHConfig(self.profile) if self.profile else sh.SHConfig()
        except (KeyError, ValueError) as err:
            raise ConfigError(f"sentinelhub profile {self.profile!r} not found ({err}): list "
                              "profiles with `sentinelhub.config --show` or create one (see the "
                              "README, 'Imagery sources and credentials')") from err
        if not cfg.sh_client_id or not cfg.sh_client_secret:
            raise CredentialsError(
                f"no {self.name} credentials: {_SIGNUP[self.name]}; then export SH_CLIENT_ID "
                "and SH_CLIENT_SECRET, or save them in a sentinelhub profile (`sentinelhub."
                f"config --profile {self.name} --sh_client_id ... --sh_client_secret ...`) "
                f"and pass --profile {self.name}")
        cfg.sh_base_url = self.url
        cfg.sh_token_url = self.token_url
        cfg.max_retries = self.max_rate_retries
        cfg.max_download_attempts = self.http.retries + 1
        cfg.download_sleep_time = self.http.retry_delay
        cfg.download_timeout_seconds = self.http.timeout
        self._config = cfg
        return cfg

    def collection(self) -> Any:
        with self._lock:
            return self._make_collection()

    def _make_collection(self) -> Any:
        if self._collection is None:
            sh = self._sh()
            base = (sh.DataCollection.SENTINEL2_L2A if self.product == "s2-l2a"
                    else sh.DataCollection.SENTINEL1_IW)
            tag = hashlib.sha1(self.url.encode()).hexdigest()[:10]
            name = f"SITEWATCH_{self.product.replace('-', '_').upper()}_{tag}"
            self._collection = base.define_from(name, service_url=self.url)
        return self._collection

    # -- errors -------------------------------------------------------------------------
    def _call(self, fn: Any, doing: str) -> Any:
        sh = self._sh()
        import requests
        from oauthlib.oauth2.rfc6749.errors import InsecureTransportError, OAuth2Error

        where = f"{self.name} at {public_url(self.url)}"
        try:
            return fn()
        except InsecureTransportError as err:
            raise ConfigError(f"the {self.name} token URL {public_url(self.token_url)} is not "
                              "https: use the https endpoint (plain http only for a local test "
                              "server, with OAUTHLIB_INSECURE_TRANSPORT=1)") from err
        except OAuth2Error as err:
            raise CredentialsError(
                f"{self.name} refused the credentials ({err.error}): check SH_CLIENT_ID / "
                f"SH_CLIENT_SECRET or the sentinelhub profile; {_SIGNUP[self.name]}") from err
        except sh.exceptions.OutOfRequestsException as err:
            raise RateLimitError(
                f"{where} kept answering HTTP 429 Too Many Requests to {doing} "
                f"({self.max_rate_retries} tries): the per-minute limit is reached; wait a "
                "minute and run again (finished scenes are cached)") from err
        except (sh.exceptions.DownloadFailedException, requests.RequestException) as err:
            raise self._classify(err, where, doing) from err

    def _classify(self, err: Exception, where: str, doing: str) -> Exception:
        req_err = getattr(err, "request_exception", None) or err
        resp = getattr(req_err, "response", None)
        code = getattr(resp, "status_code", None)
        text = ""
        if resp is not None:
            try:
                body = resp.json()
                text = str(body.get("error", {}).get("message", "")) if isinstance(
                    body.get("error"), dict) else str(body.get("error_description", ""))
            except ValueError:
                text = (resp.text or "")[:200]
        if code in (401, 403, 429) and "quota" in text.lower():
            return QuotaExceededError(
                f"{where}: the account's quota is used up ({text.strip() or code}); free CDSE "
                "accounts get 10,000 requests and 10,000 processing units a month: wait for the "
                "monthly reset, or use --source earth-search (no account, no quota)")
        if code in (401, 403):
            msg = text or "no message"
            return CredentialsError(f"{where} refused to {doing} (HTTP {code}: {msg}): check "
                                    "the credentials' permissions and the endpoint (a CDSE "
                                    "client needs --source cdse)")
        if code is not None and 400 <= code < 500:
            return FetchError(f"{where} rejected the request to {doing} (HTTP {code}: {text})")
        if isinstance(req_err, requests_timeout()):
            return FetchError(f"{where} did not answer within {self.http.timeout:g} s to "
                              f"{doing} (tried {self.http.retries + 1} times): try again, or "
                              "raise SITEWATCH_HTTP_TIMEOUT")
        if code is not None:
            return FetchError(f"{where} failed with HTTP {code} to {doing} (tried "
                              f"{self.http.retries + 1} times): the service is having trouble; "
                              "try again later")
        return FetchError(f"cannot reach {where} to {doing} ({type(req_err).__name__}): check "
                          "your network connection and --endpoint")

    # -- search -------------------------------------------------------------------------
    def search(self, site: Site, start: str, end: str, **options: Any) -> list[SceneRecord]:
        sh = self._sh()
        cfg = self.config()
        max_cloud = options.pop("max_cloud", self.max_cloud)
        if options:
            raise ConfigError(f"unknown search options for {self.name}: {', '.join(options)}")
        flt = None
        if max_cloud is not None and self.product == "s2-l2a":
            flt = f"eo:cloud_cover <= {float(max_cloud):g}"
        catalog = sh.SentinelHubCatalog(config=cfg)
        bbox = sh.BBox(site.bounds, crs=sh.CRS.WGS84)

        def run() -> list[dict[str, Any]]:
            it = catalog.search(self.collection(), bbox=bbox, time=(start, end), filter=flt,
                                limit=100)
            return list(it)

        feats = self._call(run, "search the catalogue")
        out = group_acquisitions([self._record(f) for f in feats], site.geometry)
        log.info("%s: %d %s scenes between %s and %s", self.name, len(out), self.product, start,
                 end)
        return out

    def _record(self, feat: dict[str, Any]) -> SceneRecord:
        p = feat.get("properties", {})
        platform = str(p.get("platform", "")).lower()
        props: dict[str, Any] = {}
        if self.product == "s1-grd":
            rel = p.get("sat:relative_orbit") or relative_orbit(platform,
                                                                p.get("sat:absolute_orbit"))
            props = {"orbit_state": p.get("sat:orbit_state"), "relative_orbit": rel,
                     "absolute_orbit": p.get("sat:absolute_orbit"),
                     "polarization": p.get("s1:polarization"),
                     "instrument_mode": p.get("sar:instrument_mode")}
        return SceneRecord(id=feat["id"], datetime=p.get("datetime", ""), source=self.name,
                           platform=platform, cloud_cover=p.get("eo:cloud_cover"),
                           footprint=feat.get("geometry"),
                           collection="sentinel-2-l2a" if self.product == "s2-l2a"
                           else "sentinel-1-grd", properties=props)

    # -- pixels ---------------------------------------------------------------------------
    def request(self, scene: SceneRecord, grid: Grid, bands: Sequence[str]) -> Any:
        """The Process API request for one scene on ``grid`` (built offline)."""
        sh = self._sh()
        t = _dt.datetime.fromisoformat(scene.datetime.replace("Z", "+00:00"))
        window = (t - _dt.timedelta(seconds=_SCENE_WINDOW_S),
                  t + _dt.timedelta(seconds=_SCENE_WINDOW_S))
        if self.product == "s2-l2a":
            script = s2_evalscript(bands)
            extra: dict[str, Any] = {"processing": {"harmonizeValues": True}}
        else:
            script = s1_evalscript(bands)
            extra = {"processing": dict[str, Any](_S1_PROCESSING)}
        epsg = int(grid.crs.split(":")[1]) if grid.crs.startswith("EPSG:") else None
        if epsg is None:
            raise DataError(f"grid CRS {grid.crs} has no EPSG code: use the site's UTM grid")
        return sh.SentinelHubRequest(
            evalscript=script,
            input_data=[sh.SentinelHubRequest.input_data(
                data_collection=self.collection(), time_interval=window,
                mosaicking_order=sh.MosaickingOrder.LEAST_RECENT, other_args=extra)],
            responses=[sh.SentinelHubRequest.output_response("default", sh.MimeType.TIFF)],
            bbox=sh.BBox(grid.bounds, crs=sh.CRS(epsg)), size=(grid.width, grid.height),
            config=self.config())

    def load(self, scene: SceneRecord, grid: Grid, bands: Sequence[str]) -> Raster:
        bands = list(bands)
        allowed = S1_BANDS if self.product == "s1-grd" else None
        if allowed is not None and any(b not in allowed for b in bands):
            raise DataError(f"Sentinel-1 GRD has bands {', '.join(allowed)}, not "
                            f"{', '.join(b for b in bands if b not in allowed)}")
        req = self.request(scene, grid, bands)
        arr = self._call(lambda: req.get_data()[0], f"fetch scene {scene.id}")
        arr = np.asarray(arr)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        expected = len([b for b in bands if b not in ("SCL", "dataMask")]) + (
            2 if self.product == "s2-l2a" else 1)
        if arr.shape[:2] != grid.shape or arr.shape[2] != expected:
            raise FetchError(f"{self.name} returned an image of shape {arr.shape} for scene "
                             f"{scene.id}, expected {grid.shape + (expected,)}: report this")
        cube = np.moveaxis(arr, -1, 0)
        valid = cube[-1] > 0
        proc: dict[str, Any] = {"collection": scene.collection, "platform": scene.platform,
                                "endpoint": public_url(self.url), "resampling": "nearest"}
        data = []
        if self.product == "s2-l2a":
            names = [b for b in bands if b not in ("SCL", "dataMask")]
            by_name = dict(zip(names + ["SCL"], cube[:-1], strict=True))
            for b in bands:
                if b == "SCL":
                    data.append(np.where(valid, by_name["SCL"], 0).astype("float32"))
                else:
                    refl = by_name[b].astype("float32") / np.float32(10000.0)
                    data.append(np.where(valid, refl, np.float32(np.nan)))
            harm = Harmonisation(0, "offset removed by the service (harmonizeValues): DN / 10000")
            proc.update({"level": "L2A", **harm.to_dict()})
        else:
            for i, _b in enumerate(bands):
                data.append(np.where(valid, cube[i].astype("float32"), np.float32(np.nan)))
            proc.update({"level": "GRD", "units": "linear power",
                         "backscatter": "gamma0, terrain-flattened",
                         "orthorectification": "Copernicus DEM",
                         "orbit_state": scene.properties.get("orbit_state"),
                         "relative_orbit": scene.properties.get("relative_orbit")})
        return Raster(np.stack(data).astype("float32"), grid.transform, grid.crs,
                      band_names=tuple(bands), dates=(scene.date,),
                      provenance=Provenance(self.name, tuple(tile_ids(scene)), proc))


def requests_timeout() -> tuple[type[BaseException], ...]:
    import requests

    return (requests.exceptions.Timeout,)


class CdseSource(SentinelHubSource):
    """The free Copernicus Data Space Ecosystem's Sentinel Hub APIs."""

    name = "cdse"
    description = ("Sentinel-2 L2A and Sentinel-1 GRD from the Copernicus Data Space Ecosystem "
                   "(free account; credentials from sentinelhub's SHConfig)")
    default_url = "https://sh.dataspace.copernicus.eu"
    default_token_url = ("https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/"
                         "openid-connect/token")
    url_env = "SITEWATCH_CDSE_URL"
    token_env = "SITEWATCH_CDSE_TOKEN_URL"
