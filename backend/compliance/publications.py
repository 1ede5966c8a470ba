"""Publications: a material submitted to an account's channel, its reviews (approve, reject, withdraw,
resubmit) and the audit trail of every change."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend import i18n
from backend.catalogue.models import Material, MaterialStatus
from backend.changes import apply_changes
from backend.compliance.accounts import get_account
from backend.compliance.checks import check_submission
from backend.compliance.engine import require_aware, rule_words, to_engine_publication
from backend.compliance.models import AccountChannel, Publication, PublicationEvent, PublicationStatus
from backend.errors import (
    AlreadyResubmitted,
    BadRequest,
    DuplicatePostId,
    InvalidTransition,
    NotFound,
    PublicationDatesOutOfOrder,
    PublicationNotSubmitted,
    UnknownChannel,
    UnknownMaterial,
    ValidationFailed,
)
from backend.sqltypes import utcnow

# Clocks differ a little between a phone, the platform and this server: a date this far ahead still counts
# as "now"; anything later is refused as a date in the future.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass
class PublicationInput:
    material_id: uuid.UUID
    account_id: uuid.UUID
    channel_id: str
    submitted_at: datetime | None = None
    platform_post_id: str | None = None
    post_url: str | None = None
    status: PublicationStatus = PublicationStatus.pending
    approved_at: datetime | None = None
    rejected_at: datetime | None = None
    rejection_reason: str | None = None
    withdrawn_at: datetime | None = None
    note: str = ""
    override: Sequence[str] = ()  # submission checks to pass over (with override_reason)
    override_reason: str | None = None


_ACTION_WORDS = {
    action: {i18n.ZH: zh, i18n.EN: action}
    for action, zh in (("approve", "通过"), ("reject", "驳回"), ("withdraw", "撤回"), ("resubmit", "重新提交"))
}


def _status_words(status: str) -> dict[str, str]:
    return i18n.words(f"publication_status.{status}", str(status))


def _not_future(name: str, value: datetime | None, now: datetime) -> None:
    if value is not None and value > now + CLOCK_SKEW:
        raise PublicationDatesOutOfOrder(key="compliance.date-in-future", params={"name": name, "value": value.isoformat()})


def _check_engine(pub: Publication) -> None:
    """The engine's own checks on a publication's history, as a last line (messages name the dates)."""
    try:
        to_engine_publication(pub)
    except ValueError as exc:
        raise PublicationDatesOutOfOrder(str(exc), **rule_words(exc)) from exc


def _flush_publication(session: Session, pub: Publication) -> None:
    if pub.platform_post_id:
        with session.no_autoflush:
            clash = session.exec(
                select(Publication.id).where(
                    Publication.account_id == pub.account_id,
                    Publication.platform_post_id == pub.platform_post_id,
                    Publication.id != pub.id,
                )
            ).first()
        if clash is not None:
            raise DuplicatePostId(
                key="post-id-taken", params={"post_id": pub.platform_post_id, "publication": str(clash)},
                publication_id=str(clash),
            )
    session.add(pub)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # a concurrent request recorded the same post id
        raise DuplicatePostId(key="compliance.post-id-recorded", params={"post_id": pub.platform_post_id}) from exc


def _event(
    session: Session,
    pub: Publication,
    from_status: str | None,
    actor: uuid.UUID | None,
    note: str,
    effective_at: datetime | None,
) -> None:
    session.add(
        PublicationEvent(
            publication_id=pub.id,
            actor_key_id=actor,
            from_status=from_status,
            to_status=pub.status,
            note=note,
            effective_at=effective_at,
        )
    )


def record_publication(
    session: Session, data: PublicationInput, actor: uuid.UUID | None = None
) -> Publication:
    """Record a submission (pending), or import one already reviewed with its dates."""
    now = utcnow()
    for name in ("submitted_at", "approved_at", "rejected_at", "withdrawn_at"):
        require_aware(name, getattr(data, name))
        _not_future(name, getattr(data, name), now)
    status = PublicationStatus(data.status)
    reviewed = data.approved_at or data.rejected_at or data.withdrawn_at
    if data.submitted_at is None:
        if status != PublicationStatus.pending or reviewed:
            raise PublicationNotSubmitted(key="compliance.needs-submitted-at", params={"status": _status_words(status)})
        data.submitted_at = now
    if status == PublicationStatus.approved and data.approved_at is None:
        raise PublicationDatesOutOfOrder(key="compliance.approved-needs-date")
    if status == PublicationStatus.withdrawn and data.withdrawn_at is None:
        raise PublicationDatesOutOfOrder(key="compliance.withdrawn-needs-date")
    if status == PublicationStatus.rejected and data.rejected_at is None:
        data.rejected_at = data.submitted_at if not reviewed else data.rejected_at
    get_account(session, data.account_id)
    channel = session.exec(
        select(AccountChannel).where(
            AccountChannel.account_id == data.account_id, AccountChannel.channel_id == data.channel_id
        )
    ).first()
    if channel is None:
        raise UnknownChannel(key="channel-not-found", params={"account": str(data.account_id), "channel": data.channel_id})
    material = session.get(Material, data.material_id)
    if material is None:
        raise UnknownMaterial(key="material-does-not-exist", params={"id": str(data.material_id)})
    if material.status == MaterialStatus.deleted:
        raise UnknownMaterial(key="material-deleted-publish", params={"id": str(data.material_id)})
    note = data.note or "recorded"
    if status == PublicationStatus.pending:  # a submission now, not history imported with its review
        passed_over = check_submission(session, material, channel, data.override, data.override_reason)
        if passed_over:
            note = f"{note}；越过检查 " + "；".join(passed_over) + f"。理由：{(data.override_reason or '').strip()}"
    pub = Publication(
        material_id=data.material_id,
        account_id=data.account_id,
        channel_id=data.channel_id,
        submitted_at=data.submitted_at,
        platform_post_id=data.platform_post_id or None,
        post_url=data.post_url,
        status=status,
        approved_at=data.approved_at,
        rejected_at=data.rejected_at,
        rejection_reason=data.rejection_reason,
        withdrawn_at=data.withdrawn_at,
        created_by=actor,
    )
    _check_engine(pub)
    _flush_publication(session, pub)
    _event(session, pub, None, actor, note, reviewed or pub.submitted_at)
    session.flush()
    return pub


def get_publication(session: Session, publication_id: uuid.UUID) -> Publication:
    pub = session.get(Publication, publication_id)
    if pub is None:
        raise NotFound(key="publication-not-found", params={"id": str(publication_id)})
    return pub


_TRANSITIONS: dict[str, tuple[set[PublicationStatus], PublicationStatus]] = {
    "approve": ({PublicationStatus.pending}, PublicationStatus.approved),
    "reject": ({PublicationStatus.pending}, PublicationStatus.rejected),
    "withdraw": ({PublicationStatus.pending, PublicationStatus.approved}, PublicationStatus.withdrawn),
}


def transition(
    session: Session,
    publication_id: uuid.UUID,
    action: str,
    *,
    at: datetime | None = None,
    reason: str | None = None,
    note: str = "",
    actor: uuid.UUID | None = None,
) -> Publication:
    """approve / reject / withdraw a publication, recording the change in its audit trail."""
    if action not in _TRANSITIONS:
        raise BadRequest(key="compliance.action-unknown", params={"action": action})
    pub = get_publication(session, publication_id)
    allowed, target = _TRANSITIONS[action]
    if pub.status not in allowed:
        raise InvalidTransition(
            key="compliance.transition-resubmit" if pub.status == PublicationStatus.rejected else "compliance.transition-invalid",
            params={"action": _ACTION_WORDS.get(action, action), "status": _status_words(pub.status)},
            current_status=str(pub.status),
        )
    now = utcnow()
    at = require_aware("at", at) or now
    _not_future("at", at, now)
    previous = pub.approved_at or pub.submitted_at
    if at < previous:
        what = {i18n.ZH: "通过", i18n.EN: "approval"} if pub.approved_at else {i18n.ZH: "提交", i18n.EN: "submission"}
        raise PublicationDatesOutOfOrder(key="compliance.action-before-previous", params={
            "action": _ACTION_WORDS.get(action, action), "at": at.isoformat(), "what": what, "previous": previous.isoformat(),
        })
    if action == "reject" and not (reason or "").strip():
        raise ValidationFailed(key="rejection-needs-reason")
    from_status = pub.status
    pub.status = target
    if target == PublicationStatus.approved:
        pub.approved_at = at
    elif target == PublicationStatus.rejected:
        pub.rejected_at, pub.rejection_reason = at, reason
    else:
        pub.withdrawn_at = at
    pub.updated_at = now
    _check_engine(pub)
    session.add(pub)
    _event(session, pub, from_status, actor, note or (reason or ""), at)
    session.flush()
    return pub


def resubmit(
    session: Session,
    publication_id: uuid.UUID,
    *,
    submitted_at: datetime | None = None,
    platform_post_id: str | None = None,
    post_url: str | None = None,
    note: str = "",
    override: Sequence[str] = (),
    override_reason: str | None = None,
    actor: uuid.UUID | None = None,
) -> Publication:
    """Submit a rejected or withdrawn publication's material again: a new publication, linked to the old."""
    old = get_publication(session, publication_id)
    if old.status not in (PublicationStatus.rejected, PublicationStatus.withdrawn):
        raise InvalidTransition(
            key="compliance.resubmit-not-allowed", params={"status": _status_words(old.status)}, current_status=str(old.status)
        )
    # One resubmission per publication: a second (a double click, two people at once) would put the same
    # material in review twice; a resubmission turned down again is resubmitted itself.
    newer = resubmissions_of(session, [old]).get(old.id)
    if newer is not None:
        raise AlreadyResubmitted(
            key="compliance.already-resubmitted", params={"id": str(old.id), "newer": str(newer)}, resubmitted_as=str(newer)
        )
    ended = old.rejected_at or old.withdrawn_at or old.submitted_at
    at = require_aware("submitted_at", submitted_at) or utcnow()
    if at < ended:
        raise PublicationDatesOutOfOrder(
            key="compliance.resubmit-before-review-ended", params={"at": at.isoformat(), "ended": ended.isoformat()}
        )
    new = record_publication(
        session,
        PublicationInput(
            material_id=old.material_id,
            account_id=old.account_id,
            channel_id=old.channel_id,
            submitted_at=at,
            platform_post_id=platform_post_id,
            post_url=post_url,
            note=note or f"resubmission of {old.id}",
            override=override,
            override_reason=override_reason,
        ),
        actor,
    )
    new.resubmission_of = old.id
    session.add(new)
    session.flush()
    return new


