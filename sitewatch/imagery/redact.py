"""Keep credentials out of logs, including the debug logs of the client libraries.

sitewatch never logs a secret itself (URLs are logged without their query
string). Some libraries it drives do at DEBUG level: requests-oauthlib and
oauthlib log the token request body (``client_id=...&client_secret=...``), the
client id on its own, Basic credentials and the token they get back; rasterio
and urllib3 log full URLs, Planetary Computer signatures included.
:func:`install_redaction` adds a filter to those loggers (and to every logger
of the OAuth libraries that exists when it runs) that masks such values before
any handler sees them. Remote sources call it when created. The OAuth client
id is masked too: with the secret it names the account.

Examples
--------
>>> redact("data {'client_id': 'me', 'client_secret': 's3cr3t'} url x.tif?se=1&sig=abc%2B")
"data {'client_id': '***', 'client_secret': '***'} url x.tif?se=1&sig=***"
>>> redact("Authorization: Bearer eyJhbGciOi.x.y")
'Authorization: Bearer ***'
>>> redact('Encoding `client_id` "my-id" with `client_secret` as Basic auth credentials.')
'Encoding `client_id` "***" with `client_secret` as Basic auth credentials.'
"""

from __future__ import annotations

import logging
import re

__all__ = ["redact", "RedactingFilter", "install_redaction", "LIBRARY_LOGGERS", "LIBRARY_PREFIXES"]

_PATTERNS = [
    (re.compile(r"""(client_(?:secret|id)['"]?\s*[:=]\s*['"]?)[^'"&\s,}]+""", re.I),
     r"\1***"),
    (re.compile(r"""(client_id`?\s+['"])[^'"]+""", re.I), r"\1***"),
    (re.compile(r"(Basic\s+)[A-Za-z0-9+/=]{8,}"), r"\1***"),
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


#: Every logger under these names gets the filter too (a filter on a logger does not
#: see records of its child loggers).
LIBRARY_PREFIXES = ("oauthlib", "requests_oauthlib", "sentinelhub", "urllib3")


def install_redaction() -> None:
    """Add the redacting filter to :data:`LIBRARY_LOGGERS` and to the existing loggers
    of the OAuth and HTTP libraries (idempotent)."""
    names = set(LIBRARY_LOGGERS)
    names.update(n for n in list(logging.root.manager.loggerDict)
                 if n.split(".")[0] in LIBRARY_PREFIXES)
    for name in sorted(names):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
