"""HTTP answers shared by the routers: problem+json for errors; stored objects served with single byte
ranges (RFC 9110), conditional requests and presigned redirects."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.datastructures import MutableHeaders
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend import i18n
from backend.errors import AppError, NotFound, RangeNotSatisfiable
from storage import ObjectNotFound, Storage

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
PROBLEM_JSON = "application/problem+json"


# --- what the OpenAPI declares: every status and content type a route can answer ---------------------

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; switch on `type` (listed at GET /problems). `title` and `detail` "
    "are in Simplified Chinese unless Accept-Language asks for English (en)",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
_PROBLEM_MEANING = {
    400: "Malformed request (see detail)",
    401: "Not signed in, or a missing, unknown or revoked API key",
    403: "The caller's role does not allow this, or a signed-in request lacks its CSRF token",
    404: "No such resource",
    405: "The path does not take that method (see Allow)",
    409: "Conflicts with recorded state",
    410: "Gone (deleted, terminated or expired)",
    412: "Unsupported Tus-Resumable version",
    413: "The body is larger than the limit",
    415: "Unsupported Content-Type",
    416: "Range not satisfiable",
    422: "Invalid request, or refused by a domain rule (see type)",
    423: "Locked by another request",
    429: "Too many attempts; see Retry-After",
    460: "Checksum mismatch",
    503: "A backing service is unavailable",
    507: "No disk space for the upload right now; nothing was kept",
}
BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the problem statuses a route can answer, each as application/problem+json."""
    return {
        status: {"description": _PROBLEM_MEANING[status], "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
        for status in statuses
    }


def answers(status: int, description: str, *media_types: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for an answer in other media types than the route's JSON (a file, a CSV, a page; JSON
    among them has no schema here), or one without a body (no media type)."""
    content = {t.split(";")[0]: {} if t.endswith("json") else BINARY for t in media_types}
    body = {"content": content} if content else {}
    return {status: {"description": description, **body}}


def answer_language(request: Request) -> str:
    """The language of an answer's words: the signed-in person's setting, else `Accept-Language`, else
    Simplified Chinese (backend/i18n)."""
    return i18n.chosen(request.scope.get(i18n.LANGUAGE_SCOPE), request.headers.get("accept-language"))


def validation_detail(found: Iterable[Mapping[str, Any]], language: str, shown: int = 5) -> str:
    """The first few of pydantic's validation errors, each as `where: what`. In Chinese each is worded
    from the catalogue by pydantic's error type and its `ctx`; a type the catalogue lacks (and a
    validator's own ValueError) keeps pydantic's English message inside a Chinese sentence."""
    parts = []
    for error in list(found)[:shown]:
        where = ".".join(map(str, error.get("loc", ())))
        message = str(error.get("msg", ""))
        if language != i18n.EN:
            params = {**{k: _ctx_text(v) for k, v in (error.get("ctx") or {}).items()}, "msg": message}
            message = (
                i18n.text(f"validation.{error.get('type')}", language, params)
                or i18n.text("validation.other", language, params)
                or message
            )
        parts.append(i18n.text("validation.item", language, {"where": where, "message": message}) or f"{where}: {message}")
    return (i18n.text("validation.separator", language) or "; ").join(parts)


def _ctx_text(value: Any) -> Any:
    return value if isinstance(value, int | float | str) else str(value)


def problem_response(exc: AppError, request: Request) -> JSONResponse:
    """The error as problem+json (RFC 9457) in the caller's language, with the headers its status calls for."""
    language = answer_language(request)
    headers = {"Content-Language": language, "Vary": "Accept-Language"}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RangeNotSatisfiable) and "size" in exc.extra:
        headers["Content-Range"] = f"bytes */{exc.extra['size']}"
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    body = exc.to_problem(request.url.path, language)
    return JSONResponse(body, status_code=exc.status, media_type=PROBLEM_JSON, headers=headers)


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
            raise RangeNotSatisfiable(key="range-empty-suffix", size=size)
        return max(size - length, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(key="range-outside-object", params={"range": header, "size": size}, size=size)
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
        raise NotFound(key="stored-file-missing")
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


# A stored or generated HTML document (a report, a problem type's page) shows, it never runs:
# no script at all, its own inline styles and drawn images only.
DOCUMENT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'"
)


class SecurityHeaders:
    """Pure ASGI middleware: every answer says `nosniff` (a stored file is never read as script or
    HTML by content sniffing) and sends no referrer; an HTML answer without a Content-Security-Policy
    of its own gets DOCUMENT_CSP, except the interactive API docs, which load Swagger UI and ReDoc
    with inline script. Bodies pass through untouched (uploads and downloads stream)."""

    def __init__(self, app: ASGIApp, api_docs: tuple[str, ...] = ("/docs", "/docs/oauth2-redirect", "/redoc")) -> None:
        self.app = app
        self.api_docs = frozenset(api_docs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if headers.get("content-type", "").startswith("text/html") and scope["path"] not in self.api_docs:
                    headers.setdefault("Content-Security-Policy", DOCUMENT_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)



class PathMethods:
    """Every method each path takes, gathered from the routers once the app is built, for the Allow
    header of a 405: the router names only the first route whose path matched, while one path's
    methods are often split over several routes (GET and PATCH /tags/{id})."""

    def __init__(self, routers: Iterable[APIRouter]) -> None:
        self._routes: list[tuple[re.Pattern[str], bool, frozenset[str]]] = [
            (route.path_regex, "{" in route.path, frozenset(route.methods))
            for router in routers
            for route in router.routes
            if isinstance(route, APIRoute | Route) and route.methods
        ]

    def allowed(self, path: str) -> str:
        """A literal path (/keys/me) answers for itself, as in OpenAPI, even where a templated one
        (/keys/{key_id}) matches it too."""
        literal: set[str] = set()
        templated: set[str] = set()
        for regex, has_parameters, route_methods in self._routes:
            if regex.match(path):
                (templated if has_parameters else literal).update(route_methods)
        return ", ".join(sorted(literal or templated))
