"""Windowed reads of remote Cloud-Optimized GeoTIFFs onto a site grid, with retries.

Only the tiles that cover the site are fetched (HTTP byte ranges through
GDAL's /vsicurl/): a 2 km window of a 110 km Sentinel-2 band moves a few
hundred kB instead of 100+ MB. Pixels are resampled onto the site grid with
nearest neighbour (no invented values; 20 m bands repeat on the 10 m grid, as
Sentinel Hub's default upsampling does), through a warped VRT so any CRS works.

GDAL retries 5xx and timeouts itself (see :mod:`sitewatch.imagery.gdal_env`),
with its own growing delays. It does not read ``Retry-After``, so it is told not
to retry a 429: :class:`CogReader` does, every time waiting as long as the
server's ``Retry-After`` asks (up to ``retries`` times, as for searches). Around
GDAL it also retries whole reads (with GDAL's per-URL cache off, so a cut
transfer is not served again from memory), calls a re-signing hook on HTTP 403
(expired signatures), and turns what is left into a sitewatch error that says
what to do. Nothing partial is returned.

Examples
--------
>>> classify_gdal_error(RuntimeError("HTTP response code: 503"))
('server', 503)
>>> classify_gdal_error(RuntimeError("x.tif: not recognized as being in a supported file format"))
('corrupt', None)
>>> public_url("https://acc.blob.core.windows.net/c/B04.tif?se=2024&sig=SECRET")
'https://acc.blob.core.windows.net/c/B04.tif'
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import logging
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT

from sitewatch.aoi.grid import Grid
from sitewatch.errors import (
    CorruptFileError,
    CredentialsError,
    FetchError,
    RateLimitError,
    SitewatchError,
)
from sitewatch.imagery.gdal_env import HttpSettings

__all__ = ["CogReader", "classify_gdal_error", "public_url", "parse_retry_after"]

log = logging.getLogger(__name__)

_TRANSIENT = {"rate", "server", "timeout", "network", "corrupt"}
_CORRUPT_PAT = re.compile(r"not recognized as being in a supported file format|not a TIFF|"
                          r"TIFFReadDirectory|TIFFFetch|TIFFReadEncoded|Decoding error|"
                          r"IReadBlock failed|ZIPDecode|LZWDecode|Deflate|corrupt|truncated",
                          re.I)


def public_url(url: str) -> str:
    """The URL without query string, fragment or user info (signatures and keys live there)."""
    p = urlsplit(url)
    netloc = p.netloc.rsplit("@", 1)[-1]
    return urlunsplit((p.scheme, netloc, p.path, "", ""))


def _chain(err: BaseException) -> str:
    parts, e, seen = [], err, 0
    while e is not None and seen < 6:
        parts.append(str(e))
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
        seen += 1
    return " | ".join(parts)


def classify_gdal_error(err: BaseException) -> tuple[str, int | None]:
    """(kind, HTTP status) of a failed remote read.

    kind is one of rate, server, forbidden, missing, http, corrupt, timeout, network.
    """
    text = _chain(err)
    m = re.search(r"HTTP response code:\s*(\d{3})", text) or re.search(r"HTTP error code\s*:?"
                                                                       r"\s*(\d{3})", text)
    if m:
        code = int(m.group(1))
        if code == 429:
            return "rate", code
        if code >= 500:
            return "server", code
        if code in (401, 403):
            return "forbidden", code
        if code == 404:
            return "missing", code
        if code == 416:
            return "corrupt", code
        return "http", code
    if re.search(r"timed? ?out|timeout", text, re.I):
        return "timeout", None
    if _CORRUPT_PAT.search(text):
        return "corrupt", None
    return "network", None


def parse_retry_after(value: str | None, *, cap_s: float = 300.0) -> float | None:
    """Seconds from a ``Retry-After`` header (delay seconds or an HTTP date), capped.

    Examples
    --------
    >>> parse_retry_after("7"), parse_retry_after("junk"), parse_retry_after("86400")
    (7.0, None, 300.0)
    """
    if not value:
        return None
    try:
        secs = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        secs = (when - _dt.datetime.now(_dt.UTC)).total_seconds()
    return min(max(secs, 0.0), cap_s)


ResignFn = Callable[[str, bool], str]


class CogReader:
    """Read one band of a remote (or local) COG onto a grid.

    Parameters
    ----------
    http : HttpSettings
    attempts : int
        Whole-read attempts (each with GDAL's own retries inside).
    resign : callable, optional
        ``resign(href, force) -> url``: signs hrefs (Planetary Computer);
        ``force=True`` after an HTTP 403 asks for a fresh signature.
    provider : str
        Named in error messages.
    """

    def __init__(self, http: HttpSettings | None = None, *, attempts: int = 3,
                 resign: ResignFn | None = None, provider: str = "the server",
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.http = http or HttpSettings.from_env()
        self.attempts = max(1, attempts)
        self.resign = resign
        self.provider = provider
        self._sleep = sleep

    def _read_once(self, url: str, grid: Grid, resampling: Resampling, nocache: bool
                   ) -> tuple[np.ndarray, float | None]:
        opts = self.http.gdal_options()
        if nocache:
            opts["CPL_VSIL_CURL_NON_CACHED"] = f"/vsicurl/{url.split('?')[0]}"
        with rasterio.Env(**opts), rasterio.open(url) as src:
            nodata = src.nodata
            with WarpedVRT(src, crs=grid.crs, transform=grid.transform, width=grid.width,
                           height=grid.height, resampling=resampling,
                           src_nodata=nodata, nodata=nodata) as vrt:
                return vrt.read(1), nodata

    def read(self, href: str, grid: Grid, *, what: str = "band",
             resampling: Resampling = Resampling.nearest) -> tuple[np.ndarray, float | None]:
        """(M, N) array in the file's dtype, and the file's nodata value.

        Raises
        ------
        RateLimitError, FetchError, CredentialsError, CorruptFileError
            With the provider, the public URL and what to do.
        """
        forced = False
        last: tuple[str, int | None, BaseException] | None = None
        attempt = rated = 0
        while True:
            try:
                url = self.resign(href, forced) if self.resign else href
                return self._read_once(url, grid, resampling, nocache=attempt + rated > 0)
            except SitewatchError:
                raise
            except RasterioError as err:
                kind, status = classify_gdal_error(err)
                if kind == "corrupt" and "not recognized" in _chain(err):
                    kind, status = self._probe(url, kind, status)
                last = (kind, status, err)
                log.debug("read of %s failed (%s %s): %s", public_url(href), kind, status, err)
                if kind == "forbidden" and self.resign is not None and not forced:
                    forced = True
                    log.info("access denied to %s: signing it again", public_url(href))
                    continue
                if kind == "rate":  # GDAL leaves 429s to us: wait what the server asks
                    rated += 1
                    if rated > max(self.http.retries, 1):
                        break
                    asked = self._retry_after(url)
                    self._sleep(self.http.retry_delay * 2 ** rated if asked is None
                                else asked)
                    continue
                attempt += 1
                # GDAL retried a server error `retries` times already: one more whole read
                limit = min(self.attempts, 2) if kind == "server" else self.attempts
                if kind not in _TRANSIENT or attempt >= limit:
                    break
                if kind == "timeout":  # GDAL retried the stalled request already: a hung
                    break              # server must not cost attempts x retries x timeout
                self._sleep(self.http.retry_delay * 2 ** attempt)
        assert last is not None
        raise self._error(*last, href=href, what=what, reads=attempt + rated)

    def _probe(self, url: str, kind: str, status: int | None) -> tuple[str, int | None]:
        """Why GDAL could not open a file: GDAL reports a stalled or refused header read
        as "not recognized", so ask for the first bytes directly."""
        if not url.startswith(("http://", "https://")):
            return kind, status
        import requests

        try:
            resp = requests.get(url, headers={"Range": "bytes=0-3"},
                                timeout=self.http.requests_timeout())
        except requests.Timeout:
            return "timeout", None
        except requests.RequestException:
            return "network", None
        if resp.status_code not in (200, 206):
            return classify_gdal_error(RuntimeError(f"HTTP response code: {resp.status_code}"))
        if resp.content[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            return "network", None  # a TIFF after all: the failure was in transit
        return "corrupt", None

    def _retry_after(self, url: str) -> float | None:
        """Seconds the server asks us to wait (its ``Retry-After``), capped at 5 minutes."""
        if not url.startswith(("http://", "https://")):
            return None
        import requests

        try:
            resp = requests.head(url, timeout=self.http.requests_timeout(), allow_redirects=True)
        except requests.RequestException:
            return None
        return parse_retry_after(resp.headers.get("Retry-After"))

    def _error(self, kind: str, status: int | None, err: BaseException, *, href: str,
               what: str, reads: int) -> SitewatchError:
        where = f"{what} from {public_url(href)}"
        tries = f"after {reads} attempt{'s' * (reads != 1)}"
        if kind == "rate":
            return RateLimitError(
                f"{self.provider} keeps answering HTTP 429 Too Many Requests reading {where} "
                f"{tries}: wait a few minutes and run the same command again (finished windows "
                "are cached, so it resumes), or lower the request rate")
        if kind == "server":
            return FetchError(f"{self.provider} failed with HTTP {status} reading {where} {tries}:"
                              " the service is having trouble; try again later")
        if kind == "timeout":
            return FetchError(f"timed out reading {where}: no data for {self.http.timeout:g} s"
                              f" in {self.http.retries + 1} tries; the connection or the server "
                              "is slow: try again, or raise SITEWATCH_HTTP_TIMEOUT")
        if kind == "forbidden":
            hint = ("the signed URL was refused even after signing it again; check the "
                    "Planetary Computer's status, or set PC_SDK_SUBSCRIPTION_KEY"
                    if self.resign else "the file is not public; check the endpoint")
            return CredentialsError(f"access denied (HTTP {status}) reading {where}: {hint}")
        if kind == "missing":
            return FetchError(f"not found (HTTP 404): {where}; the catalogue lists a file the "
                              "server does not have: try later")
        if kind == "corrupt":
            return CorruptFileError(
                f"{where} is not a readable COG {tries} (truncated or corrupt: "
                f"{_chain(err)[:160]}); nothing was cached: try again later")
        return FetchError(f"could not read {where} {tries} ({_chain(err)[:160]}): check your "
                          "network connection and the endpoint URL")
