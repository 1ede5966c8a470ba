"""Request and response models of the autoclip API (analyses, transcripts, session data)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.renders.schemas import JobPublic
from backend.renders.service import PresetId
from backend.text import MultilineText, Number, Text


class AnalysisSummary(BaseModel):
    """What an analysis found, in counts: enough to list versions without their signals."""

    duration_s: float | None = None
    speech_segments: int = 0
    pauses: int = 0
    shot_changes: int = 0
    faces_seen: int = 0
    text_lines: int = 0
    products: list[int] = []  # product tag ids seen on screen
    session_peaks: int = 0
    sampling: str | None = None


class AnalysisPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    material_id: uuid.UUID
    version: int
    analyser_version: int | None
    status: str
    progress: float
    attempts: int
    inputs: dict[str, Any]
    error_code: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    summary: AnalysisSummary | None = None
    signals: dict[str, Any] | None = None  # only when one analysis is read
    links: dict[str, str] = {}


class TranscriptSegmentPublic(BaseModel):
    start: float
    end: float
    text: str


class TranscriptPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    material_id: uuid.UUID
    source: str
    filename: str | None
    segment_count: int
    first_segments: list[TranscriptSegmentPublic]
    created_at: datetime


class SessionSeriesPublic(BaseModel):
    start: float
    step: float
    points: int
    max: float


class SessionDataPublic(BaseModel):
    id: int
    material_id: uuid.UUID
    filename: str | None
    offset_s: float
    series: dict[str, SessionSeriesPublic]
    created_at: datetime


class ProposalsCreate(BaseModel):
    """How many clips to propose and their duration bounds (a target preset's or channel's)."""

    model_config = ConfigDict(extra="forbid")
    count: int = Field(default=8, ge=1, le=50, strict=True)
    min_s: Number = Field(default=15.0, gt=0, le=3600, description="Shortest clip, seconds")
    max_s: Number = Field(default=60.0, gt=0, le=3600, description="Longest clip, seconds")

    @model_validator(mode="after")
    def _bounds(self) -> ProposalsCreate:
        if self.max_s < self.min_s:
            raise ValueError("max_s must be at least min_s")
        return self


class ProposalUpdate(BaseModel):
    """New in and/or out point, seconds of the source."""

    model_config = ConfigDict(extra="forbid")
    start: Number | None = Field(default=None, ge=0, le=1_000_000)
    end: Number | None = Field(default=None, gt=0, le=1_000_000)


class ReasonPublic(BaseModel):
    code: str
    text_zh: str
    text_en: str
    start: float | None = None
    end: float | None = None
    value: float | str | None = None


class StoryboardPublic(BaseModel):
    """A strip of frames across the proposal's range, each stamped with its time in the source (JPEG)."""

    url: str
    times: list[float] = Field(description="Source seconds each frame shows, left to right")
    width: int
    height: int


class ProposalPublic(BaseModel):
    id: uuid.UUID
    analysis_id: uuid.UUID
    material_id: uuid.UUID
    type: str  # demo, qa, offer, highlight
    product_tag_id: int | None
    start: float
    end: float
    duration: float
    score: float
    reasons: list[ReasonPublic]
    status: str
    storyboard: StoryboardPublic | None = Field(
        default=None, description="None until the worker made it for the current range (moving a point makes a new one)"
    )
    created_at: datetime
    updated_at: datetime
    links: dict[str, str] = {}


class ProposalsRender(BaseModel):
    """Render chosen proposals as drafts: one job per proposal, every preset in each."""

    model_config = ConfigDict(extra="forbid")
    proposal_ids: list[uuid.UUID] = Field(min_length=1, max_length=50)
    preset_ids: list[PresetId] = Field(min_length=1, max_length=20)
    rule_id: Text | None = Field(
        default=None, max_length=100, description="The channel rule the clips are made for, kept in their lineage"
    )


class DraftJobPublic(BaseModel):
    proposal_id: uuid.UUID
    job: JobPublic


class ReviewDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    reason: MultilineText | None = Field(default=None, max_length=2000, examples=["开头口播被截断"])


class ChannelPlanPublic(BaseModel):
    """How many clips to propose today for one channel, and the figures that give it."""

    channel_id: str
    name_zh: str
    name_en: str
    state: str
    month: str
    required: int
    approved: int
    pending: int
    approval_rate: float
    expected_from_pending: float = Field(description="approval_rate x pending")
    missing: float = Field(description="Approvals still to find: required - approved - expected_from_pending")
    shortfall: int = Field(description="Clips to submit this month for `missing` approvals at the approval rate")
    days_left: int = Field(description="Days left in the month, today included")
    per_day: int = Field(description="The shortfall spread over the days left, rounded up")
    extra: int
    propose_today: int = Field(description="per_day + extra (0 when nothing is missing)")


