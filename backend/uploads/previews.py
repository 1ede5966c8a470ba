"""Previews made again for material kept without them (no frame decoded at upload, or the
sandbox could not write them): the poster and contact sheet are rendered from the stored original,
in the sandboxed inspector as at upload."""

from __future__ import annotations

import logging
import tempfile
import uuid
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from backend.catalogue.models import Material, MaterialStatus, MediaType
from backend.config import Settings
from backend.sqltypes import utcnow
from backend.uploads.service import limits_from, store_previews
from storage import Storage
from workers.media.inspect import InspectFailed, inspect_untrusted
from workers.media.probe import ProbeRejection

logger = logging.getLogger(__name__)


def materials_missing_previews(
    session: Session, limit: int, *, created_after: datetime | None = None, created_before: datetime | None = None
) -> list[uuid.UUID]:
    """Ids of live material whose previews failed, oldest first."""
    query = select(Material.id).where(
        col(Material.previews_failed).is_(True), col(Material.status) != MaterialStatus.deleted
    )
    if created_after is not None:
        query = query.where(Material.created_at >= created_after)
    if created_before is not None:
        query = query.where(Material.created_at < created_before)
    return list(session.exec(query.order_by(Material.created_at).limit(limit)))  # type: ignore[arg-type]


def retry_previews(session: Session, storage: Storage, settings: Settings, material_id: uuid.UUID) -> bool:
    """Render the previews of a material whose previews failed; True once it has them. Idempotent:
    a material that has its previews (or is gone) is left as it is."""
    material = session.get(Material, material_id)
    if (
        material is None
        or not material.previews_failed
        or material.status == MaterialStatus.deleted
        or not material.storage_key
    ):
        return False
    with tempfile.TemporaryDirectory(prefix="reelhouse-previews-") as tmp:
        original, poster, sheet = Path(tmp) / "original", Path(tmp) / "poster.jpg", Path(tmp) / "sheet.jpg"
        storage.download_to(material.storage_key, original)
        try:
            inspect_untrusted(
                original,
                limits=limits_from(settings),
                poster=poster,
                contact_sheet=sheet if material.media_type == MediaType.video else None,
                timeout=settings.probe_timeout_seconds,
            )
        except (ProbeRejection, InspectFailed) as exc:
            logger.warning("previews of material %s: the original could not be inspected: %s", material.id, exc)
            return False
        if not poster.exists():
            return False  # the inspector has logged why
        store_previews(storage, material, {"poster": poster, "contact_sheet": sheet})
    material.previews_failed, material.updated_at = False, utcnow()
    session.add(material)
    session.flush()
    return True
