"""Paying first-request costs at start-up, so the first upload after a deploy is served like the rest.

Two things are built lazily on the first request a process serves, ~0.1 s of CPU together:
FastAPI builds every route's dependency state the first time routing walks it, and SQLAlchemy
configures the mappers and opens the first database connection on the first query. Left to the
first request, that time lands inside whoever comes first: an upload whose client is waiting for
`100 Continue`, or a tus PATCH.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import configure_mappers
from starlette.types import ASGIApp, Message

WARM_UP_PATH = "/api/v1/-/warm-up"  # matches no route: routing walks (and builds) every one


async def warm_up_routes(app: ASGIApp) -> int:
    """Send one in-process request through the whole application; returns its status (404)."""
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": WARM_UP_PATH, "raw_path": WARM_UP_PATH.encode(), "root_path": "", "query_string": b"",
        "headers": [(b"host", b"reelhouse.warm-up")], "client": None, "server": None,
    }
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


def warm_up_database() -> None:
    """Configure the ORM mappers and run the API-key lookup once (its statement is compiled and
    cached, and the pool holds an open connection)."""
    from backend.auth.service import find_key
    from backend.db import session_scope

    configure_mappers()
    with session_scope() as session:
        find_key(session, "")
