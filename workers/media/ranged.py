"""A media file read by byte ranges where it is stored (object storage, a local store), for decoders that
seek: a few frames of a two-hour recording cost a few ranged reads, not a copy of the recording.

The reader is a callable `(start, end_inclusive) -> bytes`, so this library knows nothing of the storage
that answers it (workers/media imports nothing from backend).
"""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from workers.media.source import FORMAT_WHITELIST, PROTOCOL_WHITELIST, MediaSource

BLOCK = 1 << 20  # bytes per ranged read: a 1080p keyframe and its neighbours in one or two requests
BLOCKS_KEPT = 16

ReadRange = Callable[[int, int], bytes]


class RangedFile(io.RawIOBase):
    """A read-only, seekable view of `size` bytes fetched in aligned blocks through `read_range`, the
    newest few blocks kept (a demuxer reads its index and then each keyframe's neighbourhood)."""

    def __init__(self, read_range: ReadRange, size: int, *, block: int = BLOCK, blocks_kept: int = BLOCKS_KEPT) -> None:
        super().__init__()
        self._read_range, self._size, self._block, self._kept = read_range, size, block, blocks_kept
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._pos = 0
        self.bytes_fetched = 0
        self.requests = 0

    def readable(self) -> bool:
        return True

    seekable = readable

    def _get(self, index: int) -> bytes:
        data = self._blocks.get(index)
        if data is None:
            start = index * self._block
            end = min(start + self._block, self._size) - 1
            data = self._read_range(start, end)
            if len(data) != end - start + 1:
                raise OSError(f"ranged read {start}-{end} returned {len(data)} bytes")
            self.bytes_fetched += len(data)
            self.requests += 1
            self._blocks[index] = data
            while len(self._blocks) > self._kept:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(index)
        return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._size - self._pos)
        done = 0
        while done < want:
            index, offset = divmod(self._pos, self._block)
            data = self._get(index)
            n = min(want - done, len(data) - offset)
            view[done : done + n] = data[offset : offset + n]
            done += n
            self._pos += n
        return done

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the file")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos


@dataclass(frozen=True)
class RangedSource(MediaSource):
    """What the preview makers read (`frames_at`), from ranged reads instead of a path; `path` is a label
    only (the stored name, for messages and the demuxer's probe by extension)."""

    read_range: ReadRange | None = field(default=None, compare=False)
    length: int = 0
    block: int = BLOCK
    files: list[RangedFile] = field(default_factory=list, compare=False)  # opened so far, for accounting

    @property
    def size(self) -> int:
        return self.length

    def _file(self) -> RangedFile:
        assert self.read_range is not None
        f = RangedFile(self.read_range, self.length, block=self.block)
        self.files.append(f)
        return f

    def open(self) -> IO[bytes]:
        return io.BufferedReader(self._file(), buffer_size=64 * 1024)

    @contextmanager
    def open_av(self, *, metadata_errors: str = "strict", **container_options: str) -> Iterator[Any]:
        import av

        options = {**container_options, "format_whitelist": FORMAT_WHITELIST, "protocol_whitelist": PROTOCOL_WHITELIST}
        with (
            self._file() as raw,
            av.open(raw, buffer_size=256 * 1024, container_options=options, metadata_errors=metadata_errors) as container,
        ):
            yield container

    @property
    def bytes_fetched(self) -> int:
        return sum(f.bytes_fetched for f in self.files)
