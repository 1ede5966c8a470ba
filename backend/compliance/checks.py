"""Checks on a submission: the material must fit the channel (media type, aspect, duration) and must not
already be approved or in review there, itself or a copy with the same video fingerprint.

A failed check refuses the submission with a problem whose type names the rule; an editor who knows
better passes over named checks with a reason, which the publication's audit trail keeps.
`check_before_submission` answers the same checks ahead of time, as findings, with what the submission
would need (the checks to pass over) or why nothing would let it through.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from backend.catalogue.models import Material, MaterialFingerprint, MaterialStatus
from backend.compliance.accounts import get_account, platform
from backend.compliance.fit import Bounds, Facts, Misfit, lacks_audio, misfits
from backend.compliance.models import AccountChannel, PlatformAccount, Publication, PublicationStatus
from backend.errors import (
    PublicationAspect,
    PublicationDuplicate,
    PublicationDuration,
    PublicationMediaType,
    PublicationRefused,
    UnknownChannel,
    UnknownMaterial,
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
    probed = material.status == MaterialStatus.ready
    return Facts(str(material.media_type), width, height, material.duration_s, material.has_audio if probed else None)


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
            "duplicate",
            {"publication_id": str(same[0]), "status": str(same[2])},
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
                "duplicate_copy",
                {"publication_id": str(pid), "status": str(status), "material_id": str(mid)},
            )
    return None


def misfit_in_english(misfit: Misfit, channel: AccountChannel) -> str:
    """A misfit's words for an English answer (its `detail` is Chinese), from its code and figures."""
    p, name = misfit.params, f"channel “{channel.name_en}”"
    match misfit.code:
        case "media_type":
            return f"the material is {p['media_type']}; {name} only takes {' or '.join(p['accepted'])}"
        case "aspect":
            return f"the picture is {p['aspect']} ({p['width']}×{p['height']}); {name} needs {' or '.join(p['accepted'])}"
        case "duration_long":
            return f"the material runs {_seconds(p['duration_s'])} s; {name} takes at most {_seconds(p['max_duration_s'])} s"
        case "duration_short":
            return f"the material runs {_seconds(p['duration_s'])} s; {name} needs at least {_seconds(p['min_duration_s'])} s"
        case "duplicate":
            return f"the material is already {p['status']} on {name} (publication {p['publication_id']})"
        case "duplicate_copy":
            return (
                f"material {p['material_id']}, {p['status']} on {name}, has the same picture "
                f"(matching fingerprints; publication {p['publication_id']})"
            )
    return misfit.detail


def _seconds(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def _status_zh(status: str) -> str:
    return "审核中" if status == PublicationStatus.pending.value else "审核通过"


def failed_checks(session: Session, material: Material, channel: AccountChannel) -> list[Misfit]:
    """Every submission check the material fails on the channel, in the order they are reported."""
    failed = misfits(facts_of(material), bounds_of(channel))
    duplicate = duplicate_on_channel(session, material, channel)
    if duplicate is not None:
        failed.append(duplicate)
    return failed


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
        raise ValidationFailed(key="override-unknown-check", params={"checks": ", ".join(sorted(unknown)), "known": ", ".join(CHECKS)})
    if passed and not (reason or "").strip():
        raise ValidationFailed(key="override-needs-reason")
    failed = failed_checks(session, material, channel)
    refused = [m for m in failed if m.check not in passed]
    if refused:
        first = refused[0]
        findings = {"zh-CN": "；".join(m.detail for m in refused), "en": "; ".join(misfit_in_english(m, channel) for m in refused)}
        raise ERRORS[first.check](
            key="publication-refused",
            params={"findings": findings, "checks": ", ".join(m.check for m in refused)},
            checks=[
                {"check": m.check, "type": ERRORS[m.check].type_uri(), "detail": m.detail} for m in refused
            ],
        )
    return [f"{m.check}（{m.detail}）" for m in failed]


# --- asked ahead of time ------------------------------------------------------------------------------

REFUSED, WARNING = "refused", "warning"


@dataclass(frozen=True)
class Finding:
    """One thing to know before submitting. `check` names the submission check to pass over (in
    `override`, with a reason) for the submission to go through; a warning without one goes through as it
    is; a refusal goes through in no way."""

    code: str
    severity: str  # refused | warning
    detail: str  # Chinese, as a problem detail says it
    check: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SubmissionCheck:
    account: PlatformAccount
    channel: AccountChannel
    material: Material
    needs_audio: bool
    findings: list[Finding]

    @property
    def verdict(self) -> str:
        if any(f.severity == REFUSED for f in self.findings):
            return REFUSED
        return WARNING if self.findings else "fits"

    @property
    def override(self) -> list[str]:
        named = {f.check for f in self.findings if f.check}
        return [c for c in CHECKS if c in named]


def platform_needs_audio(platform_id: str) -> bool:
    """Whether every preset reelhouse has for the platform carries a sound track (T-mall's do)."""
    presets = platform(platform_id).presets
    return bool(presets) and all(p.requires_audio for p in presets)


def check_before_submission(
    session: Session,
    material_id: uuid.UUID,
    account_id: uuid.UUID,
    channel_id: str,
    platform_post_id: str | None = None,
) -> SubmissionCheck:
    """What recording this submission now would meet: the checks it would fail (each can be passed over
    with a reason), what would refuse it whatever is passed over (a deleted material, a post id the
    account already has), and what the platform may object to (no sound track, a material still being
    processed). Unknown accounts, channels and materials are refused as recording them would be."""
    account = get_account(session, account_id)
    channel = session.exec(
        select(AccountChannel).where(AccountChannel.account_id == account_id, AccountChannel.channel_id == channel_id)
    ).first()
    if channel is None:
        raise UnknownChannel(key="channel-not-found", params={"account": str(account_id), "channel": channel_id})
    material = session.get(Material, material_id)
    if material is None:
        raise UnknownMaterial(key="material-does-not-exist", params={"id": str(material_id)})
    needs_audio = platform_needs_audio(account.platform_id)
    found: list[Finding] = []
    if material.status == MaterialStatus.deleted:
        found.append(Finding("material_deleted", REFUSED, f"素材 {material_id} 已删除，恢复后才能提交"))
        return SubmissionCheck(account, channel, material, needs_audio, found)
    if platform_post_id:
        clash = session.exec(
            select(Publication.id).where(
                Publication.account_id == account_id, Publication.platform_post_id == platform_post_id
            )
        ).first()
        if clash is not None:
            found.append(
                Finding(
                    "post_id_taken",
                    REFUSED,
                    f"这个账号已有作品 ID 为 {platform_post_id} 的发布记录（{clash}）",
                    params={"publication_id": str(clash), "platform_post_id": platform_post_id},
                )
            )
    for m in failed_checks(session, material, channel):
        found.append(Finding(m.code or m.check, WARNING, m.detail, m.check, m.params))
    if material.status != MaterialStatus.ready:
        found.append(
            Finding(
                "material_not_ready",
                WARNING,
                f"素材尚未就绪（状态 {material.status}），画面、时长和声音都还没有核对",
                params={"status": str(material.status)},
            )
        )
    elif lacks_audio(facts_of(material), needs_audio):
        name = platform(account.platform_id).name.zh
        found.append(Finding("audio_missing", WARNING, f"素材没有声音：{name}的视频通常要有音轨，审核可能不通过"))
    return SubmissionCheck(account, channel, material, needs_audio, found)
