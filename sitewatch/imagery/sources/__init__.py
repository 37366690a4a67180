"""Registry of imagery sources, picked by name (``--source NAME``).

Sources whose client libraries are optional (pystac-client, sentinelhub) are
registered by import path and imported only when asked for, so importing
sitewatch never imports them.

Examples
--------
>>> "sample" in available_sources()
True
>>> get_source("sample").name
'sample'
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

from sitewatch.errors import ConfigError, ParameterError, SitewatchError
from sitewatch.imagery.sources.base import ImagerySource

__all__ = ["ImagerySource", "available_sources", "get_source", "register_source",
           "source_class"]

# name -> "module:Class"; each module may need optional dependencies.
_SOURCES: dict[str, str] = {
    "sample": "sitewatch.imagery.sources.sample:SampleSource",
    "local": "sitewatch.imagery.sources.local:LocalSource",
    "earth-search": "sitewatch.imagery.sources.earth_search:EarthSearchSource",
    "planetary-computer": "sitewatch.imagery.sources.planetary:PlanetaryComputerSource",
    "cdse": "sitewatch.imagery.sources.sentinelhub:CdseSource",
    "sentinelhub": "sitewatch.imagery.sources.sentinelhub:SentinelHubSource",
}


_NEEDS = {"path": ": the folder of its files (--endpoint PATH on the command line of "
                  "`sitewatch fetch` and `sitewatch timeline`)"}


def register_source(name: str, target: str) -> None:
    """Register a source class by import path ``"package.module:Class"``."""
    _SOURCES[name] = target


def available_sources() -> list[str]:
    """Registered source names."""
    return list(_SOURCES)


def source_class(name: str) -> type[ImagerySource]:
    """The class of a registered source (imports its module, not its client library)."""
    try:
        target = _SOURCES[name]
    except KeyError:
        raise ParameterError(f"unknown source {name!r}: choose one of "
                             f"{', '.join(_SOURCES)}") from None
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"source {name!r} needs a package that is not installed ({err.name}): "
                          "pip install 'sitewatch[all]'") from err
    cls: type[ImagerySource] = getattr(module, cls_name)
    return cls


def get_source(name: str, **options: Any) -> ImagerySource:
    """An instance of the named source, built with ``options``.

    Examples
    --------
    >>> get_source("local")
    Traceback (most recent call last):
    ...
    sitewatch.errors.ConfigError: source 'local' needs path: the folder of its files ...
    """
    cls = source_class(name)
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as err:
        missing = re.findall(r"missing a required argument: '(\w+)'", str(err))
        if missing:
            what = _NEEDS.get(missing[0], "")
            raise ConfigError(f"source {name!r} needs {missing[0]}{what} (see `sitewatch "
                              "sources`)") from None
        raise ConfigError(f"source {name!r} does not take these options ({err}): see "
                          "`sitewatch sources`") from None
    try:
        return cls(**options)
    except OSError as err:
        if isinstance(err, SitewatchError):
            raise
        raise ConfigError(f"source {name!r} cannot use {err.filename or options} "
                          f"({err.strerror or err}): check the path or address given to it "
                          "(--endpoint)") from err
