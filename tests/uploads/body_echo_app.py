"""An ASGI app for tests/uploads/test_http_protocol.py: answers each request with the SHA-256 and
size of the body it received and whether every message's body was `bytes`. `/early` answers 413 without reading the body, as a size limit does."""

from __future__ import annotations

import hashlib
import json


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    if scope["path"] == "/early":
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    digest, size, all_bytes = hashlib.sha256(), 0, True
    more = True
    while more:
        message = await receive()
        body = message.get("body", b"")
        all_bytes = all_bytes and type(body) is bytes
        digest.update(body)
        size += len(body)
        more = message.get("more_body", False)
    answer = json.dumps({"sha256": digest.hexdigest(), "size": size, "bytes": all_bytes})
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer.encode()})
