"""What a request body passes before the application reads it: the caller's key, a size cap, a nesting cap.

FastAPI reads and parses a route's whole JSON (or form) body before it solves any dependency, the
key check included: a 60 MB `{"snapshots":[{},{},...]}` sent with no key was read, parsed and
validated in full before the 401 (the API went from 147 MB to 1.7 GB). `BodyGuard` stands in front
of every route whose body FastAPI parses: before a byte of the body is read it checks the key (in
the thread pool, in its own short transaction) and the declared Content-Length; then it reads at
most the route's limit, checks JSON nesting, and hands the bytes on.
It is a middleware that looks the route up itself (Starlette's `Route.matches` over the routers'
own routes), so it leans on nothing of how FastAPI arranges included routers inside the app.

Routes that stream their body themselves (the simple upload, tus PATCH, metrics files, fingerprint
identification) declare no body parameter: their key check is a dependency, solved before the
handler reads anything, and they enforce their own streaming limits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Request, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.deps import KEY_SCOPE, authenticate_request, current_key
from backend.errors import AppError, BodyTooLarge, JsonTooDeep, database_error
from backend.responses import problem_response

JSON_MAX_BYTES = 1024 * 1024
JSON_MAX_DEPTH = 32
_MAX_BODY_ATTR = "__reelhouse_max_body_bytes__"
# Above this, the nesting scan (a few C passes over the bytes) moves off the event loop.
_SCAN_ON_LOOP = 64 * 1024

F = TypeVar("F", bound=Callable[..., Any])


def max_body_bytes(limit: int) -> Callable[[F], F]:
    """Raise (or lower) one endpoint's body cap from the default `JSON_MAX_BYTES`; say why where used."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _MAX_BODY_ATTR, limit)
        return endpoint

    return mark


# --- JSON nesting, measured without parsing ----------------------------------------------------

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_EMPTY_PAIR = re.compile(rb"\[\]|\{\}")


def json_too_deep(body: bytes, max_depth: int = JSON_MAX_DEPTH) -> bool:
    """True if the JSON text nests arrays/objects deeper than `max_depth`.

    Strings are cut out (a bracket inside one is text), everything but brackets is dropped, then
    innermost empty pairs are removed one level per pass: what is left after `max_depth` passes is
    nested deeper. Malformed text is left for the parser to report."""
    skeleton = _STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    for _ in range(max_depth):
        if not skeleton:
            return False
        skeleton, removed = _EMPTY_PAIR.subn(b"", skeleton)
        if not removed:
            return False  # unbalanced: not JSON, and the parser says so
    return bool(skeleton)


# --- the guard ---------------------------------------------------------------------------------


def _uses(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(d.call is call or _uses(d, call) for d in dependant.dependencies)


@dataclass(frozen=True)
class _BodyRoute:
    route: APIRoute
    limit: int
    needs_key: bool
    json: bool


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in headers


class BodyGuard:
    """ASGI middleware: for a request to a route whose body FastAPI reads, the key first, then at most
    the route's limit of body, then the application (see the module's docstring). Requests to other
    routes pass untouched."""

    def __init__(self, app: ASGIApp, *, routers: Iterable[APIRouter]) -> None:
        """`routers`: the routers the application includes, as they are (included without a prefix)."""
        self.app = app
        self.routes = [
            _BodyRoute(
                route,
                limit=getattr(route.endpoint, _MAX_BODY_ATTR, JSON_MAX_BYTES),
                needs_key=_uses(route.dependant, current_key),
                json=not isinstance(route.body_field.field_info, params.Form),  # File is a Form
            )
            for router in routers
            for route in router.routes
            if isinstance(route, APIRoute) and route.body_field is not None
        ]

    def _route_for(self, scope: Scope) -> _BodyRoute | None:
        for body_route in self.routes:
            match, _ = body_route.route.matches(scope)
            if match is Match.FULL:
                return body_route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        body_route = self._route_for(scope) if _has_body(headers) else None
        if body_route is None:
            await self.app(scope, receive, send)
            return
        try:
            data = await self._checked_body(scope, headers, receive, body_route)
        except (AppError, SQLAlchemyError) as exc:
            problem = exc if isinstance(exc, AppError) else database_error(exc)
            if problem is None:
                raise
            await problem_response(problem, Request(scope))(scope, receive, send)
            return
        if data is None:  # the client went away while sending
            return
        await self.app(scope, _replay({"type": "http.request", "body": data, "more_body": False}, receive), send)

    async def _checked_body(
        self, scope: Scope, headers: Headers, receive: Receive, body_route: _BodyRoute
    ) -> bytes | None:
        if body_route.needs_key and KEY_SCOPE not in scope:
            # Raises Unauthorized (401), or CsrfFailed (403), before a byte of the body is read.
            await authenticate_request(Request(scope))
        limit = body_route.limit
        declared = headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(key="body-too-large-declared", params={"limit": limit, "declared": int(declared)})
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            body += message.get("body", b"")
            if len(body) > limit:
                raise BodyTooLarge(key="body-too-large", params={"limit": limit})
            if not message.get("more_body", False):
                break
        data = bytes(body)
        if body_route.json and data:
            deep = json_too_deep(data) if len(data) <= _SCAN_ON_LOOP else await run_in_threadpool(json_too_deep, data)
            if deep:
                raise JsonTooDeep(key="json-too-deep", params={"depth": JSON_MAX_DEPTH})
        return data


def _replay(first: Message, receive: Receive) -> Receive:
    pending: list[Message] = [first]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
