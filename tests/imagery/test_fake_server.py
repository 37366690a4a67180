"""The fake server's request log, which many tests assert on, is exact under load.

Every fault test reads the log of the server it shares with the other tests of its
worker: the log must list the requests in the order they were answered, hold every
request a client has seen answered, and hold nothing a previous test set off.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from fakes.control import FakeServer

pytestmark = pytest.mark.network

SEARCH = "/es/v1/search"


def a_file_url(server: FakeServer) -> str:
    """The URL of one band file of the world being served now."""
    r = requests.post(f"{server.earth_search_url}/search", timeout=30,
                      json={"collections": ["sentinel-2-c1-l2a"], "limit": 1})
    return str(r.json()["features"][0]["assets"]["red"]["href"])


def test_log_lists_requests_in_the_order_they_were_answered(server: FakeServer) -> None:
    """The server's thread for the HEAD is still busy when the GET is answered: the GET
    must still come second (the log was once written after the answer, and a loaded
    machine reordered it)."""
    url = a_file_url(server)
    path = re.escape(urlsplit(url).path)
    server.reset(None, faults=[{"path": path, "method": "HEAD", "linger": 1.0, "times": 1}])
    head = requests.head(url, timeout=30)  # two connections, as GDAL's and sitewatch's
    get = requests.get(url, headers={"Range": "bytes=0-99"}, timeout=30)
    assert (head.status_code, get.status_code) == (200, 206)
    assert [(e["method"], e["status"], e["bytes"]) for e in server.log()] == [
        ("HEAD", 200, 0), ("GET", 206, 100)]


def test_request_from_before_a_reset_is_not_in_the_new_log(server: FakeServer,
                                                            standard_world: Path) -> None:
    """A request still waiting on a delay fault when its test ends is answered during the
    next test: it must not appear in that test's log."""
    stale_before = server.stale_requests()
    server.set_faults([{"path": SEARCH, "delay": 1.0}])
    with pytest.raises(requests.Timeout):
        requests.post(f"{server.earth_search_url}/search", json={}, timeout=0.2)
    server.reset(standard_world)  # what the `server` fixture does between tests
    deadline = time.monotonic() + 60
    while server.stale_requests() == stale_before:  # until the server has answered it
        assert time.monotonic() < deadline, "the delayed request was never answered"
        time.sleep(0.05)
    assert server.stale_requests() == stale_before + 1
    assert server.log() == []
