"""Catalogue endpoints: upload, browse/search, edit, delete/restore, lineage, downloads, bulk tagging."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import Field, TypeAdapter, ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from backend import errors, i18n
from backend.autoclip import service as autoclip
from backend.catalogue import service as materials
from backend.catalogue import tags as tag_service
from backend.catalogue.downloads import download_name
from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType, Orientation, ReviewState
from backend.catalogue.schemas import (
    BulkTagging,
    BulkTaggingResult,
    DownloadLink,
    LineageMaterial,
    LineageNodePublic,
    LineagePublic,
    MaterialPagePublic,
    MaterialProxyPublic,
    MaterialPublic,
    MaterialUpdate,
)
from backend.deps import Editor, SessionDep, SettingsDep, StorageDep, Viewer
from backend.proxies import service as proxy_service
from backend.responses import answer_language, answers, problems, serve_object, validation_detail
from backend.sqltypes import utcnow
from backend.text import IntId, Moment, MultilineText, Text
from backend.uploads import service as ingest
from backend.uploads import spool

router = APIRouter(tags=["materials"], responses=problems(401))
# `{material_id:uuid}` where the path could also be `tags:add` / `tags:remove`: PATCH /materials/tags:add
# is then a 405 naming POST, not a 422 for a malformed material id.

API = "/api/v1"
# What a stored file can be served as: the uploaded media's own type, or bytes when it is unknown.
FILE_TYPES = ("video/*", "audio/*", "image/*", "application/octet-stream")
PREVIEW_ANSWERS = {
    **answers(200, "JPEG (a placeholder until the poster is made, or while previews_failed)", "image/jpeg"),
    **answers(206, "Partial content (Range)", "image/jpeg"),
    **answers(304, "Not modified (If-None-Match)"),
    **problems(404, 416),
}


def to_public(material: Material, material_tags: list, proxy: MaterialProxyPublic | None = None) -> MaterialPublic:
    base = f"{API}/materials/{material.id}"
    links = {"self": base, "file": f"{base}/file", "lineage": f"{base}/lineage"}
    if material.media_type != MediaType.audio:  # a placeholder until the worker has made it
        links["poster"] = f"{base}/poster"
    if material.contact_sheet_key:
        links["contact_sheet"] = f"{base}/contact-sheet"
    if material.parent_id:
        links["parent"] = f"{API}/materials/{material.parent_id}"
    # Fields read from the row's attributes (a row's model_dump would serialise enum columns that the
    # database handed back as plain strings); `media` validates from the same row's attributes.
    fields = {name: getattr(material, name) for name in MaterialPublic.model_fields if hasattr(material, name)}
    return MaterialPublic.model_validate({
        **fields, "download_name": download_name(material), "media": material, "tags": material_tags,
        "links": links, "proxy": proxy,
        "previews_pending": material.media_type != MediaType.audio and not material.poster_key
        and not material.previews_failed,
    })


def public_one(session, material: Material) -> MaterialPublic:
    return to_public(material, tag_service.tags_of(session, [material.id])[material.id],
                     proxy_service.summaries(session, [material.id]).get(material.id))


async def _limited(request: Request, max_bytes: int) -> AsyncGenerator[bytes, None]:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > max_bytes + 1024 * 1024:  # multipart framing allowance; the file itself is checked exactly
            raise errors.PayloadTooLarge(key="upload-too-large", params={"limit": max_bytes})
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
        200: {"description": "The same bytes were already catalogued; that material is returned", "model": MaterialPublic},
        **problems(400, 403, 404, 413, 507),
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
    title: Annotated[Text | None, Query(max_length=500, examples=["618 直播切片 洗衣液功能演示"])] = None,
    description: Annotated[MultilineText, Query(max_length=20_000)] = "",
    tag: Annotated[list[Text], Query(max_length=100, description="Tag id or 'category:name' (created if missing); repeatable")] = [],  # noqa: B006
    kind: MaterialKind = MaterialKind.source,
    media_type: Annotated[MediaType | None, Query(description="Declared type; a mismatch is refused")] = None,
    # A name from the client's disk, not typed text: control characters are cleaned out when it is
    # stored (backend/catalogue/downloads.safe_filename) instead of refusing the upload.
    filename: Annotated[str | None, Query(max_length=500)] = None,
) -> MaterialPublic:
    content_type = request.headers.get("content-type", "")
    req = ingest.IngestRequest(
        title=title, description=description, kind=kind, declared_media_type=media_type,
        original_filename=filename, tag_refs=list(tag), created_by=key.id,
    )
    if kind == MaterialKind.derived:
        raise errors.BadRequest(key="catalogue.derived-not-uploaded")
    multipart = content_type.startswith("multipart/form-data")
    declared = _declared_length(request)
    if not multipart and declared is not None and declared > settings.max_upload_bytes:
        raise errors.PayloadTooLarge(key="upload-too-large", params={"limit": settings.max_upload_bytes})
    inspector = None
    if multipart:
        spooled = await _spool_multipart(request, settings, req)
    else:
        # The sandboxed inspector starts (imports its libraries) while the bytes arrive: 0.2-0.3 s
        # less to wait once the last one is in (bench/RESULTS.md).
        inspector = await run_in_threadpool(ingest.SandboxedInspector) if declared else None
        try:
            spooled = await spool.spool_stream(request.stream(), settings.spool_dir, settings.max_upload_bytes)
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


_FORM_TITLE = TypeAdapter(Annotated[Text, Field(max_length=500)])
_FORM_DESCRIPTION = TypeAdapter(Annotated[MultilineText, Field(max_length=20_000)])
_FORM_TAGS = TypeAdapter(Annotated[list[Text], Field(max_length=100)])


def _form_value(request: Request, adapter: TypeAdapter[Any], field: str, value: Any) -> Any:
    """A form field passed through its type; refused as the query parameters are (422, worded in the
    caller's language, `errors` for programs)."""
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        found: list[dict[str, Any]] = [{**e, "loc": ["form", field, *e["loc"]]} for e in exc.errors()]
        raise errors.ValidationFailed(
            validation_detail(found, answer_language(request)),
            errors=[{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in found],
        ) from None


_Choice = TypeVar("_Choice", MaterialKind, MediaType)


def _form_choice(choices: type[_Choice], field: str, value: str) -> _Choice:
    try:
        return choices(value)
    except ValueError:
        raise errors.BadRequest(key="catalogue.form-choice-invalid", params={
            "field": field, "value": value, "known": ", ".join(c.value for c in choices),
        }) from None


async def _spool_multipart(request: Request, settings, req: ingest.IngestRequest) -> spool.SpooledUpload:
    parser = MultiPartParser(request.headers, _limited(request, settings.max_upload_bytes), max_files=1, max_fields=50)
    try:
        form = await parser.parse()
    except MultiPartException as exc:  # no boundary, a malformed part, too many parts
        raise errors.BadRequest(key="body.multipart-unreadable", params={"error": exc.message}) from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise errors.BadRequest(key="body.multipart-needs-file")
        # Form fields pass the same types as the query parameters (backend/text.py): a ValueError is a 422.
        req.title = _form_value(request, _FORM_TITLE, "title", str(form.get("title") or req.title or "")) or None
        req.description = _form_value(request, _FORM_DESCRIPTION, "description", str(form.get("description") or req.description))
        tags = [str(t) for t in form.getlist("tags") + form.getlist("tag")]
        req.tag_refs = [*req.tag_refs, *_form_value(request, _FORM_TAGS, "tags", tags)]
        if form.get("kind"):
            req.kind = _form_choice(MaterialKind, "kind", str(form.get("kind")))
        if form.get("media_type"):
            req.declared_media_type = _form_choice(MediaType, "media_type", str(form.get("media_type")))
        req.original_filename = req.original_filename or upload.filename
        return await spool.spool_stream(_chunks(upload), settings.spool_dir, settings.max_upload_bytes)
    except ValueError as exc:
        raise errors.BadRequest(str(exc)) from exc
    finally:
        await form.close()


async def _chunks(upload: UploadFile) -> AsyncGenerator[bytes, None]:
    while chunk := await upload.read(spool.READ_CHUNK):
        yield chunk


@router.get(
    f"{API}/materials", response_model=MaterialPagePublic, summary="Search and list materials", responses=problems(400)
)
def list_materials(
    session: SessionDep,
    _: Viewer,
    tag: Annotated[list[IntId], Query(max_length=100, description="Tag ids; see tag_mode")] = [],  # noqa: B006
    tag_mode: Literal["any", "all"] = "any",
    category: Annotated[str | None, Query(max_length=100, description="Has at least one tag of this category (id or label)")] = None,
    kind: MaterialKind | None = None,
    status: MaterialStatus | None = None,
    review_state: Annotated[ReviewState | None, Query(description="`draft`: re-edits waiting for review")] = None,
    include_deleted: bool = False,
    media_type: MediaType | None = None,
    min_duration: Annotated[float | None, Query(ge=0)] = None,
    max_duration: Annotated[float | None, Query(ge=0)] = None,
    orientation: Orientation | None = None,
    aspect: Annotated[str | None, Query(pattern=r"^\d+(\.\d+)?:\d+(\.\d+)?$", examples=["9:16"])] = None,
    created_after: Annotated[Moment | None, Query()] = None,
    created_before: Annotated[Moment | None, Query()] = None,
    parent_id: uuid.UUID | None = None,
    q: Annotated[Text | None, Query(max_length=200, description="Free text over title and description")] = None,
    sort: materials.SortKey = "-created_at",
    cursor: Annotated[Text | None, Query(max_length=2000)] = None,
    limit: Annotated[int, Query(ge=1, le=materials.MAX_PAGE)] = 50,
) -> MaterialPagePublic:
    page = materials.search_materials(
        session,
        materials.MaterialQuery(
            tag_ids=tag, tag_mode=tag_mode, category=category and tag_service.get_category(session, category).id, kind=kind, status=status,
            review_state=review_state, include_deleted=include_deleted, media_type=media_type, min_duration=min_duration,
            max_duration=max_duration, orientation=orientation, aspect=aspect, created_after=created_after,
            created_before=created_before, parent_id=parent_id, q=q, sort=sort, cursor=cursor, limit=limit,
        ),
    )
    ids = [m.id for m in page.items]
    by_id, proxy_of = tag_service.tags_of(session, ids), proxy_service.summaries(session, ids)  # a query each per page
    body = MaterialPagePublic(
        items=[to_public(m, by_id[m.id], proxy_of.get(m.id)) for m in page.items], next_cursor=page.next_cursor
    )
    # Serialised here, once: returned as a model, FastAPI would dump and re-validate the whole page
    # against response_model (which still documents it) before serialising it again.
    return Response(body.model_dump_json(), media_type="application/json")  # type: ignore[return-value]


@router.get(f"{API}/materials/{{material_id:uuid}}", response_model=MaterialPublic, summary="One material", responses=problems(404))
def get_material(material_id: uuid.UUID, session: SessionDep, _: Viewer) -> MaterialPublic:
    return public_one(session, materials.get_material(session, material_id))


@router.patch(
    f"{API}/materials/{{material_id:uuid}}", response_model=MaterialPublic, summary="Edit title, description, cost",
    responses=problems(400, 403, 404, 409),
)
def patch_material(material_id: uuid.UUID, body: MaterialUpdate, session: SessionDep, _: Editor) -> MaterialPublic:
    changes = body.model_dump(exclude_unset=True)
    return public_one(session, materials.update_material(session, material_id, changes))


@router.delete(
    f"{API}/materials/{{material_id:uuid}}", response_model=MaterialPublic, summary="Soft-delete (restorable)",
    description="Hides the material; its files stay so it can be restored. A recording's proposal storyboards "
    "(derived images) are deleted once this has committed and made again on restore.",
    responses=problems(403, 404, 409),
)
def delete_material(material_id: uuid.UUID, session: SessionDep, _: Editor) -> MaterialPublic:
    material = materials.soft_delete_material(session, material_id)
    autoclip.forget_storyboards(session, material_id)  # derived images: deleted after the commit, remade on restore
    return public_one(session, material)


@router.post(
    f"{API}/materials/{{material_id}}/restore", response_model=MaterialPublic, summary="Undo a delete",
    responses=problems(403, 404, 409),
)
def restore_material(material_id: uuid.UUID, session: SessionDep, _: Editor) -> MaterialPublic:
    material = materials.restore_material(session, material_id)
    autoclip.remake_storyboards(session, material_id)
    return public_one(session, material)


def _lineage_material(m: Material) -> LineageMaterial:
    return LineageMaterial.model_validate(m, from_attributes=True)


def _lineage_node(node: materials.LineageNode) -> LineageNodePublic:
    return LineageNodePublic(material=_lineage_material(node.material), children=[_lineage_node(c) for c in node.children])


@router.get(
    f"{API}/materials/{{material_id}}/lineage", response_model=LineagePublic, summary="Lineage up and down",
    responses=problems(404),
)
def get_lineage(material_id: uuid.UUID, session: SessionDep, _: Viewer) -> LineagePublic:
    found = materials.lineage(session, material_id)
    return LineagePublic(ancestors=[_lineage_material(a) for a in found.ancestors], tree=_lineage_node(found.tree))


def _downloadable(session, material_id: uuid.UUID) -> Material:
    material = materials.get_material(session, material_id)
    if material.status == MaterialStatus.deleted:
        raise errors.Gone(key="material-deleted-restore-to-download")
    if not material.storage_key:
        raise errors.NotFound(key="material-no-file")
    return material


@router.head(f"{API}/materials/{{material_id}}/file", include_in_schema=False)
@router.get(
    f"{API}/materials/{{material_id}}/file", summary="Download the file (Range supported)", response_class=Response,
    responses={
        **answers(200, "The file, with the Content-Type it was uploaded as", *FILE_TYPES),
        **answers(206, "Partial content (Range)", *FILE_TYPES),
        **answers(304, "Not modified (If-None-Match)"),
        **answers(307, "Redirect to a presigned object-storage URL"),
        **problems(404, 410, 416),
    },
)
def download_file(
    material_id: uuid.UUID, request: Request, session: SessionDep, storage: StorageDep, settings: SettingsDep,
    _: Viewer, redirect: bool = True,
) -> Response:
    material = _downloadable(session, material_id)
    return serve_object(
        request, storage, material.storage_key or "", filename=download_name(material),
        content_type=material.content_type or "application/octet-stream", etag=material.sha256,
        allow_redirect=redirect, presign_seconds=settings.presigned_url_ttl_seconds,
    )


@router.get(
    f"{API}/materials/{{material_id}}/download-url", response_model=DownloadLink, summary="A link to the file",
    responses=problems(404, 410),
)
def download_url(material_id: uuid.UUID, session: SessionDep, storage: StorageDep, settings: SettingsDep, _: Viewer) -> DownloadLink:
    material = _downloadable(session, material_id)
    ttl = timedelta(seconds=settings.presigned_url_ttl_seconds)
    url = storage.presigned_url(material.storage_key or "", expires=ttl, filename=download_name(material),
                                content_type=material.content_type)
    if url:
        return DownloadLink(url=url, expires_at=utcnow() + ttl)
    return DownloadLink(url=f"{API}/materials/{material.id}/file", expires_at=None)


_PREVIEW_WORDS = {
    "poster": {i18n.ZH: "封面", i18n.EN: "poster"},
    "contact-sheet": {i18n.ZH: "缩略图总览", i18n.EN: "contact sheet"},
}


def _preview(material_id: uuid.UUID, which: str, request: Request, session, storage) -> Response:
    material = materials.get_material(session, material_id)
    key = material.poster_key if which == "poster" else material.contact_sheet_key
    if not key and which == "poster" and material.media_type != MediaType.audio:
        # Not made yet (a worker makes it after the upload) or no frame decoded: a placeholder meanwhile.
        from workers.media.previews import placeholder_poster

        state = "previews-failed" if material.previews_failed else "previews-pending"
        return Response(placeholder_poster(), media_type="image/jpeg",
                        headers={"Cache-Control": "no-store", "X-Reelhouse-Placeholder": state})
    if not key:
        raise errors.NotFound(key="catalogue.no-preview", params={"which": _PREVIEW_WORDS[which]})
    return serve_object(request, storage, key, filename=f"{material.id}-{which}.jpg", content_type="image/jpeg",
                        etag=f"{material.sha256}-{which}", inline=True, allow_redirect=False)


@router.get(
    f"{API}/materials/{{material_id}}/poster", summary="Poster frame (JPEG)", response_class=Response,
    responses=PREVIEW_ANSWERS,
)
def poster(material_id: uuid.UUID, request: Request, session: SessionDep, storage: StorageDep, _: Viewer) -> Response:
    return _preview(material_id, "poster", request, session, storage)


@router.get(
    f"{API}/materials/{{material_id}}/contact-sheet", summary="Contact sheet (JPEG)", response_class=Response,
    responses=PREVIEW_ANSWERS,
)
def contact_sheet(material_id: uuid.UUID, request: Request, session: SessionDep, storage: StorageDep, _: Viewer) -> Response:
    return _preview(material_id, "contact-sheet", request, session, storage)


@router.post(
    f"{API}/materials/tags:add", response_model=BulkTaggingResult, summary="Tag many materials at once",
    responses=problems(400, 403, 404),
)
def bulk_tag(body: BulkTagging, session: SessionDep, _: Editor) -> BulkTaggingResult:
    return BulkTaggingResult(changed=tag_service.tag_materials(session, body.material_ids, body.tag_ids))


@router.post(
    f"{API}/materials/tags:remove", response_model=BulkTaggingResult, summary="Untag many materials at once",
    responses=problems(400, 403, 404),
)
def bulk_untag(body: BulkTagging, session: SessionDep, _: Editor) -> BulkTaggingResult:
    return BulkTaggingResult(changed=tag_service.untag_materials(session, body.material_ids, body.tag_ids))
