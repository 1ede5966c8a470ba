"""Proxies as work rows: requested with the material's ingest (enqueued after commit on the proxy
queue), claimed under a lease by the proxy task, finished once with the keys it stored, swept when a
worker died. What a material reports about its proxy (`summaries`) is one query for a whole page."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from backend import errors, i18n, leases, queue
from backend.catalogue.models import Material, MaterialStatus, MediaType
from backend.catalogue.schemas import MaterialProxyPublic
from backend.config import Settings
from backend.proxies.models import Proxy, ProxyState
from backend.sqltypes import utcnow
from workers.media.facts import MediaFacts
from workers.media.proxy import PROXY_VERSION

API = "/api/v1"


# --------------------------------------------------------------------------- keys


def proxy_prefix(material_id: uuid.UUID) -> str:
    """Everything of a proxy lives here, under the material's folder (deleting the material's prefix
    removes it); the names are fixed, so a second run writes over the first, never beside it."""
    return f"materials/{material_id}/proxy/"


def proxy_keys(material_id: uuid.UUID) -> dict[str, str]:
    base = proxy_prefix(material_id)
    return {"video": f"{base}proxy.mp4", "sprite_vtt": f"{base}sprite.vtt", "waveform": f"{base}waveform.json"}


def sprite_key(material_id: uuid.UUID, name: str) -> str:
    return f"{proxy_prefix(material_id)}{name}"


# --------------------------------------------------------------------------- requesting


def has_proxy_work(material: Material) -> bool:
    """Videos get a proxy, audio a waveform; images nothing."""
    return material.media_type in (MediaType.video, MediaType.audio) and bool(material.storage_key)


def request_proxy(session: Session, material: Material, *, retry_failed: bool = False) -> Proxy:
    """The material's proxy row, created (queued) if it has none, with its message sent after commit.
    Idempotent: a queued, running or ready proxy is returned as it is; a failed one is queued again
    only when `retry_failed` (a person asked)."""
    if not has_proxy_work(material):
        raise errors.ProxyNotPossible(
            key="proxy.not-for-media-type",
            params={"media_type": i18n.words(f"media_type.{material.media_type}", str(material.media_type))},
        )
    proxy = session.get(Proxy, material.id)
    if proxy is None:
        # Insert-or-nothing rather than a savepoint: releasing a savepoint counts as a commit for the
        # after-commit hooks, which would send the messages already enqueued in this transaction early.
        now = utcnow()
        values = {"id": material.id, "status": ProxyState.queued, "version": PROXY_VERSION, "sprite_keys": [],
                  "details": {}, "created_at": now, "updated_at": now}
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        table = Proxy.__table__  # type: ignore[attr-defined]
        created = session.execute(
            insert(table).values(**values).on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id)
        ).first()
        proxy = session.get(Proxy, material.id)
        assert proxy is not None
        if created is not None:  # not made a moment ago by another request
            queue.enqueue(session, queue.MAKE_PROXY, str(material.id))
        return proxy
    if proxy.status == ProxyState.failed and retry_failed:
        now = utcnow()
        proxy.status, proxy.attempts, proxy.progress = ProxyState.queued, 0, 0.0
        proxy.error_code = proxy.error = None
        proxy.finished_at, proxy.updated_at = None, now
        session.add(proxy)
        session.flush()
        queue.enqueue(session, queue.MAKE_PROXY, str(material.id))
    return proxy


def get_proxy(session: Session, material_id: uuid.UUID) -> Proxy | None:
    return session.get(Proxy, material_id)


CANCELLED = "proxy-cancelled"  # the error code of a cancelled proxy (also a cancelled chunked workflow's)


def cancel_proxy(session: Session, material_id: uuid.UUID) -> Proxy:
    """Stop a queued or running proxy: it ends failed with error code `proxy-cancelled`, so a person may
    ask for it again (POST). A whole-file encode sees it at its next heartbeat and kills ffmpeg; a
    chunked workflow is revoked and aborted by a message sent after the commit. NotFound without a
    proxy, ProxyStateConflict when it is already ready or failed."""
    if session.get(Material, material_id) is None:
        raise errors.NotFound(key="material-not-found", params={"id": str(material_id)})
    now = utcnow()
    # Conditional, so a worker that finishes meanwhile wins and the answer is a conflict.
    was = session.execute(
        update(Proxy)
        .where(col(Proxy.id) == material_id, col(Proxy.status).in_([ProxyState.queued, ProxyState.running]))
        .values(status=ProxyState.failed, error_code=CANCELLED, error="cancelled on request", finished_at=now,
                updated_at=now, lease_expires_at=None)
        .returning(col(Proxy.started_at))
    ).first()
    proxy = session.get(Proxy, material_id, populate_existing=True)
    if proxy is None:
        raise errors.NotFound(key="proxy.none")
    if was is None:
        raise errors.ProxyStateConflict(key="proxy.already-done", params={"state": _state_words(proxy.status)},
                                        proxy_state=proxy.status)
    if was.started_at is not None:  # a worker took it: a chunked workflow may be running
        queue.enqueue(session, queue.CANCEL_PROXY, str(material_id))
    return proxy


def cancelled_workflow(session: Session, material_id: uuid.UUID) -> str | None:
    """The chunked workflow of a proxy that was cancelled (and not asked for again since), to stop."""
    proxy = session.get(Proxy, material_id)
    if proxy is None or proxy.status != ProxyState.failed or proxy.error_code != CANCELLED:
        return None
    workflow = (proxy.details or {}).get("workflow")
    return workflow if isinstance(workflow, str) else None


def record_workflow(session: Session, material_id: uuid.UUID, owner: str, workflow: str) -> bool:
    """Note the chunked workflow the proxy's lease holder started, so a cancel can stop it; False when the
    lease is gone (cancelled meanwhile: the caller stops the workflow itself)."""
    return _update_held(session, material_id, owner, details={"chunked": True, "workflow": workflow})


def summaries(session: Session, material_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, MaterialProxyPublic]:
    """What each material reports about its proxy, for a whole page in one query."""
    if not material_ids:
        return {}
    rows = session.scalars(select(Proxy).where(col(Proxy.id).in_(list(material_ids))))
    return {p.id: summary(p) for p in rows}


def summary(proxy: Proxy) -> MaterialProxyPublic:
    base = f"{API}/materials/{proxy.id}/proxy"
    ready = proxy.status == ProxyState.ready
    return MaterialProxyPublic(
        state=proxy.status, progress=round(proxy.progress, 4),
        video=f"{base}/video.mp4" if ready and proxy.proxy_key else None,
        sprite_vtt=f"{base}/sprite.vtt" if ready and proxy.sprite_vtt_key else None,
        waveform=f"{base}/waveform.json" if ready and proxy.waveform_key else None,
        width=proxy.width, height=proxy.height, fps=proxy.fps, error_code=proxy.error_code,
    )


_STATE_ZH = {"queued": "排队中", "running": "正在生成", "ready": "已做好", "failed": "没有做成", "none": "还没有开始做"}


def _state_words(state: str) -> dict[str, str]:
    return {i18n.ZH: _STATE_ZH.get(state, state), i18n.EN: str(state)}


def ready_proxy(session: Session, material_id: uuid.UUID) -> Proxy:
    """The material's finished proxy, or ProxyNotReady (404) while there is none."""
    material = session.get(Material, material_id)
    if material is None:
        raise errors.NotFound(key="material-not-found", params={"id": str(material_id)})
    if material.status == MaterialStatus.deleted:
        raise errors.Gone(key="material-deleted-restore-to-play")
    proxy = session.get(Proxy, material_id)
    if proxy is None or proxy.status != ProxyState.ready:
        state = proxy.status if proxy else "none"
        raise errors.ProxyNotReady(key="proxy.state", params={"state": _state_words(state)})
    return proxy


