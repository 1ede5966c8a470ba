"""Video fingerprints in the catalogue: storing them, an in-process index over all of them, and
identifying a platform's downloaded copy as a known material."""

from __future__ import annotations

import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Session, col

from backend import errors, i18n, queue
from backend.catalogue.models import Material, MaterialFingerprint, MaterialStatus
from backend.catalogue.service import limits_from
from backend.config import Settings
from backend.objectstore import stored_file
from backend.sqltypes import utcnow
from storage import Storage
from workers.media.fingerprint import VERSION, Fingerprint, FingerprintIndex
from workers.media.inspect import InspectFailed, inspect_untrusted
from workers.media.probe import ProbeRejection


def store_fingerprint(session: Session, material_id: uuid.UUID, fingerprint: Fingerprint) -> MaterialFingerprint:
    row = session.merge(MaterialFingerprint(  # inserted, or replacing the one stored for this material
        material_id=material_id, version=fingerprint.version, sample_fps=fingerprint.sample_fps,
        frame_count=len(fingerprint), hashes=fingerprint.to_bytes(), created_at=utcnow(),
    ))
    session.flush()
    return row


class _CachedIndex:
    """One index per database, rebuilt when fingerprints were added or replaced since it was built."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_url: dict[str, tuple[tuple[int, object], FingerprintIndex]] = {}

    def get(self, session: Session) -> FingerprintIndex:
        url = str(session.get_bind().engine.url)
        generation = tuple(session.execute(
            select(func.count(), func.max(col(MaterialFingerprint.created_at)))
            .where(col(MaterialFingerprint.version) == VERSION)
        ).one())
        with self._lock:
            cached = self._by_url.get(url)
            if cached and cached[0] == generation:
                return cached[1]
        index = FingerprintIndex()
        rows = session.execute(
            select(col(MaterialFingerprint.material_id), col(MaterialFingerprint.hashes))
            .where(col(MaterialFingerprint.version) == VERSION)
        )
        for material_id, hashes in rows:
            index.add(material_id, Fingerprint.from_bytes(hashes))
        index.build()
        with self._lock:
            self._by_url[url] = (generation, index)
        return index


INDEX = _CachedIndex()


@dataclass(frozen=True)
class Identified:
    material: Material
    score: float
    distance: float
    offset_seconds: float
    overlap_seconds: float


def identify(session: Session, fingerprint: Fingerprint, limit: int = 5) -> list[Identified]:
    """Known materials whose video matches the fingerprint, best first (deleted ones left out)."""
    index = INDEX.get(session)
    found = index.search(fingerprint, limit=limit * 2)
    out: list[Identified] = []
    for cand in found:
        material = session.get(Material, cand.key)
        if material is None or material.status == MaterialStatus.deleted:
            continue
        out.append(Identified(
            material=material, score=round(cand.alignment.score, 4), distance=round(cand.alignment.distance, 2),
            offset_seconds=cand.alignment.offset / fingerprint.sample_fps,
            overlap_seconds=cand.alignment.overlap / fingerprint.sample_fps,
        ))
    return out[:limit]


def fingerprint_untrusted(settings: Settings, path: Path) -> Fingerprint:
    """Fingerprint an uploaded file in the sandboxed inspector (it is untrusted input); nothing is
    written beside `path` (a stored original, a user's file)."""
    with tempfile.TemporaryDirectory(prefix="reelhouse-fingerprint-") as tmp:
        out = Path(tmp) / "fingerprint"
        try:
            facts = inspect_untrusted(path, limits=limits_from(settings), fingerprint=out,
                                      timeout=settings.probe_timeout_seconds)
        except ProbeRejection as exc:
            raise errors.FingerprintUnavailable(
                exc.detail, key=f"media.{exc.text}" if exc.text else None, params=exc.params
            ) from exc
        except InspectFailed as exc:
            raise errors.FingerprintUnavailable(key="fingerprint.unreadable") from exc
        if facts.media_type != "video":
            raise errors.FingerprintUnavailable(
                key="fingerprint.not-video",
                params={"media_type": i18n.words(f"media_type.{facts.media_type}", str(facts.media_type))},
            )
        if not out.exists():
            raise errors.FingerprintUnavailable(key="fingerprint.no-frame")
        return Fingerprint.from_bytes(out.read_bytes())


def missing_fingerprints(
    session: Session, limit: int, *, created_after: datetime | None = None, created_before: datetime | None = None
) -> list[uuid.UUID]:
    """Ready videos without a fingerprint (a lost task message, or material from before fingerprints)."""
    window = []
    if created_after is not None:
        window.append(col(Material.created_at) >= created_after)
    if created_before is not None:
        window.append(col(Material.created_at) < created_before)
    return list(session.scalars(
        select(col(Material.id))
        .where(*window, col(Material.media_type) == "video", col(Material.status) == MaterialStatus.ready,
               col(Material.storage_key).is_not(None),
               ~col(Material.id).in_(select(col(MaterialFingerprint.material_id))))
        .order_by(col(Material.created_at))
        .limit(limit)
    ))


def fingerprint_material(session: Session, storage: Storage, settings: Settings, material_id: uuid.UUID) -> bool:
    """Compute and store one material's fingerprint; idempotent. False when there is nothing to do."""
    material = session.get(Material, material_id)
    if material is None or material.media_type != "video" or not material.storage_key:
        return False
    if session.get(MaterialFingerprint, material_id) is not None:
        return False
    with stored_file(storage, material.storage_key, settings.spool_dir) as original:
        store_fingerprint(session, material_id, fingerprint_untrusted(settings, original))
    return True


def request_fingerprint(session: Session, material_id: uuid.UUID) -> None:
    """Fingerprint a new video on the quick queue once its row is committed (decoding two minutes of
    a 1080p stream takes seconds that an upload should not wait for)."""
    queue.enqueue(session, queue.FINGERPRINT_MATERIAL, str(material_id))
