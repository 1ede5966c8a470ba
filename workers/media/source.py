"""A media file to read, and the only way reelhouse's decoders open one: with FFmpeg's format and
protocol whitelists set, so a file never makes FFmpeg open another name.
"""

from __future__ import annotations

import contextlib
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


@dataclass(frozen=True)
class MediaSource:
    """What the probe and the preview makers read: a complete file (`RangedSource`: one read by byte ranges)."""

    path: Path

    @classmethod
    def of(cls, source: MediaSource | Path) -> MediaSource:
        return source if isinstance(source, MediaSource) else cls(Path(source))

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def open(self) -> IO[bytes]:
        return self.path.open("rb")

    @contextlib.contextmanager
    def open_av(self, *, metadata_errors: str = "strict", **container_options: str) -> Iterator[Any]:
        """The file as a PyAV container (`container_options`: FFmpeg's format options), with only the
        allow-listed demuxers and the `file` protocol."""
        import av

        options = {**container_options, "format_whitelist": FORMAT_WHITELIST, "protocol_whitelist": PROTOCOL_WHITELIST}
        with av.open(str(self.path), container_options=options, metadata_errors=metadata_errors) as container:
            yield container
