"""What could still fill a channel's gap beyond ready clips: drafts waiting for review (automatic re-edits)
and open clip proposals not rendered yet, only those that fit the channel (media type, aspect, duration).

A draft fits by its own facts. A proposal is a range of a recording: it fits when its duration is within the
channel's bounds and a preset of the account's platform renders it into an aspect the channel takes (and
allows that duration); that preset is named, so the team knows what to render it with.

The proposals are read as plain columns of the `proposal` table: the autoclip domain reads quota positions
from compliance, so compliance does not import it back (import-linter: no cycles between domains).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from backend.catalogue.models import Material, MaterialKind, MaterialStatus, ReviewState, Tag
from backend.compliance.accounts import platform_catalog
from backend.compliance.checks import bounds_of
from backend.compliance.fit import Bounds, Facts, aspect_fits, misfits
from backend.compliance.loader import MaterialRef, chunks, materials_with_sources
from backend.compliance.models import AccountChannel, Publication, PublicationStatus

POOL = 500  # newest drafts, and best-scored open proposals, considered
KIND_NAMES = {
    "zh": {"draft": "草稿（待审核）", "proposal": "片段提议（待渲染）"},
    "en": {"draft": "draft (awaiting review)", "proposal": "proposal (not rendered)"},
}
PROPOSAL_TYPES = {"demo": "产品展示", "qa": "问答", "offer": "优惠", "highlight": "高光"}

_PROPOSAL = sa.table(
    "proposal",
    sa.column("id", sa.Uuid()), sa.column("material_id", sa.Uuid()), sa.column("type", sa.String()),
    sa.column("product_tag_id", sa.Integer()), sa.column("start_s", sa.Float()), sa.column("end_s", sa.Float()),
    sa.column("score", sa.Float()), sa.column("status", sa.String()), sa.column("created_at", sa.DateTime()),
)


@dataclass
class GapCandidate:
    """A draft or a proposal offered for one channel's gap."""

    channel_id: str
    kind: str  # draft | proposal
    id: uuid.UUID  # the draft material's id, or the proposal's
    title: str
    source: MaterialRef  # the recording it comes from
    duration_s: float | None
    preset_id: str | None  # the draft's preset; for a proposal, the preset to render it with
    start_s: float | None = None  # a proposal's range of the source
    end_s: float | None = None
    proposal_type: str | None = None
    product: str | None = None
    score: float | None = None


@dataclass
class _Draft:
    id: uuid.UUID
    title: str
    preset_id: str | None
    facts: Facts


@dataclass
class _Proposal:
    id: uuid.UUID
    material_id: uuid.UUID
    type: str
    product: str | None
    start: float
    end: float
    score: float


@dataclass
class Gap:
    """One channel's gap: how many more it takes, and what it accepts."""

    account_id: uuid.UUID
    platform_id: str
    channel: AccountChannel
    remaining: int


@dataclass
class _Pool:
    drafts: list[_Draft] = field(default_factory=list)
    published: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    proposals: list[_Proposal] = field(default_factory=list)


def _facts(row: Any) -> Facts:
    media_type, dw, dh, w, h, rotation, duration = row
    if not (dw and dh) and w and h:
        dw, dh = (h, w) if (rotation or 0) % 180 == 90 else (w, h)
    return Facts(str(media_type), dw, dh, duration)


def _load(session: Session, account_ids: Iterable[uuid.UUID]) -> _Pool:
    conn = session.connection()
    m = Material.__table__  # type: ignore[attr-defined]
    pool = _Pool()
    for row in conn.execute(
        sa.select(m.c.id, m.c.title, m.c.preset_id, m.c.media_type, m.c.display_width, m.c.display_height,
                  m.c.width, m.c.height, m.c.rotation, m.c.duration_s)
        .where(m.c.kind == MaterialKind.derived.value, m.c.status == MaterialStatus.ready.value,
               m.c.review_state == ReviewState.draft.value)
        .order_by(m.c.created_at.desc(), m.c.id).limit(POOL)
    ):
        pool.drafts.append(_Draft(row[0], row[1], row[2], _facts(row[3:])))
    p = Publication.__table__  # type: ignore[attr-defined]
    accounts = list(account_ids)
    for chunk in chunks([d.id for d in pool.drafts]):
        pool.published.update(
            (a, mid) for a, mid in conn.execute(
                sa.select(p.c.account_id, p.c.material_id).where(
                    p.c.material_id.in_(chunk), p.c.account_id.in_(accounts),
                    p.c.status != PublicationStatus.rejected.value,
                )
            )
        )
    t = Tag.__table__  # type: ignore[attr-defined]
    q = _PROPOSAL.c
    for prow in conn.execute(
        sa.select(q.id, q.material_id, q.type, t.c.name_zh, t.c.name_en, q.start_s, q.end_s, q.score)
        .select_from(_PROPOSAL.join(m, m.c.id == q.material_id).outerjoin(t, t.c.id == q.product_tag_id))
        .where(q.status == "proposed", m.c.status == MaterialStatus.ready.value)
        .order_by(q.score.desc(), q.created_at.desc(), q.id).limit(POOL)
    ):
        pool.proposals.append(_Proposal(prow[0], prow[1], prow[2], prow[3] or prow[4], prow[5], prow[6], prow[7]))
    return pool


