"""Fake Sentinel Hub / CDSE: OAuth token, Catalog API and Process API over the world's scenes.

- ``POST /sh/oauth/token`` (client credentials form) -> ``access_token``/``expires_in``;
  unknown clients get 401 ``invalid_client`` like Keycloak.
- ``POST /sh/api/v1/catalog/1.0.0/search``: STAC search with CQL2-text filters and
  ``context.next`` paging.
- ``POST /sh/api/v1/process``: renders the requested bands of the scenes inside
  ``timeRange`` onto the requested bbox/size with nearest-neighbour resampling
  (the service's default), mosaicked in ``mosaickingOrder``; applies
  ``harmonizeValues`` (removes the -1000 offset of baseline 04.00+, clamps at 0)
  and returns a pixel-interleaved GeoTIFF, like the real service. The evalscript
  is not executed: the fake reads its ``bands`` list, ``units`` and
  ``sampleType``, which is all the scripts sitewatch sends use.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from fakehttp import Request, Response, State
from rasterio.io import MemoryFile
from rasterio.warp import Resampling, reproject
from stac_routes import scene_views


def _err(status: int, message: str, reason: str = "Bad Request", code: str = "COMMON_EXCEPTION"
         ) -> Response:
    return Response(status, {"error": {"status": status, "reason": reason, "message": message,
                                       "code": code}})


def _token(req: Request, state: State) -> Response:
    form = req.form()
    creds = state.extra.get("credentials", {"test-client": "test-secret"})
    if form.get("grant_type") != "client_credentials":
        return Response(400, {"error": "unsupported_grant_type"})
    if creds.get(form.get("client_id", "")) != form.get("client_secret"):
        return Response(401, {"error": "invalid_client",
                              "error_description": "Invalid client or Invalid client credentials"})
    tok = secrets.token_urlsafe(16)
    with state.lock:
        state.extra.setdefault("tokens", set()).add(tok)
    return Response(200, {"access_token": tok, "token_type": "Bearer", "expires_in": 600,
                          "refresh_expires_in": 0, "not-before-policy": 0, "scope": "email"})


def _authorised(req: Request, state: State) -> bool:
    auth = req.headers.get("Authorization", "")
    return auth.startswith("Bearer ") and auth[7:] in state.extra.get("tokens", set())


def _cql_ok(props: dict[str, Any], text: str | None) -> bool:
    if not text:
        return True
    for clause in re.split(r"\s+AND\s+", text.strip(), flags=re.I):
        m = re.fullmatch(r"\s*([\w:]+)\s*(<=|>=|=|<|>)\s*('?)([^']*)\3\s*", clause)
        if not m:
            raise ValueError(f"cannot parse filter clause {clause!r}")
        key, op, quoted, raw = m.groups()
        v = props.get(key)
        if v is None:
            return False
        ref: Any = raw if quoted else float(raw)
        if not {"=": v == ref, "<": v < ref, "<=": v <= ref, ">": v > ref,
                ">=": v >= ref}[op]:
            return False
    return True


def _features(w: dict[str, Any], coll: str) -> list[dict[str, Any]]:
    out = []
    if coll == "sentinel-2-l2a":
        for sc in scene_views(w):
            out.append({"stac_version": "1.0.0", "type": "Feature", "id": sc["ids"]["esa"],
                        "geometry": sc.get("footprint") or w["footprint"], "bbox": w["bbox"],
                        "properties": {"datetime": sc["datetime"], "platform": sc["platform"],
                                       "instruments": ["msi"], "constellation": "sentinel-2",
                                       "gsd": 10, "eo:cloud_cover": sc["cloud_cover"],
                                       "proj:epsg": w["epsg"]},
                        "assets": {}, "links": []})
    elif coll == "sentinel-1-grd":
        for s in w["s1"]:
            out.append({"stac_version": "1.0.0", "type": "Feature", "id": s["id"],
                        "geometry": w["footprint"], "bbox": w["bbox"],
                        "properties": {"datetime": s["datetime"], "platform": s["platform"],
                                       "instruments": ["c-sar"], "constellation": "sentinel-1",
                                       "sar:instrument_mode": "IW", "s1:polarization": "DV",
                                       "s1:resolution": "HIGH", "s1:timeliness": "Fast24h",
                                       "sat:orbit_state": s["orbit_state"],
                                       "sat:absolute_orbit": s["absolute_orbit"]},
                        "assets": {}, "links": []})
    return out


def _catalog(req: Request, state: State) -> Response:
    if not _authorised(req, state):
        return _err(401, "Unauthorized", "Unauthorized", "COMMON_UNAUTHORIZED")
    w = state.extra["world"]
    p = req.json()
    coll = (p.get("collections") or [""])[0]
    a, _, b = (p.get("datetime") or "0000/9999").partition("/")
    try:
        feats = [f for f in _features(w, coll)
                 if a <= f["properties"]["datetime"] <= b
                 and _cql_ok(f["properties"], p.get("filter"))]
    except ValueError as err:
        return _err(400, str(err))
    feats.sort(key=lambda f: f["properties"]["datetime"])
    limit = int(p.get("limit") or 10)
    start = int(p.get("next") or 0)
    page = feats[start:start + limit]
    ctx: dict[str, Any] = {"limit": limit, "returned": len(page)}
    if start + limit < len(feats):
        ctx["next"] = start + limit
    return Response(200, {"type": "FeatureCollection", "features": page, "links": [],
                          "context": ctx}, content_type="application/geo+json")


def _parse_evalscript(script: str) -> tuple[list[str], str, str]:
    m = re.search(r"bands\s*:\s*\[([^\]]*)\]", script)
    if not m:
        raise ValueError("evalscript has no input bands")
    bands = re.findall(r'"([^"]+)"', m.group(1))
    st = re.search(r'sampleType\s*:\s*"?(\w+)"?', script)
    units = re.search(r'units\s*:\s*"(\w+)"', script)
    return bands, (st.group(1) if st else "AUTO"), (units.group(1) if units else "REFLECTANCE")


def _render(path: Path, dst: np.ndarray, transform: Affine, crs: str) -> None:
    with rasterio.open(path) as src:
        reproject(rasterio.band(src, 1), dst, dst_transform=transform, dst_crs=crs,
                  resampling=Resampling.nearest, src_nodata=None, dst_nodata=None)


def _process(req: Request, state: State) -> Response:
    if not _authorised(req, state):
        return _err(401, "Unauthorized", "Unauthorized", "COMMON_UNAUTHORIZED")
    w = state.extra["world"]
    root: Path = state.extra["root"]
    body = req.json()
    inp = body["input"]
    crs_url = inp["bounds"]["properties"]["crs"]
    epsg = int(crs_url.rstrip("/").split("/")[-1])
    x0, y0, x1, y1 = inp["bounds"]["bbox"]
    out = body["output"]
    width, height = int(out["width"]), int(out["height"])
    transform = Affine((x1 - x0) / width, 0, x0, 0, -(y1 - y0) / height, y1)
    data = inp["data"][0]
    flt = data.get("dataFilter", {})
    tr = flt.get("timeRange", {})
    a, b = tr.get("from", "0000"), tr.get("to", "9999")
    bands, sample_type, units = _parse_evalscript(body["evalscript"])
    proc = data.get("processing", {})
    harmonize = bool(proc.get("harmonizeValues", True))
    crs = f"EPSG:{epsg}"
    if data["type"] == "sentinel-2-l2a":
        scenes = [s for s in scene_views(w) if a <= s["datetime"] <= b]
        mcc = flt.get("maxCloudCoverage")
        if mcc is not None:
            scenes = [s for s in scenes if s["cloud_cover"] <= mcc]
        order = flt.get("mosaickingOrder", "mostRecent")
        scenes.sort(key=lambda s: s["cloud_cover"] if order == "leastCC" else s["datetime"],
                    reverse=order == "mostRecent")
    elif data["type"] == "sentinel-1-grd":
        scenes = [s for s in w["s1"] if a <= s["datetime"] <= b]
        if flt.get("orbitDirection"):
            scenes = [s for s in scenes if s["orbit_state"].upper() == flt["orbitDirection"]]
    else:
        return _err(400, f"unknown collection type {data['type']}")
    stack = np.zeros((len(bands), height, width), "float64")
    filled = np.zeros((height, width), bool)
    for sc in scenes:
        files = sc["files"]["raw"] if "raw" in sc["files"] else sc["files"]
        mask = np.zeros((height, width), "float64")
        first = next(k for k in files if k != "SCL")
        _render(root / files[first], mask, transform, crs)
        have = (mask != 0) & ~filled
        if data["type"] == "sentinel-1-grd":
            have = ~filled & np.isfinite(mask) & (mask != 0)
        for i, band in enumerate(bands):
            if band == "dataMask":
                stack[i][have] = 1
                continue
            arr = np.zeros((height, width), "float64")
            _render(root / files[band], arr, transform, crs)
            if band not in ("SCL", "VV", "VH"):
                if harmonize and sc["baseline"] >= "04.00":
                    arr = np.clip(arr - 1000, 0, None)
                if units != "DN":
                    arr = arr / 10000.0
            stack[i][have] = arr[have]
        filled |= have
    dtype = {"UINT8": "uint8", "UINT16": "uint16", "FLOAT32": "float32"}.get(sample_type,
                                                                           "float32")
    arr = stack.astype(dtype)
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=width, height=height, count=len(bands), dtype=dtype,
                      crs=crs, transform=transform, interleave="pixel") as ds:
            ds.write(arr)
        tif = mem.read()
    state.extra["processed"] = state.extra.get("processed", 0) + 1
    return Response(200, tif, content_type="image/tiff",
                    headers={"x-processingunits-spent": "1.0",
                             "Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())})


def add_routes(state: State) -> None:
    state.route("POST", r"/sh/oauth/token", lambda r: _token(r, state))
    state.route("POST", r"/sh/api/v1/catalog/1\.0\.0/search", lambda r: _catalog(r, state))
    state.route("POST", r"/sh/api/v1/process", lambda r: _process(r, state))
