"""The web page plays the proxy: its policy lets a <video> play object URLs (local storage) and the S3
server's presigned URLs, and its script asks for the proxy's link when a material has one."""

from __future__ import annotations

from fastapi.testclient import TestClient

from backend.config import Settings
from backend.web.endpoints import WEB, page_csp


def test_page_policy_allows_the_proxy_player(anon_client: TestClient) -> None:
    csp = anon_client.get("/").headers["content-security-policy"]
    assert "media-src 'self' blob:;" in csp and "default-src 'self'" in csp and "unsafe-inline" not in csp
    s3 = Settings(storage_backend="s3", s3_endpoint="minio:9000", s3_public_endpoint="https://media.example.com/")
    assert "media-src 'self' blob: https://media.example.com;" in page_csp(s3)
    assert "media-src 'self' blob: http://minio:9000;" in page_csp(Settings(storage_backend="s3", s3_endpoint="minio:9000"))


def test_the_script_plays_the_proxy_when_there_is_one() -> None:
    script = (WEB / "static" / "js" / "common.js").read_text(encoding="utf-8")
    assert 'proxy.state === "ready" && proxy.video' in script
