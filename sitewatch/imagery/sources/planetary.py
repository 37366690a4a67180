"""Microsoft Planetary Computer: Sentinel-2 L2A COGs in Azure Blob Storage, signed URLs.

Endpoint ``https://planetarycomputer.microsoft.com/api/stac/v1`` (override with
``url=``, ``--endpoint`` or ``SITEWATCH_PLANETARY_COMPUTER_URL``). Assets are
readable with a SAS token from the Planetary Computer's token API, fetched by
the ``planetary-computer`` package (its ``PC_SDK_SAS_URL`` and
``PC_SDK_SUBSCRIPTION_KEY`` settings apply; ``sas_url=`` or
``SITEWATCH_PC_SAS_URL`` override the token endpoint).

Hrefs are signed when pixels are read, not when searched, and signed again
when the token is close to expiry (tokens last about an hour; a long run
outlives several) or when the storage answers 403 (a token revoked or expired
early). Signed URLs never reach logs, caches or outputs.

PC serves ESA's DNs unchanged: the -1000 offset applies from processing
baseline 04.00 (``s2:processing_baseline``).

Examples
--------
>>> blob_container("https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/51/T/B04.tif")
('sentinel2l2a01', 'sentinel2-l2')
>>> blob_container("http://127.0.0.1:10000/devstoreaccount1/data/x.tif")  # Azurite path style
('devstoreaccount1', 'data')
>>> blob_container("https://example.com/x.tif") is None
True
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from typing import Any
from urllib.parse import urlsplit

from sitewatch.errors import ConfigError, CredentialsError, FetchError, RateLimitError
from sitewatch.imagery.gdal_env import HttpSettings
from sitewatch.imagery.sources.cog import public_url
from sitewatch.imagery.sources.stac import StacSource

__all__ = ["PlanetaryComputerSource", "PLANETARY_COMPUTER_URL", "blob_container"]

log = logging.getLogger(__name__)

PLANETARY_COMPUTER_URL = "https://planetarycomputer.microsoft.com/api/stac/v1"
_BLOB_DOMAIN = ".blob.core.windows.net"
_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12",
          "SCL")
#: Re-sign when a token has less than this many seconds left.
MIN_TOKEN_TTL_S = 300.0


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def blob_container(href: str) -> tuple[str, str] | None:
    """(account, container) of an Azure blob URL (virtual-host or Azurite path style), or None."""
    p = urlsplit(href)
    parts = [x for x in p.path.split("/") if x]
    host = p.hostname or ""
    if host.endswith(_BLOB_DOMAIN) and parts:
        return host.split(".")[0], parts[0]
    if _is_local(host) and len(parts) >= 3:
        return parts[0], parts[1]
    return None


class PlanetaryComputerSource(StacSource):
    """Sentinel-2 L2A from the Planetary Computer (see the module docstring)."""

    name = "planetary-computer"
    description = ("Sentinel-2 L2A COGs from Microsoft's Planetary Computer STAC API "
                   "(free, no account; URLs signed automatically)")
    default_url = PLANETARY_COMPUTER_URL
    url_env = "SITEWATCH_PLANETARY_COMPUTER_URL"
    default_collections = ("sentinel-2-l2a",)
    asset_keys = {"*": {b: b for b in _BANDS}}

    def __init__(self, url: str | None = None, *, sas_url: str | None = None,
                 http: HttpSettings | None = None, **kwargs: Any) -> None:
        self.sas_url = sas_url or os.environ.get("SITEWATCH_PC_SAS_URL")
        super().__init__(url, http=http, **kwargs)

    def _extra(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"tile": str(props.get("s2:mgrs_tile", "")),
                "relative_orbit": props.get("sat:relative_orbit")}

    def _resign_hook(self) -> Any:
        return self.sign

    def sign(self, href: str, force: bool = False) -> str:
        """``href`` with a fresh-enough SAS token (a new one when ``force``)."""
        where = blob_container(href)
        if where is None:
            return href
        try:
            from planetary_computer.sas import TOKEN_CACHE, get_token
            from planetary_computer.settings import Settings
        except ImportError as err:
            raise ConfigError("source 'planetary-computer' needs the planetary-computer "
                              "package: pip install 'sitewatch[stac]'") from err
        import requests

        settings = Settings.get()
        if self.sas_url:
            settings.sas_url = self.sas_url
        account, container = where
        token_url = f"{settings.sas_url}/{account}/{container}"
        cached = TOKEN_CACHE.get(token_url)
        if force or (cached is not None and cached.ttl() < MIN_TOKEN_TTL_S):
            TOKEN_CACHE.pop(token_url, None)
            log.info("signing %s/%s again (%s)", account, container,
                     "refused" if force else "token about to expire")
        try:
            token = get_token(account, container, retry_total=self.http.retries,
                              retry_backoff_factor=self.http.retry_delay)
        except requests.HTTPError as err:
            code = err.response.status_code if err.response is not None else None
            if code in (401, 403):
                raise CredentialsError(
                    f"the Planetary Computer token API refused a token for {account}/"
                    f"{container} (HTTP {code}): set PC_SDK_SUBSCRIPTION_KEY if your access "
                    "needs one") from err
            raise FetchError(f"the Planetary Computer token API failed (HTTP {code}) for "
                             f"{account}/{container}: try again later") from err
        except requests.exceptions.RetryError as err:  # status retries used up
            m = re.search(r"too many (\d{3}) error", str(err))
            code_s = m.group(1) if m else "5xx"
            if code_s == "429":
                raise RateLimitError("the Planetary Computer token API keeps answering HTTP "
                                     "429 Too Many Requests: wait a few minutes and run again"
                                     ) from err
            raise FetchError(f"the Planetary Computer token API failed (HTTP {code_s}) for "
                             f"{account}/{container}: try again later") from err
        except requests.RequestException as err:
            raise FetchError(f"cannot reach the Planetary Computer token API at "
                             f"{public_url(settings.sas_url or '')} ({type(err).__name__}): "
                             "check your network connection") from err
        return str(token.sign(public_url(href)).href)
