"""HTTP settings shared by every remote source: timeouts, retries, GDAL's /vsicurl/ options.

One :class:`HttpSettings` holds the timeout and retry policy; it becomes GDAL
configuration options (for windowed COG reads with rasterio) and a urllib3
``Retry`` (for requests-based clients such as pystac-client). Defaults suit a
home connection; environment variables override them:

==============================  =======  ============================================
variable                        default  meaning
==============================  =======  ============================================
``SITEWATCH_HTTP_TIMEOUT``      30       seconds a request may stall (no byte) before it fails
``SITEWATCH_HTTP_CONNECT_TIMEOUT`` 15    seconds to open a connection
``SITEWATCH_HTTP_RETRIES``      4        retries of 429 / 5xx / dropped connections
``SITEWATCH_HTTP_RETRY_DELAY``  1.0      first wait in seconds (doubles each retry)
==============================  =======  ============================================

GDAL options set for every remote read (see the GDAL configuration options
page): ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR`` (no directory listing of the
bucket: 3 requests per open instead of 13), ``GDAL_HTTP_MAX_RETRY`` /
``GDAL_HTTP_RETRY_DELAY`` (GDAL does not retry by default: one 503 would fail
the read), ``GDAL_HTTP_RETRY_CODES`` (5xx only: GDAL ignores ``Retry-After``, so
a 429 comes back to :class:`~sitewatch.imagery.sources.cog.CogReader`, which
waits as asked), ``GDAL_HTTP_LOW_SPEED_TIME`` (a stalled transfer fails after
``timeout`` seconds), ``GDAL_HTTP_TIMEOUT`` (ten times that in total) and
``GDAL_HTTP_CONNECTTIMEOUT``, and merging of consecutive byte ranges.

Examples
--------
>>> s = HttpSettings(timeout=30, retries=2)
>>> opts = s.gdal_options()
>>> opts["GDAL_HTTP_LOW_SPEED_TIME"], opts["GDAL_HTTP_MAX_RETRY"], opts["GDAL_HTTP_TIMEOUT"]
('30', '2', '300')
>>> HttpSettings.from_env({"SITEWATCH_HTTP_RETRIES": "7"}).retries
7
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sitewatch.errors import ConfigError

__all__ = ["HttpSettings", "RETRY_STATUS"]

#: HTTP statuses worth retrying: rate limit and transient server errors.
RETRY_STATUS: tuple[int, ...] = (429, 500, 502, 503, 504)

_ENV = {
    "timeout": "SITEWATCH_HTTP_TIMEOUT",
    "connect_timeout": "SITEWATCH_HTTP_CONNECT_TIMEOUT",
    "retries": "SITEWATCH_HTTP_RETRIES",
    "retry_delay": "SITEWATCH_HTTP_RETRY_DELAY",
}


@dataclass(frozen=True)
class HttpSettings:
    """Timeout and retry policy of remote reads.

    Parameters
    ----------
    timeout : float
        Seconds a request may stall before it fails.
    connect_timeout : float
        Seconds to open a connection.
    retries : int
        How many times a request answered 429, 5xx or dropped is retried.
    retry_delay : float
        First wait between retries in seconds; later waits double. A server's
        ``Retry-After`` is honoured where the client supports it.
    """

    timeout: float = 30.0
    connect_timeout: float = 15.0
    retries: int = 4
    retry_delay: float = 1.0

    def __post_init__(self) -> None:
        if not (self.timeout > 0 and self.connect_timeout > 0):
            raise ConfigError("HTTP timeouts must be positive seconds")
        if self.retries < 0 or self.retry_delay < 0:
            raise ConfigError("HTTP retries and retry delay must be zero or more")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any
                 ) -> HttpSettings:
        """Defaults, overridden by ``SITEWATCH_HTTP_*`` variables, then by ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field_name, var in _ENV.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            try:
                values[field_name] = int(raw) if field_name == "retries" else float(raw)
            except ValueError:
                raise ConfigError(f"{var}={raw!r} is not a number: set it to e.g. "
                                  f"{'4' if field_name == 'retries' else '30'}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> HttpSettings:
        return replace(self, **changes)

    def gdal_options(self) -> dict[str, str]:
        """GDAL configuration options for /vsicurl/ reads under this policy."""
        return {
            "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
            "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF",
            "GDAL_HTTP_MAX_RETRY": str(self.retries),
            "GDAL_HTTP_RETRY_DELAY": f"{self.retry_delay:g}",
            # GDAL does not read Retry-After: 429s are retried by CogReader, which does
            "GDAL_HTTP_RETRY_CODES": ",".join(str(c) for c in RETRY_STATUS if c != 429),
            # a stall (no byte for `timeout` s) fails the request; a slow but moving
            # transfer may take up to ten times as long in total
            "GDAL_HTTP_LOW_SPEED_TIME": str(max(1, math.ceil(self.timeout))),
            "GDAL_HTTP_LOW_SPEED_LIMIT": "1",
            "GDAL_HTTP_TIMEOUT": str(max(1, math.ceil(10 * self.timeout))),
            "GDAL_HTTP_CONNECTTIMEOUT": str(max(1, math.ceil(self.connect_timeout))),
            "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
            "GDAL_HTTP_MULTIPLEX": "YES",
            "VSI_CACHE": "TRUE",
        }

    def urllib3_retry(self) -> Any:
        """A ``urllib3.util.Retry`` for requests sessions (POST included, Retry-After honoured)."""
        from urllib3.util.retry import Retry

        return Retry(total=self.retries, connect=self.retries, read=self.retries,
                     status=self.retries, backoff_factor=self.retry_delay,
                     status_forcelist=RETRY_STATUS, allowed_methods=None,
                     respect_retry_after_header=True, raise_on_status=False)

    def requests_timeout(self) -> tuple[float, float]:
        """(connect, read) timeout tuple for requests."""
        return (self.connect_timeout, self.timeout)
