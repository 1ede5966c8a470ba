"""What the web app is served from: files under backend/web/static only (no path from the request reaches
the file system), vendored libraries pinned by a checksum manifest with their licences, and /docs from the
vendored Swagger UI (no CDN: it works offline and where the public CDNs are unreachable)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "backend" / "web" / "static" / "vendor"


def test_vendored_files_match_the_manifest_and_carry_their_licences() -> None:
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text())
    listed = set()
    for name, lib in manifest.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", lib["version"]) and lib["npm"].endswith("@" + lib["version"])
        assert "LICENSE" in lib["files"], f"{name}: licence missing"
        for file, digest in lib["files"].items():
            path = VENDOR / name / file
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{path} differs from MANIFEST.json"
            listed.add(path)
    on_disk = {p for p in VENDOR.rglob("*") if p.is_file() and p.parent != VENDOR}
    assert on_disk == listed, "every vendored file is in the manifest, and only those"


def test_static_files_are_served_from_the_list_only(anon_client) -> None:
    js = anon_client.get("/static/js/main.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert js.headers["x-content-type-options"] == "nosniff"
    again = anon_client.get("/static/js/main.js", headers={"If-None-Match": js.headers["etag"]})
    assert again.status_code == 304
    assert anon_client.get("/static/vendor/echarts/echarts.esm.min.mjs").headers["content-type"].startswith("text/javascript")
    assert anon_client.get("/static/i18n/zh-CN.json").json()["quota_status.at_risk"] == "有风险"
    for bad in ("/static/..%2Fendpoints.py", "/static/../endpoints.py", "/static/js/nope.js", "/static/%2e%2e/index.html"):
        assert anon_client.get(bad).status_code == 404, bad


def test_the_page_runs_under_a_strict_csp(anon_client) -> None:
    page = anon_client.get("/")
    csp = page.headers["content-security-policy"]
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
    assert "<script>" not in page.text  # only files of our own origin


def test_api_docs_work_offline(anon_client) -> None:
    docs = anon_client.get("/docs")
    assert docs.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert not re.search(r"(src|href)=['\"]https?://", docs.text), "no asset from another origin"
    assert anon_client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert anon_client.get("/static/vendor/swagger-ui/swagger-ui.css").status_code == 200
    assert anon_client.get("/redoc").status_code == 404  # ReDoc would need a CDN
    assert "/api/v1/session" in anon_client.get("/openapi.json").json()["paths"]
