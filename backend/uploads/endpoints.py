"""Resumable uploads (tus 1.0) at /api/v1/uploads/: a thin router over backend.uploads.tus.

Every response carries `Tus-Resumable`; every request but OPTIONS (and the JSON status GET) must
send `Tus-Resumable: 1.0.0` or gets 412 before anything else is looked at. Errors keep the usual
problem+json body, so a client can switch on `type` exactly as with the simple upload.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from backend import errors
from backend.deps import CurrentKey, Editor, SessionDep, SettingsDep, StorageDep
from backend.responses import problem_response, problems
from backend.uploads import tus

API = "/api/v1/uploads"
_UNVERSIONED = {"OPTIONS", "GET"}


def _problem(exc: errors.AppError, request: Request) -> Response:
    return problem_response(exc, request)


class TusRoute(APIRoute):
    """Checks Tus-Resumable first (412, request not processed) and stamps it on every response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def tus_handler(request: Request) -> Response:
            if request.method not in _UNVERSIONED and request.headers.get("tus-resumable") != tus.TUS_VERSION:
                sent = request.headers.get("tus-resumable")
                response = _problem(
                    errors.TusVersionUnsupported(
                        f"this server speaks tus {tus.TUS_VERSION}, not {sent or '(no Tus-Resumable)'}"
                    ),
                    request,
                )
                response.headers["Tus-Version"] = tus.TUS_VERSION
            else:
                try:
                    response = await handler(request)
                except errors.AppError as exc:
                    response = _problem(exc, request)
                    if isinstance(exc, errors.UploadOffsetMismatch):
                        response.headers["Upload-Offset"] = str(exc.extra.get("upload_offset", ""))
            response.headers["Tus-Resumable"] = tus.TUS_VERSION
            return response

        return tus_handler


router = APIRouter(tags=["uploads"], route_class=TusRoute, responses=problems(401, 412))


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect as exc:
        raise tus.BodyInterrupted from exc


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "chunked" in request.headers.get("transfer-encoding", "").lower()


def _patch_request(request: Request) -> tus.PatchRequest:
    h = request.headers
    return tus.PatchRequest(
        upload_offset=h.get("upload-offset"),
        content_type=h.get("content-type"),
        content_length=h.get("content-length"),
        upload_length=h.get("upload-length"),
        checksum=h.get("upload-checksum"),
    )


async def _append(
    request: Request, session, storage, settings, upload, req: tus.PatchRequest
) -> tus.PatchOutcome:
    checksum, new_length, _ = tus.validate_patch(settings, upload, req)
    outcome = await tus.receive(
        session, storage, settings, upload, _body(request), checksum=checksum, new_length=new_length
    )
    session.commit()
    return outcome


def _raise_failed(outcome: tus.PatchOutcome) -> None:
    if outcome.error is not None:
        raise outcome.error


OPTIONS_DOC = (
    "Server capabilities: Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm. No key needed."
)


@router.options(API, summary="tus capabilities", description=OPTIONS_DOC, status_code=204)
@router.options(f"{API}/", include_in_schema=False, status_code=204)
@router.options(f"{API}/{{upload_id}}", include_in_schema=False, status_code=204)
def upload_options(settings: SettingsDep) -> Response:
    return Response(status_code=204, headers=tus.options_headers(settings))


CREATE_DOC = """Create a resumable upload (tus creation, creation-with-upload, creation-defer-length).

Send `Upload-Length` (or `Upload-Defer-Length: 1`) and optionally `Upload-Metadata` with
`filename`, `title`, `tags` (comma-separated or a JSON list of tag ids / `category:name`),
`kind` (`source` or `external`) and `media_type`. The body may carry the first bytes with
`Content-Type: application/offset+octet-stream`. Answers 201 with `Location`."""


@router.post(API, status_code=201, summary="Create a resumable upload", description=CREATE_DOC,
             responses=problems(400, 403, 409, 413, 415, 460, 507))
