"""Outgoing webhooks: JSON bodies signed with HMAC-SHA256 so receivers can tell they come from reelhouse.

Headers: `X-Reelhouse-Event`, `X-Reelhouse-Delivery` (stable across retries, for de-duplication),
`X-Reelhouse-Timestamp` (Unix seconds) and `X-Reelhouse-Signature: sha256=<hex>` computed over
`<timestamp>.<body>`; receivers recompute it with the shared secret and reject stale timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

SIGNATURE_HEADER = "X-Reelhouse-Signature"
TIMESTAMP_HEADER = "X-Reelhouse-Timestamp"


class WebhookFailed(Exception):
    """The receiver could not be reached or answered with an error."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


@dataclass(frozen=True)
class Delivery:
    status_code: int


def deliver(
    url: str, secret: str | None, event: str, delivery_id: str, body: bytes, *, timeout: float = 10.0
) -> Delivery:
    """POST once. Network errors, 408, 429 and 5xx are retryable; other 4xx answers are not."""
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "reelhouse-webhook/1",
        "X-Reelhouse-Event": event,
        "X-Reelhouse-Delivery": delivery_id,
        TIMESTAMP_HEADER: timestamp,
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise WebhookFailed(f"{event} webhook to {url} failed: {exc}", retryable=True) from exc
    code = response.status_code
    if code >= 400:
        retryable = code >= 500 or code in (408, 429)
        raise WebhookFailed(f"{event} webhook to {url} answered {code}", retryable=retryable)
    return Delivery(code)
