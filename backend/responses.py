"""HTTP answers shared by the routers: problem+json for errors; stored objects served with single byte
ranges (RFC 9110), conditional requests and presigned redirects."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse

from backend.errors import AppError, NotFound, RangeNotSatisfiable
from storage import ObjectNotFound, Storage

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
PROBLEM_JSON = "application/problem+json"


def problem_response(exc: AppError, request: Request) -> JSONResponse:
    """The error as problem+json (RFC 9457), with the headers its status calls for."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if isinstance(exc, RangeNotSatisfiable) and "size" in exc.extra:
        headers = {"Content-Range": f"bytes */{exc.extra['size']}"}
    if exc.retry_after is not None:
        headers = {**(headers or {}), "Retry-After": str(exc.retry_after)}
    return JSONResponse(exc.to_problem(request.url.path), status_code=exc.status, media_type=PROBLEM_JSON, headers=headers)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (start, end) inclusive range asked for, None for the whole object. Multiple ranges are
    answered with the whole object, which RFC 9110 allows."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable("a suffix range of zero bytes", size=size)
        return max(size - length, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(f"range {header} is outside the object's {size} bytes", size=size)
    return start, min(end, size - 1)


def content_disposition(filename: str, inline: bool) -> str:
    """RFC 6266 with the RFC 5987 `filename*` for any name (Chinese included) and a plain ASCII fallback.
    Control characters (CR, LF, NUL: invalid in a header) are dropped whatever the stored name holds."""
    name = "".join(c for c in filename if ord(c) >= 0x20 and ord(c) != 0x7F) or "download"
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\%' else "_" for c in name)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def serve_object(
    request: Request,
    storage: Storage,
    key: str,
    *,
    filename: str,
    content_type: str,
    etag: str | None,
    inline: bool = False,
    allow_redirect: bool = True,
    presign_seconds: int = 3600,
) -> Response:
    from datetime import timedelta

    if allow_redirect:
        url = storage.presigned_url(
            key, expires=timedelta(seconds=presign_seconds), filename=filename, content_type=content_type
        )
        if url:
            return RedirectResponse(url, status_code=307)
    stat = storage.stat(key)
    if stat is None:
        raise NotFound("the stored file is missing")
    quoted_etag = f'"{etag}"' if etag else None
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(filename, inline),
        "Cache-Control": "private, max-age=3600",
    }
    if quoted_etag:
        headers["ETag"] = quoted_etag
        if request.headers.get("if-none-match") == quoted_etag:
            return Response(status_code=304, headers=headers)
    byte_range = parse_range(request.headers.get("range"), stat.size)
    if_range = request.headers.get("if-range")
    if byte_range and if_range and quoted_etag and if_range != quoted_etag:
        byte_range = None  # the client's copy is stale: send the whole thing
    if byte_range is None:
        start, end, status = 0, stat.size - 1, 200
    else:
        (start, end), status = byte_range, 206
        headers["Content-Range"] = f"bytes {start}-{end}/{stat.size}"
    headers["Content-Length"] = str(end - start + 1 if stat.size else 0)

    def body() -> Iterator[bytes]:
        if stat.size == 0:
            return
        try:
            yield from storage.iter_bytes(key, start, end)
        except ObjectNotFound:
            return

    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=content_type)
    return StreamingResponse(body(), status_code=status, headers=headers, media_type=content_type)
