"""Video fingerprints in the catalogue: storing them, an in-process index over all of them, and
identifying a platform's downloaded copy as a known material."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Session

from backend import errors
from backend.config import Settings
from backend.models import Material, MaterialStatus
from backend.models.metrics import MaterialFingerprint
from backend.models.types import utcnow
from workers.media.fingerprint import VERSION, Fingerprint, FingerprintIndex


def store_fingerprint(session: Session, material_id: uuid.UUID, fingerprint: Fingerprint) -> MaterialFingerprint:
    row = session.get(MaterialFingerprint, material_id) or MaterialFingerprint(material_id=material_id)
    row.version = fingerprint.version
    row.sample_fps = fingerprint.sample_fps
    row.frame_count = len(fingerprint)
    row.hashes = fingerprint.to_bytes()
    row.created_at = utcnow()
    session.add(row)
    session.flush()
    return row


def store_fingerprint_file(session: Session, material_id: uuid.UUID, path: Path) -> bool:
    """Ingest's hook: the sandboxed inspector wrote the fingerprint to `path` (or could not)."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    store_fingerprint(session, material_id, Fingerprint.from_bytes(path.read_bytes()))
    return True


class _CachedIndex:
    """One index per database, rebuilt when fingerprints were added or replaced since it was built."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_url: dict[str, tuple[tuple[int, object], FingerprintIndex]] = {}

    def get(self, session: Session) -> FingerprintIndex:
        url = str(session.get_bind().engine.url)
        generation = tuple(session.execute(
            select(func.count(), func.max(MaterialFingerprint.created_at)).where(MaterialFingerprint.version == VERSION)
        ).one())
        with self._lock:
            cached = self._by_url.get(url)
            if cached and cached[0] == generation:
                return cached[1]
        index = FingerprintIndex()
        rows = session.execute(
            select(MaterialFingerprint.material_id, MaterialFingerprint.hashes)
            .where(MaterialFingerprint.version == VERSION)
        )
        for material_id, hashes in rows:
            index.add(material_id, Fingerprint.from_bytes(hashes))
        index.build()
        with self._lock:
            self._by_url[url] = (generation, index)  # type: ignore[assignment]
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
    """Fingerprint an uploaded file in the sandboxed inspector (it is untrusted input)."""
    from backend.services.ingest import limits_from
    from workers.media.inspect import InspectFailed, inspect_untrusted
    from workers.media.probe import ProbeRejection

    out = path.with_suffix(".fingerprint")
    try:
        facts = inspect_untrusted(path, limits=limits_from(settings), fingerprint=out,
                                  timeout=settings.probe_timeout_seconds)
        if facts.media_type != "video":
            raise errors.FingerprintUnavailable(f"the file is {facts.media_type}, not video")
        if not out.exists():
            raise errors.FingerprintUnavailable("no frame of the video could be decoded")
        return Fingerprint.from_bytes(out.read_bytes())
    except ProbeRejection as exc:
        raise errors.FingerprintUnavailable(exc.detail) from exc
    except InspectFailed as exc:
        raise errors.FingerprintUnavailable("the file could not be read as video") from exc
    finally:
        out.unlink(missing_ok=True)
