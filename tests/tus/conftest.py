"""Fixtures for resumable uploads: tus request helpers, media big enough for multipart, and a real
uvicorn server process on loopback (the real clients need a socket, not a TestClient)."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, make_clip

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


def metadata(**fields: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


def create(client, length: int | None, headers: dict[str, str] | None = None, **meta: str):  # type: ignore[no-untyped-def]
    h = {**TUS, **(headers or {})}
    if length is None:
        h["Upload-Defer-Length"] = "1"
    else:
        h["Upload-Length"] = str(length)
    if meta:
        h["Upload-Metadata"] = metadata(**meta)
    return client.post("/api/v1/uploads/", headers=h)


def patch(client, url: str, offset: int, data: bytes, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    h = {**TUS, "Upload-Offset": str(offset), "Content-Type": OCTETS, **(headers or {})}
    return client.patch(url, content=data, headers=h)


def head(client, url: str):  # type: ignore[no-untyped-def]
    return client.head(url, headers=TUS)


@pytest.fixture(scope="session")
def multipart_clip(clip_dir: Path) -> Path:
    """A real video over 5 MiB, so S3 mode needs more than one multipart part."""
    path = make_clip(
        clip_dir / "multipart.mp4", seconds=5.0, size="1280x720", audio=False, extra=["-qp", "0"]
    )
    assert path.stat().st_size > 6 * 1024 * 1024, path.stat().st_size
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A reelhouse API process (uvicorn) on 127.0.0.1; restartable on the same port and data."""

    env: dict[str, str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "backend.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as in a crash or an OOM kill."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


@pytest.fixture
def server(app_env: dict[str, str], keys, tmp_path: Path) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    """A real server on the test's database and data dir (keys are created before it starts)."""
    env = {**os.environ, **app_env, "PYTHONPATH": str(REPO)}
    srv = Server(env=env, port=free_port(), log=tmp_path / "server.log")
    srv.start()
    yield srv
    srv.stop()