def resubmissions_of(session: Session, pubs: Iterable[Publication]) -> dict[uuid.UUID, uuid.UUID]:
    """publication id -> the publication that submitted it again, for those of `pubs` that were. Only
    rejected and withdrawn publications are resubmitted; a resubmission has its original's material, so
    the material index finds it (resubmission_of has none)."""
    ended = [p for p in pubs if p.status in (PublicationStatus.rejected, PublicationStatus.withdrawn)]
    if not ended:
        return {}
    stmt = select(Publication.id, Publication.resubmission_of).where(
        col(Publication.material_id).in_({p.material_id for p in ended}),
        col(Publication.resubmission_of).in_([p.id for p in ended]),
    )
    return {old: new for new, old in session.exec(stmt) if old is not None}


def update_publication(session: Session, publication_id: uuid.UUID, changes: dict[str, Any]) -> Publication:
    """Fill in what the platform gave later: the post id and URL (statuses change through transitions)."""
    pub = get_publication(session, publication_id)
    apply_changes(pub, {key: value or None for key, value in changes.items()}, {"platform_post_id", "post_url"},
                  hint={"zh-CN": "请用审核通过、不通过或撤回操作", "en": "use the approve/reject/withdraw actions"})
    _flush_publication(session, pub)
    return pub


@dataclass
class PublicationQuery:
    account_id: uuid.UUID | None = None
    channel_id: str | None = None
    status: PublicationStatus | None = None
    material_id: uuid.UUID | None = None
    submitted_from: datetime | None = None
    submitted_before: datetime | None = None
    limit: int = 100
    offset: int = 0


