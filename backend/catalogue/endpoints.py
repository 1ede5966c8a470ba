"""Catalogue endpoints: upload, browse/search, edit, delete/restore, lineage, downloads, bulk tagging."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartParser

from backend import errors
from backend.catalogue import service as materials
from backend.catalogue import tags as tag_service
from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType, Orientation, TagCategory
from backend.catalogue.schemas import (
    BulkTagging,
    BulkTaggingResult,
    DownloadLink,
    LineageMaterial,
    LineageNodePublic,
    LineagePublic,
    MaterialPagePublic,
    MaterialPublic,
    MaterialUpdate,
)
from backend.deps import Editor, SessionDep, SettingsDep, StorageDep, Viewer
from backend.responses import serve_object
from backend.sqltypes import utcnow
from backend.uploads import service as ingest
from backend.uploads import spool

router = APIRouter(tags=["materials"])

API = "/api/v1"


def to_public(material: Material, material_tags: list) -> MaterialPublic:
    base = f"{API}/materials/{material.id}"
    links = {"self": base, "file": f"{base}/file", "lineage": f"{base}/lineage"}
    if material.poster_key or material.previews_failed:
        links["poster"] = f"{base}/poster"
    if material.contact_sheet_key:
        links["contact_sheet"] = f"{base}/contact-sheet"
    if material.parent_id:
        links["parent"] = f"{API}/materials/{material.parent_id}"
    # `media` is read from the same row (MediaFactsPublic validates from attributes), as are the tags.
    return MaterialPublic.model_validate({**material.model_dump(), "media": material, "tags": material_tags, "links": links})


def public_one(session, material: Material) -> MaterialPublic:
    return to_public(material, tag_service.tags_of(session, [material.id])[material.id])


async def _limited(request: Request, max_bytes: int) -> AsyncGenerator[bytes, None]:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > max_bytes + 1024 * 1024:  # multipart framing allowance; the file itself is checked exactly
            raise errors.PayloadTooLarge(f"the upload is larger than the limit of {max_bytes} bytes")
        yield chunk


UPLOAD_DOC = """Upload a video, image or audio file.

Send the file either as the **raw request body** (any Content-Type but multipart; metadata in the
query string; best for large files and scripts) or as **multipart/form-data** with a `file` part
and the same fields as form fields (browser forms).

