"""Request and response models of the compliance API: accounts, channels, publications, reports."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.compliance.models import ManualState, PublicationStatus
from backend.text import Count, Day, Instant, MultilineText, Number, PartialUpdate, Text, ZoneName, unchanged

CountBy = Literal["approval_date", "submission_date"]
ThresholdSource = Literal["own", "prerequisites"]
OpeningMonth = Literal["exempt", "prorated", "full"]
Opens = Literal["automatically", "on_application"]
MediaKind = Literal["video", "image", "audio"]
Aspect = Annotated[str, Field(pattern=r"^[1-9][0-9]*:[1-9][0-9]*$", examples=["3:4"])]
Check = Literal["media_type", "aspect", "duration", "duplicate"]
ChannelId = Annotated[Text, Field(max_length=100, examples=["video"])]


class AccountCreate(BaseModel):
    platform_id: Text = Field(max_length=64, examples=["tmall"])
    name: Text = Field(min_length=1, max_length=200, examples=["旗舰店"])
    store_id: Text | None = Field(default=None, max_length=200)
    store_url: Text | None = Field(default=None, max_length=1000)
    timezone: ZoneName = "Asia/Shanghai"
    approval_rate: Number | None = Field(default=None, ge=0, le=1)


class AccountUpdate(PartialUpdate):
    name: Text = unchanged(min_length=1, max_length=200)
    store_id: Text | None = Field(default=None, max_length=200)
    store_url: Text | None = Field(default=None, max_length=1000)
    timezone: ZoneName = unchanged()
    approval_rate: Number | None = Field(default=None, ge=0, le=1)


class ChannelPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    channel_id: str
    name_zh: str
    name_en: str
    position: int
    requires: list[str]
    opening_threshold: int
    threshold_source: ThresholdSource
    monthly_minimum: int
    opening_month: OpeningMonth
    daily_cap: int | None
    monthly_cap: int | None
    count_by: CountBy
    opens: Opens
    media_types: list[MediaKind]
    aspects: list[str] | None
    min_duration_s: float | None
    max_duration_s: float | None
    overridden: list[str] = Field(
        description="Rule fields changed from the platform's rules for this account"
    )
    from_platform_rules: bool
    manual_state: ManualState | None
    manual_effective_on: date | None
    manual_reason: str | None
    manual_recorded_by: str | None
    manual_recorded_at: datetime | None


class ChannelRuleFields(PartialUpdate):
    """Rule fields; one left out keeps its value (the platform's rule when creating). The nullable
    ones (caps, aspects, durations) take null for "no bound"; the others refuse it."""

    name_zh: Text = unchanged(min_length=1, max_length=100)
    name_en: Text = unchanged(min_length=1, max_length=100)
    requires: list[ChannelId] = unchanged(max_length=50)
    opening_threshold: Count = unchanged()
    threshold_source: ThresholdSource = unchanged()
    monthly_minimum: Count = unchanged()
    opening_month: OpeningMonth = unchanged()
    daily_cap: Count | None = None
    monthly_cap: Count | None = None
    count_by: CountBy = unchanged()
    opens: Opens = unchanged()
    media_types: list[MediaKind] = unchanged(min_length=1)
    aspects: list[Aspect] | None = Field(default=None, min_length=1, max_length=50, description="null: any aspect")
    min_duration_s: Number | None = Field(default=None, ge=0)
    max_duration_s: Number | None = Field(default=None, gt=0)


class ChannelCreate(ChannelRuleFields):
    channel_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$", max_length=100)
    name_zh: Text = Field(min_length=1, max_length=100)
    name_en: Text = Field(min_length=1, max_length=100)


class ChannelUpdate(ChannelRuleFields):
    """Rule overrides for this account, and what the platform decided by hand (null manual_state clears)."""

    manual_state: ManualState | None = None
    manual_effective_on: Day | None = Field(default=None, description="Local date in the account's timezone")
    manual_reason: MultilineText | None = Field(default=None, max_length=2000)
    manual_recorded_by: Text | None = Field(default=None, max_length=200)


class ChannelOpening(BaseModel):
    """The platform opened the channel for the store (e.g. T-mall 视频 after the store applied)."""

    opened_on: Day = Field(description="Local date in the account's timezone", examples=["2026-11-03"])
    opened_by: Text | None = Field(
        default=None, max_length=200, description="Who recorded it; default: the API key's name"
    )
    note: MultilineText = Field(default="", max_length=2000, examples=["千牛后台通知：视频频道已开通"])


class AccountPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    platform_id: str
    name: str
    store_id: str | None
    store_url: str | None
    timezone: str
    approval_rate: float | None
    created_at: datetime
    updated_at: datetime
    channels: list[ChannelPublic] = []


class PublicationCreate(BaseModel):
    material_id: uuid.UUID
    account_id: uuid.UUID
    channel_id: ChannelId
    submitted_at: Instant | None = Field(
        default=None, description="Default: now (for a pending submission)"
    )
    platform_post_id: Text | None = Field(default=None, max_length=200)
    post_url: Text | None = Field(default=None, max_length=1000)
    status: PublicationStatus = PublicationStatus.pending
    approved_at: Instant | None = None
    rejected_at: Instant | None = None
    rejection_reason: MultilineText | None = Field(default=None, max_length=2000)
    withdrawn_at: Instant | None = None
    note: MultilineText = Field(default="", max_length=2000)
    override: list[Check] = Field(
        default=[], description="Submission checks to pass over (kept in the audit trail with the reason)"
    )
    override_reason: MultilineText | None = Field(default=None, max_length=2000)


class PublicationCheck(BaseModel):
    """A submission to check before it is recorded (nothing is written)."""

    material_id: uuid.UUID
    account_id: uuid.UUID
    channel_id: ChannelId
    platform_post_id: Text | None = Field(
        default=None, max_length=200, description="Checked against the account's recorded post ids when given"
    )


FindingCode = Literal[
    "media_type",
    "aspect",
    "duration_long",
    "duration_short",
    "duplicate",
    "duplicate_copy",
    "audio_missing",
    "material_not_ready",
    "material_deleted",
    "post_id_taken",
]


class CheckFinding(BaseModel):
    code: FindingCode = Field(description="Stable; a client words the finding from it and `params`")
    severity: Literal["refused", "warning"] = Field(
        description="refused: the submission cannot be recorded, whatever is passed over; warning: it can"
    )
    check: Check | None = Field(
        description="The submission check to list in `override` (with `override_reason`) to submit anyway; "
        "null: nothing to pass over (a refusal, or a warning the submission goes through with)"
    )
    type: str | None = Field(description="The problem type recording the submission would answer for this check")
    detail: str = Field(description="The finding in Chinese, as a problem detail words it")
    params: dict[str, Any] = Field(
        description="The figures behind it: aspect, width, height, accepted; duration_s, max_duration_s, "
        "min_duration_s; media_type; publication_id, status, material_id; platform_post_id"
    )


class CheckedMaterial(BaseModel):
    id: uuid.UUID
    title: str
    status: str
    media_type: str
    width: int | None
    height: int | None
    aspect: str | None = Field(examples=["3:4"])
    duration_s: float | None
    has_audio: bool


class CheckedChannel(BaseModel):
    channel_id: str
    name_zh: str
    name_en: str
    media_types: list[MediaKind]
    aspects: list[str] | None
    min_duration_s: float | None
    max_duration_s: float | None
    needs_audio: bool = Field(description="Every preset reelhouse has for the platform carries a sound track")


class SubmissionCheckPublic(BaseModel):
    verdict: Literal["fits", "warning", "refused"] = Field(
        description="fits: record it as it is; warning: it can be recorded (passing over `override` with a "
        "reason when that is not empty); refused: recording it would be refused whatever is passed over"
    )
    override: list[Check] = Field(description="The checks to pass over to record it (empty: none)")
    findings: list[CheckFinding]
    account_id: uuid.UUID
    timezone: str
    material: CheckedMaterial
    channel: CheckedChannel


class PublicationUpdate(BaseModel):
    platform_post_id: Text | None = Field(default=None, max_length=200)
    post_url: Text | None = Field(default=None, max_length=1000)


class Transition(BaseModel):
    at: Instant | None = Field(
        default=None, description="When the platform made the change; default now"
    )
    reason: MultilineText | None = Field(default=None, max_length=2000, description="Required to reject")
    note: MultilineText = Field(default="", max_length=2000)


class Resubmission(BaseModel):
    submitted_at: Instant | None = None
    platform_post_id: Text | None = Field(default=None, max_length=200)
    post_url: Text | None = Field(default=None, max_length=1000)
    note: MultilineText = Field(default="", max_length=2000)
    override: list[Check] = []
    override_reason: MultilineText | None = Field(default=None, max_length=2000)


class EventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    actor_key_id: uuid.UUID | None
    recorded_at: datetime
    effective_at: datetime | None
    from_status: str | None
    to_status: str
    note: str


class PublicationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    material_id: uuid.UUID
    account_id: uuid.UUID
    channel_id: str
    submitted_at: datetime
    platform_post_id: str | None
    post_url: str | None
    status: PublicationStatus
    rejection_reason: str | None
    approved_at: datetime | None
    rejected_at: datetime | None
    withdrawn_at: datetime | None
    resubmission_of: uuid.UUID | None
    resubmitted_as: uuid.UUID | None = Field(
        default=None, description="The publication that submitted this rejected or withdrawn one again, if any"
    )
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    events: list[EventPublic] = []


class ReportPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_serialization_defaults_required=True)

    id: int
    kind: str
    period: str
    as_of: datetime
    generated_at: datetime
    summary: dict[str, Any]
    webhook_sent_at: datetime | None
    files: dict[str, str] = Field(default_factory=dict, description="Download link per format")
