"""Thin ffmpeg decoding helpers for analysis: argv builders (pure) and pipes that yield numpy data.

Audio is decoded alone (video never decoded) to 16 kHz mono s16. Pictures are decoded small (YUV 4:2:0,
or grey only):
only keyframes (`-skip_frame nokey`: the decoder drops every other frame before decoding it, which is
what makes a 1080p30 recording cheap) or, when keyframes are sparse, every frame thinned to a fixed rate.
Each frame's time comes from ffmpeg's `showinfo` on stderr, read beside the raw frames on stdout.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workers.media.run import FfmpegFailed, FfmpegNotFound

AUDIO_RATE = 16_000
_PTS = re.compile(r"\bn:\s*(\d+)\s+pts:\s*(-?\d+)\s+pts_time:\s*(-?[\d.]+)")
_SIZE = re.compile(r"\bs:(\d+)x(\d+)")


@dataclass(frozen=True)
class FrameSampling:
    """How pictures are sampled: `keyframes` only; or every frame thinned to `fps`; or, with `fps` None,
    every frame that another frame references (`nonref_skipped`: B-frames dropped before decoding, which
    halves the cost of a live-stream encoder's output while keeping a frame every 0.1 s or closer)."""

    keyframes: bool = True
    fps: float | None = 2.0
    nonref_skipped: bool = False
    width: int = 640  # decoded width (even); the height follows the aspect ratio
    threads: int = 2
    colour: bool = True  # also the two chroma planes (half size): cuts between equally bright scenes

    @property
    def label(self) -> str:
        if self.keyframes:
            return "keyframes"
        return f"rate:{self.fps:g}" if self.fps else ("references" if self.nonref_skipped else "all")


def audio_argv(ffmpeg: str, path: str, *, rate: int = AUDIO_RATE) -> list[str]:
    # `-vn` before `-i` drops the video stream at the demuxer: no video packet reaches a decoder.
    return [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-vn", "-sn", "-dn", "-i", path,
        "-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-c:a", "pcm_s16le", "-f", "s16le", "pipe:1",
    ]


def frames_argv(
    ffmpeg: str, path: str, sampling: FrameSampling, *, start: float | None = None, duration: float | None = None
) -> list[str]:
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "info", "-threads", str(sampling.threads)]
    if sampling.keyframes:
        argv += ["-skip_frame", "nokey"]
    elif sampling.nonref_skipped:
        argv += ["-skip_frame", "noref"]
    if start is not None:
        argv += ["-ss", f"{start:.3f}"]
    if duration is not None:
        argv += ["-t", f"{duration:.3f}"]
    chain = []
    if sampling.fps and not sampling.keyframes:
        # `select` on the frame's own time, not `fps`: fps relabels each frame with the nearest tick of its
        # grid (the frame at 160.73 s came out as 160.5 s), select keeps the source time. The 0.95 keeps
        # float rounding of the frame times from skipping a frame now and then.
        gap = 0.95 / sampling.fps
        chain.append(f"select='isnan(prev_selected_t)+gte(t-prev_selected_t,{gap:.4f})'")
    # showinfo last: it reports the time of exactly the frames written to the pipe.
    pix_fmt = "yuv420p" if sampling.colour else "gray"
    chain += [f"scale={sampling.width}:-2:flags=area", f"format={pix_fmt}", "showinfo"]
    argv += [
        "-an", "-sn", "-dn", "-i", path, "-map", "0:v:0", "-vf", ",".join(chain),
        "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", pix_fmt, "pipe:1",
    ]
    return argv


