"""The fake server process: ``python tests/fakes/server.py [--port N]``.

Serves every fake API (STAC + COG files, Planetary Computer SAS + blobs, Sentinel
Hub token/Catalog/Process) on 127.0.0.1 and prints ``PORT <n>`` once listening.
Tests drive it through ``/_control``: ``reset`` (world folder, faults,
credentials, SAS lifetime), ``faults``, ``log``, ``expire-sas``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sh_routes  # noqa: E402
import stac_routes  # noqa: E402
from fakehttp import Request, Response, State, serve  # noqa: E402


def _control(state: State) -> None:
    def reset(req: Request) -> Response:
        p = req.json()
        with state.lock:
            state.clear_log()
            state.faults[:] = list(p.get("faults", []))
            keep = {k: state.extra[k] for k in ("tokens", "sas", "world", "root")
                    if k in state.extra}
            state.extra.clear()
            state.extra.update(keep)
            if p.get("world"):
                root = Path(p["world"])
                state.extra["root"] = root
                state.extra["world"] = json.loads((root / "world.json").read_text())
                state.extra["world"]["tag"] = p.get("tag") or root.name
            if "credentials" in p:
                state.extra["credentials"] = p["credentials"]
                state.extra["tokens"] = set()
            if "sas_ttl" in p:
                state.extra["sas_ttl"] = p["sas_ttl"]
        return Response(200, {"ok": True})

    def faults(req: Request) -> Response:
        with state.lock:
            state.faults[:] = list(req.json().get("faults", []))
        return Response(200, {"ok": True})

    def log(req: Request) -> Response:
        with state.lock:
            return Response(200, {"log": list(state.log), "stale": state.stale,
                                  "faults": [dict(f) for f in state.faults],
                                  "secrets": sorted(state.extra.get("tokens", set()))
                                  + sorted(state.extra.get("sas", {}))})

    def expire_sas(req: Request) -> Response:
        with state.lock:
            state.extra["sas"] = {}
        return Response(200, {"ok": True})

    def revoke_tokens(req: Request) -> Response:
        with state.lock:
            state.extra["tokens"] = set()
        return Response(200, {"ok": True})

    state.route("POST", r"/_control/reset", reset)
    state.route("POST", r"/_control/faults", faults)
    state.route("GET", r"/_control/log", log)
    state.route("POST", r"/_control/expire-sas", expire_sas)
    state.route("POST", r"/_control/revoke-tokens", revoke_tokens)


def main() -> None:
    port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 0
    state = State()
    _control(state)
    stac_routes.add_routes(state)
    sh_routes.add_routes(state)
    server = serve(state, port)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
