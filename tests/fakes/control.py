"""Start, drive and stop the fake server process from tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import requests

SERVER = Path(__file__).resolve().parent / "server.py"


class FakeServer:
    """A fake server in its own process on 127.0.0.1 (rasterio must not share its process)."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen([sys.executable, str(SERVER)], stdout=subprocess.PIPE,
                                     stderr=None, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"fake server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._session = requests.Session()

    # -- endpoints ---------------------------------------------------------------
    @property
    def earth_search_url(self) -> str:
        return f"{self.url}/es/v1"

    @property
    def pc_url(self) -> str:
        return f"{self.url}/pc/api/stac/v1"

    @property
    def sas_url(self) -> str:
        return f"{self.url}/pc/api/sas/v1/token"

    @property
    def sh_url(self) -> str:
        return f"{self.url}/sh"

    @property
    def sh_token_url(self) -> str:
        return f"{self.url}/sh/oauth/token"

    # -- control -----------------------------------------------------------------
    def _post(self, what: str, payload: dict[str, Any] | None = None) -> None:
        r = self._session.post(f"{self.url}/_control/{what}", json=payload or {}, timeout=30)
        r.raise_for_status()

    def reset(self, world: Path | None = None, *, faults: list[dict[str, Any]] | None = None,
              credentials: dict[str, str] | None = None, sas_ttl: float | None = None,
              tag: str | None = None) -> str | None:
        """Serve ``world`` with no faults and an empty log; returns the URL tag of its files.

        A new tag per call (default) gives every test its own file URLs, so GDAL's
        per-process cache of remote files never answers for the server.
        """
        payload: dict[str, Any] = {"faults": faults or []}
        if world is not None:  # without a world: keep serving the current one, same URLs
            tag = tag or f"w{uuid.uuid4().hex[:10]}"
            payload.update({"world": str(world), "tag": tag})
        if credentials is not None:
            payload["credentials"] = credentials
        if sas_ttl is not None:
            payload["sas_ttl"] = sas_ttl
        self._post("reset", payload)
        return tag

    def set_faults(self, faults: list[dict[str, Any]]) -> None:
        self._post("faults", {"faults": faults})

    def expire_sas(self) -> None:
        self._post("expire-sas")

    def revoke_tokens(self) -> None:
        self._post("revoke-tokens")

    def log(self) -> list[dict[str, Any]]:
        r = self._session.get(f"{self.url}/_control/log", timeout=30)
        r.raise_for_status()
        return list(r.json()["log"])

    def stale_requests(self) -> int:
        """Requests answered after a ``reset`` that came after they arrived (not logged)."""
        r = self._session.get(f"{self.url}/_control/log", timeout=30)
        r.raise_for_status()
        return int(r.json()["stale"])

    def faults_state(self) -> list[dict[str, Any]]:
        r = self._session.get(f"{self.url}/_control/log", timeout=30)
        return list(r.json()["faults"])

    def issued_secrets(self) -> list[str]:
        """Every OAuth access token and SAS signature the server has handed out."""
        r = self._session.get(f"{self.url}/_control/log", timeout=30)
        return list(r.json()["secrets"])

    def bytes_served(self, path_contains: str = "") -> int:
        return sum(e["bytes"] for e in self.log() if path_contains in e["path"])

    def close(self) -> None:
        self._session.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
