"""The proxy task (proxy queue): claim the material's proxy row, fetch the original, encode the proxy,
sprite and waveform (workers.media.proxy), store them at the proxy's fixed keys and mark it ready.
Idempotent: a finished proxy or one leased by a live worker is left alone; a lost worker's lease
expires and the sweep sends it again. Media errors fail the proxy without retry; a database or
storage outage gives the lease back and retries.

A video longer than REELHOUSE_PROXY_CHUNK_THRESHOLD_SECONDS is not fetched here: the task plans its
chunks and sends the chunked workflow (workers/proxy_chunks.py), whose join stores the outputs with
`store_outputs` and records them under the workflow's lease (the hooks installed below)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from backend.config import Settings, get_settings
from backend.db import session_scope
from backend.errors import AppError
from backend.objectstore import get_storage
from backend.proxies import service as proxies
from backend.proxies.models import Proxy
from backend.queue import CANCEL_PROXY, LONGEST_TASK_SECONDS, MAKE_PROXY, PROXY_QUEUE, QUICK_QUEUE
from storage import Storage
from storage.base import StorageError
from workers import proxy_chunks
from workers.celery_app import celery_app
from workers.media.chunked import ChunkPlanError
from workers.media.facts import MediaType
from workers.media.proxy import PROXY_VERSION, ProxyOutputs, encode_proxy
from workers.media.run import MediaCancelled, MediaError, ffmpeg_filters, ffmpeg_path

log = logging.getLogger("reelhouse.proxies")
SWEEP_EVERY_SECONDS = 120.0
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError, StorageError)

celery_app.conf.beat_schedule["proxy-sweep"] = {"task": "reelhouse.sweep_proxies", "schedule": SWEEP_EVERY_SECONDS}


class _Lease:
    """Keeps the proxy's lease while the task works: renewed every few seconds from a thread (a
    two-hour original takes longer to download than a lease lasts), with ffmpeg's progress. A renewal
    refused (the proxy was cancelled, or its lease went to another attempt) makes `lost` true, which
    stops ffmpeg (`should_cancel`)."""

    def __init__(self, material_id: uuid.UUID, owner: str, seconds: float) -> None:
        self.material_id, self.owner, self.seconds = material_id, owner, seconds
        self.progress = 0.0
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"proxy-lease-{material_id}", daemon=True)

    def __call__(self, progress: float) -> None:
        self.progress = progress  # ffmpeg's progress callback: written at the next renewal

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def should_cancel(self) -> bool:
        return self.lost

    def _renew(self) -> None:
        while not self._stop.wait(min(5.0, self.seconds / 4)):
            try:
                with session_scope() as session:
                    held = proxies.heartbeat(session, self.material_id, self.owner, self.seconds, self.progress)
                if not held:
                    self.lost = True
                    return
            except TRANSIENT:
                log.warning("heartbeat for the proxy of %s failed; will try again", self.material_id, exc_info=True)


def _work_dir(settings: Settings) -> str | None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return str(settings.data_dir)


def encode_whole(original: Path, inputs: proxies.ProxyInputs, out_dir: Path, settings: Settings,
                 lease: _Lease) -> ProxyOutputs:
    """The proxy, sprite and waveform in one ffmpeg run over the whole file."""
    ffmpeg = ffmpeg_path(settings.ffmpeg_path)
    return encode_proxy(original, inputs.facts, out_dir, ffmpeg=ffmpeg, filters=ffmpeg_filters(ffmpeg),
                        timeout=settings.render_timeout_seconds, on_progress=lease, should_cancel=lease.should_cancel)


# --------------------------------------------------------------------------- chunked (long sources)


def chunked_owner(material_id: uuid.UUID) -> str:
    """The lease owner of a material's chunked workflow: the same for every attempt, so a proxy task
    sent again (its lease expired while a dead worker's chunk waited for redelivery) takes the lease
    back for the workflow still running, and the join records under it."""
    return f"chunked:{material_id}"


def chunked_lease_seconds(settings: Settings) -> float:
    """Long enough to outlast a chunk's redelivery after its worker died (the broker's visibility
    timeout); chunks renew it while they run."""
    visibility = settings.broker_visibility_timeout or LONGEST_TASK_SECONDS + 3600
    return max(settings.render_lease_seconds, visibility + 600.0)


def start_chunked(mid: uuid.UUID, inputs: proxies.ProxyInputs, settings: Settings) -> str:
    """Claim the proxy for its chunked workflow, plan the chunks and send the chord (once)."""
    owner = chunked_owner(mid)
    with session_scope() as session:
        if not proxies.claim_proxy(session, mid, owner, chunked_lease_seconds(settings)):
            return "busy"
    job = proxy_chunks.ChunkedJob(
        material_id=str(mid), source_key=inputs.storage_key, output_key=proxies.proxy_keys(mid)["video"],
        facts=inputs.facts.to_dict(), chunk_seconds=settings.proxy_chunk_seconds, owner=owner,
    )
    try:
        chunks = proxy_chunks.plan(job, get_storage())
        workflow = proxy_chunks.start(job, chunks)
        with session_scope() as session:
            recorded = proxies.record_workflow(session, mid, owner, workflow)
        if not recorded:  # cancelled while it started: nobody else knows the workflow to stop it
            proxy_chunks.cancel(workflow)
            return "cancelled"
    except TRANSIENT:
        with contextlib.suppress(*TRANSIENT), session_scope() as session:
            proxies.release_proxy(session, mid, owner)
        raise
    except (MediaError, ChunkPlanError, AppError, OSError, ValueError) as e:
        log.warning("chunked proxy of %s could not start: %s", mid, e)
        with session_scope() as session:
            proxies.fail_proxy(session, mid, owner, "proxy-not-possible", str(e))
        return "failed"
    return "chunked"


class _ChunkLease:
    """The chunks' progress renews the workflow's lease, at most every few seconds per process."""

    last = 0.0

    @classmethod
    def __call__(cls, job: proxy_chunks.ChunkedJob, index: int, count: int, fraction: float) -> None:
        now = time.monotonic()
        if now - cls.last < 5.0:
            return
        cls.last = now
        settings = get_settings()
        try:
            with session_scope() as session:
                proxies.heartbeat(session, uuid.UUID(job.material_id), job.owner, chunked_lease_seconds(settings),
                                  min(0.95, (index + fraction) / max(count, 1)))
        except TRANSIENT:
            log.warning("heartbeat for the chunked proxy of %s failed", job.material_id, exc_info=True)


def _chunks_joined(job: proxy_chunks.ChunkedJob, outputs: ProxyOutputs, result: dict[str, Any]) -> bool:
    mid = uuid.UUID(job.material_id)
    stored = store_outputs(get_storage(), mid, outputs, chunked=True)
    stored.details.update({"chunks": result["chunks"], "workers": result["workers"],
                           "join_seconds": result["join_seconds"]})
    with session_scope() as session:
        return proxies.finish_proxy(session, mid, job.owner, stored)


def _chunks_failed(job: proxy_chunks.ChunkedJob, code: str, detail: str) -> bool:
    with session_scope() as session:
        return proxies.fail_proxy(session, uuid.UUID(job.material_id), job.owner, code, detail)


proxy_chunks.hooks = proxy_chunks.Hooks(progress=_ChunkLease(), finished=_chunks_joined, failed=_chunks_failed)


def store_outputs(storage: Storage, material_id: uuid.UUID, outputs: ProxyOutputs, *, chunked: bool) -> proxies.StoredProxy:
    """Put what the encode wrote at the proxy's fixed keys (a rerun overwrites, never adds)."""
    keys = proxies.proxy_keys(material_id)
    proxy_key = size = None
    if outputs.proxy is not None:
        size = storage.put_file(keys["video"], outputs.proxy, content_type="video/mp4").size
        proxy_key = keys["video"]
    sprite_keys = []
    for sheet in outputs.sprite_sheets:
        key = proxies.sprite_key(material_id, sheet.name)
        storage.put_file(key, sheet, content_type="image/jpeg")
        sprite_keys.append(key)
    vtt_key = wave_key = None
    if outputs.sprite_vtt is not None:
        storage.put_file(keys["sprite_vtt"], outputs.sprite_vtt, content_type="text/vtt")
        vtt_key = keys["sprite_vtt"]
    if outputs.waveform is not None:
        storage.put_file(keys["waveform"], outputs.waveform, content_type="application/json")
        wave_key = keys["waveform"]
    g = outputs.geometry
    return proxies.StoredProxy(
        proxy_key=proxy_key, proxy_size_bytes=size, width=g.width if g and proxy_key else None,
        height=g.height if g and proxy_key else None, fps=round(float(g.fps), 4) if g and proxy_key else None,
        sprite_keys=sprite_keys, sprite_vtt_key=vtt_key, waveform_key=wave_key,
        details={"version": PROXY_VERSION, "chunked": chunked, "encode_seconds": round(outputs.elapsed_s, 3),
                 "host": socket.gethostname()},
    )


