"""A media file to read: complete on disk, or still arriving (an upload being spooled).

Reads of an arriving file wait until their bytes are on disk, and its end is where the declared size
says, so a demuxer sees exactly the bytes of the finished file: probing and decoding preview frames
during the transfer give the same result as after it (what needs the file's end waits for it).
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

# The containers reelhouse reads (FFmpeg demuxer name -> normalised name). Every untrusted file is
# opened with FFmpeg's format whitelist set to these and its protocol whitelist to `file`: a demuxer
# that reads other files (concat, HLS, image sequences) is refused before it reads its header, so a
# file never makes FFmpeg open a name written inside it.
ALLOWED_CONTAINERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": "mp4",
    "matroska,webm": "matroska",
    "mpegts": "mpegts",
    "flv": "flv",
    "avi": "avi",
    "mp3": "mp3",
    "wav": "wav",
    "ogg": "ogg",
    "flac": "flac",
    "aac": "aac",
}
FORMAT_WHITELIST = ",".join(ALLOWED_CONTAINERS)
PROTOCOL_WHITELIST = "file"
POLL_SECONDS = 0.01


class ArrivalEnded(OSError):
    """The file stopped growing before it reached its declared size (the upload broke off)."""


@dataclass(frozen=True)
class Arrival:
    """A file another process is writing, `size` bytes in all. The writer sends no progress: its
    readers watch the file grow, and stop waiting once `ended` (the read end of a pipe the writer
    holds, if given) is at its end."""

    path: Path
    size: int
    ended: int | None = None

    @property
    def available(self) -> int:
        return min(os.stat(self.path).st_size, self.size)

    def wait_for(self, offset: int) -> None:
        """Return once the bytes before `offset` (capped at the size) are on disk."""
        wanted = min(offset, self.size)
        while self.available < wanted:
            if self.ended is None:
                time.sleep(POLL_SECONDS)
            # At the pipe's end, look once more: the last bytes may have landed just before.
            elif (
                select.select([self.ended], [], [], POLL_SECONDS)[0]
                and not os.read(self.ended, 1)
                and (available := self.available) < wanted
            ):
                raise ArrivalEnded(f"the file ended at byte {available} of {self.size}")


class ArrivingFile(io.FileIO):
    """A read-only view of a growing file whose reads wait for their bytes (see `Arrival`)."""

    def __init__(self, arrival: Arrival) -> None:
        super().__init__(arrival.path)
        self.arrival = arrival

    def read(self, size: int | None = -1) -> bytes:
        self.arrival.wait_for(self.tell() + size if size is not None and size >= 0 else self.arrival.size)
        return super().read(size)

    def readinto(self, buffer: Any) -> int:
        self.arrival.wait_for(self.tell() + memoryview(buffer).nbytes)
        return super().readinto(buffer)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_END:  # where the finished file will end
            offset, whence = self.arrival.size + offset, os.SEEK_SET
        return super().seek(offset, whence)


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
        return io.BufferedReader(ArrivingFile(self.arrival), buffer_size=64 * 1024)

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
            ArrivingFile(self.arrival) as raw,
            av.open(
                raw, buffer_size=256 * 1024, container_options=options, metadata_errors=metadata_errors
            ) as container,
        ):
            yield container
