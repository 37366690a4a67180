"""The HTTP machinery of the fake servers: HTTP/1.1, byte ranges, a request log, faults.

Runs inside the fake server's own process (see ``server.py``): rasterio/GDAL
can dead-lock against a server in its own process, so tests start it with
:class:`fakes.control.FakeServer`.

Faults are rules matched in order against each request; a rule answers
instead of the route (``status`` with ``headers``/``body``), delays the answer
(``delay`` seconds), cuts the body short (``cut_body``: bytes sent before
the connection is closed), serves a file as if truncated (``truncate``: the
fraction kept) or with garbage after a byte offset (``scramble_after``).
``times`` limits how often a rule fires. ``linger`` keeps the server's thread
busy that many seconds after the answer is sent (a thread descheduled on a
loaded machine).

The log lists requests in the order they were answered: an entry is added
before the first byte of its answer is written, so a request the client has
seen answered is always in the log, and in its place. (Logging after the
write let a client's next request overtake it on a loaded machine, and let an
entry land after a ``reset`` had emptied the log.) A ``reset`` starts a new
log generation: a request that arrived before it (one still sleeping on a
``delay`` fault after its client gave up, say) belongs to the test that made
it and is never logged into the next test's log.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

Handler = Callable[["Request"], "Response"]


class Response:
    def __init__(self, status: int = 200, body: bytes | str | dict | list = b"",
                 headers: dict[str, str] | None = None, content_type: str | None = None,
                 file: Path | None = None, file_size: int | None = None) -> None:
        self.status = status
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
            content_type = content_type or "application/json"
        elif isinstance(body, str):
            body = body.encode()
        self.body: bytes = body
        self.headers = dict(headers or {})
        if content_type:
            self.headers.setdefault("Content-Type", content_type)
        self.file = file
        self.file_size = file_size


class Request:
    def __init__(self, method: str, raw_path: str, headers: Any, body: bytes, base: str) -> None:
        self.method = method
        parts = urlsplit(raw_path)
        self.path = parts.path
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.headers = headers
        self.body = body
        self.base = base  # http://127.0.0.1:PORT

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode()).items()}


class State:
    """What the server knows: routes, faults, the request log."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.faults: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}
        self.generation = 0  # advanced by every reset of the log
        self.stale = 0  # requests answered after a reset that came after their arrival

    def clear_log(self) -> None:
        """Empty the log and start a new generation (caller holds ``lock``)."""
        self.log.clear()
        self.generation += 1

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern), handler))

    def match_fault(self, req: Request) -> dict[str, Any] | None:
        with self.lock:
            for f in self.faults:
                if f.get("method") and f["method"] != req.method:
                    continue
                if not re.search(f.get("path", ""), req.path):
                    continue
                if f.get("times") is not None:
                    if f["times"] <= 0:
                        continue
                    f["times"] -= 1
                f["fired"] = f.get("fired", 0) + 1
                return dict(f)
        return None


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    if not header:
        return None
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not m:
        return None
    a, b = m.groups()
    if a == "":
        start, end = max(0, size - int(b)), size - 1
    else:
        start, end = int(a), (int(b) if b else size - 1)
    return start, min(end, size - 1)


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "sitewatch-fake/1.0"
        disable_nagle_algorithm = True  # headers and body go in separate writes

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
            req = Request(self.command, self.path, self.headers, body, f"http://{host}")
            entry: dict[str, Any] = {"t": time.time(), "method": req.method, "path": req.path,
                                     "range": self.headers.get("Range"), "status": 0,
                                     "bytes": 0, "control": req.path.startswith("/_control")}
            with state.lock:
                generation = state.generation  # the log this request belongs to
            fault = None if entry["control"] else state.match_fault(req)
            if fault and fault.get("delay"):
                time.sleep(float(fault["delay"]))
            if fault and fault.get("status"):
                resp = Response(int(fault["status"]), fault.get("body", ""),
                                headers=fault.get("headers"),
                                content_type=fault.get("content_type", "text/plain"))
            else:
                resp = self._route(req)
            if fault and resp.file is not None and fault.get("truncate"):
                resp.file_size = int(resp.file.stat().st_size * float(fault["truncate"]))
            if fault and resp.file is not None and fault.get("scramble_after") is not None:
                resp.scramble_after = int(fault["scramble_after"])  # type: ignore[attr-defined]
            cut = fault.get("cut_body") if fault else None
            logged = False

            def record() -> None:  # once; control requests are not logged
                nonlocal logged
                if not (logged or entry["control"]):
                    logged = True
                    with state.lock:
                        if state.generation == generation:
                            state.log.append(entry)
                        else:  # it arrived before a reset: not the current test's
                            state.stale += 1

            try:
                self._send(req, resp, entry, cut, record)
            finally:
                record()  # an answer that failed before _send logged it
            if fault and fault.get("linger"):
                time.sleep(float(fault["linger"]))

        def _route(self, req: Request) -> Response:
            for method, pat, handler in state.routes:
                if method not in (req.method, "*") and not (method == "GET"
                                                             and req.method == "HEAD"):
                    continue
                m = pat.fullmatch(req.path)
                if m:
                    req.match = m  # type: ignore[attr-defined]
                    try:
                        return handler(req)
                    except Exception as err:  # a bug in the fake: tell the client
                        import traceback

                        traceback.print_exc()
                        return Response(500, f"fake server error: {err!r}")
            return Response(404, f"no route for {req.method} {req.path}")

        def _send(self, req: Request, resp: Response, entry: dict[str, Any],
                  cut: int | None, record: Callable[[], None]) -> None:
            if resp.file is not None:
                size = resp.file_size if resp.file_size is not None else resp.file.stat().st_size
                rng = parse_range(self.headers.get("Range"), size)
                if rng is not None and rng[0] >= size:
                    resp = Response(416, "", headers={"Content-Range": f"bytes */{size}"})
                    data = b""
                elif rng is not None:
                    start, end = rng
                    with open(resp.file, "rb") as fh:
                        fh.seek(start)
                        data = fh.read(end - start + 1)
                    resp.status = 206
                    resp.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
                else:
                    data = b"" if req.method == "HEAD" else resp.file.read_bytes()[:size]
                    resp.headers["Content-Length"] = str(size)
                after = getattr(resp, "scramble_after", None)
                if after is not None and data:
                    start = rng[0] if rng is not None else 0
                    junk = bytes((i * 7919 + 13) % 251 for i in range(len(data)))
                    data = bytes(d if start + i < after else j
                                 for i, (d, j) in enumerate(zip(data, junk, strict=True)))
                resp.headers.setdefault("Content-Type", "image/tiff")
                resp.headers["Accept-Ranges"] = "bytes"
                body = data
                if rng is not None or resp.status == 416:
                    resp.headers["Content-Length"] = str(len(body))
            else:
                body = resp.body
                resp.headers["Content-Length"] = str(len(body))
            if req.method == "HEAD":
                body = b""
            elif cut is not None:
                body = body[:int(cut)]  # Content-Length still announces the whole body
            entry["status"] = resp.status
            entry["bytes"] = len(body)
            record()  # in the log before the client can see the answer
            try:
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if body:
                    self.wfile.write(body)
                    self.wfile.flush()
            except OSError:  # the client went away: it did not get the body
                with state.lock:
                    entry["bytes"] = 0
                raise
            if cut is not None:
                self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802
            self._dispatch()

        def do_HEAD(self) -> None:  # noqa: N802
            self._dispatch()

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch()

    return H


def serve(state: State, port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(state))
    server.daemon_threads = True
    return server
