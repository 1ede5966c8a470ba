"""Real reelhouse processes for the cluster tests: Celery workers (each with its own environment, so
each may have a private data directory) and what they left running."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO
from tests.processes import descendant_pids


class Worker:
    """`celery worker` on the given queues, in its own session (process group)."""

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
        self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=self.out, stderr=subprocess.STDOUT,
                                     start_new_session=True)

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

    def ffmpeg_running(self) -> bool:
        for pid in self.descendants():
            with contextlib.suppress(OSError):
                if b"ffmpeg" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]:
                    return True
        return False

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