# --------------------------------------------------------------------------- the worker's side


@dataclass(frozen=True)
class ProxyInputs:
    material_id: uuid.UUID
    storage_key: str
    facts: MediaFacts


def should_chunk(settings: Settings, duration_s: float | None) -> bool:
    """Whether the proxy of a source this long is encoded in chunks across workers."""
    return (duration_s or 0.0) > settings.proxy_chunk_threshold_seconds


def claim_proxy(session: Session, material_id: uuid.UUID, owner: str, lease_seconds: float) -> bool:
    """Take the proxy's lease: queued, or running under a lease that has expired."""
    return leases.claim(session, Proxy, material_id, owner, lease_seconds, queued=ProxyState.queued,
                        running=ProxyState.running, error_code=None, error=None, progress=0.0)


def inputs_for(session: Session, material_id: uuid.UUID) -> ProxyInputs:
    material = session.get(Material, material_id)
    if material is None or not material.storage_key:
        raise errors.ProxyNotPossible(key="material-file-gone")
    facts = MediaFacts.model_validate({name: getattr(material, name) for name in MediaFacts.model_fields})
    return ProxyInputs(material_id=material.id, storage_key=material.storage_key, facts=facts)


def _update_held(session: Session, material_id: uuid.UUID, owner: str, **values: Any) -> bool:
    return leases.update_held(session, Proxy, material_id, owner, running=ProxyState.running, **values)


