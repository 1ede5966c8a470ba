"""Checks on a submission: the material must fit the channel (media type, aspect, duration) and must not
already be approved or in review there, itself or a copy with the same video fingerprint.

A failed check refuses the submission with a problem whose type names the rule; an editor who knows
better passes over named checks with a reason, which the publication's audit trail keeps.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
from sqlmodel import Session, col, select

from backend.catalogue.models import Material, MaterialFingerprint
from backend.compliance.fit import Bounds, Facts, Misfit, misfits
from backend.compliance.models import AccountChannel, Publication, PublicationStatus
from backend.errors import (
    PublicationAspect,
    PublicationDuplicate,
    PublicationDuration,
    PublicationMediaType,
    PublicationRefused,
    ValidationFailed,
)
from workers.media.fingerprint import FLAT, VERSION, Fingerprint, align

CHECKS = ("media_type", "aspect", "duration", "duplicate")
ERRORS: dict[str, type[PublicationRefused]] = {
    "media_type": PublicationMediaType,
    "aspect": PublicationAspect,
    "duration": PublicationDuration,
    "duplicate": PublicationDuplicate,
}
# A copy shares most of its frames with the original; two cuts of one live stream that overlap a little
# are different clips.
COPY_OVERLAP = 0.8
LIVE = (PublicationStatus.pending.value, PublicationStatus.approved.value)


def bounds_of(channel: AccountChannel) -> Bounds:
    return Bounds(
        channel_name=channel.name_zh,
        media_types=tuple(channel.media_types or ("video",)),
        aspects=tuple(channel.aspects) if channel.aspects else None,
        min_duration_s=channel.min_duration_s,
        max_duration_s=channel.max_duration_s,
    )


def facts_of(material: Material) -> Facts:
    width, height = material.display_width, material.display_height
    if not (width and height) and material.width and material.height:
        width, height = material.width, material.height
        if material.rotation % 180 == 90:
            width, height = height, width
    return Facts(str(material.media_type), width, height, material.duration_s)


def _fingerprint(session: Session, material_id: uuid.UUID) -> Fingerprint | None:
    row = session.get(MaterialFingerprint, material_id)
    if row is None or row.version != VERSION:
        return None
    return Fingerprint(np.frombuffer(row.hashes, dtype=">u8").astype(np.uint64), row.sample_fps, row.version)


def _is_copy(a: Fingerprint, b: Fingerprint) -> bool:
    alignment = align(a.hashes, b.hashes)
    if not alignment.is_match:
        return False
    shorter = min(int((a.hashes != FLAT).sum()), int((b.hashes != FLAT).sum()))
    return alignment.overlap >= COPY_OVERLAP * shorter


def duplicate_on_channel(session: Session, material: Material, channel: AccountChannel) -> Misfit | None:
    """The material, or a copy of it by fingerprint, approved or in review on this account's channel."""
    live = select(Publication.id, Publication.material_id, Publication.status).where(
        Publication.account_id == channel.account_id,
        Publication.channel_id == channel.channel_id,
        col(Publication.status).in_(LIVE),
    )
    rows = list(session.exec(live))
    same = next((r for r in rows if r[1] == material.id), None)
    if same is not None:
        return Misfit(
            "duplicate",
            f"该素材已在渠道「{channel.name_zh}」{_status_zh(same[2])}（发布记录 {same[0]}）",
        )
    mine = _fingerprint(session, material.id)
    if mine is None or not rows:
        return None
    by_material = {r[1]: r for r in rows}
    stmt = select(MaterialFingerprint).where(
        col(MaterialFingerprint.material_id).in_(list(by_material)), MaterialFingerprint.version == VERSION
    )
    for fp in session.exec(stmt):
        other = Fingerprint(np.frombuffer(fp.hashes, dtype=">u8").astype(np.uint64), fp.sample_fps, fp.version)
        if _is_copy(mine, other):
            pid, mid, status = by_material[fp.material_id]
            return Misfit(
                "duplicate",
                f"该素材与已在渠道「{channel.name_zh}」{_status_zh(status)}的素材 {mid} 画面相同"
                f"（指纹一致，发布记录 {pid}）",
            )
    return None


def _status_zh(status: str) -> str:
    return "审核中" if status == PublicationStatus.pending.value else "审核通过"


def check_submission(
    session: Session,
    material: Material,
    channel: AccountChannel,
    override: Sequence[str] = (),
    reason: str | None = None,
) -> list[str]:
    """Refuse a material that does not fit the channel; return the failed checks passed over (as text for
    the audit trail). Overriding needs a reason."""
    passed = set(override)
    unknown = passed - set(CHECKS)
    if unknown:
        raise ValidationFailed(f"unknown check {', '.join(sorted(unknown))}; use {', '.join(CHECKS)}")
    if passed and not (reason or "").strip():
        raise ValidationFailed("passing over a submission check needs override_reason (why it may go anyway)")
    failed = misfits(facts_of(material), bounds_of(channel))
    duplicate = duplicate_on_channel(session, material, channel)
    if duplicate is not None:
        failed.append(duplicate)
    refused = [m for m in failed if m.check not in passed]
    if refused:
        first = refused[0]
        detail = "；".join(m.detail for m in refused)
        raise ERRORS[first.check](
            f"{detail}。如确需提交，请在 override 中列出 {', '.join(m.check for m in refused)} 并填写 override_reason",
            checks=[
                {"check": m.check, "type": ERRORS[m.check].type_uri(), "detail": m.detail} for m in refused
            ],
        )
    return [f"{m.check}（{m.detail}）" for m in failed]
