"""A material's poster and contact sheet, made on the quick queue once its row is committed (an
upload's answer never waits for frames to decode) by the sandboxed inspector from the stored original.
A video whose frames do not decode is kept with `previews_failed` (its poster is a placeholder); the
quarter-hourly sweep sends lost and failed work of the last day again.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from backend.catalogue.models import Material, MaterialStatus, MediaType
from backend.catalogue.service import limits_from
from backend.config import Settings
from backend.objectstore import stored_file
from backend.sqltypes import utcnow
from storage import Storage
from workers.media.inspect import InspectFailed, inspect_untrusted
from workers.media.probe import ProbeRejection

logger = logging.getLogger(__name__)


def materials_missing_previews(
    session: Session, limit: int, *, created_after: datetime | None = None, created_before: datetime | None = None
) -> list[uuid.UUID]:
    """Ids of live video and image material without a poster (its work lost, or failed), oldest first."""
    query = select(Material.id).where(
        col(Material.poster_key).is_(None),
        col(Material.media_type) != MediaType.audio,
        col(Material.status) != MaterialStatus.deleted,
        col(Material.storage_key).is_not(None),
    )
    if created_after is not None:
        query = query.where(Material.created_at >= created_after)
    if created_before is not None:
        query = query.where(Material.created_at < created_before)
    return list(session.exec(query.order_by(Material.created_at).limit(limit)))  # type: ignore[arg-type]


def make_previews(session: Session, storage: Storage, settings: Settings, material_id: uuid.UUID) -> bool:
    """Make and store a material's poster (and a video's contact sheet); True once it has them.
    Idempotent: a material that has its poster (or is gone, or is audio) is left as it is."""
    material = session.get(Material, material_id)
    if (
        material is None
        or material.poster_key
        or material.media_type == MediaType.audio
        or material.status == MaterialStatus.deleted
        or not material.storage_key
    ):
        return False
    with (
        tempfile.TemporaryDirectory(prefix="reelhouse-previews-") as tmp,
        stored_file(storage, material.storage_key, settings.spool_dir) as original,
    ):
        made = {"poster": Path(tmp) / "poster.jpg", "contact_sheet": Path(tmp) / "contact-sheet.jpg"}
        try:
            inspect_untrusted(
                original,
                limits=limits_from(settings),
                poster=made["poster"],
                contact_sheet=made["contact_sheet"] if material.media_type == MediaType.video else None,
                timeout=settings.probe_timeout_seconds,
            )
        except (ProbeRejection, InspectFailed) as exc:
            logger.warning("previews of material %s: the original could not be inspected: %s", material.id, exc)
        for name, path in made.items():
            if path.exists():
                key = f"materials/{material.id}/{name.replace('_', '-')}.jpg"
                storage.put_file(key, path, content_type="image/jpeg")
                setattr(material, f"{name}_key", key)
    material.previews_failed, material.updated_at = material.poster_key is None, utcnow()
    session.add(material)
    session.flush()
    return not material.previews_failed
