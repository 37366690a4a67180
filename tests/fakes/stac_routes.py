"""Fake STAC APIs (Earth Search v1, Planetary Computer) and the file servers behind them.

- ``/files/<path>``: plain byte-range COG server (Earth Search's S3 bucket).
- ``/es/v1``: STAC API with ``sentinel-2-c1-l2a`` and ``sentinel-2-l2a`` (asset keys
  ``red``, ``nir``..., ``earthsearch:boa_offset_applied`` on the latter).
- ``/pc/api/stac/v1``: STAC API with Planetary Computer's ``sentinel-2-l2a`` (asset keys
  ``B04``..., ``SCL``); hrefs are path-style blob URLs
  ``/<account>/<container>/<blob>`` that need a SAS token.
- ``/pc/api/sas/v1/token/<account>/<container>``: the SAS token API.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Any

from fakehttp import Request, Response, State

ITEM_SEARCH = "https://api.stacspec.org/v1.0.0/item-search"
CONFORMS = ["https://api.stacspec.org/v1.0.0/core", ITEM_SEARCH,
            "https://api.stacspec.org/v1.0.0/item-search#query",
            "https://api.stacspec.org/v1.0.0/item-search#sort"]
PC_ACCOUNT, PC_CONTAINER = "sentinel2l2a01", "sentinel2-l2"
ES_KEYS = {"B02": "blue", "B03": "green", "B04": "red", "B05": "rededge1", "B06": "rededge2",
           "B07": "rededge3", "B08": "nir", "B8A": "nir08", "B11": "swir16", "B12": "swir22",
           "SCL": "scl"}
COG = "image/tiff; application=geotiff; profile=cloud-optimized"


def _world(state: State) -> dict[str, Any]:
    w = state.extra.get("world")
    if w is None:
        raise RuntimeError("no world loaded: POST /_control/reset with a world folder")
    return w


def _landing(base: str, prefix: str, title: str) -> dict[str, Any]:
    root = f"{base}{prefix}"
    return {"type": "Catalog", "id": title, "stac_version": "1.0.0", "description": title,
            "conformsTo": CONFORMS,
            "links": [{"rel": "self", "href": root, "type": "application/json"},
                      {"rel": "root", "href": root, "type": "application/json"},
                      {"rel": "conformance", "href": f"{root}/conformance"},
                      {"rel": "data", "href": f"{root}/collections"},
                      {"rel": "search", "href": f"{root}/search", "method": "GET",
                       "type": "application/geo+json"},
                      {"rel": "search", "href": f"{root}/search", "method": "POST",
                       "type": "application/geo+json"}]}


def _es_item(sc: dict[str, Any], coll: str, base: str, w: dict[str, Any]) -> dict[str, Any]:
    variant = "raw" if coll == "sentinel-2-c1-l2a" else ("shifted" if sc["es"]["shifted"]
                                                         else "raw")
    new = sc["baseline"] >= "04.00"
    props: dict[str, Any] = {
        "datetime": sc["datetime"], "platform": sc["platform"], "constellation": "sentinel-2",
        "eo:cloud_cover": sc["cloud_cover"], "s2:processing_baseline": sc["baseline"],
        "grid:code": f"MGRS-{sc['tile']}", "proj:epsg": w["epsg"], "mgrs:utm_zone": 51,
        "sat:relative_orbit": 46,
        "s2:product_uri": sc["ids"]["esa"] + ".SAFE"}
    if coll == "sentinel-2-l2a":
        props["earthsearch:boa_offset_applied"] = sc["es"]["flag"]
    assets = {}
    for band, rel in sc["files"][variant].items():
        rb: dict[str, Any] = {"nodata": 0, "data_type": "uint16" if band != "SCL" else "uint8"}
        if band != "SCL":
            rb.update({"scale": 0.0001, "offset": -0.1 if new else 0})
        assets[ES_KEYS[band]] = {"href": f"{base}/files/{w['tag']}/{rel}", "type": COG,
                                 "roles": ["data"],
                                 "raster:bands": [rb]}
    iid = sc["ids"]["es"] if coll == "sentinel-2-l2a" else sc["ids"]["es"].replace("_0_", "_1_")
    return {"type": "Feature", "stac_version": "1.0.0", "id": iid, "collection": coll,
            "bbox": w["bbox"], "geometry": sc.get("footprint") or w["footprint"],
            "properties": props, "assets": assets, "links": []}


def _pc_item(sc: dict[str, Any], base: str, w: dict[str, Any]) -> dict[str, Any]:
    props = {"datetime": sc["datetime"], "platform": "Sentinel-" + sc["platform"][-2:].upper(),
             "eo:cloud_cover": sc["cloud_cover"], "s2:processing_baseline": sc["baseline"],
             "s2:mgrs_tile": sc["tile"], "proj:epsg": w["epsg"], "sat:relative_orbit": 46,
             "s2:product_type": "S2MSI2A"}
    assets = {band: {"href": f"{base}/{PC_ACCOUNT}/{PC_CONTAINER}/{w['tag']}/{rel}", "type": COG,
                     "roles": ["data"]}
              for band, rel in sc["files"]["raw"].items()}
    return {"type": "Feature", "stac_version": "1.0.0", "id": sc["ids"]["pc"],
            "collection": "sentinel-2-l2a", "bbox": w["bbox"],
            "geometry": sc.get("footprint") or w["footprint"], "properties": props,
            "assets": assets, "links": []}


def _dt_filter(value: str | None) -> tuple[str, str]:
    if not value:
        return ("0000", "9999")
    a, _, b = value.partition("/")
    if not _:
        b = a
    return (a if a not in ("", "..") else "0000", b if b not in ("", "..") else "9999")


def _bbox_hit(b: list[float] | None, w: dict[str, Any]) -> bool:
    if not b:
        return True
    x0, y0, x1, y1 = w["bbox"]
    return not (b[2] < x0 or b[0] > x1 or b[3] < y0 or b[1] > y1)


def _query_ok(props: dict[str, Any], query: dict[str, Any] | None) -> bool:
    for key, ops in (query or {}).items():
        v = props.get(key)
        for op, ref in ops.items():
            if v is None:
                return False
            if not {"lt": v < ref, "lte": v <= ref, "gt": v > ref, "gte": v >= ref,
                    "eq": v == ref}.get(op, True):
                return False
    return True


def _search_params(req: Request) -> dict[str, Any]:
    if req.method == "POST":
        return req.json()
    p: dict[str, Any] = dict(req.query)
    if "collections" in p:
        p["collections"] = p["collections"].split(",")
    if "bbox" in p:
        p["bbox"] = [float(v) for v in p["bbox"].split(",")]
    if "limit" in p:
        p["limit"] = int(p["limit"])
    return p


def _search(req: Request, state: State, prefix: str, make_items: Any) -> Response:
    w = _world(state)
    p = _search_params(req)
    start, end = _dt_filter(p.get("datetime"))
    colls = p.get("collections") or []
    items = [it for it in make_items(req.base, w, colls)
             if start <= it["properties"]["datetime"] <= end]
    items = [it for it in items if _bbox_hit(p.get("bbox"), w)
             and _query_ok(it["properties"], p.get("query"))]
    items.sort(key=lambda it: it["properties"]["datetime"], reverse=True)
    limit = int(p.get("limit") or 10)
    offset = int(p.get("next") or p.get("token") or 0)
    page = items[offset:offset + limit]
    links: list[dict[str, Any]] = []
    if offset + limit < len(items):
        if req.method == "POST":
            links.append({"rel": "next", "href": f"{req.base}{prefix}/search", "method": "POST",
                          "body": {"next": str(offset + limit)}, "merge": True,
                          "type": "application/geo+json"})
        else:
            q = "&".join(f"{k}={v if not isinstance(v, list) else ','.join(map(str, v))}"
                         for k, v in p.items() if k not in ("next", "token"))
            links.append({"rel": "next", "href": f"{req.base}{prefix}/search?{q}&token="
                          f"{offset + limit}", "method": "GET"})
    return Response(200, {"type": "FeatureCollection", "features": page, "links": links,
                          "numberReturned": len(page)}, content_type="application/geo+json")


def scene_views(w: dict[str, Any]) -> list[dict[str, Any]]:
    """Every tile product: each scene, plus its twin tile where it has one."""
    out = []
    for sc in w["scenes"]:
        out.append(sc)
        if sc.get("twin"):
            out.append({**sc, **sc["twin"], "twin": None})
    return out


def _es_items(base: str, w: dict[str, Any], colls: list[str]) -> list[dict[str, Any]]:
    out = []
    for sc in scene_views(w):
        for c in sc["es"]["collections"]:
            if not colls or c in colls:
                out.append(_es_item(sc, c, base, w))
    return out


def _pc_items(base: str, w: dict[str, Any], colls: list[str]) -> list[dict[str, Any]]:
    if colls and "sentinel-2-l2a" not in colls:
        return []
    return [_pc_item(sc, base, w) for sc in scene_views(w)]


def _file(state: State, tagged: str) -> Response:
    """A world file; paths start with the world's tag so URLs differ between worlds
    (GDAL caches by URL for the life of a process)."""
    root: Path = state.extra["root"]
    tag, _, rel = tagged.partition("/")
    if tag != _world(state)["tag"]:
        return Response(404, "<Error><Code>NoSuchKey</Code></Error>",
                        content_type="application/xml")
    path = (root / rel).resolve()
    if not path.is_file() or root.resolve() not in path.parents:
        return Response(404, "<Error><Code>NoSuchKey</Code></Error>",
                        content_type="application/xml")
    return Response(200, file=path)


def _sas_token(req: Request, state: State) -> Response:
    ttl = float(state.extra.get("sas_ttl", 3600))
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl)
    sig = secrets.token_urlsafe(12)
    with state.lock:
        state.extra.setdefault("sas", {})[sig] = expiry.timestamp()
    se = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    token = f"st=2020-01-01T00%3A00%3A00Z&se={se}&sp=rl&sv=2021-06-08&sr=c&sig={sig}"
    return Response(200, {"msft:expiry": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "token": token})


def _blob(req: Request, state: State) -> Response:
    sig = req.query.get("sig")
    se = req.query.get("se")
    valid = state.extra.get("sas", {})
    now = dt.datetime.now(dt.UTC).timestamp()
    if not sig or sig not in valid or valid[sig] < now or not se:
        return Response(403, "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>"
                        "AuthenticationFailed</Code><Message>Server failed to authenticate the "
                        "request. Signature not valid in the specified time frame</Message>"
                        "</Error>", content_type="application/xml")
    return _file(state, req.match["blob"])  # type: ignore[attr-defined]


def add_routes(state: State) -> None:
    es, pc = "/es/v1", "/pc/api/stac/v1"
    state.route("GET", r"/files/(?P<rel>.+)",
                lambda r: _file(state, r.match["rel"]))  # type: ignore[attr-defined]
    state.route("GET", rf"{es}/?", lambda r: Response(200, _landing(r.base, es, "earth-search")))
    state.route("GET", rf"{es}/conformance", lambda r: Response(200, {"conformsTo": CONFORMS}))
    state.route("*", rf"{es}/search", lambda r: _search(r, state, es, _es_items))
    state.route("GET", rf"{pc}/?", lambda r: Response(200, _landing(r.base, pc, "microsoft-pc")))
    state.route("GET", rf"{pc}/conformance", lambda r: Response(200, {"conformsTo": CONFORMS}))
    state.route("*", rf"{pc}/search", lambda r: _search(r, state, pc, _pc_items))
    state.route("GET", r"/pc/api/sas/v1/token/(?P<acc>[^/]+)/(?P<cont>[^/]+)",
                lambda r: _sas_token(r, state))
    state.route("GET", rf"/{PC_ACCOUNT}/{PC_CONTAINER}/(?P<blob>.+)", lambda r: _blob(r, state))
