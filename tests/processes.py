"""Real reelhouse processes for the tests that start them: Celery workers (each with its own environment,
so each may have a private data directory), what they started (their pool, the ffmpeg they run, read
from /proc), and waiting for something they do."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO


def descendant_pids(root: int) -> list[int]:
    """Every process below `root` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        for child in children.get(pid, []):
            found.append(child)
            stack.append(child)
    return found


def ffmpeg_pids(root: int) -> list[int]:
    """The ffmpeg processes below `root`: the system's ffmpeg or imageio-ffmpeg's ffmpeg-linux64-v..."""
    found = []
    for pid in descendant_pids(root):
        with contextlib.suppress(OSError):
            if b"ffmpeg" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]:
                found.append(pid)
    return found


class Worker:
    """`celery worker` on the given queues, in its own session (process group). `env` is laid over the
    test's own environment."""

    def __init__(self, env: dict[str, str], log: Path, name: str, *, queues: str = "quick,render,proxy",
                 concurrency: int = 1) -> None:
        self.name = name
        self.log = log
        argv = [
            sys.executable, "-m", "celery", "-A", "workers.celery_app:celery_app", "worker",
            "-Q", queues, "--concurrency", str(concurrency), "-P", "prefork", "-n", f"{name}@%h",
            "--without-gossip", "--without-mingle", "--loglevel", "INFO",
        ]  # fmt: skip
        self.out = log.open("wb")
        self.proc = subprocess.Popen(argv, cwd=REPO, env={**os.environ, **env}, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"ready." in self.log.read_bytes():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"worker {self.name} did not start:\n{self.text()[-3000:]}")

    def descendants(self) -> list[int]:
        return descendant_pids(self.proc.pid)

    def ffmpeg_pids(self) -> list[int]:
        return ffmpeg_pids(self.proc.pid)

    def ffmpeg_running(self) -> bool:
        return bool(self.ffmpeg_pids())

    def kill(self) -> None:
        """SIGKILL the worker, its pool processes and their ffmpeg: a machine that died."""
        for pid in [self.proc.pid, *self.descendants()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self.out.close()


def wait_for(check, timeout: float, what: str, every: float = 0.3):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
