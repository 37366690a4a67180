"""The one exception hierarchy of sitewatch.

Every error a user can cause or meet derives from :class:`SitewatchError`, and
where the meaning matches a builtin it is mixed in (the pattern of rasterio's
``RasterioIOError(RasterioError, OSError)``), so ``except ValueError`` still
catches a bad site. Messages name the problem *and* the fix; library
exceptions are re-raised with ``raise ... from err``.

Examples
--------
>>> from sitewatch.errors import AOIError, SitewatchError
>>> issubclass(AOIError, ValueError) and issubclass(AOIError, SitewatchError)
True
>>> try:
...     raise AOIError("empty geometry: give a polygon with an area")
... except SitewatchError as err:
...     print(err)
empty geometry: give a polygon with an area
"""

from __future__ import annotations

__all__ = [
    "SitewatchError",
    "AOIError",
    "UnknownSiteError",
    "DataError",
    "CorruptFileError",
    "FetchError",
    "RateLimitError",
    "QuotaExceededError",
    "CredentialsError",
    "NoSceneError",
    "NoClearSceneError",
    "RegistrationError",
    "DetectorError",
    "CacheError",
    "ConfigError",
    "MissingDependencyError",
    "ParameterError",
    "OutputFolderError",
    "SitewatchWarning",
    "RegistrationWarning",
    "DataWarning",
]


class SitewatchError(Exception):
    """Root of every sitewatch error."""


class AOIError(SitewatchError, ValueError):
    """A site or area of interest cannot be used (bad geometry, order, size...)."""


class UnknownSiteError(AOIError, KeyError):
    """A site id is not in the catalogue."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(SitewatchError, ValueError):
    """Input data is unusable: wrong shape, missing band, mismatched grids."""


class CorruptFileError(DataError, OSError):
    """A file exists but cannot be read (truncated, not a GeoTIFF, bad tags)."""


class FetchError(SitewatchError, OSError):
    """Imagery could not be fetched from a source (network, server, protocol)."""


class RateLimitError(FetchError):
    """The server keeps answering HTTP 429 after the allowed retries."""


class QuotaExceededError(FetchError):
    """The account's monthly quota (requests or processing units) is used up."""


class CredentialsError(FetchError, PermissionError):
    """Credentials are missing, wrong or expired."""


class NoSceneError(SitewatchError, LookupError):
    """A search found no scene for the site in the requested dates."""


class NoClearSceneError(NoSceneError):
    """Scenes exist, but none is clear enough over the site."""


class RegistrationError(SitewatchError, ValueError):
    """Co-registration failed or found a shift beyond the allowed limit."""


class DetectorError(SitewatchError, ValueError):
    """A detector cannot run on the given input or parameters."""


class CacheError(SitewatchError, OSError):
    """The on-disk cache cannot be read or written."""


class ConfigError(SitewatchError, ValueError):
    """A configuration value (option, environment variable) is invalid."""


class MissingDependencyError(SitewatchError, ImportError):
    """An optional package a feature needs is not installed (the message names the extra)."""


class ParameterError(ConfigError, DetectorError):
    """A parameter or option value is invalid: wrong type, out of range, not finite, or
    not used (a parameter the detector does not have or would ignore).

    The command line reports it as a usage error (exit code 2).
    """


class OutputFolderError(ConfigError):
    """An output folder cannot be used: it holds files sitewatch did not write, an
    earlier run (without ``--overwrite``), or it cannot be created or written."""


class SitewatchWarning(UserWarning):
    """Root of every sitewatch warning."""


class RegistrationWarning(SitewatchWarning):
    """An epoch was flagged by co-registration but kept."""


class DataWarning(SitewatchWarning):
    """Data is usable but suspicious (few clear pixels, odd value range...)."""
