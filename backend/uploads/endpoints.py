"""Resumable uploads (tus 1.0) at /api/v1/uploads/: a thin router over backend.uploads.tus.

Every response carries `Tus-Resumable`; every request but OPTIONS and the JSON status GET must send
`Tus-Resumable: 1.0.0` or gets 412 before anything else. Errors are problem+json as everywhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from backend import errors
from backend.deps import CurrentKey, Editor, SessionDep, SettingsDep, StorageDep
from backend.responses import problem_response, problems
from backend.uploads import tus
from backend.uploads.models import UploadStatus

API = "/api/v1/uploads"


class TusRoute(APIRoute):
    """Checks Tus-Resumable first (412, request not processed) and stamps it on every response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def tus_handler(request: Request) -> Response:
            sent = request.headers.get("tus-resumable")
            try:
                if request.method not in ("OPTIONS", "GET") and sent != tus.TUS_VERSION:
                    words = "tus-version" if sent else "tus-version-missing"
                    raise errors.TusVersionUnsupported(key=words, params={"version": tus.TUS_VERSION, "sent": sent})
                response = await handler(request)
            except errors.AppError as exc:
                response = problem_response(exc, request)
                if isinstance(exc, errors.TusVersionUnsupported):
                    response.headers["Tus-Version"] = tus.TUS_VERSION
                if isinstance(exc, errors.UploadOffsetMismatch):
                    response.headers["Upload-Offset"] = str(exc.extra["upload_offset"])
            response.headers["Tus-Resumable"] = tus.TUS_VERSION
            return response

        return tus_handler


router = APIRouter(tags=["uploads"], route_class=TusRoute, responses=problems(401, 412))


def _require_octet_stream(request: Request, what: str) -> None:
    """`what`: "creation" (bytes sent with a creation request) or "patch"."""
    if (request.headers.get("content-type") or "").split(";")[0].strip().lower() != tus.OFFSET_OCTET_STREAM:
        raise errors.UnsupportedMediaType(key=f"content-type-tus-{what}", params={"content_type": tus.OFFSET_OCTET_STREAM})


async def _append(request: Request, key, session, storage, settings, upload_id: uuid.UUID, offset: int | None = None):
    """Write the body under the writer lock, commit, then raise ingest's error if it refused the file.
    The lock and the commit go to the threadpool: no database work on the event loop."""
    with await run_in_threadpool(tus.WriterLock, session, settings, upload_id, key) as upload:
        stream = request.stream()
        headers, error = await tus.receive(
            session, storage, settings, upload, request.headers, stream, interrupted=ClientDisconnect, offset=offset
        )
        await run_in_threadpool(session.commit)
    if error is not None:
        raise error
    return upload, headers


@router.options(API, summary="tus capabilities", status_code=204)
@router.options(f"{API}/", include_in_schema=False, status_code=204)
@router.options(f"{API}/{{upload_id}}", include_in_schema=False, status_code=204)
def upload_options(settings: SettingsDep) -> Response:
    """Server capabilities: Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm. No key needed."""
    return Response(status_code=204, headers=tus.options_headers(settings))


@router.post(API, status_code=201, summary="Create a resumable upload", responses=problems(400, 403, 409, 413, 415, 460, 507))
@router.post(f"{API}/", status_code=201, include_in_schema=False)
async def create_upload(
    request: Request, key: Editor, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> Response:
    """Create a resumable upload (tus creation, creation-with-upload, creation-defer-length).

    Send `Upload-Length` (or `Upload-Defer-Length: 1`) and optionally `Upload-Metadata` with
    `filename`, `title`, `tags` (comma-separated or a JSON list of tag ids / `category:name`),
    `kind` (`source` or `external`) and `media_type`. The body may carry the first bytes with
    `Content-Type: application/offset+octet-stream`. Answers 201 with `Location`."""
    length, encoding = request.headers.get("content-length"), request.headers.get("transfer-encoding", "")
    with_body = length.strip() not in ("", "0") if length is not None else "chunked" in encoding.lower()
    if with_body:
        _require_octet_stream(request, "creation")
    upload = await run_in_threadpool(tus.create_upload, session, settings, key, request.headers)
    headers = {"Location": f"{API}/{upload.id}"}
    if with_body or upload.length == 0:
        headers.update((await _append(request, key, session, storage, settings, upload.id, offset=0))[1])
    else:  # (committed by the session dependency, on the threadpool)
        headers["Upload-Expires"] = tus.http_date(upload.expires_at)
    return Response(status_code=201, headers=headers)


@router.head(f"{API}/{{upload_id}}", summary="Offset of a resumable upload", responses=problems(404, 410))
def upload_head(upload_id: uuid.UUID, key: CurrentKey, session: SessionDep) -> Response:
    upload = tus.get_upload(session, upload_id, key)
    tus.check_active(upload)
    return Response(status_code=200, headers=tus.upload_headers(upload, head=True))


@router.patch(f"{API}/{{upload_id}}", status_code=204, summary="Append bytes to a resumable upload",
              responses=problems(400, 403, 404, 409, 410, 413, 415, 423, 460, 507))
async def upload_patch(
    upload_id: uuid.UUID, request: Request, key: Editor, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> Response:
    _require_octet_stream(request, "patch")
    upload, headers = await _append(request, key, session, storage, settings, upload_id)
    if upload.material_id:
        headers["Reelhouse-Material"] = f"/api/v1/materials/{upload.material_id}"
    return Response(status_code=204, headers=headers)


@router.delete(f"{API}/{{upload_id}}", status_code=204, summary="Terminate a resumable upload",
               responses=problems(403, 404, 410, 423))
def upload_delete(upload_id: uuid.UUID, key: Editor, session: SessionDep, settings: SettingsDep) -> Response:
    with tus.WriterLock(session, settings, upload_id, key) as upload:
        tus.terminate(settings, upload)
        session.commit()
    return Response(status_code=204)


@router.post(f"{API}/{{upload_id}}", include_in_schema=False)
async def upload_method_override(
    upload_id: uuid.UUID, request: Request, key: Editor, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> Response:
    """X-HTTP-Method-Override, for clients whose environment cannot send PATCH or DELETE."""
    method = (request.headers.get("x-http-method-override") or "").upper()
    if method == "PATCH":
        return await upload_patch(upload_id, request, key, session, storage, settings)
    if method == "DELETE":  # (sync routes: their database work and lock stay off the event loop)
        return await run_in_threadpool(upload_delete, upload_id, key, session, settings)
    if method == "HEAD":
        return await run_in_threadpool(upload_head, upload_id, key, session)
    raise errors.BadRequest(key="tus-method-override")


@router.get(f"{API}/{{upload_id}}", summary="Status of a resumable upload (JSON)", responses=problems(404))
def upload_status(upload_id: uuid.UUID, key: CurrentKey, session: SessionDep) -> dict[str, Any]:
    upload = tus.get_upload(session, upload_id, key)
    # (`warnings`: status is read back as a str)
    body = upload.model_dump(mode="json", exclude={"owner_key_id", "metadata_header", "media_type"}, warnings=False)
    if upload.status != UploadStatus.receiving:
        body["expires_at"] = None
    if upload.material_id:
        body["links"] = {"material": f"/api/v1/materials/{upload.material_id}"}
    return body
