"""Real tus clients against a real server process on loopback: tuspy and tus-js-client resuming
from new processes, a connection cut by a proxy, a server killed between PATCHes, two writers."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI, Keys
from tests.live_server import Server
from tests.uploads.tus.conftest import OCTETS, TUS

JS_DIR = Path(__file__).resolve().parent / "js"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Client tests run on SQLite only: the protocol tests already cover both databases."""
    return sqlite_url


TUSPY = textwrap.dedent("""
    import sys
    from tusclient import client
    endpoint, path, token, stop_at, url = sys.argv[1:6]
    c = client.TusClient(endpoint, headers={"Authorization": "Bearer " + token})
    up = c.uploader(path, chunk_size=1024 * 1024, url=url or None, retries=5, retry_delay=0.2,
                    metadata={"filename": "直播回放.mp4", "title": "tuspy 直播回放",
                              "tags": "content_type:直播回放"})
    if int(stop_at):
        up.upload(stop_at=int(stop_at))
    else:
        up.upload()
    print(up.url)
""")


def tuspy(endpoint: str, path: Path, token: str, *, stop_at: int = 0, url: str = "") -> str:
    """Run tuspy in a fresh Python process (nothing survives between runs but the upload URL)."""
    done = subprocess.run(
        [sys.executable, "-c", TUSPY, endpoint, str(path), token, str(stop_at), url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def status(server: Server, url: str, token: str) -> dict:  # type: ignore[type-arg]
    return httpx.get(f"{server.url}{httpx.URL(url).path}", headers=Keys.auth(token)).json()


def offset_of(server: Server, url: str, token: str) -> int:
    res = httpx.head(f"{server.url}{httpx.URL(url).path}", headers={**TUS, **Keys.auth(token)})
    assert res.status_code == 200, res.status_code
    return int(res.headers["upload-offset"])


def stored_sha256(server: Server, url: str, token: str) -> str:
    info = status(server, url, token)
    assert info["status"] == "completed", info
    material = httpx.get(f"{server.url}{info['links']['material']}", headers=Keys.auth(token)).json()
    body = httpx.get(f"{server.url}{material['links']['file']}", headers=Keys.auth(token))
    assert hashlib.sha256(body.content).hexdigest() == material["sha256"]
    return str(material["sha256"])


def test_tuspy_stops_then_a_new_process_resumes(server: Server, keys: Keys, multipart_clip: Path) -> None:
    endpoint = f"{server.url}/api/v1/uploads/"
    url = tuspy(endpoint, multipart_clip, keys.editor, stop_at=3 * 1024 * 1024)
    assert offset_of(server, url, keys.editor) == 3 * 1024 * 1024
    assert tuspy(endpoint, multipart_clip, keys.editor, url=url) == url
    assert stored_sha256(server, url, keys.editor) == hashlib.sha256(multipart_clip.read_bytes()).hexdigest()


def test_server_killed_between_patches_resumes(server: Server, keys: Keys, multipart_clip: Path) -> None:
    endpoint = f"{server.url}/api/v1/uploads/"
    url = tuspy(endpoint, multipart_clip, keys.editor, stop_at=4 * 1024 * 1024)
    server.kill()
    server.start()
    assert offset_of(server, url, keys.editor) == 4 * 1024 * 1024
    tuspy(endpoint, multipart_clip, keys.editor, url=url)
    assert stored_sha256(server, url, keys.editor) == hashlib.sha256(multipart_clip.read_bytes()).hexdigest()


class CuttingProxy:
    """Loopback TCP proxy that forwards to `target` and drops both sides after `limit` client bytes."""

    def __init__(self, target: tuple[str, int], limit: int) -> None:
        self.target, self.limit = target, limit
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.forwarded = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        upstream = socket.create_connection(self.target)
        threading.Thread(target=self._pipe_back, args=(upstream, conn), daemon=True).start()
        try:
            while self.forwarded < self.limit:
                data = conn.recv(min(65536, self.limit - self.forwarded))
                if not data:
                    break
                upstream.sendall(data)
                self.forwarded += len(data)
        finally:
            for s in (conn, upstream):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.listener.close()

    @staticmethod
    def _pipe_back(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass


def test_cut_connection_keeps_what_arrived_and_resumes(
    server: Server, keys: Keys, multipart_clip: Path
) -> None:
    data = multipart_clip.read_bytes()
    res = httpx.post(
        f"{server.url}/api/v1/uploads/",
        headers={**TUS, **Keys.auth(keys.editor), "Upload-Length": str(len(data))},
    )
    url = f"{server.url}{res.headers['location']}"
    cut_after = 1_500_000
    proxy = CuttingProxy(("127.0.0.1", server.port), cut_after)
    with pytest.raises(httpx.HTTPError):
        httpx.patch(
            f"http://127.0.0.1:{proxy.port}{res.headers['location']}",
            content=data,
            timeout=10,
            headers={**TUS, **Keys.auth(keys.editor), "Upload-Offset": "0", "Content-Type": OCTETS},
        )
    deadline = time.monotonic() + 10
    while (offset := offset_of(server, url, keys.editor)) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 0 < offset <= cut_after
    endpoint = f"{server.url}/api/v1/uploads/"
    tuspy(endpoint, multipart_clip, keys.editor, url=url)
    assert stored_sha256(server, url, keys.editor) == hashlib.sha256(data).hexdigest()


def test_second_writer_is_refused_while_the_first_streams(server: Server, keys: Keys) -> None:
    auth = {**TUS, **Keys.auth(keys.editor)}
    res = httpx.post(f"{server.url}/api/v1/uploads/", headers={**auth, "Upload-Length": "2000"})
    path = res.headers["location"]
    first = socket.create_connection(("127.0.0.1", server.port))
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
        f"Authorization: Bearer {keys.editor}\r\nUpload-Offset: 0\r\nContent-Type: {OCTETS}\r\n"
        "Content-Length: 1000\r\n\r\n"
    ).encode()
    first.sendall(head + b"a" * 10)
    refused = None
    for _ in range(100):
        refused = httpx.patch(
            f"{server.url}{path}",
            content=b"b" * 1000,
            headers={**auth, "Upload-Offset": "0", "Content-Type": OCTETS},
        )
        if refused.status_code == 423:
            break
        time.sleep(0.05)
    assert refused is not None and refused.status_code == 423, refused.text
    assert refused.json()["type"] == "/problems/upload-locked"
    first.sendall(b"a" * 990)
    reply = first.recv(4096).decode()
    first.close()
    assert reply.startswith("HTTP/1.1 204") and "upload-offset: 1000" in reply.lower()
    part = Path(server.env["REELHOUSE_DATA_DIR"]) / "uploads" / f"{path.rsplit('/', 1)[1]}.part"
    assert part.read_bytes() == b"a" * 1000


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if IN_CI:
            pytest.fail("node is required in CI for the tus-js-client test")
        pytest.skip("node is not installed")
    if not (JS_DIR / "node_modules" / "tus-js-client").exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install tus-js-client"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True, timeout=300, capture_output=True
        )
    return node


def test_tus_js_client_uploads_and_resumes(server: Server, keys: Keys, multipart_clip: Path) -> None:
    node = _node()
    endpoint = f"{server.url}/api/v1/uploads/"

    def run(*extra: str) -> dict:  # type: ignore[type-arg]
        done = subprocess.run(
            [node, "upload.mjs", endpoint, str(multipart_clip), keys.editor, *extra],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    first = run(str(2 * 1024 * 1024))
    assert not first["done"]
    offset = offset_of(server, first["url"], keys.editor)
    assert 0 < offset < multipart_clip.stat().st_size
    second = run("0", first["url"])
    assert second["done"] and second["url"] == first["url"]
    sha = stored_sha256(server, first["url"], keys.editor)
    assert sha == hashlib.sha256(multipart_clip.read_bytes()).hexdigest()
    info = status(server, first["url"], keys.editor)
    material = httpx.get(f"{server.url}{info['links']['material']}", headers=Keys.auth(keys.editor)).json()
    assert material["title"] == "tus-js-client 直播回放" and material["original_filename"] == "直播回放.mp4"