class _Pipe:
    """An ffmpeg child in its own process group whose stderr is drained by a thread."""

    def __init__(
        self,
        argv: list[str],
        *,
        on_stderr_line: Callable[[str], bool] | None = None,
        on_stderr_end: Callable[[], None] | None = None,
    ) -> None:
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                process_group=0, bufsize=0,
            )
        except FileNotFoundError as e:
            raise FfmpegNotFound(str(e)) from e
        self.tail: deque[str] = deque(maxlen=30)
        self._on_line = on_stderr_line
        self._on_end = on_stderr_end
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        try:
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                # The callback says whether it consumed the line; everything else is kept for the error.
                # (It must not reach for the _Pipe: this thread starts before the constructor returns.)
                if self._on_line is None or not self._on_line(line):
                    self.tail.append(line)
        finally:  # even if a callback failed: whoever waits for lines must learn there are no more
            if self._on_end is not None:
                self._on_end()

    def read_exact(self, n: int) -> bytes:
        assert self.proc.stdout is not None
        chunks, got = [], 0
        while got < n:
            chunk = self.proc.stdout.read(n - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def close(self, *, check: bool) -> None:
        if self.proc.poll() is None and not check:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        code = self.proc.wait()
        self._reader.join(timeout=5)
        if check and code != 0:
            raise FfmpegFailed(code, "\n".join(self.tail))


def iter_audio(ffmpeg: str, path: str | Path, *, chunk_seconds: float = 30.0, rate: int = AUDIO_RATE) -> Iterator[np.ndarray]:
    """Mono int16 samples in chunks of `chunk_seconds` (the last one shorter); memory stays bounded."""
    pipe = _Pipe(audio_argv(ffmpeg, str(path), rate=rate))
    size = int(chunk_seconds * rate) * 2
    ok = False
    try:
        while True:
            data = pipe.read_exact(size)
            if not data:
                break
            yield np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")
        ok = True
    finally:
        pipe.close(check=ok)


def iter_frames(
    ffmpeg: str,
    path: str | Path,
    sampling: FrameSampling,
    *,
    start: float | None = None,
    duration: float | None = None,
) -> Iterator[tuple[float, np.ndarray, np.ndarray | None]]:
    """(time in source seconds, luma HxW uint8, chroma 2x(H/2)x(W/2) uint8 or None when `sampling.colour`
    is off) for each sampled frame, in order, upright.

    Each frame's size comes from its showinfo line (printed before the frame is written), so a rotated
    phone recording (ffmpeg turns it upright) or an odd sample aspect ratio needs no arithmetic here."""
    frames: queue.Queue[tuple[float, int, int] | None] = queue.Queue()  # None: ffmpeg said all it will

    def on_line(line: str) -> bool:
        m = _PTS.search(line)
        if m is None:
            return False
        size = _SIZE.search(line)
        if size is not None:
            frames.put((float(m.group(3)), int(size.group(1)), int(size.group(2))))
        return size is not None

    pipe = _Pipe(
        frames_argv(ffmpeg, str(path), sampling, start=start, duration=duration),
        on_stderr_line=on_line,
        on_stderr_end=lambda: frames.put(None),
    )
    offset = start or 0.0  # with -ss before -i, output timestamps start again at 0
    ok = False
    try:
        while True:
            announced = frames.get()
            if announced is None:
                break
            t, width, height = announced
            luma = width * height
            size = luma + 2 * (width // 2) * (height // 2) if sampling.colour else luma
            data = pipe.read_exact(size)
            if len(data) < size:
                break
            pixels = np.frombuffer(data, dtype=np.uint8)
            grey = pixels[:luma].reshape(height, width)
            chroma = pixels[luma:].reshape(2, height // 2, width // 2) if sampling.colour else None
            yield offset + t, grey, chroma
        ok = True
    finally:
        pipe.close(check=ok)


def keyframe_gaps(path: str | Path, *, seconds: float = 60.0) -> list[float]:
    """Gaps between the video keyframes of the first `seconds` (demuxed only, nothing decoded)."""
    import av  # PyAV: a demux-only walk over packet flags, no ffprobe binary needed

    times: list[float] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        tb = float(stream.time_base or 0)
        first: float | None = None
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            t = packet.pts * tb
            first = t if first is None else first
            if t - first > seconds:
                break
            if packet.is_keyframe:
                times.append(t)
    times.sort()
    return [b - a for a, b in zip(times, times[1:], strict=False)]
