"""A bare ASGI app that reads a request body and throws it away: the ceiling of one HTTP upload
stream through uvicorn on this machine, measured beside reelhouse's upload. It tunes the allocator
the way reelhouse's app does (backend/allocator.py) and is served with the same HTTP protocol
(backend/http_protocol.py), so both run on the same uvicorn."""

from backend.allocator import keep_heap_top

keep_heap_top()


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})