def make_proxy(material_id: str, task_id: str | None = None) -> str:
    """The task body (also callable directly): take the lease, encode, store, record the end state."""
    mid = uuid.UUID(material_id)
    settings = get_settings()
    owner = f"{socket.gethostname()}:{os.getpid()}:{task_id or '-'}:{uuid.uuid4().hex[:8]}"
    lease_seconds = settings.render_lease_seconds
    with session_scope() as session:
        proxy = session.get(Proxy, mid)
        if proxy is None:
            return "missing"
        if proxy.status in ("ready", "failed"):
            return str(proxy.status)  # done: a finished proxy is not made again
        try:
            early = proxies.inputs_for(session, mid)
        except AppError:
            early = None  # failed below, under the lease
    # A long video's proxy is encoded in chunks across the workers (workers/proxy_chunks.py).
    if early is not None and early.facts.media_type == MediaType.video and proxies.should_chunk(
            settings, early.facts.duration_s):
        return start_chunked(mid, early, settings)
    with session_scope() as session:
        if not proxies.claim_proxy(session, mid, owner, lease_seconds):
            return "busy"  # another worker holds a live lease, or no attempts are left
    storage = get_storage()
    try:
        with session_scope() as session:
            inputs = proxies.inputs_for(session, mid)
        chunked = False  # long videos went to start_chunked above
        with _Lease(mid, owner, lease_seconds) as lease, \
                tempfile.TemporaryDirectory(prefix="proxy-", dir=_work_dir(settings)) as tmp:
            original = Path(tmp) / ("original" + Path(inputs.storage_key).suffix)
            storage.download_to(inputs.storage_key, original)
            out_dir = Path(tmp) / "out"
            out_dir.mkdir()
            outputs = encode_whole(original, inputs, out_dir, settings, lease)
            stored = store_outputs(storage, mid, outputs, chunked=chunked)
    except TRANSIENT:
        try:
            with session_scope() as session:
                proxies.release_proxy(session, mid, owner)
        except TRANSIENT:
            pass  # the lease expires and the sweep sends it again
        raise
    except MediaCancelled:
        log.info("proxy of %s stopped: its lease was lost (cancelled, or taken over)", mid)
        return "cancelled"
    except (MediaError, AppError, OSError, ValueError) as e:
        code = "proxy-not-possible" if isinstance(e, AppError) else _slug(type(e).__name__)
        log.warning("proxy of %s failed: %s", mid, e)
        with session_scope() as session:
            proxies.fail_proxy(session, mid, owner, code, str(e))
        return "failed"
    except Exception as e:  # a bug, not the input: fail visibly rather than retry it
        log.exception("proxy of %s failed unexpectedly", mid)
        with session_scope() as session:
            proxies.fail_proxy(session, mid, owner, "internal-error", repr(e))
        return "failed"
    with session_scope() as session:
        done = proxies.finish_proxy(session, mid, owner, stored)
    return "ready" if done else "lost"


