"""The API's browsable documentation at /docs: Swagger UI served from the installed package.

FastAPI's own /docs page loads Swagger UI from a CDN (a blank page without a network) and
starts it with an inline script. This one serves Swagger UI's files from the
`fastapi-offline` package (which ships swagger-ui-dist's bundle) and starts it from a script
of ours, so the page works offline under a Content-Security-Policy that runs no inline
script. ReDoc is not served.
"""

from __future__ import annotations

from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from api.problems import ProblemError

# The policy of every page we serve (the dashboard's too): our own scripts, styles, images
# and requests only; nothing inline, nothing from elsewhere, no framing.
STRICT_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": STRICT_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

SWAGGER_UI = Path(str(files("fastapi_offline"))) / "static"
OURS = Path(__file__).parent / "docs_static"
# The files /docs/static/<name> serves: no directory listing, nothing else of the package.
ASSETS: Final = {
    "swagger-ui-bundle.js": SWAGGER_UI / "swagger-ui-bundle.js",
    "swagger-ui.css": SWAGGER_UI / "swagger-ui.css",
    "favicon.png": SWAGGER_UI / "favicon.png",
    "swagger-init.js": OURS / "swagger-init.js",
}

router = APIRouter(include_in_schema=False)


def page(root: str, openapi_url: str, title: str) -> str:
    """The /docs page: Swagger UI's files, and ours that starts it on the OpenAPI document."""
    static = escape(f"{root}/docs/static")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} – API documentation</title>
<link rel="icon" type="image/png" href="{static}/favicon.png">
<link rel="stylesheet" href="{static}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(root + openapi_url)}"></div>
<script src="{static}/swagger-ui-bundle.js"></script>
<script src="{static}/swagger-init.js"></script>
</body>
</html>
"""


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """Swagger UI on the app's OpenAPI document."""
    app = request.app
    root = request.scope.get("root_path", "")
    return HTMLResponse(
        page(root, app.openapi_url or "/openapi.json", app.title), headers=SECURITY_HEADERS
    )


@router.get("/docs/static/{name}")
def asset(name: str) -> FileResponse:
    """One of Swagger UI's files, or the script starting it."""
    path = ASSETS.get(name)
    if path is None:
        raise ProblemError(404, f"no documentation file {name!r}")
    return FileResponse(path, headers={"X-Content-Type-Options": "nosniff"})