@router.post(f"{API}/", status_code=201, include_in_schema=False)
async def create_upload(
    request: Request, key: Editor, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> Response:
    h = request.headers
    with_body = _has_body(request)
    if with_body and (h.get("content-type") or "").split(";")[0].strip().lower() != tus.OFFSET_OCTET_STREAM:
        raise errors.UnsupportedMediaType(
            f"bytes sent with the creation request need Content-Type: {tus.OFFSET_OCTET_STREAM}"
        )
    upload = tus.create_upload(
        session,
        settings,
        key,
        upload_length=h.get("upload-length"),
        defer_length=h.get("upload-defer-length"),
        metadata=h.get("upload-metadata"),
    )
    location = f"{API}/{upload.id}"
    headers = {"Location": location}
    if with_body or upload.length == 0:
        with tus.writer_lock(session, settings, upload.id, key) as locked:
            outcome = await _append(
                request,
                session,
                storage,
                settings,
                locked,
                tus.PatchRequest(
                    upload_offset="0",
                    content_type=tus.OFFSET_OCTET_STREAM,
                    content_length=h.get("content-length"),
                    checksum=h.get("upload-checksum"),
                ),
            )
        _raise_failed(outcome)
        headers.update(outcome.headers)
    else:
        session.commit()
        headers["Upload-Expires"] = tus.http_date(upload.expires_at)
    return Response(status_code=201, headers=headers)


@router.head(f"{API}/{{upload_id}}", summary="Offset of a resumable upload", responses=problems(404, 410))
def upload_head(upload_id: uuid.UUID, key: CurrentKey, session: SessionDep) -> Response:
    upload = tus.get_upload(session, upload_id, key)
    tus.check_active(upload)
    return Response(status_code=200, headers=tus.head_headers(upload))


async def _patch(request: Request, upload_id: uuid.UUID, key, session, storage, settings) -> Response:
    req = _patch_request(request)
    if (req.content_type or "").split(";")[0].strip().lower() != tus.OFFSET_OCTET_STREAM:
        raise errors.UnsupportedMediaType(f"PATCH needs Content-Type: {tus.OFFSET_OCTET_STREAM}")
    with tus.writer_lock(session, settings, upload_id, key) as upload:
        outcome = await _append(request, session, storage, settings, upload, req)
    _raise_failed(outcome)
    headers = dict(outcome.headers)
    if outcome.upload.material_id:
        headers["Reelhouse-Material"] = f"/api/v1/materials/{outcome.upload.material_id}"
    return Response(status_code=204, headers=headers)


@router.patch(f"{API}/{{upload_id}}", status_code=204, summary="Append bytes to a resumable upload",
              responses=problems(400, 403, 404, 409, 410, 413, 415, 423, 460, 507))
async def upload_patch(
    upload_id: uuid.UUID,
    request: Request,
    key: Editor,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> Response:
    return await _patch(request, upload_id, key, session, storage, settings)


def _delete(upload_id: uuid.UUID, key, session, storage, settings) -> Response:
    with tus.writer_lock(session, settings, upload_id, key) as upload:
        tus.terminate(storage, settings, upload)
        session.add(upload)
        session.commit()
    return Response(status_code=204)


@router.delete(f"{API}/{{upload_id}}", status_code=204, summary="Terminate a resumable upload",
               responses=problems(403, 404, 410, 423))
def upload_delete(
    upload_id: uuid.UUID, key: Editor, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> Response:
    return _delete(upload_id, key, session, storage, settings)


@router.post(f"{API}/{{upload_id}}", include_in_schema=False)
async def upload_method_override(
    upload_id: uuid.UUID,
    request: Request,
    key: Editor,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> Response:
    """X-HTTP-Method-Override, for clients whose environment cannot send PATCH or DELETE."""
    method = (request.headers.get("x-http-method-override") or "").upper()
    if method == "PATCH":
        return await _patch(request, upload_id, key, session, storage, settings)
    if method == "DELETE":
        return _delete(upload_id, key, session, storage, settings)
    if method == "HEAD":
        return upload_head(upload_id, key, session)
    raise errors.BadRequest("POST to an upload URL needs X-HTTP-Method-Override: PATCH, DELETE or HEAD")


@router.get(f"{API}/{{upload_id}}", summary="Status of a resumable upload (JSON)", responses=problems(404))
def upload_status(upload_id: uuid.UUID, key: CurrentKey, session: SessionDep) -> dict[str, Any]:
    upload = tus.get_upload(session, upload_id, key)
    body = tus.upload_summary(upload)
    if upload.material_id:
        body["links"] = {"material": f"/api/v1/materials/{upload.material_id}"}
    return body