def _slug(name: str) -> str:
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


@celery_app.task(
    name=MAKE_PROXY, bind=True, queue=PROXY_QUEUE, acks_late=True, reject_on_worker_lost=True,
    autoretry_for=TRANSIENT, retry_backoff=5, retry_backoff_max=300, retry_jitter=True, max_retries=5,
)
def make_proxy_task(self, material_id: str) -> str:
    return make_proxy(material_id, self.request.id)


@celery_app.task(name="reelhouse.sweep_proxies", queue=QUICK_QUEUE)
def sweep_proxies_task() -> int:
    """Send again the proxies whose worker died (lease expired) or whose message was lost; ask for a
    few of those that material catalogued before proxies never had."""
    with session_scope() as session:
        resent = proxies.sweep_proxies(session)
        backfilled = proxies.backfill_proxies(session)
    return len(resent) + len(backfilled)


@celery_app.task(name=CANCEL_PROXY, queue=QUICK_QUEUE, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def cancel_proxy_task(material_id: str) -> int:
    """A person cancelled the proxy (sent after that commit): stop its chunked workflow, if it has one
    (revoke, abort, delete the pieces); how many tasks were told. A whole-file encode needs nothing: its
    next lease renewal is refused and it kills ffmpeg itself."""
    with session_scope() as session:
        workflow = proxies.cancelled_workflow(session, uuid.UUID(material_id))
    return proxy_chunks.cancel(workflow) if workflow else 0
