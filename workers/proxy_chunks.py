"""The chunked proxy workflow (proxy queue): a Celery chord of one task per chunk of the video and one for
the audio, then the join (workers.media.chunked does the media work).

- Any worker takes any chunk: a chunk task reads the original by range (`Storage.reader_url`: a
  presigned URL, or the local file) and writes its piece to storage under a deterministic key, so
  the join may run on another machine. Running a chunk twice writes the same key (a piece already
  stored is not encoded again).
- A lost worker costs only its chunk: tasks are acks_late + reject_on_worker_lost, so a chunk whose
  worker died is delivered again (at once when a pool process dies; after the broker's visibility
  timeout when the whole machine does) and runs on another worker.
- The join is the chord's body: Celery runs it once every chunk and the audio have a result (the
  result backend counts them). It still checks that every piece is in storage and waits for any that
  is not (a chunk counted twice after a redelivery must not start the join early).
- Cancel is Celery's: every task of the workflow is revoked (queued ones never start) and aborted
  (`AbortableTask`: the state is in the result backend; a running chunk sees it and kills ffmpeg).
- No orphans: the join deletes the pieces once the proxy is stored; a failed or cancelled workflow
  deletes them too.

Storage keys are deterministic (`proxy-chunks/<material>-<plan>/chunk-<n>.mp4`); the tasks of one run
of the workflow are saved as a Celery GroupResult under the workflow's id (`proxy-<material>-<plan>`),
so a material's running workflow is found from its id alone (to cancel it, or not to start it twice).
A run that ended (joined, failed, cancelled) is replaced by a new run, with new task ids.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import Celery, chord, group, states
from celery.contrib.abortable import ABORTED, AbortableAsyncResult, AbortableTask
from celery.result import AsyncResult, GroupResult
from celery.signals import worker_init

from backend.config import Settings, get_settings
from backend.queue import PROXY_QUEUE
from storage import Storage, StorageError
from workers.celery_app import celery_app
from workers.media import chunked
from workers.media.facts import MediaFacts
from workers.media.proxy import PROXY_VERSION, ProxyOutputs, finish_outputs, proxy_geometry
from workers.media.run import MediaCancelled, ffmpeg_filters, ffmpeg_path, run_ffmpeg

log = logging.getLogger("reelhouse.proxy_chunks")

ENCODE_CHUNK = "reelhouse.proxy.encode_chunk"
ENCODE_AUDIO = "reelhouse.proxy.encode_chunk_audio"
JOIN_CHUNKS = "reelhouse.proxy.join_chunks"
CHUNKS_FAILED = "reelhouse.proxy.chunks_failed"
CHUNKS_PREFIX = "proxy-chunks"
# Long enough for the slowest chunk to read its whole range.
READ_URL_SECONDS = 6 * 3600
TRANSIENT = (StorageError, ConnectionError, TimeoutError)
JOIN_WAIT_SECONDS = 5
JOIN_WAIT_TRIES = 120


@dataclass(frozen=True)
class ChunkedJob:
    """One material's chunked proxy: where the original is, what it is, where the proxy goes."""

    material_id: str
    source_key: str
    output_key: str
    facts: dict[str, Any]  # the original's MediaFacts (to_dict)
    chunk_seconds: float
    owner: str = ""  # who holds the proxy's lease (the hooks record under it), if anyone

    @property
    def media(self) -> MediaFacts:
        return MediaFacts.from_dict(self.facts)

    @property
    def video(self) -> chunked.ProxyVideo:
        return chunked.ProxyVideo.of(self.media)

    @property
    def has_audio(self) -> bool:
        return bool(self.facts.get("has_audio"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkedJob:
        return cls(**data)


def plan_id(job: ChunkedJob, chunks: list[chunked.Chunk]) -> str:
    """The workflow's id: the material and a digest of what is encoded (a new plan, new keys)."""
    video = job.video
    digest = hashlib.sha256(json.dumps(
        [job.source_key, PROXY_VERSION, video.width, video.height, [video.rate.numerator, video.rate.denominator],
         [c.to_dict() for c in chunks]], sort_keys=True,
    ).encode()).hexdigest()[:12]
    return f"proxy-{job.material_id}-{digest}"


def chunk_prefix(workflow: str) -> str:
    material_and_plan = workflow.removeprefix("proxy-")
    return f"{CHUNKS_PREFIX}/{material_and_plan}/"


def chunk_key(workflow: str, index: int) -> str:
    return f"{chunk_prefix(workflow)}chunk-{index:05d}.mp4"


def audio_key(workflow: str) -> str:
    return f"{chunk_prefix(workflow)}audio.m4a"


def task_ids(run: str, count: int) -> dict[str, Any]:
    """The task ids of one run (`<workflow>.<token>`) of a workflow."""
    return {"chunks": [f"{run}:chunk:{i}" for i in range(count)], "audio": f"{run}:audio", "join": f"{run}:join"}


def workflow_of(run: str) -> str:
    return run.rsplit(".", 1)[0]


def join_result(workflow: str, app: Celery | None = None) -> AsyncResult | None:
    """The join of the workflow's latest run (its result is the proxy's summary)."""
    saved = GroupResult.restore(workflow, app=app or celery_app)
    return None if saved is None else saved.results[-1]


# --------------------------------------------------------------------------- hooks


def _store_proxy_only(job: ChunkedJob, outputs: ProxyOutputs, result: dict[str, Any]) -> bool:
    assert outputs.proxy is not None
    _storage().put_file(job.output_key, outputs.proxy, content_type="video/mp4")
    return True


@dataclass
class Hooks:
    """What the workflow tells the rest of reelhouse (workers/proxies.py sets these): progress while a
    chunk runs (the chunk's index, the chunk count, the fraction of the chunk done), the joined proxy
    with its sprite and waveform to store and record, a failure. `finished` and `failed` return False
    when the proxy is no longer this workflow's (its lease went to another attempt): the pieces are
    then left for the workflow that holds it."""

    progress: Callable[[ChunkedJob, int, int, float], None] = lambda job, index, count, fraction: None
    finished: Callable[[ChunkedJob, ProxyOutputs, dict[str, Any]], bool] = _store_proxy_only
    failed: Callable[[ChunkedJob, str, str], bool] = lambda job, code, detail: True


hooks = Hooks()


# --------------------------------------------------------------------------- starting and cancelling


def _storage() -> Storage:
    from backend.objectstore import get_storage

    return get_storage()


def plan(job: ChunkedJob, storage: Storage) -> list[chunked.Chunk]:
    """Read the original's keyframes near each cut (a few ranged reads) and plan the chunks."""
    url = storage.reader_url(job.source_key, expires=timedelta(seconds=READ_URL_SECONDS))
    timeline = chunked.read_keyframes(url, job.chunk_seconds, job.media.demuxer)
    return chunked.plan_chunks(timeline.keyframes, timeline.duration, job.video, job.chunk_seconds)


def start(job: ChunkedJob, chunks: list[chunked.Chunk], app: Celery | None = None) -> str:
    """Send the chord, unless a run of this workflow is still going. Returns the workflow's id."""
    app = app or celery_app
    workflow = plan_id(job, chunks)
    saved = GroupResult.restore(workflow, app=app)
    if saved is not None:
        join = saved.results[-1]
        if not join.ready() and not AbortableAsyncResult(join.id, app=app).is_aborted():
            return workflow  # running: a start sent twice does not start it twice
    run = f"{workflow}.{uuid.uuid4().hex[:8]}"
    ids = task_ids(run, len(chunks))
    data = job.to_dict()
    header = [encode_chunk_task.signature((data, run, c.to_dict(), len(chunks)), task_id=ids["chunks"][c.index])
              for c in chunks]
    if job.has_audio:
        header.append(encode_audio_task.signature((data, run), task_id=ids["audio"]))
    plan_data = [c.to_dict() for c in chunks]
    body = join_task.signature((data, run, plan_data), task_id=ids["join"])
    body.link_error(chunks_failed_task.signature((data, run), immutable=True))
    members = [app.AsyncResult(s.id) for s in header] + [app.AsyncResult(ids["join"])]
    GroupResult(workflow, members, app=app).save()
    chord(group(header), body).apply_async()
    log.info("proxy of %s: %d chunks sent as %s", job.material_id, len(chunks), run)
    return workflow


def cancel(workflow: str, storage: Storage | None = None, app: Celery | None = None) -> int:
    """Stop every task of a workflow's run: revoke (queued ones never start) and abort (running ones
    kill their ffmpeg), then delete its pieces. Returns how many tasks were told."""
    app = app or celery_app
    saved = GroupResult.restore(workflow, app=app)
    if saved is None:
        return 0
    ids = [r.id for r in saved.results]
    for task_id in ids:
        AbortableAsyncResult(task_id, app=app).abort()
    app.control.revoke(ids)
    (storage or _storage()).delete_prefix(chunk_prefix(workflow))
    return len(ids)


def _aborted(run: str) -> bool:
    return AbortableAsyncResult(f"{run}:join", app=celery_app).is_aborted()


# --------------------------------------------------------------------------- worker side


def _work_root(settings: Settings) -> Path:
    return settings.data_dir / "proxy-chunks"


@contextlib.contextmanager
def _workdir(settings: Settings) -> Iterator[Path]:
    """A private folder for one task, named after this process (a worker removes the folders of
    processes that no longer exist when it starts)."""
    root = _work_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_stale_workdirs(root: Path) -> list[Path]:
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for path in root.iterdir():
        pid = path.name.split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


@worker_init.connect
def _remove_stale_chunk_folders(**_: object) -> None:
    remove_stale_workdirs(_work_root(get_settings()))


class _Cancel:
    """`should_cancel` for run_ffmpeg: asks the result backend at most once a second."""

    def __init__(self, task: AbortableTask, workflow: str) -> None:
        self.task, self.workflow, self.last, self.answer = task, workflow, 0.0, False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.answer and now - self.last >= 1.0:
            self.last = now
            self.answer = self.task.is_aborted() or _aborted(self.workflow)
        return self.answer


_TASK_OPTIONS: dict[str, Any] = {
    "bind": True, "base": AbortableTask, "queue": PROXY_QUEUE, "acks_late": True, "reject_on_worker_lost": True,
    "ignore_result": False, "autoretry_for": TRANSIENT, "retry_backoff": 5, "retry_backoff_max": 120,
    "retry_jitter": True, "max_retries": 5,
}


@celery_app.task(name=ENCODE_CHUNK, **_TASK_OPTIONS)
def encode_chunk_task(self: AbortableTask, job_data: dict[str, Any], run: str, chunk_data: dict[str, Any],
                      count: int = 0) -> dict[str, Any]:
    """Encode one chunk's video and store it at its key (skipped if it is there already)."""
    job, chunk = ChunkedJob.from_dict(job_data), chunked.Chunk.from_dict(chunk_data)
    key = chunk_key(workflow_of(run), chunk.index)
    worker = self.request.hostname or "-"
    should_cancel = _Cancel(self, run)
    if should_cancel():
        return {"index": chunk.index, "key": None, "worker": worker, "cancelled": True}
    storage, settings = _storage(), get_settings()
    if storage.exists(key):
        return {"index": chunk.index, "key": key, "worker": worker, "reused": True}
    url = storage.reader_url(job.source_key, expires=timedelta(seconds=READ_URL_SECONDS))
    started = time.monotonic()
    with _workdir(settings) as tmp:
        out = tmp / "chunk.mp4"
        try:
            ffmpeg = ffmpeg_path(settings.ffmpeg_path)
            run_ffmpeg(chunked.chunk_video_argv(ffmpeg, url, job.media, chunk, str(out), ffmpeg_filters(ffmpeg)),
                       total_seconds=(chunk.frames or 1) / float(job.video.rate) if chunk.frames else job.chunk_seconds,
                       timeout=settings.render_timeout_seconds, should_cancel=should_cancel,
                       on_progress=lambda f: hooks.progress(job, chunk.index, count, f))
        except MediaCancelled:
            return {"index": chunk.index, "key": None, "worker": worker, "cancelled": True}
        storage.put_file(key, out, content_type="video/mp4", move=True)
    if _aborted(run):  # cancelled while the piece was stored: leave nothing behind
        storage.delete(key)
    seconds = time.monotonic() - started
    log.info("proxy chunk %d of %s encoded by %s in %.1fs", chunk.index, job.material_id, worker, seconds)
    return {"index": chunk.index, "key": key, "worker": worker, "seconds": round(seconds, 3)}


@celery_app.task(name=ENCODE_AUDIO, **_TASK_OPTIONS)
def encode_audio_task(self: AbortableTask, job_data: dict[str, Any], run: str) -> dict[str, Any]:
    """Encode the whole file's audio once and store it."""
    job = ChunkedJob.from_dict(job_data)
    key = audio_key(workflow_of(run))
    worker = self.request.hostname or "-"
    should_cancel = _Cancel(self, run)
    if should_cancel():
        return {"audio": None, "worker": worker, "cancelled": True}
    storage, settings = _storage(), get_settings()
    if storage.exists(key):
        return {"audio": key, "worker": worker, "reused": True}
    url = storage.reader_url(job.source_key, expires=timedelta(seconds=READ_URL_SECONDS))
    with _workdir(settings) as tmp:
        out = tmp / "audio.m4a"
        try:
            run_ffmpeg(chunked.audio_argv(ffmpeg_path(settings.ffmpeg_path), url, job.media, str(out)),
                       total_seconds=job.media.duration_s or 1.0, timeout=settings.render_timeout_seconds,
                       should_cancel=should_cancel)
        except MediaCancelled:
            return {"audio": None, "worker": worker, "cancelled": True}
        storage.put_file(key, out, content_type="audio/mp4", move=True)
    if _aborted(run):
        storage.delete(key)
    log.info("proxy audio of %s encoded by %s", job.material_id, worker)
    return {"audio": key, "worker": worker}


@celery_app.task(name=JOIN_CHUNKS, **{**_TASK_OPTIONS, "max_retries": JOIN_WAIT_TRIES})
def join_task(self: AbortableTask, results: list[dict[str, Any]], job_data: dict[str, Any], run: str,
              plan_data: list[dict[str, Any]]) -> dict[str, Any]:
    """Join the stored pieces into the proxy, validate it, store it, record it, delete the pieces."""
    job = ChunkedJob.from_dict(job_data)
    workflow = workflow_of(run)
    chunks = [chunked.Chunk.from_dict(c) for c in plan_data]
    storage, settings = _storage(), get_settings()
    prefix = chunk_prefix(workflow)
    if self.is_aborted() or any(r.get("cancelled") for r in results if isinstance(r, dict)):
        storage.delete_prefix(prefix)
        return {"status": "cancelled"}
    keys = [chunk_key(workflow, c.index) for c in chunks]
    wanted = keys + ([audio_key(workflow)] if job.has_audio else [])
    missing = [k for k in wanted if not storage.exists(k)]
    if missing:
        if storage.exists(job.output_key) and len(missing) == len(wanted):
            return {"status": "joined", "key": job.output_key}  # a redelivered join after it finished
        # Counted as done but not stored yet (a chunk delivered twice): wait for it.
        raise self.retry(countdown=JOIN_WAIT_SECONDS, exc=chunked.ChunkJoinInvalid(f"missing pieces {missing}"))
    ffmpeg = ffmpeg_path(settings.ffmpeg_path)
    started = time.monotonic()
    with _workdir(settings) as tmp:
        files = []
        for key in keys:
            path = tmp / key.rsplit("/", 1)[1]
            storage.download_to(key, path)
            files.append(path)
        audio = None
        if job.has_audio:
            audio = tmp / "audio.m4a"
            storage.download_to(audio_key(workflow), audio)
        listing = tmp / "chunks.ffconcat"
        listing.write_text(chunked.concat_list([p.name for p in files]), encoding="utf-8")
        out = tmp / "proxy.mp4"
        run_ffmpeg(chunked.join_argv(ffmpeg, str(listing), str(audio) if audio else None, job.video, str(out)),
                   total_seconds=1.0, timeout=settings.render_timeout_seconds)
        report = chunked.measure_join(str(out), job.video, [c.first_frame for c in chunks[1:]])
        expected = sum(c.frames or 0 for c in chunks[:-1]) + chunked.chunk_frames(str(files[-1]))
        chunked.validate_join(report, job.video, chunks, expected,
                              chunked.media_duration(str(audio)) if audio else None)
        # The sprite and the waveform, from the joined proxy (one decode of a small file).
        extras = tmp / "extras"
        extras.mkdir()
        argv, source_facts, targets = chunked.extras_argv(ffmpeg, str(out), job.media, extras, ffmpeg_filters(ffmpeg))
        run_ffmpeg(argv, total_seconds=job.media.duration_s or 1.0, timeout=settings.render_timeout_seconds)
        outputs = replace(finish_outputs(source_facts, targets, extras,
                                         elapsed_s=time.monotonic() - started),
                          proxy=out, geometry=proxy_geometry(job.media))
        result = {
            "status": "joined", "key": job.output_key, "frames": report.frames,
            "duration": report.video_duration, "chunks": len(chunks),
            "workers": sorted({r.get("worker", "-") for r in results if isinstance(r, dict)}),
            "join_seconds": round(time.monotonic() - started, 3),
            "av_end_offset": report.av_end_offset, "audio_gap_max": report.audio_gap_max,
        }
        recorded = hooks.finished(job, outputs, result)
    if recorded:
        storage.delete_prefix(prefix)
    log.info("proxy of %s joined from %d chunks (workers %s)", job.material_id, len(chunks), result["workers"])
    return result


def _was_cancelled(result: AsyncResult) -> bool:
    if result.state in (states.REVOKED, ABORTED):
        return True
    value = result.result if result.state == states.SUCCESS else None
    return isinstance(value, dict) and bool(value.get("cancelled"))


@celery_app.task(name=CHUNKS_FAILED, bind=True, queue=PROXY_QUEUE, autoretry_for=TRANSIENT, max_retries=5)
def chunks_failed_task(self: Any, job_data: dict[str, Any], run: str) -> str:
    """The chord failed (a chunk's media error, retries exhausted, a revoke): record it, delete the pieces."""
    job = ChunkedJob.from_dict(job_data)
    workflow = workflow_of(run)
    saved = GroupResult.restore(workflow, app=celery_app)
    if _aborted(run) or (saved is not None and any(_was_cancelled(r) for r in saved.results)):
        # Cancelled (the chord's error overwrote the join's aborted state; its tasks show it): recorded
        # as such, so that a person may ask for the proxy again.
        if hooks.failed(job, "proxy-cancelled", "the chunked encode was cancelled"):
            _storage().delete_prefix(chunk_prefix(workflow))
        return "cancelled"
    detail = "a chunk of the proxy failed"
    if saved is not None:
        errors = [str(r.result) for r in saved.results if r.failed()]
        detail = "; ".join(errors)[:2000] or detail
    if hooks.failed(job, "proxy-chunk-failed", detail):
        _storage().delete_prefix(chunk_prefix(workflow))
    return "failed"
