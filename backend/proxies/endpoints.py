"""Proxy endpoints: a material's proxy state, asking for one (again) or cancelling it, and serving the
proxy MP4 (Range, or a 307 to a presigned URL on S3), its sprite sheets with their WebVTT index and its
waveform."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from backend import errors
from backend.catalogue import service as materials
from backend.catalogue.schemas import DownloadLink
from backend.deps import Editor, SessionDep, SettingsDep, StorageDep, Viewer
from backend.proxies import service as proxies
from backend.proxies.models import Proxy
from backend.proxies.schemas import ProxyPublic
from backend.responses import answers, problems, serve_object
from backend.sqltypes import utcnow

router = APIRouter(tags=["proxies"], responses=problems(401))
API = "/api/v1"
BASE = f"{API}/materials/{{material_id}}/proxy"


def _public(proxy: Proxy) -> ProxyPublic:
    found = proxies.summary(proxy)
    links = {name: url for name, url in (("video", found.video), ("sprite_vtt", found.sprite_vtt),
                                          ("waveform", found.waveform)) if url}
    return ProxyPublic(
        material_id=proxy.id, state=proxy.status, progress=found.progress, attempts=proxy.attempts,
        max_attempts=proxy.max_attempts, width=proxy.width, height=proxy.height, fps=proxy.fps,
        size_bytes=proxy.proxy_size_bytes, sprite_sheets=len(proxy.sprite_keys or []), details=proxy.details or {},
        error_code=proxy.error_code, error=proxy.error, created_at=proxy.created_at, started_at=proxy.started_at,
        finished_at=proxy.finished_at, links=links,
    )


@router.get(BASE, response_model=ProxyPublic, summary="The material's proxy: state and links", responses=problems(404))
def get_proxy(material_id: uuid.UUID, session: SessionDep, _: Viewer) -> ProxyPublic:
    materials.get_material(session, material_id)
    proxy = proxies.get_proxy(session, material_id)
    if proxy is None:
        raise errors.NotFound(key="proxy.none-ask-with-post")
    return _public(proxy)


@router.post(
    BASE, response_model=ProxyPublic, status_code=202, summary="Make the proxy (again, if it failed)",
    description="Idempotent: a queued, running or ready proxy is answered as it is; a failed one is queued again.",
    responses=problems(403, 404, 410),
)
def request_proxy(material_id: uuid.UUID, session: SessionDep, _: Editor) -> ProxyPublic:
    material = materials.get_material(session, material_id)
    if material.status == "deleted":
        raise errors.Gone(key="material-deleted-restore-first")
    return _public(proxies.request_proxy(session, material, retry_failed=True))


@router.post(
    f"{BASE}/cancel", response_model=ProxyPublic, summary="Cancel a queued or running proxy",
    description="The proxy ends `failed` with error code `proxy-cancelled` (ask for it again with POST "
    "`.../proxy`). A running encode is stopped: ffmpeg is killed at the worker's next lease renewal (a few "
    "seconds), and a chunked encode's tasks are revoked and aborted and its pieces deleted, after the "
    "commit. 404 `not-found` when the material or its proxy does not exist; 409 `proxy-state-conflict` "
    "(with `proxy_state`) when the proxy is already ready or failed.",
    responses=problems(403, 404, 409),
)
def cancel_proxy(material_id: uuid.UUID, session: SessionDep, _: Editor) -> ProxyPublic:
    return _public(proxies.cancel_proxy(session, material_id))


def _etag(proxy: Proxy, what: str) -> str:
    made = proxy.finished_at.timestamp() if proxy.finished_at else 0
    return f"proxy-{proxy.id}-{proxy.version}-{made:.0f}-{what}"


FILE_ANSWERS = {
    **answers(304, "Not modified (If-None-Match)"),
    **problems(404, 410, 416),
}


@router.head(f"{BASE}/video.mp4", include_in_schema=False)
@router.get(
    f"{BASE}/video.mp4", summary="The proxy MP4 (Range supported)", response_class=Response,
    responses={
        **answers(200, "The proxy", "video/mp4"), **answers(206, "Partial content (Range)", "video/mp4"),
        **answers(307, "Redirect to a presigned object-storage URL"), **FILE_ANSWERS,
    },
)
def proxy_video(
    material_id: uuid.UUID, request: Request, session: SessionDep, storage: StorageDep, settings: SettingsDep,
    _: Viewer, redirect: bool = True,
) -> Response:
    proxy = proxies.ready_proxy(session, material_id)
    if not proxy.proxy_key:
        raise errors.ProxyNotReady(key="proxy.audio-only")
    return serve_object(request, storage, proxy.proxy_key, filename=f"{material_id}-proxy.mp4", content_type="video/mp4",
                        etag=_etag(proxy, "video"), inline=True, allow_redirect=redirect,
                        presign_seconds=settings.presigned_url_ttl_seconds)


@router.get(
    f"{BASE}/video-url", response_model=DownloadLink, summary="A link to the proxy MP4 (presigned on S3)",
    responses=problems(404, 410),
)
def proxy_video_url(
    material_id: uuid.UUID, session: SessionDep, storage: StorageDep, settings: SettingsDep, _: Viewer,
) -> DownloadLink:
    proxy = proxies.ready_proxy(session, material_id)
    if not proxy.proxy_key:
        raise errors.ProxyNotReady(key="proxy.audio-only")
    ttl = timedelta(seconds=settings.presigned_url_ttl_seconds)
    url = storage.presigned_url(proxy.proxy_key, expires=ttl, content_type="video/mp4")
    if url:
        return DownloadLink(url=url, expires_at=utcnow() + ttl)
    return DownloadLink(url=f"{API}/materials/{material_id}/proxy/video.mp4", expires_at=None)


@router.get(
    f"{BASE}/sprite.vtt", summary="WebVTT index of the thumbnail sprite", response_class=Response,
    responses={**answers(200, "WebVTT: one cue per tile, `sprite-NNN.jpg#xywh=x,y,w,h` beside this file", "text/vtt"),
               **answers(206, "Partial content (Range)", "text/vtt"), **FILE_ANSWERS},
)
def sprite_index(material_id: uuid.UUID, request: Request, session: SessionDep, storage: StorageDep, _: Viewer) -> Response:
    proxy = proxies.ready_proxy(session, material_id)
    if not proxy.sprite_vtt_key:
        raise errors.ProxyNotReady(key="proxy.no-sprite")
    # Served here, never redirected: its sheet names resolve against this URL, to the route below.
    return serve_object(request, storage, proxy.sprite_vtt_key, filename="sprite.vtt", content_type="text/vtt; charset=utf-8",
                        etag=_etag(proxy, "vtt"), inline=True, allow_redirect=False)


@router.get(
    f"{BASE}/sprite-{{sheet}}.jpg", summary="One sprite sheet (JPEG tiles)", response_class=Response,
    responses={**answers(200, "JPEG", "image/jpeg"), **answers(206, "Partial content (Range)", "image/jpeg"),
               **FILE_ANSWERS},
)
def sprite_sheet(
    material_id: uuid.UUID, sheet: Annotated[str, Path(pattern=r"^[0-9]{3,4}$", description="000, 001, ...")],
    request: Request, session: SessionDep, storage: StorageDep, _: Viewer,
) -> Response:
    proxy = proxies.ready_proxy(session, material_id)
    index = int(sheet)
    keys = proxy.sprite_keys or []
    if index >= len(keys):
        raise errors.NotFound(key="proxy.sprite-sheet-not-found", params={"count": len(keys)})
    return serve_object(request, storage, keys[index], filename=f"sprite-{sheet}.jpg", content_type="image/jpeg",
                        etag=_etag(proxy, f"sprite-{index}"), inline=True, allow_redirect=False)


@router.get(
    f"{BASE}/waveform.json", summary="Audio peaks (audiowaveform's JSON: min/max pairs, 8 bits)", response_class=Response,
    responses={**answers(200, "The peaks", "application/json"), **answers(206, "Partial content (Range)", "application/json"),
               **FILE_ANSWERS},
)
def waveform(material_id: uuid.UUID, request: Request, session: SessionDep, storage: StorageDep, _: Viewer) -> Response:
    proxy = proxies.ready_proxy(session, material_id)
    if not proxy.waveform_key:
        raise errors.ProxyNotReady(key="proxy.no-waveform")
    return serve_object(request, storage, proxy.waveform_key, filename="waveform.json", content_type="application/json",
                        etag=_etag(proxy, "waveform"), inline=True, allow_redirect=False)
