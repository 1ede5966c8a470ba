"""A media file to read: complete on disk, or still arriving (an upload being spooled).

Reads of an arriving file wait until their bytes are on disk, and its end is where the declared size
says, so a demuxer sees exactly the bytes of the finished file: probing and decoding preview frames
during the transfer give the same result as after it (what needs the file's end waits for it).
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

# The containers reelhouse reads (FFmpeg demuxer name -> normalised name). Every untrusted file is
# opened with FFmpeg's format whitelist set to these and its protocol whitelist to `file`: a demuxer
# that reads other files (concat, HLS, image sequences) is refused before it reads its header, so a
# file never makes FFmpeg open a name written inside it.
ALLOWED_CONTAINERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": "mp4", "matroska,webm": "matroska", "mpegts": "mpegts", "flv": "flv", "avi": "avi",
    "mp3": "mp3", "wav": "wav", "ogg": "ogg", "flac": "flac", "aac": "aac",
}
FORMAT_WHITELIST = ",".join(ALLOWED_CONTAINERS)
PROTOCOL_WHITELIST = "file"


class ArrivalEnded(OSError):
    """The file stopped growing before it reached its declared size (the upload broke off)."""


class Arrival:
    """How much of a growing file is on disk: `size` bytes in all, `available` so far. The writer
    reports progress with `advance`, and `end` when it will report no more; readers `wait_for`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.available = 0
        self._ended = False
        self._changed = threading.Condition()

    def advance(self, available: int) -> None:
        with self._changed:
            self.available = max(self.available, min(available, self.size))
            self._changed.notify_all()

    def end(self) -> None:
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for(self, offset: int) -> None:
        """Return once the bytes before `offset` (capped at the size) are on disk."""
        wanted = min(offset, self.size)
        with self._changed:
            while self.available < wanted:
                if self._ended:
                    raise ArrivalEnded(f"the file ended at byte {self.available} of {self.size}")
                self._changed.wait()

    def follow_lines(self, lines: IO[str]) -> None:
        """Advance from a stream of lines (in a thread), each a count of bytes on disk; its end ends the arrival."""

        def run() -> None:
            with contextlib.suppress(ValueError, OSError):
                for line in lines:
                    self.advance(int(line))
            self.end()

        threading.Thread(target=run, name="arrival", daemon=True).start()


class ArrivingFile(io.RawIOBase):
    """A read-only view of a growing file whose reads wait for their bytes (see `Arrival`)."""

    def __init__(self, path: Path, arrival: Arrival) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._arrival = arrival
        self._pos = 0

    def readable(self) -> bool:
        return True

    seekable = readable

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._arrival.size - self._pos)
        if want <= 0:
            return 0
        self._arrival.wait_for(self._pos + want)
        got = os.preadv(self._fd, [view[:want]], self._pos)
        self._pos += got
        return got

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._arrival.size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the file")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()


@dataclass(frozen=True)
class MediaSource:
    """What the probe and the preview makers read: a path, and the arrival if it is still growing."""

    path: Path
    arrival: Arrival | None = None

    @classmethod
    def of(cls, source: MediaSource | Path) -> MediaSource:
        return source if isinstance(source, MediaSource) else cls(Path(source))

    @property
    def size(self) -> int:
        return self.arrival.size if self.arrival else self.path.stat().st_size

    def open(self) -> IO[bytes]:
        if self.arrival is None:
            return self.path.open("rb")
        return io.BufferedReader(ArrivingFile(self.path, self.arrival), buffer_size=64 * 1024)

    def wait_complete(self) -> None:
        if self.arrival is not None:
            self.arrival.wait_for(self.arrival.size)

    @contextlib.contextmanager
    def open_av(self, *, metadata_errors: str = "strict", **container_options: str) -> Iterator[Any]:
        """The file as a PyAV container (`container_options`: FFmpeg's format options), with only the
        allow-listed demuxers and the `file` protocol: by name when complete (FFmpeg does its own I/O),
        else through an `ArrivingFile` (which PyAV does not close: closed here after the container)."""
        import av

        options = {**container_options, "format_whitelist": FORMAT_WHITELIST, "protocol_whitelist": PROTOCOL_WHITELIST}
        if self.arrival is None:
            with av.open(str(self.path), container_options=options, metadata_errors=metadata_errors) as container:
                yield container
            return
        # Reads go straight to the file object: PyAV's buffer is the largest read it asks for.
        with (
            ArrivingFile(self.path, self.arrival) as raw,
            av.open(raw, buffer_size=256 * 1024, container_options=options, metadata_errors=metadata_errors) as container,
        ):
            yield container
