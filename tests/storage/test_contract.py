"""The storage contract: every test runs against LocalStorage and against S3Storage over HTTP."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from storage import (
    InvalidKey,
    InvalidRange,
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    Storage,
    StorageError,
)
from storage.base import MIN_PART_SIZE

MiB = 1024 * 1024
DATA = bytes(range(256)) * 40  # 10,240 bytes, every offset distinguishable enough


class StreamBroke(Exception):
    """Stands for a client that disconnects in the middle of an upload."""


class GeneratedStream:
    """A readable stream of `total` deterministic bytes, made lazily, that records its reads."""

    def __init__(
        self, total: int, *, fail_after: int | None = None, on_read: Callable[[int], None] | None = None
    ) -> None:
        self.total = total
        self.on_read = on_read
        self.position = 0
        self.fail_after = fail_after
        self.read_sizes: list[int] = []
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        self.read_sizes.append(size)
        if self.on_read is not None:
            self.on_read(self.position)
        if self.fail_after is not None and self.position >= self.fail_after:
            raise StreamBroke("client went away")
        if size is None or size < 0:
            size = self.total - self.position
        size = min(size, self.total - self.position, 256 * 1024)  # like a socket: short reads
        block, offset = divmod(self.position, 4096)
        pattern = (block.to_bytes(4, "big") * 1024)[offset:] + block.to_bytes(4, "big") * 1024 * 64
        data = pattern[:size]
        self.position += len(data)
        self.digest.update(data)
        return data


def leftovers(storage: Storage) -> list[str]:
    """What a backend holds beyond its objects: temp files, sidecars of deleted objects,
    unfinished multipart uploads. Empty after every failed or aborted write."""
    if isinstance(storage, LocalStorage):
        found = []
        for dirpath, _dirnames, filenames in os.walk(storage.root):
            for name in filenames:
                path = Path(dirpath) / name
                if name.endswith(".meta") and (path.parent / name[1:-5]).is_file():
                    continue  # the sidecar of a live object
                if name.startswith(".") or ".multipart" in path.parts:
                    found.append(str(path.relative_to(storage.root)))
        for dirpath, dirnames, _filenames in os.walk(storage.root / ".multipart"):
            found.extend(str(Path(dirpath, d).relative_to(storage.root)) for d in dirnames)
        return sorted(found)
    assert isinstance(storage, S3Storage)
    uploads = storage._client._list_multipart_uploads(storage.bucket).uploads
    return sorted(f"upload {u.object_name} {u.upload_id}" for u in uploads)


def uploaded_part_bytes(storage: S3Storage) -> int:
    """Bytes the server has already received for unfinished multipart uploads."""
    client = storage._client
    return sum(
        part.size or 0
        for upload in client._list_multipart_uploads(storage.bucket).uploads
        for part in client._list_parts(storage.bucket, upload.object_name, upload.upload_id).parts
    )


def read_all(storage: Storage, key: str, start: int = 0, end: int | None = None) -> bytes:
    with storage.open(key, start, end) as reader:
        return reader.read()


def sha256_of(storage: Storage, key: str) -> str:
    digest = hashlib.sha256()
    for chunk in storage.iter_bytes(key):
        digest.update(chunk)
    return digest.hexdigest()


# -- basics -------------------------------------------------------------------------------


def test_backend_satisfies_the_protocol(storage: Storage) -> None:
    assert isinstance(storage, Storage)
    storage.healthcheck()


def test_put_then_stat_and_read_back(storage: Storage) -> None:
    written = storage.put("materials/m1/original.mp4", io.BytesIO(DATA), content_type="video/mp4")

    assert written.key == "materials/m1/original.mp4"
    assert written.size == len(DATA)
    assert written.content_type == "video/mp4"
    assert written.etag
    stat = storage.stat("materials/m1/original.mp4")
    assert stat is not None
    assert (stat.size, stat.content_type, stat.etag) == (len(DATA), "video/mp4", written.etag)
    assert stat.modified is not None and stat.modified.tzinfo is not None
    assert abs(datetime.now(UTC) - stat.modified) < timedelta(minutes=5)
    assert storage.exists("materials/m1/original.mp4")
    assert read_all(storage, "materials/m1/original.mp4") == DATA


def test_put_with_size_reads_exactly_that_many_bytes(storage: Storage) -> None:
    stream = io.BytesIO(b"0123456789")
    assert storage.put("a/sized", stream, size=4).size == 4
    assert read_all(storage, "a/sized") == b"0123"


def test_put_empty_object(storage: Storage) -> None:
    assert storage.put("a/empty", io.BytesIO(b"")).size == 0
    assert read_all(storage, "a/empty") == b""
    assert list(storage.iter_bytes("a/empty")) == []


def test_missing_object(storage: Storage) -> None:
    assert storage.stat("a/missing") is None
    assert not storage.exists("a/missing")
    with pytest.raises(ObjectNotFound), storage.open("a/missing"):
        pass
    with pytest.raises(ObjectNotFound):
        storage.iter_bytes("a/missing")  # raised at call time, before a response starts


def test_overwrite_replaces_content_and_type(storage: Storage) -> None:
    first = storage.put("a/k", io.BytesIO(b"first version"), content_type="text/plain")
    second = storage.put("a/k", io.BytesIO(b"second"), content_type="application/json")

    assert read_all(storage, "a/k") == b"second"
    stat = storage.stat("a/k")
    assert stat is not None
    assert (stat.size, stat.content_type) == (6, "application/json")
    assert second.etag != first.etag


# -- ranges -------------------------------------------------------------------------------

RANGES = {
    "whole": (0, None),
    "first-byte": (0, 0),
    "middle": (1000, 1999),
    "last-byte": (len(DATA) - 1, len(DATA) - 1),
    "suffix": (len(DATA) - 100, None),
    "end-clamped": (len(DATA) - 5, len(DATA) + 1000),
}


@pytest.mark.parametrize(("start", "end"), list(RANGES.values()), ids=list(RANGES))
def test_byte_ranges_are_inclusive_like_http(storage: Storage, start: int, end: int | None) -> None:
    storage.put("a/ranged", io.BytesIO(DATA))
    expected = DATA[start : None if end is None else end + 1]

    assert read_all(storage, "a/ranged", start, end) == expected
    assert b"".join(storage.iter_bytes("a/ranged", start, end, chunk_size=333)) == expected


def test_open_reads_in_pieces(storage: Storage) -> None:
    storage.put("a/pieces", io.BytesIO(DATA))
    with storage.open("a/pieces", 10, 2009) as reader:
        pieces = [reader.read(700), reader.read(700), reader.read(700), reader.read(700)]
    assert pieces[0] == DATA[10:710]
    assert b"".join(pieces) == DATA[10:2010]
    assert pieces[-1] == b""


@pytest.mark.parametrize(("start", "end"), [(len(DATA), None), (len(DATA) + 10, len(DATA) + 20)])
def test_range_starting_past_the_end_is_invalid(storage: Storage, start: int, end: int | None) -> None:
    storage.put("a/short", io.BytesIO(DATA))
    with pytest.raises(InvalidRange), storage.open("a/short", start, end):
        pass


@pytest.mark.parametrize(("start", "end"), [(-1, None), (10, 9)])
def test_malformed_ranges_are_rejected(storage: Storage, start: int, end: int | None) -> None:
    storage.put("a/any", io.BytesIO(DATA))
    with pytest.raises(InvalidRange), storage.open("a/any", start, end):
        pass


def test_iter_bytes_yields_chunks_of_the_requested_size(storage: Storage) -> None:
    storage.put("a/chunked", io.BytesIO(DATA[:2500]))
    chunks = list(storage.iter_bytes("a/chunked", chunk_size=1000))
    assert b"".join(chunks) == DATA[:2500]
    assert [len(c) for c in chunks[:2]] == [1000, 1000]


def test_abandoned_iterator_can_be_closed(storage: Storage) -> None:
    storage.put("a/abandoned", io.BytesIO(DATA))
    chunks = storage.iter_bytes("a/abandoned", chunk_size=100)
    assert next(chunks) == DATA[:100]
    chunks.close()  # type: ignore[attr-defined]
    assert list(chunks) == []


# -- atomic writes ------------------------------------------------------------------------


@pytest.mark.parametrize("fail_after", [64 * 1024, 12 * MiB], ids=["small", "past-first-part"])
def test_failed_put_leaves_nothing_behind(storage: Storage, fail_after: int) -> None:
    stream = GeneratedStream(32 * MiB, fail_after=fail_after)
    with pytest.raises(StreamBroke):
        storage.put("a/broken", stream)  # type: ignore[arg-type]

    assert storage.stat("a/broken") is None
    assert leftovers(storage) == []


def test_failed_overwrite_keeps_the_previous_object(storage: Storage) -> None:
    storage.put("a/kept", io.BytesIO(b"previous"), content_type="text/plain")
    with pytest.raises(StreamBroke):
        storage.put("a/kept", GeneratedStream(1 * MiB, fail_after=1000))  # type: ignore[arg-type]

    assert read_all(storage, "a/kept") == b"previous"
    assert leftovers(storage) == []


def test_stream_shorter_than_declared_size_fails(storage: Storage) -> None:
    with pytest.raises(StorageError):
        storage.put("a/short", io.BytesIO(b"12345"), size=10)
    assert storage.stat("a/short") is None
    assert leftovers(storage) == []


def test_large_put_streams_without_holding_the_object(storage: Storage) -> None:
    total = 64 * MiB
    # The S3 test server runs in this process, so its buffers would count in any memory
    # figure; for S3 check instead that parts reach the server while the stream is read.
    in_flight: list[int] = []

    def record_unsent_bytes(position: int) -> None:
        if isinstance(storage, S3Storage) and position >= 40 * MiB and not in_flight:
            in_flight.append(position - uploaded_part_bytes(storage))

    stream = GeneratedStream(total, on_read=record_unsent_bytes)
    tracemalloc.start()
    try:
        written = storage.put("renditions/r1/large.mp4", stream, content_type="video/mp4")  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert written.size == total
    assert stream.position == total
    # Consumed in bounded reads, never "read everything".
    assert all(0 < size <= 16 * MiB + 1 for size in stream.read_sizes)
    assert len(stream.read_sizes) > 64
    if isinstance(storage, LocalStorage):
        assert peak < 48 * MiB, f"put held {peak / MiB:.1f} MiB"
    else:
        # Read but not yet on the server: at most the parts being read and uploaded.
        assert in_flight and in_flight[0] <= 32 * MiB, f"{in_flight[0] / MiB:.1f} MiB read ahead"
    assert sha256_of(storage, "renditions/r1/large.mp4") == stream.digest.hexdigest()


# -- files --------------------------------------------------------------------------------


def test_put_file_copies_and_keeps_the_source(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "render.mp4"
    source.write_bytes(DATA)

    stat = storage.put_file("renditions/r1/out.mp4", source, content_type="video/mp4")

    assert (stat.size, stat.content_type) == (len(DATA), "video/mp4")
    assert read_all(storage, "renditions/r1/out.mp4") == DATA
    assert source.read_bytes() == DATA


def test_put_file_move_consumes_the_source(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "render.mp4"
    source.write_bytes(DATA)

    stat = storage.put_file("renditions/r1/moved.mp4", source, content_type="video/mp4", move=True)

    assert (stat.size, stat.content_type) == (len(DATA), "video/mp4")
    assert read_all(storage, "renditions/r1/moved.mp4") == DATA
    assert not source.exists()


def test_put_file_of_a_missing_file(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        storage.put_file("a/none", tmp_path / "absent.mp4")


def test_download_to_writes_a_local_copy(storage: Storage, tmp_path: Path) -> None:
    storage.put("materials/m1/original.mp4", io.BytesIO(DATA), content_type="video/mp4")
    target = tmp_path / "work" / "input.mp4"

    stat = storage.download_to("materials/m1/original.mp4", target)

    assert target.read_bytes() == DATA
    assert stat.size == len(DATA)
    assert sorted(p.name for p in target.parent.iterdir()) == ["input.mp4"]


def test_download_of_a_missing_object_creates_nothing(storage: Storage, tmp_path: Path) -> None:
    target = tmp_path / "input.mp4"
    with pytest.raises(ObjectNotFound):
        storage.download_to("a/missing", target)
    assert not target.exists()


# -- deleting -----------------------------------------------------------------------------


def test_delete_is_idempotent(storage: Storage) -> None:
    storage.put("a/gone", io.BytesIO(b"x"))
    storage.delete("a/gone")
    storage.delete("a/gone")
    storage.delete("a/never-existed")
    assert storage.stat("a/gone") is None


def test_delete_prefix_matches_key_prefixes(storage: Storage) -> None:
    keys = ["materials/1/a", "materials/1/b/c", "materials/10/x", "materials/2/a", "other"]
    for key in keys:
        storage.put(key, io.BytesIO(key.encode()))

    assert storage.delete_prefix("materials/1/") == 2
    assert [k for k in keys if storage.exists(k)] == ["materials/10/x", "materials/2/a", "other"]
    assert storage.delete_prefix("materials/1") == 1
    assert storage.delete_prefix("materials/1") == 0
    assert [k for k in keys if storage.exists(k)] == ["materials/2/a", "other"]
    assert leftovers(storage) == []


# -- keys ---------------------------------------------------------------------------------

BAD_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "a/../../b",
    "..",
    "a/..",
    "a\\b",
    "a\x00b",
    "a b",
    "a//b",
    "a/",
    ".hidden",
    "a/.multipart",
    "成片.mp4",
    "a?b",
    "a" * 1025,
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_invalid_keys_are_rejected_everywhere(storage: Storage, key: str, tmp_path: Path) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"x")
    calls = [
        lambda: storage.put(key, io.BytesIO(b"x")),
        lambda: storage.put_file(key, source),
        lambda: storage.stat(key),
        lambda: storage.exists(key),
        lambda: storage.delete(key),
        lambda: storage.iter_bytes(key),
        lambda: storage.presigned_url(key, expires=timedelta(minutes=1)),
        lambda: storage.download_to(key, tmp_path / "out"),
        lambda: storage.multipart_start(key),
    ]
    for call in calls:
        with pytest.raises(InvalidKey):
            call()
    with pytest.raises(InvalidKey), storage.open(key):
        pass
    assert source.exists()


@pytest.mark.parametrize("prefix", ["", "/", "../", "a//", ".multipart/"])
def test_invalid_prefixes_are_rejected(storage: Storage, prefix: str) -> None:
    with pytest.raises(InvalidKey):
        storage.delete_prefix(prefix)


def test_invalid_key_is_a_value_error_and_a_storage_error() -> None:
    assert issubclass(InvalidKey, ValueError) and issubclass(InvalidKey, StorageError)
    assert issubclass(ObjectNotFound, StorageError)


# -- presigned URLs -----------------------------------------------------------------------


def test_presigned_url_downloads_with_range(storage: Storage) -> None:
    storage.put("renditions/r1/douyin.mp4", io.BytesIO(DATA), content_type="video/mp4")

    url = storage.presigned_url(
        "renditions/r1/douyin.mp4",
        expires=timedelta(minutes=10),
        filename="成片 抖音 v2.mp4",
        content_type="video/mp4",
    )

    if isinstance(storage, LocalStorage):
        assert url is None  # the API serves local objects itself
        return
    assert url is not None
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.content == DATA
    assert whole.headers["content-type"] == "video/mp4"
    disposition = whole.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E6%88%90%E7%89%87%20%E6%8A%96%E9%9F%B3%20v2.mp4" in disposition
    ranged = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206
    assert ranged.content == DATA[100:200]
    assert ranged.headers["content-range"] == f"bytes 100-199/{len(DATA)}"


# -- multipart (resumable uploads) --------------------------------------------------------


def test_multipart_upload_joins_parts_in_order(storage: Storage, tmp_path: Path) -> None:
    first = bytes([1]) * MIN_PART_SIZE
    second = bytes([2]) * MIN_PART_SIZE
    last = b"the end"
    second_file = tmp_path / "part-2"
    second_file.write_bytes(second)

    upload_id = storage.multipart_start("uploads/u1/original.mov", content_type="video/quicktime")
    etag_1 = storage.multipart_put_part("uploads/u1/original.mov", upload_id, 1, io.BytesIO(b"retry me"), 8)
    etag_1 = storage.multipart_put_part(  # a re-sent part replaces the earlier one
        "uploads/u1/original.mov", upload_id, 1, io.BytesIO(first), len(first)
    )
    etag_2 = storage.multipart_put_part("uploads/u1/original.mov", upload_id, 2, second_file, len(second))
    etag_3 = storage.multipart_put_part("uploads/u1/original.mov", upload_id, 3, io.BytesIO(last), len(last))
    assert storage.stat("uploads/u1/original.mov") is None  # nothing visible before completion

    stat = storage.multipart_complete(
        "uploads/u1/original.mov", upload_id, [(1, etag_1), (2, etag_2), (3, etag_3)]
    )

    assert stat.size == len(first) + len(second) + len(last)
    assert stat.content_type == "video/quicktime"
    assert sha256_of(storage, "uploads/u1/original.mov") == hashlib.sha256(first + second + last).hexdigest()
    assert read_all(storage, "uploads/u1/original.mov", stat.size - 8, None) == bytes([2]) + last
    assert leftovers(storage) == []


def test_multipart_single_small_part(storage: Storage) -> None:
    upload_id = storage.multipart_start("uploads/u2/tiny.mp4")
    etag = storage.multipart_put_part("uploads/u2/tiny.mp4", upload_id, 1, io.BytesIO(b"tiny"), 4)
    assert storage.multipart_complete("uploads/u2/tiny.mp4", upload_id, [(1, etag)]).size == 4
    assert read_all(storage, "uploads/u2/tiny.mp4") == b"tiny"


def test_multipart_abort_discards_everything(storage: Storage) -> None:
    upload_id = storage.multipart_start("uploads/u3/abandoned.mp4")
    etag = storage.multipart_put_part("uploads/u3/abandoned.mp4", upload_id, 1, io.BytesIO(b"x" * 100), 100)

    storage.multipart_abort("uploads/u3/abandoned.mp4", upload_id)
    storage.multipart_abort("uploads/u3/abandoned.mp4", upload_id)

    assert storage.stat("uploads/u3/abandoned.mp4") is None
    assert leftovers(storage) == []
    with pytest.raises(StorageError):
        storage.multipart_complete("uploads/u3/abandoned.mp4", upload_id, [(1, etag)])
    assert storage.stat("uploads/u3/abandoned.mp4") is None


def test_multipart_rejects_small_parts_before_the_last(storage: Storage) -> None:
    upload_id = storage.multipart_start("uploads/u4/x.mp4")
    etags = [
        storage.multipart_put_part("uploads/u4/x.mp4", upload_id, n, io.BytesIO(b"small"), 5) for n in (1, 2)
    ]
    with pytest.raises(StorageError):
        storage.multipart_complete("uploads/u4/x.mp4", upload_id, [(1, etags[0]), (2, etags[1])])
    assert storage.stat("uploads/u4/x.mp4") is None
    storage.multipart_abort("uploads/u4/x.mp4", upload_id)
    assert leftovers(storage) == []


def test_multipart_rejects_a_wrong_etag(storage: Storage) -> None:
    upload_id = storage.multipart_start("uploads/u5/x.mp4")
    storage.multipart_put_part("uploads/u5/x.mp4", upload_id, 1, io.BytesIO(b"data"), 4)
    with pytest.raises(StorageError):
        storage.multipart_complete("uploads/u5/x.mp4", upload_id, [(1, "0" * 32)])
    assert storage.stat("uploads/u5/x.mp4") is None
    storage.multipart_abort("uploads/u5/x.mp4", upload_id)


def test_multipart_part_shorter_than_declared_fails(storage: Storage) -> None:
    upload_id = storage.multipart_start("uploads/u6/x.mp4")
    with pytest.raises(StorageError):
        storage.multipart_put_part("uploads/u6/x.mp4", upload_id, 1, io.BytesIO(b"abc"), 10)
    storage.multipart_abort("uploads/u6/x.mp4", upload_id)
    assert leftovers(storage) == []


def test_multipart_unknown_upload(storage: Storage) -> None:
    # S3 and MinIO answer NoSuchUpload (ObjectNotFound); the moto test server answers a 500.
    with pytest.raises(StorageError):
        storage.multipart_put_part(
            "uploads/u7/x.mp4", "0123456789abcdef0123456789abcdef", 1, io.BytesIO(b"a"), 1
        )
    storage.multipart_abort("uploads/u7/x.mp4", "0123456789abcdef0123456789abcdef")


@pytest.mark.parametrize("part_number", [0, 10_001])
def test_multipart_part_numbers_are_bounded(storage: Storage, part_number: int) -> None:
    upload_id = storage.multipart_start("uploads/u8/x.mp4")
    with pytest.raises(ValueError):
        storage.multipart_put_part("uploads/u8/x.mp4", upload_id, part_number, io.BytesIO(b"a"), 1)
    storage.multipart_abort("uploads/u8/x.mp4", upload_id)


# -- health -------------------------------------------------------------------------------


def test_healthcheck_fails_when_the_bucket_or_root_is_missing(storage: Storage, tmp_path: Path) -> None:
    broken: Storage
    if isinstance(storage, LocalStorage):
        broken = LocalStorage(tmp_path / "not-created")
    else:
        assert isinstance(storage, S3Storage)
        broken = S3Storage(
            storage.endpoint, "reelhouse-test", "reelhouse-test-secret", "no-such-bucket", secure=False
        )
    with pytest.raises(StorageError):
        broken.healthcheck()
    broken.ensure_bucket()
    broken.healthcheck()
    if isinstance(broken, S3Storage):
        broken._client.remove_bucket(broken.bucket)


def test_reader_url_is_what_ffmpeg_reads_by_range(storage: Storage, small_clip: Path) -> None:
    """A worker reads a stretch of a long original where it lies: PyAV (FFmpeg) opens the URL or
    path, seeks and reads a frame, without the object being copied first."""
    import av

    storage.put_file("originals/clip.mp4", small_clip)
    where = storage.reader_url("originals/clip.mp4", expires=timedelta(minutes=5))
    with av.open(where, options={"protocol_whitelist": "file,http,https,tcp,tls"}) as container:
        stream = container.streams.video[0]
        container.seek(int(1 / stream.time_base), stream=stream)  # type: ignore[operator]
        assert next(container.decode(stream)).pts is not None
    if isinstance(storage, LocalStorage):  # (a presigned URL is signed without asking the server)
        with pytest.raises(ObjectNotFound):
            storage.reader_url("originals/missing.mp4", expires=timedelta(minutes=5))
