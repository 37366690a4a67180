"""A real headless Chromium driven over the DevTools protocol (for the report test).

Launches Debian's ``chromium`` with a fresh profile, no sandbox, no GPU, no
background networking and every host name unresolvable, opens a file URL and
reports console messages, exceptions, network requests and the state of every
image. Also used by hand to screenshot a report (``python headless_browser.py
report.html shot.png``).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    exe = os.environ.get("SITEWATCH_CHROMIUM")
    if exe and Path(exe).exists():
        return exe
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    console: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    log_entries: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    screenshot: bytes = b""

    @property
    def errors(self) -> list[str]:
        out = [f"console.{c['type']}: {c['text']}" for c in self.console
               if c["type"] in ("error", "assert", "warning")]
        out += [f"exception: {e}" for e in self.exceptions]
        out += [f"log {e.get('level')}: {e.get('text')} {e.get('url', '')}"
                for e in self.log_entries if e.get("level") in ("error", "warning")]
        return out


class Browser:
    """``with Browser() as b: report = b.open(path)``."""

    def __init__(self, exe: str | None = None, timeout: float = 60.0) -> None:
        self.exe = exe or find_chromium()
        if self.exe is None:
            raise RuntimeError("no chromium found")
        self.timeout = timeout
        self.proc: subprocess.Popen[str] | None = None
        self.profile = tempfile.mkdtemp(prefix="sitewatch-chromium-")
        self.ws: Any = None
        self._id = 0

    def __enter__(self) -> Browser:
        import websocket  # websocket-client, a test dependency

        args = [self.exe, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-default-apps", "--disable-extensions",
                "--disable-sync", "--no-first-run", "--no-default-browser-check",
                "--metrics-recording-only", "--mute-audio", "--remote-allow-origins=*",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "about:blank"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        port = None
        deadline = time.monotonic() + self.timeout
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            raise RuntimeError("chromium did not open its DevTools port")
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list",
                                                    timeout=10).read())
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"],
                                              timeout=self.timeout, suppress_origin=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.ws is not None:
            self.ws.close()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _send(self, method: str, **params: Any) -> int:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        return self._id

    def _call(self, method: str, events: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        mid = self._send(method, **params)
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            events.append(msg)

    def open(self, path: str | os.PathLike[str], *, width: int = 1100,
             screenshot: bool = False) -> PageReport:
        events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._call(f"{domain}.enable", events)
        self._call("Emulation.setDeviceMetricsOverride", events, width=width, height=900,
                   deviceScaleFactor=1, mobile=False)
        self._call("Page.navigate", events, url=Path(path).resolve().as_uri())
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in events):
            if time.monotonic() > deadline:
                raise RuntimeError("page did not finish loading")
            events.append(json.loads(self.ws.recv()))
        js = ("JSON.stringify({title: document.title, images: Array.from(document.images)"
              ".map(i => { const r = i.getBoundingClientRect(); return {id: i.closest('figure')"
              "?.id || '', complete: i.complete, naturalWidth: i.naturalWidth, "
              "width: r.width, height: r.height, scheme: i.src.split(':')[0]}; })})")
        time.sleep(0.3)  # let late console messages arrive
        res = self._call("Runtime.evaluate", events, expression=js, returnByValue=True)
        info = json.loads(res["result"]["value"])
        rep = PageReport(title=info["title"], images=info["images"])
        if screenshot:
            shot = self._call("Page.captureScreenshot", events, format="png",
                              captureBeyondViewport=True)
            rep.screenshot = base64.b64decode(shot["data"])
        for e in events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", "")))
                                for a in p.get("args", []))
                rep.console.append({"type": p.get("type"), "text": text})
            elif m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                rep.exceptions.append(d.get("exception", {}).get("description") or d.get("text"))
            elif m == "Log.entryAdded":
                rep.log_entries.append(p.get("entry", {}))
            elif m == "Network.requestWillBeSent":
                rep.requests.append(p.get("request", {}).get("url", ""))
        return rep


if __name__ == "__main__":  # screenshot a page by hand
    with Browser() as b:
        r = b.open(sys.argv[1], screenshot=True)
    Path(sys.argv[2]).write_bytes(r.screenshot)
    print(json.dumps({"errors": r.errors, "images": r.images,
                      "requests": [u[:60] for u in r.requests]}, indent=1))