The bytes are hashed and size-checked while they stream in, then probed in a sandbox. Unreadable,
truncated or disallowed media is refused with 422 and a problem `type` naming the reason; nothing
is kept. Uploading bytes that are already in the catalogue returns the existing material (200).
"""


@router.post(
    f"{API}/materials",
    status_code=201,
    response_model=MaterialPublic,
    summary="Upload a material",
    description=UPLOAD_DOC,
    responses={
        200: {"description": "The same bytes were already catalogued; that material is returned"},
        413: {"description": "Larger than REELHOUSE_MAX_UPLOAD_BYTES", "content": {"application/problem+json": {}}},
        422: {"description": "Rejected as media (see type)", "content": {"application/problem+json": {}}},
    },
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}, "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}, "title": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}}}}}},
)
async def upload_material(
    request: Request,
    response: Response,
    key: Editor,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    title: Annotated[str | None, Query(max_length=500, examples=["618 直播切片 洗衣液功能演示"])] = None,
    description: Annotated[str, Query(max_length=20_000)] = "",
    tag: Annotated[list[str], Query(description="Tag id or 'category:name' (created if missing); repeatable")] = [],  # noqa: B006
    kind: MaterialKind = MaterialKind.source,
    media_type: Annotated[MediaType | None, Query(description="Declared type; a mismatch is refused")] = None,
    filename: Annotated[str | None, Query(max_length=500)] = None,
) -> MaterialPublic:
    content_type = request.headers.get("content-type", "")
    req = ingest.IngestRequest(
        title=title, description=description, kind=kind, declared_media_type=media_type,
        original_filename=filename, tag_refs=list(tag), created_by=key.id,
    )
    if kind == MaterialKind.derived:
        raise errors.BadRequest("derived materials are made by renders, not uploaded; use kind=source or external")
    multipart = content_type.startswith("multipart/form-data")
    declared = _declared_length(request)
    if not multipart and declared is not None and declared > settings.max_upload_bytes:
        raise errors.PayloadTooLarge(f"the upload is larger than the limit of {settings.max_upload_bytes} bytes")
    inspector = None
    if multipart:
        spooled = await _spool_multipart(request, settings, req)
    else:
        # A body of declared size is inspected as it lands on disk (backend/uploads/service.py).
        inspector = await run_in_threadpool(ingest.InspectWhileSpooling, settings, declared) if declared else None
        try:
            spooled = await spool.spool_stream(
                request.stream(), settings.spool_dir, settings.max_upload_bytes, watcher=inspector
            )
        except BaseException:
            if inspector is not None:
                inspector.close()  # kills the child (quick), then removes what it wrote
            raise
    result = await run_in_threadpool(ingest.ingest_spooled, session, storage, settings, spooled, req, inspector)
    if not result.created:
        response.status_code = 200
    response.headers["Location"] = f"{API}/materials/{result.material.id}"
    return public_one(session, result.material)


def _declared_length(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    return int(declared) if declared and declared.isdigit() else None


async def _spool_multipart(request: Request, settings, req: ingest.IngestRequest) -> spool.SpooledUpload:
    parser = MultiPartParser(request.headers, _limited(request, settings.max_upload_bytes), max_files=1, max_fields=50)
    form = await parser.parse()
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise errors.BadRequest("the multipart form needs a 'file' part")
        req.title = str(form.get("title") or req.title or "") or None
        req.description = str(form.get("description") or req.description)
        req.tag_refs = [*req.tag_refs, *[str(t) for t in form.getlist("tags") + form.getlist("tag")]]
        if form.get("kind"):
            req.kind = MaterialKind(str(form.get("kind")))
        if form.get("media_type"):
            req.declared_media_type = MediaType(str(form.get("media_type")))
        req.original_filename = req.original_filename or upload.filename
        return await run_in_threadpool(spool.spool_file, upload.file, settings.spool_dir, settings.max_upload_bytes)
    except ValueError as exc:
        raise errors.BadRequest(str(exc)) from exc
    finally:
        await form.close()


@router.get(f"{API}/materials", response_model=MaterialPagePublic, summary="Search and list materials")
def list_materials(
    session: SessionDep,
    _: Viewer,
    tag: Annotated[list[int], Query(description="Tag ids; see tag_mode")] = [],  # noqa: B006
    tag_mode: Literal["any", "all"] = "any",
    category: Annotated[TagCategory | None, Query(description="Has at least one tag of this category")] = None,
    kind: MaterialKind | None = None,
    status: MaterialStatus | None = None,
    include_deleted: bool = False,
    media_type: MediaType | None = None,
    min_duration: Annotated[float | None, Query(ge=0)] = None,
    max_duration: Annotated[float | None, Query(ge=0)] = None,
    orientation: Orientation | None = None,
    aspect: Annotated[str | None, Query(pattern=r"^\d+(\.\d+)?:\d+(\.\d+)?$", examples=["9:16"])] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    parent_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Free text over title and description")] = None,
    sort: materials.SortKey = "-created_at",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=materials.MAX_PAGE)] = 50,
) -> MaterialPagePublic:
    page = materials.search_materials(
        session,
        materials.MaterialQuery(
            tag_ids=tag, tag_mode=tag_mode, category=category, kind=kind, status=status,
            include_deleted=include_deleted, media_type=media_type, min_duration=min_duration,
            max_duration=max_duration, orientation=orientation, aspect=aspect, created_after=created_after,
            created_before=created_before, parent_id=parent_id, q=q, sort=sort, cursor=cursor, limit=limit,
        ),
    )
    by_id = tag_service.tags_of(session, [m.id for m in page.items])
    body = MaterialPagePublic(items=[to_public(m, by_id[m.id]) for m in page.items], next_cursor=page.next_cursor)
    # Serialised here, once: returned as a model, FastAPI would dump and re-validate the whole page
    # against response_model (which still documents it) before serialising it again.
    return Response(body.model_dump_json(), media_type="application/json")  # type: ignore[return-value]


@router.get(f"{API}/materials/{{material_id}}", response_model=MaterialPublic, summary="One material")
def get_material(material_id: uuid.UUID, session: SessionDep, _: Viewer) -> MaterialPublic:
    return public_one(session, materials.get_material(session, material_id))


@router.patch(f"{API}/materials/{{material_id}}", response_model=MaterialPublic, summary="Edit title, description, cost")
def patch_material(material_id: uuid.UUID, body: MaterialUpdate, session: SessionDep, _: Editor) -> MaterialPublic:
    changes = body.model_dump(exclude_unset=True)
    return public_one(session, materials.update_material(session, material_id, changes))


@router.delete(f"{API}/materials/{{material_id}}", response_model=MaterialPublic, summary="Soft-delete (restorable)")
def delete_material(material_id: uuid.UUID, session: SessionDep, _: Editor) -> MaterialPublic:
    return public_one(session, materials.soft_delete_material(session, material_id))


@router.post(f"{API}/materials/{{material_id}}/restore", response_model=MaterialPublic, summary="Undo a delete")
def restore_material(material_id: uuid.UUID, session: SessionDep, _: Editor) -> MaterialPublic:
    return public_one(session, materials.restore_material(session, material_id))


def _lineage_material(m: Material) -> LineageMaterial:
    return LineageMaterial.model_validate(m, from_attributes=True)


def _lineage_node(node: materials.LineageNode) -> LineageNodePublic:
    return LineageNodePublic(material=_lineage_material(node.material), children=[_lineage_node(c) for c in node.children])


@router.get(f"{API}/materials/{{material_id}}/lineage", response_model=LineagePublic, summary="Lineage up and down")
def get_lineage(material_id: uuid.UUID, session: SessionDep, _: Viewer) -> LineagePublic:
    found = materials.lineage(session, material_id)
    return LineagePublic(ancestors=[_lineage_material(a) for a in found.ancestors], tree=_lineage_node(found.tree))


def _downloadable(session, material_id: uuid.UUID) -> Material:
    material = materials.get_material(session, material_id)
    if material.status == MaterialStatus.deleted:
        raise errors.Gone("the material is deleted; restore it to download")
    if not material.storage_key:
        raise errors.NotFound("the material has no stored file yet")
    return material


def _download_name(material: Material) -> str:
    ext = (material.storage_key or "").rsplit(".", 1)[-1]
    stem = material.original_filename.rsplit(".", 1)[0] if material.original_filename else material.title
    return f"{stem}.{ext}"


@router.head(f"{API}/materials/{{material_id}}/file", include_in_schema=False)
@router.get(
    f"{API}/materials/{{material_id}}/file", summary="Download the file (Range supported)",
    responses={206: {"description": "Partial content"}, 307: {"description": "Presigned object-storage URL"}},
)
def download_file(
    material_id: uuid.UUID, request: Request, session: SessionDep, storage: StorageDep, settings: SettingsDep,
    _: Viewer, redirect: bool = True,
) -> Response:
    material = _downloadable(session, material_id)
    return serve_object(
        request, storage, material.storage_key or "", filename=_download_name(material),
        content_type=material.content_type or "application/octet-stream", etag=material.sha256,
        allow_redirect=redirect, presign_seconds=settings.presigned_url_ttl_seconds,
    )


@router.get(f"{API}/materials/{{material_id}}/download-url", response_model=DownloadLink, summary="A link to the file")
def download_url(material_id: uuid.UUID, session: SessionDep, storage: StorageDep, settings: SettingsDep, _: Viewer) -> DownloadLink:
    material = _downloadable(session, material_id)
    ttl = timedelta(seconds=settings.presigned_url_ttl_seconds)
    url = storage.presigned_url(material.storage_key or "", expires=ttl, filename=_download_name(material),
                                content_type=material.content_type)
    if url:
        return DownloadLink(url=url, expires_at=utcnow() + ttl)
    return DownloadLink(url=f"{API}/materials/{material.id}/file", expires_at=None)


def _preview(material_id: uuid.UUID, which: str, request: Request, session, storage) -> Response:
    material = materials.get_material(session, material_id)
    key = material.poster_key if which == "poster" else material.contact_sheet_key
    if not key and which == "poster" and material.previews_failed:
        # Kept without previews (no frame decoded yet): a placeholder until the retry makes them.
        from workers.media.previews import placeholder_poster

        return Response(placeholder_poster(), media_type="image/jpeg",
                        headers={"Cache-Control": "no-store", "X-Reelhouse-Placeholder": "previews-failed"})
    if not key:
        raise errors.NotFound(f"this material has no {which.replace('-', ' ')}")
    return serve_object(request, storage, key, filename=f"{material.id}-{which}.jpg", content_type="image/jpeg",
                        etag=f"{material.sha256}-{which}", inline=True, allow_redirect=False)


@router.get(f"{API}/materials/{{material_id}}/poster", summary="Poster frame (JPEG)", response_class=Response)
def poster(material_id: uuid.UUID, request: Request, session: SessionDep, storage: StorageDep, _: Viewer) -> Response:
    return _preview(material_id, "poster", request, session, storage)


@router.get(f"{API}/materials/{{material_id}}/contact-sheet", summary="Contact sheet (JPEG)", response_class=Response)
def contact_sheet(material_id: uuid.UUID, request: Request, session: SessionDep, storage: StorageDep, _: Viewer) -> Response:
    return _preview(material_id, "contact-sheet", request, session, storage)


@router.post(f"{API}/materials/tags:add", response_model=BulkTaggingResult, summary="Tag many materials at once")
def bulk_tag(body: BulkTagging, session: SessionDep, _: Editor) -> BulkTaggingResult:
    return BulkTaggingResult(changed=tag_service.tag_materials(session, body.material_ids, body.tag_ids))


@router.post(f"{API}/materials/tags:remove", response_model=BulkTaggingResult, summary="Untag many materials at once")
def bulk_untag(body: BulkTagging, session: SessionDep, _: Editor) -> BulkTaggingResult:
    return BulkTaggingResult(changed=tag_service.untag_materials(session, body.material_ids, body.tag_ids))