def heartbeat(session: Session, material_id: uuid.UUID, owner: str, lease_seconds: float, progress: float) -> bool:
    return leases.heartbeat(session, Proxy, material_id, owner, lease_seconds, running=ProxyState.running,
                            progress=progress)


@dataclass(frozen=True)
class StoredProxy:
    """The keys the task stored (None: not made for this material) and what it measured."""

    proxy_key: str | None
    proxy_size_bytes: int | None
    width: int | None
    height: int | None
    fps: float | None
    sprite_keys: list[str]
    sprite_vtt_key: str | None
    waveform_key: str | None
    details: dict[str, Any]


def finish_proxy(session: Session, material_id: uuid.UUID, owner: str, stored: StoredProxy) -> bool:
    """Record the stored proxy (ready), only while `owner` holds the lease."""
    now = utcnow()
    return _update_held(
        session, material_id, owner, status=ProxyState.ready, progress=1.0, finished_at=now, updated_at=now,
        lease_owner=None, lease_expires_at=None, error_code=None, error=None, version=PROXY_VERSION,
        proxy_key=stored.proxy_key, proxy_size_bytes=stored.proxy_size_bytes, width=stored.width,
        height=stored.height, fps=stored.fps, sprite_keys=stored.sprite_keys, sprite_vtt_key=stored.sprite_vtt_key,
        waveform_key=stored.waveform_key, details=stored.details,
    )


def fail_proxy(session: Session, material_id: uuid.UUID, owner: str, error_code: str, error: str) -> bool:
    """A failure that another attempt would repeat (the media, not the machine): failed, no retry."""
    now = utcnow()
    return _update_held(session, material_id, owner, status=ProxyState.failed, finished_at=now, updated_at=now,
                        lease_owner=None, lease_expires_at=None, error_code=error_code, error=error[-4000:])


def release_proxy(session: Session, material_id: uuid.UUID, owner: str) -> bool:
    """Give the lease back so a retry can take it at once (a transient failure)."""
    return leases.release(session, Proxy, material_id, owner, queued=ProxyState.queued, running=ProxyState.running)


def sweep_proxies(session: Session, *, stale_after: timedelta = timedelta(minutes=10)) -> list[uuid.UUID]:
    """Proxies sent again (after commit): running under an expired lease (a worker died: queued again;
    a chunked proxy's workflow, if it still runs, gets its lease back when the task sent claims it) or
    queued for `stale_after` (a lost message), each at most once every `stale_after`. Those out of
    attempts fail instead."""
    return leases.sweep(
        session, Proxy, queued=ProxyState.queued, running=ProxyState.running, failed=ProxyState.failed,
        sent_at=Proxy.updated_at, stale_after=stale_after,
        send=lambda material_id: queue.enqueue(session, queue.MAKE_PROXY, str(material_id)),
        error_column=Proxy.error,
        worker_lost=leases.GiveUp("proxy-attempts", "gave up: the worker stopped on every attempt"),
        exhausted=leases.GiveUp("proxy-attempts", "gave up: every attempt failed with a transient error"),
    ).sent


def backfill_proxies(session: Session, limit: int = 10) -> list[uuid.UUID]:
    """Ask for the proxies of a few materials catalogued before proxies existed (the sweep does this
    every round, so an existing library gets its proxies a few at a time, oldest first)."""
    todo = materials_without_proxy(session, limit)
    for material_id in todo:
        material = session.get(Material, material_id)
        if material is not None:
            request_proxy(session, material)
    return todo


def materials_without_proxy(session: Session, limit: int) -> list[uuid.UUID]:
    """Live videos and audio that have no proxy row (catalogued before proxies existed), oldest first."""
    return list(session.scalars(
        select(col(Material.id))
        .where(col(Material.media_type).in_([MediaType.video, MediaType.audio]),
               col(Material.status) == MaterialStatus.ready, col(Material.storage_key).is_not(None),
               ~col(Material.id).in_(select(col(Proxy.id))))
        .order_by(col(Material.created_at))
        .limit(limit)
    ))
