"""The report pages' scripts and styles, gzip-compressed once and served with validators.

The map needs Leaflet (147 KB unminified-size JavaScript), and a resident on a slow phone
network should not pay for it in full: compressed, the report form weighs well under 150 KB.
Only these static files and the public map/API data are compressed, never HTML pages carrying
a CSRF token (BREACH)."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from flask import Response, abort, request, url_for

from civic.config import STATIC_DIR

ASSETS = {
    "leaflet.js": ("js/vendor/leaflet/leaflet.js", "text/javascript"),
    "leaflet.css": ("js/vendor/leaflet/leaflet.css", "text/css"),
    "markercluster.js": ("js/vendor/markercluster/leaflet.markercluster.js", "text/javascript"),
    "markercluster.css": ("js/vendor/markercluster/MarkerCluster.css", "text/css"),
    "markercluster-default.css": ("js/vendor/markercluster/MarkerCluster.Default.css", "text/css"),
    "reports.js": ("js/reports.js", "text/javascript"),
    "reports.css": ("css/reports.css", "text/css"),
}
COMPRESSIBLE = ("text/", "application/json", "application/geo+json", "text/xml", "application/xml")


@dataclass(frozen=True)
class Asset:
    data: bytes
    compressed: bytes
    etag: str
    mimetype: str
    mtime: float


_cache: dict[str, Asset] = {}


def _load(name: str) -> Asset:
    relative, mimetype = ASSETS[name]
    path = Path(STATIC_DIR) / relative
    mtime = path.stat().st_mtime
    cached = _cache.get(name)
    if cached is None or cached.mtime != mtime:
        data = path.read_bytes()
        cached = Asset(
            data=data,
            compressed=gzip.compress(data, compresslevel=9, mtime=0),
            etag=hashlib.sha256(data).hexdigest()[:16],
            mimetype=mimetype,
            mtime=mtime,
        )
        _cache[name] = cached
    return cached


def asset_url(name: str) -> str:
    """The URL of an asset, versioned by its content so browsers may keep it for a year."""
    return url_for("reports.asset", name=name, v=_load(name).etag)


def accepts_gzip() -> bool:
    """True when the client takes gzip."""
    return "gzip" in (request.headers.get("Accept-Encoding") or "").lower()


def serve_asset(name: str) -> Response:
    """The asset, compressed when the client accepts it, 304 when it already has it."""
    if name not in ASSETS:
        abort(404)
    asset = _load(name)
    if asset.etag in request.if_none_match:
        response = Response(status=304)
    elif accepts_gzip():
        response = Response(asset.compressed, mimetype=asset.mimetype)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(asset.data, mimetype=asset.mimetype)
    response.set_etag(asset.etag)
    response.headers["Vary"] = "Accept-Encoding"
    if request.args.get("v") == asset.etag:
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def compress_response(response: Response, minimum: int = 1024) -> Response:
    """Gzip a public data response (map data, GeoJSON, Open311) when worth it."""
    if (
        response.direct_passthrough
        or response.status_code != 200
        or "Content-Encoding" in response.headers
        or not response.mimetype.startswith(COMPRESSIBLE)
        or not accepts_gzip()
    ):
        return response
    data = response.get_data()
    if len(data) < minimum:
        return response
    # Level 1: most of the size gain for a fraction of the time (these are fresh every time).
    response.set_data(gzip.compress(data, compresslevel=1))
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    return response
