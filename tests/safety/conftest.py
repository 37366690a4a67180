"""Fixtures of the safety tests (issue 16); helpers are in ``safety_helpers``."""

from __future__ import annotations

from pathlib import Path

import pytest
from safety_helpers import make_pair


@pytest.fixture(scope="session")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two 4-band GeoTIFFs on one grid with a changed patch (see ``make_pair``)."""
    return make_pair(tmp_path_factory.mktemp("pair"))
