"""backend/bodies.py: a file sent whole keeps a clean name (a client's disk can name a file with
control characters, which PostgreSQL refuses), and its size limit holds on the raw body."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from backend import errors
from backend.bodies import file_from_body


def _request(body: bytes, content_type: str = "application/octet-stream") -> Request:
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}, receive)


def test_a_name_with_control_characters_and_a_path_is_cleaned() -> None:
    data, name = asyncio.run(file_from_body(_request(b"1,2\n"), filename="../直播\r\n数据\x00.csv",
                                            default="session.csv", limit=100, what="the data"))
    assert (data, name) == (b"1,2\n", "直播 数据.csv")


def test_a_name_of_nothing_but_control_characters_falls_back_to_the_default() -> None:
    _, name = asyncio.run(file_from_body(_request(b"x"), filename="\x00\x01", default="export.csv", limit=100, what="x"))
    assert name == "export.csv"


def test_a_raw_body_past_the_limit_is_413() -> None:
    with pytest.raises(errors.PayloadTooLarge):
        asyncio.run(file_from_body(_request(b"x" * 101), filename=None, default="a.csv", limit=100, what="an export"))