def list_publications(session: Session, query: PublicationQuery) -> list[Publication]:
    stmt = select(Publication)
    if query.account_id:
        stmt = stmt.where(Publication.account_id == query.account_id)
    if query.channel_id:
        stmt = stmt.where(Publication.channel_id == query.channel_id)
    if query.status:
        stmt = stmt.where(Publication.status == query.status)
    if query.material_id:
        stmt = stmt.where(Publication.material_id == query.material_id)
    if query.submitted_from:
        stmt = stmt.where(Publication.submitted_at >= query.submitted_from)
    if query.submitted_before:
        stmt = stmt.where(Publication.submitted_at < query.submitted_before)
    stmt = (
        stmt.order_by(col(Publication.submitted_at).desc(), col(Publication.id))
        .offset(query.offset)
        .limit(query.limit)
    )
    return list(session.exec(stmt))


def events_of(
    session: Session, publication_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[PublicationEvent]]:
    ids = list(publication_ids)
    out: dict[uuid.UUID, list[PublicationEvent]] = {i: [] for i in ids}
    if ids:
        stmt = (
            select(PublicationEvent)
            .where(col(PublicationEvent.publication_id).in_(ids))
            .order_by(col(PublicationEvent.id))
        )
        for event in session.exec(stmt):
            out[event.publication_id].append(event)
    return out

