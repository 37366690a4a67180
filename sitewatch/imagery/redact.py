"""Keep credentials out of logs, including the debug logs of the client libraries.

sitewatch never logs a secret itself (URLs are logged without their query
string). Some libraries it drives do at DEBUG level: requests-oauthlib logs
the token request body (``client_secret=...``) and the token it gets back;
rasterio and urllib3 log full URLs, Planetary Computer signatures included.
:func:`install_redaction` adds a filter to those loggers that masks such
values before any handler sees them. Remote sources call it when created.

Examples
--------
>>> redact("data {'client_id': 'me', 'client_secret': 's3cr3t'} url x.tif?se=1&sig=abc%2B")
"data {'client_id': 'me', 'client_secret': '***'} url x.tif?se=1&sig=***"
>>> redact("Authorization: Bearer eyJhbGciOi.x.y")
'Authorization: Bearer ***'
"""

from __future__ import annotations

import logging
import re

__all__ = ["redact", "RedactingFilter", "install_redaction", "LIBRARY_LOGGERS"]

_PATTERNS = [
    (re.compile(r"""(client_secret['"]?\s*[:=]\s*['"]?)[^'"&\s,}]+""", re.I), r"\1***"),
    (re.compile(r"""((?:access|refresh|id)_token['"]?\s*[:=]\s*['"]?)[^'"&\s,}]+""", re.I),
     r"\1***"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1***"),
    (re.compile(r"([?&](?:sig|signature|X-Amz-Signature|X-Amz-Security-Token|token|"
                r"subscription-key)=)[^&\s'\"]+", re.I), r"\1***"),
    (re.compile(r"(Ocp-Apim-Subscription-Key['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+", re.I),
     r"\1***"),
]

#: Loggers of client libraries known to log credentials or signed URLs at DEBUG.
LIBRARY_LOGGERS = (
    "requests_oauthlib.oauth2_session", "oauthlib.oauth2.rfc6749.parameters",
    "oauthlib.oauth2.rfc6749.clients.base", "urllib3.connectionpool",
    "sentinelhub.download.client", "sentinelhub.download.sentinelhub_client",
    "sentinelhub.download.session", "sentinelhub.download.handlers",
    "rasterio._base", "rasterio._env", "rasterio.env", "rasterio._io", "rasterio._filepath",
    "rasterio._err", "rasterio.vrt", "rasterio", "pystac_client.stac_api_io",
    "planetary_computer", "planetary_computer.sas", "sitewatch",
)


def redact(text: str) -> str:
    """``text`` with secrets (client secrets, tokens, URL signatures) replaced by ``***``."""
    for pat, repl in _PATTERNS:
        text = pat.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        clean = redact(msg)
        if clean != msg:
            record.msg = clean
            record.args = None
        return True


_FILTER = RedactingFilter()


def install_redaction() -> None:
    """Add the redacting filter to :data:`LIBRARY_LOGGERS` (idempotent)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
