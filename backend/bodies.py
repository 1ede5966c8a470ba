"""A file sent to an endpoint that reads it whole (a platform export, a transcript, a live session's
data): as the raw body, named by a `filename` query parameter, or as the `file` part of a multipart
form. The size limit is checked on the declared length and again while the bytes arrive. `what` names
the file in each language ({"zh-CN": "字幕文件", "en": "a transcript"}) for the refusals."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request

from backend import errors
from backend.text import safe_filename


def _too_large(what: Mapping[str, str], limit: int) -> errors.PayloadTooLarge:
    return errors.PayloadTooLarge(key="body.file-too-large", params={"what": what, "limit": limit})


async def capped_body(request: Request, limit: int, what: Mapping[str, str]) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(what, limit)
    received = bytearray()
    async for chunk in request.stream():
        received.extend(chunk)
        if len(received) > limit:
            raise _too_large(what, limit)
    return bytes(received)


async def file_from_body(
    request: Request, *, filename: str | None, default: str, limit: int, what: Mapping[str, str]
) -> tuple[bytes, str]:
    """(bytes, name) of the file; an empty one is a 400, a larger one than `limit` a 413. The name
    comes from the client's disk: cleaned (no control characters, no path), never refused."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_part_size=limit)
        try:  # the form spools parts to temporary files: closed (deleted) on every path
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise errors.BadRequest(key="body.multipart-needs-file")
            if upload.size is not None and upload.size > limit:
                raise _too_large(what, limit)
            data = await upload.read(limit + 1)
            name = filename or upload.filename or default
        finally:
            await form.close()
    else:
        data, name = await capped_body(request, limit, what), filename or default
    name = safe_filename(name) or default
    if len(data) > limit:
        raise _too_large(what, limit)
    if not data:
        raise errors.BadRequest(key="body.file-empty", params={"what": what})
    return data, name
