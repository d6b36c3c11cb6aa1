"""Serves the dashboard's static files from the package, compressed once, under a strict CSP."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request, Response

STATIC = Path(__file__).parent / "static"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}
# No inline script, style or handler anywhere: the pages set styles through the CSSOM.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str
    etag: str


@cache
def assets() -> dict[str, Asset]:
    """Every shipped file by its URL path, read and compressed once per process."""
    found: dict[str, Asset] = {}
    for path in sorted(STATIC.rglob("*")):
        if path.is_file() and path.suffix in TYPES:
            body = path.read_bytes()
            found[path.relative_to(STATIC).as_posix()] = Asset(
                body=body,
                gzipped=gzip.compress(body, compresslevel=9, mtime=0),
                media_type=TYPES[path.suffix],
                etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            )
    return found


def answer(request: Request, asset: Asset) -> Response:
    """The asset, gzipped when the client accepts it; 304 when its copy is current."""
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": "no-cache"}
    headers["Vary"] = "Accept-Encoding"
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/")
def index(request: Request) -> Response:
    """The dashboard's single page."""
    return answer(request, assets()["index.html"])


@router.get("/dashboard/{path:path}")
def static_file(request: Request, path: str) -> Response:
    """A script, style sheet or map file of the dashboard."""
    asset = assets().get(path)
    if asset is None:
        return Response(status_code=404, headers=SECURITY_HEADERS)
    return answer(request, asset)
