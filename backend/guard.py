"""What a request body passes before the application reads it: the caller's key, a size cap, a nesting cap.

FastAPI reads and parses a route's whole JSON (or form) body before it solves any dependency, the
key check included: a 60 MB `{"snapshots":[{},{},...]}` sent with no key was read, parsed and
validated in full before the 401 (the API went from 147 MB to 1.7 GB). `guard_routes` wraps every
route whose body FastAPI parses in `BodyGuard`, a small ASGI app that, before a byte of the body is
read, checks the key (in the thread pool, in its own short transaction) and the declared
Content-Length, then reads at most the route's limit, checks JSON nesting, and hands the bytes on.

Routes that stream their body themselves (the simple upload, tus PATCH, metrics files, fingerprint
identification) declare no body parameter: their key check is a dependency, solved before the
handler reads anything, and they enforce their own streaming limits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.deps import KEY_SCOPE, bearer_token, current_key, lookup_key
from backend.errors import BodyTooLarge, JsonTooDeep

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


class BodyGuard:
    """Key first, then at most `limit` bytes of body, then the route (see the module's docstring)."""

    def __init__(self, app: ASGIApp, *, limit: int, needs_key: bool, json: bool) -> None:
        self.app, self.limit, self.needs_key, self.json = app, limit, needs_key, json

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        if self.needs_key and KEY_SCOPE not in scope:
            token = bearer_token(headers.get("authorization"), headers.get("x-api-key"))
            # Raises Unauthorized (401) before a byte of the body is read.
            scope[KEY_SCOPE] = await run_in_threadpool(lookup_key, token)
        declared = headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.limit:
            raise BodyTooLarge(f"this endpoint takes at most {self.limit} bytes; the request declares {int(declared)}")
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the route see it
                await self.app(scope, _replay(message, receive), send)
                return
            body += message.get("body", b"")
            if len(body) > self.limit:
                raise BodyTooLarge(f"this endpoint takes at most {self.limit} bytes")
            if not message.get("more_body", False):
                break
        data = bytes(body)
        del body
        if self.json and data:
            deep = json_too_deep(data) if len(data) <= _SCAN_ON_LOOP else await run_in_threadpool(json_too_deep, data)
            if deep:
                raise JsonTooDeep(f"JSON may nest arrays and objects at most {JSON_MAX_DEPTH} levels deep")
        await self.app(scope, _replay({"type": "http.request", "body": data, "more_body": False}, receive), send)


def _replay(first: Message, receive: Receive) -> Receive:
    pending: list[Message] = [first]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def guard_routes(app: FastAPI) -> None:
    """Put every route whose body FastAPI reads behind a `BodyGuard`. Call once all routers are in."""
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.body_field is None or isinstance(route.app, BodyGuard):
            continue
        form = isinstance(route.body_field.field_info, params.Form)  # File is a Form
        route.app = BodyGuard(
            route.app,
            limit=getattr(route.endpoint, _MAX_BODY_ATTR, JSON_MAX_BYTES),
            needs_key=_uses(route.dependant, current_key),
            json=not form,
        )
