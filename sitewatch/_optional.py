"""Optional dependencies, imported where a feature needs them, with the install line.

Heavy or niche packages (xarray, rioxarray, GeoPandas, sentinelhub, dask...) are
extras: importing sitewatch never imports them, and a feature that needs one
says which extra brings it.

Examples
--------
>>> import_optional("json", extra="none", feature="a test").__name__
'json'
>>> try:
...     import_optional("no_such_package_xyz", extra="xarray", feature="Raster.to_xarray()")
... except ImportError as err:
...     print(err.args[0].split(": ")[1])
pip install 'sitewatch[xarray]'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from sitewatch.errors import MissingDependencyError

__all__ = ["import_optional"]


def import_optional(module: str, *, extra: str, feature: str,
                    package: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`~sitewatch.errors.MissingDependencyError`.

    Parameters
    ----------
    module : str
        Module to import (``"xarray"``).
    extra : str
        The sitewatch extra that installs it (``pip install 'sitewatch[EXTRA]'``).
    feature : str
        What needs it, for the message (``"Raster.to_xarray()"``).
    package : str, optional
        Distribution name when it differs from the module's (``geopandas``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        name = package or module.split(".")[0]
        raise MissingDependencyError(f"{feature} needs {name}, which is not installed: "
                                     f"pip install 'sitewatch[{extra}]'") from err