class ClipPlanPublic(BaseModel):
    account_id: uuid.UUID
    as_of: datetime
    channels: list[ChannelPlanPublic]


# --------------------------------------------------------------------------- rules


RuleName = Annotated[Text, Field(min_length=1, max_length=200, examples=["直播切片 → 抖音/小红书/天猫"])]
TagRef = Annotated[Text, Field(min_length=1, max_length=200, examples=["content_type:直播"])]
ClipSeconds = Annotated[Number, Field(gt=0, le=3600)]
RuleCount = Annotated[int, Field(ge=1, le=50, strict=True)]


class RuleMatch(BaseModel):
    """Which ingested materials a rule takes: a source video carrying all these tags."""

    model_config = ConfigDict(extra="forbid")
    tags: list[TagRef] = Field(default=[], max_length=20, description="Tag refs 'category:name' (all required)")
    kind: Literal["source"] = Field(default="source", description="Only source videos (recordings) trigger rules")


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: RuleName
    enabled: bool = True
    match: RuleMatch
    account_ids: list[uuid.UUID] = Field(
        default=[], max_length=20,
        description="When set, the clip count is these accounts' largest quota shortfall (the plan), capped by `count`",
    )
    count: RuleCount
    min_s: ClipSeconds
    max_s: ClipSeconds
    preset_ids: list[PresetId] = Field(min_length=1, max_length=20)


class RuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: RuleName | None = None
    enabled: bool | None = None
    match: RuleMatch | None = None
    account_ids: list[uuid.UUID] | None = Field(default=None, max_length=20)
    count: RuleCount | None = None
    min_s: ClipSeconds | None = None
    max_s: ClipSeconds | None = None
    preset_ids: list[PresetId] | None = Field(default=None, min_length=1, max_length=20)


class RulePublic(BaseModel):
    id: uuid.UUID
    name: str
    enabled: bool
    match: RuleMatch
    account_ids: list[uuid.UUID]
    count: int
    min_s: float
    max_s: float
    preset_ids: list[str]
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    links: dict[str, str]


class RuleDryRun(BaseModel):
    """What the rule would do (nothing is written): for one material, whether it matches and why, and the
    clips it would ask for; without a material, the ready materials it matches (newest 100)."""

    rule_id: uuid.UUID
    material_id: uuid.UUID | None = None
    matched: bool | None = None
    would_start: bool | None = None
    reasons: list[str] = []
    clip_count: int
    min_s: float
    max_s: float
    preset_ids: list[str]
    existing_run_id: uuid.UUID | None = None
    materials: list[uuid.UUID] | None = None


class RunPublic(BaseModel):
    id: uuid.UUID
    rule_id: uuid.UUID
    material_id: uuid.UUID
    analysis_id: uuid.UUID | None
    status: Literal["queued", "analysing", "proposing", "rendering", "done", "failed"]
    progress: float = Field(description="0..1: the analysis is the first half, the draft renders the second")
    origin: Literal["ingest", "backfill"]
    clip_count: int
    job_ids: list[uuid.UUID]
    error: str | None
    created_at: datetime
    updated_at: datetime
    links: dict[str, str]


class BackfillRequest(BaseModel):
    """Apply a rule to recordings already in the catalogue."""

    model_config = ConfigDict(extra="forbid")
    since: datetime | None = Field(default=None, description="Only recordings ingested at or after this instant (with a timezone)")
    limit: int = Field(default=20, ge=1, le=100, strict=True, description="At most this many recordings, newest first")
    dry_run: bool = Field(default=False, description="Say which recordings would get a run; write nothing")


class BackfillMaterial(BaseModel):
    material_id: uuid.UUID
    title: str
    created_at: datetime
    matched: bool
    clip_count: int
    reuses_analysis: bool = Field(description="Its current analysis is reused: proposals without decoding again")
    reasons: list[str]
    run_id: uuid.UUID | None = Field(default=None, description="The run started (none in a dry run)")


class BackfillPublic(BaseModel):
    rule_id: uuid.UUID
    dry_run: bool
    since: datetime | None
    limit: int
    started: int
    materials: list[BackfillMaterial]
    links: dict[str, str]
