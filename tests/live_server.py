"""A real reelhouse API process (uvicorn) on loopback, for tests that need a socket: real tus
clients, a connection cut mid-body."""

from __future__ import annotations

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

REPO = Path(__file__).resolve().parents[1]
START_SECONDS = 120


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
    # Scheduling priority (nice value) for the server process; None inherits the test's. A load test
    # sets 0 so that what it measures is the server's event loop, not its share of a shared machine.
    priority: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "backend.app:create_app",
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
            preexec_fn=None if self.priority is None else self._set_priority,
        )
        # Generous: on a loaded 2-core machine (other test runs, ffmpeg) a cold start took over 30 s.
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def _set_priority(self) -> None:  # in the child, before exec
        assert self.priority is not None
        os.setpriority(os.PRIO_PROCESS, 0, self.priority)

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