def render_preset(platform_id: str, channel_id: str, bounds: Bounds, duration_s: float) -> str | None:
    """The preset of the platform that renders a clip of this duration into an aspect the channel takes,
    the channel's own first (tmall.shipai_3x4 for 实拍); None: the channel takes no video, or no preset fits."""
    if "video" not in bounds.media_types:
        return None
    try:
        presets = platform_catalog().platform(platform_id).presets
    except KeyError:
        return None
    own = f"{platform_id}.{channel_id}_"
    for preset in sorted(presets, key=lambda p: not p.id.startswith(own)):
        w, h = preset.width.value, preset.height.value
        if bounds.aspects and not aspect_fits(w, h, bounds.aspects):
            continue
        low = preset.min_duration_s.value if preset.min_duration_s else None
        high = preset.max_duration_s.value if preset.max_duration_s else None
        if (low is not None and duration_s < low) or (high is not None and duration_s > high):
            continue
        return preset.id
    return None


def _duration_fits(bounds: Bounds, d: float) -> bool:
    return not (
        (bounds.min_duration_s is not None and d < bounds.min_duration_s)
        or (bounds.max_duration_s is not None and d > bounds.max_duration_s)
    )


def gap_candidates(session: Session, gaps: list[Gap]) -> dict[uuid.UUID, list[GapCandidate]]:
    """Per account, up to each gap's `remaining`: drafts that fit the channel (newest first), then open
    proposals that fit it (best score first). Each draft or proposal is offered once per account."""
    wanted = [g for g in gaps if g.remaining > 0]
    if not wanted:
        return {}
    pool = _load(session, {g.account_id for g in wanted})
    if not pool.drafts and not pool.proposals:
        return {}
    out: dict[uuid.UUID, list[GapCandidate]] = {}
    raw: list[tuple[uuid.UUID, GapCandidate, uuid.UUID]] = []  # (account, candidate, material for the lineage walk)
    taken: dict[uuid.UUID, set[uuid.UUID]] = {}
    for gap in wanted:
        bounds = bounds_of(gap.channel)
        mine = taken.setdefault(gap.account_id, set())
        left = gap.remaining
        for d in pool.drafts:
            if left == 0:
                break
            if d.id in mine or (gap.account_id, d.id) in pool.published or misfits(d.facts, bounds):
                continue
            mine.add(d.id)
            left -= 1
            raw.append((gap.account_id, GapCandidate(
                gap.channel.channel_id, "draft", d.id, d.title, MaterialRef(d.id, d.title, "derived"),
                d.facts.duration_s, d.preset_id,
            ), d.id))
        for p in pool.proposals:
            if left == 0:
                break
            duration = round(p.end - p.start, 3)
            if p.id in mine or not _duration_fits(bounds, duration):
                continue
            preset = render_preset(gap.platform_id, gap.channel.channel_id, bounds, duration)
            if preset is None:
                continue
            mine.add(p.id)
            left -= 1
            raw.append((gap.account_id, GapCandidate(
                gap.channel.channel_id, "proposal", p.id, "", MaterialRef(p.material_id, "", "source"), duration,
                preset, p.start, p.end, p.type, p.product, p.score,
            ), p.material_id))
    walked, roots = materials_with_sources(session, {mid for _, _, mid in raw})
    for account_id, c, mid in raw:
        c.source = roots.get(mid, walked.get(mid, c.source))
        if c.kind == "proposal":
            c.title = proposal_title(c)
        out.setdefault(account_id, []).append(c)
    return out


def clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def proposal_title(c: GapCandidate) -> str:
    """A proposal as the team names it: 「保温杯专场」 0:12:03-0:12:41 优惠 · 保温杯."""
    kind = PROPOSAL_TYPES.get(c.proposal_type or "", c.proposal_type or "")
    product = f" · {c.product}" if c.product else ""
    return f"「{c.source.title}」 {clock(c.start_s or 0)}-{clock(c.end_s or 0)} {kind}{product}"
