"""The team's web app: one page (a shell), ES modules, message catalogues and vendored libraries, all
served from backend/web/static; and the API docs (Swagger UI) from the same vendored files, so /docs
works with no access to a CDN.

The page's Content-Security-Policy runs no inline script and no script from elsewhere, so a title that
holds markup stays text even where a future change forgets to escape. Only files that exist under
static/ when the process starts are served: the request's path is looked up in that list, it never
reaches the file system.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from backend.config import Settings, get_settings
from backend.errors import NotFound

router = APIRouter(include_in_schema=False)
WEB = Path(__file__).resolve().parent
STATIC = WEB / "static"
PAGE = WEB / "index.html"
VENDOR = "/static/vendor"
# blob: for previews a script makes; media-src for the player (same origin, the session cookie goes
# along; with S3 storage also the bucket's endpoint, where proxies stream from presigned URLs).
PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:{media}; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
TYPES = {
    ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".json": "application/json", ".png": "image/png",
    ".svg": "image/svg+xml", ".md": "text/plain; charset=utf-8", "": "text/plain; charset=utf-8",  # LICENSE, NOTICE
}


def page_csp(settings: Settings) -> str:
    """The page's policy; with S3 storage the player also streams proxies from presigned URLs there."""
    media = ""
    if settings.storage_backend == "s3":
        endpoint = settings.s3_public_endpoint or settings.s3_endpoint
        if "://" not in endpoint:
            endpoint = ("https://" if settings.s3_secure else "http://") + endpoint
        media = " " + endpoint.rstrip("/")
    return PAGE_CSP.format(media=media)
# A play button on a dark tile; browsers ask for /favicon.ico whatever the page links.
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect width="16" height="16" rx="3" fill="#111"/><path d="M6 4.5v7l5.5-3.5z" fill="#fff"/></svg>'
)


@lru_cache
def static_files() -> dict[str, Path]:
    """Every servable file under static/, by its URL path below /static/ (built once)."""
    return {
        path.relative_to(STATIC).as_posix(): path
        for path in sorted(STATIC.rglob("*"))
        if path.is_file() and path.suffix in TYPES and not path.name.startswith(".")
    }


@lru_cache(maxsize=256)
def _load(name: str) -> tuple[bytes, str]:
    data = static_files()[name].read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


@router.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    return HTMLResponse(
        PAGE.read_bytes(), headers={"Cache-Control": "no-cache", "Content-Security-Policy": page_csp(get_settings())}
    )


@router.get("/static/{name:path}")
def static_file(name: str, request: Request) -> Response:
    if name not in static_files():
        raise NotFound(key="static-file-not-found", params={"name": name})
    data, etag = _load(name)
    headers = {"Cache-Control": "no-cache", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=TYPES[Path(name).suffix], headers=headers)


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(ICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


@router.get("/docs", response_class=HTMLResponse)
def api_docs() -> HTMLResponse:
    """Swagger UI from the vendored swagger-ui-dist (the public CDN is unreachable in much of mainland China)."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="reelhouse API",
        swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js", swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
    )
