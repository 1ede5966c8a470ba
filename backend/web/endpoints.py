"""The web page: one static page, its script and its style sheet, talking to the API with the user's key
(kept in the tab's memory only). The page's Content-Security-Policy runs no inline script and no script
from elsewhere, so a title that holds markup stays text even where a future change forgets to escape."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from backend.config import Settings, get_settings
from backend.errors import NotFound

router = APIRouter(include_in_schema=False)
WEB = Path(__file__).resolve().parent
PAGE = WEB / "index.html"
# Only files named here are served: no path from the request reaches the file system.
STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
# blob: for previews (and local proxies) the script fetches with the key and shows as object URLs.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob:; media-src 'self' blob:{media}; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


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
def _file(name: str) -> str:
    return (WEB / name).read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    return HTMLResponse(
        _file(PAGE.name), headers={"Cache-Control": "no-cache", "Content-Security-Policy": page_csp(get_settings())}
    )


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    media_type = STATIC.get(name)
    if media_type is None:
        raise NotFound(f"no static file {name!r}")
    return Response(_file(name), media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(ICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})
