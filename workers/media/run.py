"""Run an ffmpeg argv: own process group, timeout, progress callback, cancel hook, typed errors."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]


class MediaError(Exception):
    """Base of every failure a render can end with; tasks map these to a failed job without retry."""


class MediaTimeout(MediaError):
    pass


class MediaCancelled(MediaError):
    pass


class FfmpegFailed(MediaError):
    def __init__(self, returncode: int, stderr_tail: str) -> None:
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        super().__init__(f"ffmpeg exited with {returncode}: {stderr_tail.strip()[-800:]}")


class FfmpegNotFound(MediaError):
    pass


def ffmpeg_path(configured: str | os.PathLike[str] | None = None) -> str:
    """`configured` (Settings.ffmpeg_path, env REELHOUSE_FFMPEG_PATH) if given, else a system ffmpeg on
    PATH, else imageio-ffmpeg's bundled binary."""
    if configured:
        configured = os.fspath(configured)
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            raise FfmpegNotFound(f"REELHOUSE_FFMPEG_PATH={configured!r} is not an executable file")
        return configured
    system = shutil.which("ffmpeg")
    if system:
        return system
    import imageio_ffmpeg  # imported lazily: nothing probes binaries at import time

    return imageio_ffmpeg.get_ffmpeg_exe()


# Debian's fonts-noto-cjk; face 0 of the collection is the JP cut, which covers all Chinese text.
_CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)


def cjk_font_path(configured: str | os.PathLike[str] | None = None) -> str | None:
    """`configured` (Settings.cjk_font_path, env REELHOUSE_CJK_FONT_PATH) if given, else the first
    installed CJK font we know of, else None."""
    if configured:
        return os.fspath(configured)
    return next((p for p in _CJK_FONT_CANDIDATES if os.path.isfile(p)), None)


@functools.cache
def ffmpeg_filters(ffmpeg: str) -> frozenset[str]:
    """Names of the filters this ffmpeg binary was built with."""
    out = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-filters"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and "->" in parts[2]:
            names.add(parts[1])
    return frozenset(names)


HTTP_REQUEST_BYTES = 4 * 1024 * 1024  # one range request of a source read over http(s)
HTTP_FIRST_REQUEST_BYTES = 256 * 1024  # while the demuxer reads headers and the index


@functools.lru_cache(maxsize=8)
def http_input_options(ffmpeg: str) -> tuple[str, ...]:
    """Input options reading an http(s) source in bounded range requests on one kept-alive connection.

    Without them each open or seek is an open-ended GET that the server streams until ffmpeg hangs
    up: an MP4 whose index sits at the end cost two thirds of a 30 MB file for a 1.5 s cut (measured
    through a loopback proxy). `request_size` arrived in ffmpeg 8; an older binary gets only the
    kept-alive connection."""
    out = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-h", "protocol=http"],
        capture_output=True, text=True, timeout=30, check=False,
    ).stdout  # fmt: skip
    options = ["-multiple_requests", "1", "-reconnect", "1"]
    if "-request_size " in out and "-initial_request_size " in out:
        options += ["-request_size", str(HTTP_REQUEST_BYTES), "-initial_request_size", str(HTTP_FIRST_REQUEST_BYTES)]
    return tuple(options)


@dataclass
class RunResult:
    returncode: int
    elapsed: float
    stderr_tail: str
    progress_lines: int


class _Progress:
    """Parses `-progress pipe:1` key=value blocks into a fraction of the expected output duration."""

    def __init__(self, total_seconds: float, callback: ProgressCallback | None) -> None:
        self.total = max(total_seconds, 1e-6)
        self.callback = callback
        self.last = 0.0
        self.lines = 0

    def feed(self, line: str) -> None:
        self.lines += 1
        key, _, value = line.strip().partition("=")
        fraction = None
        if key in ("out_time_us", "out_time_ms"):  # both are microseconds in ffmpeg's output
            try:
                fraction = int(value) / 1e6 / self.total
            except ValueError:
                return
        elif key == "progress" and value == "end":
            fraction = 1.0
        if fraction is None:
            return
        fraction = min(1.0, max(0.0, fraction))
        if fraction > self.last or fraction == 1.0:
            self.last = fraction
            if self.callback:
                self.callback(fraction)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_ffmpeg(
    argv: Sequence[str],
    *,
    total_seconds: float,
    timeout: float,
    on_progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    poll_interval: float = 0.25,
    stderr_lines: int = 40,
) -> RunResult:
    """Run ffmpeg to completion or raise MediaTimeout / MediaCancelled / FfmpegFailed.

    The process gets its own process group so a timeout or cancel kills ffmpeg and anything it spawned,
    and never the worker. A group, not a session: Linux shares the CPU between sessions (sched_autogroup)
    before it looks at nice values, so an ffmpeg in a session of its own would escape its pool's priority.
    """
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            process_group=0,
        )
    except FileNotFoundError as e:
        raise FfmpegNotFound(str(e)) from e
    progress = _Progress(total_seconds, on_progress)
    tail: deque[str] = deque(maxlen=stderr_lines)

    def pump_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            progress.feed(line)

    def pump_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            tail.append(line.rstrip("\n"))

    readers = [
        threading.Thread(target=pump_stdout, daemon=True),
        threading.Thread(target=pump_stderr, daemon=True),
    ]
    for t in readers:
        t.start()
    outcome: MediaError | None = None
    try:
        while proc.poll() is None:
            if time.monotonic() - started > timeout:
                outcome = MediaTimeout(f"ffmpeg ran longer than {timeout:.0f}s")
                break
            if should_cancel is not None and should_cancel():
                outcome = MediaCancelled("render cancelled")
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=poll_interval)
    finally:
        if proc.poll() is None:
            _kill_group(proc)
            proc.wait()
        for t in readers:
            t.join(timeout=5)
    elapsed = time.monotonic() - started
    if outcome is not None:
        raise outcome
    if proc.returncode != 0:
        raise FfmpegFailed(proc.returncode, "\n".join(tail))
    return RunResult(proc.returncode, elapsed, "\n".join(tail), progress.lines)
