"""Platform presets and channel rules as validated, immutable data.

Platform figures (sizes, durations, limits) are `Figure`s: each carries its value and the source it
comes from, including whether the platform documents it or it is only commonly cited. Encoder knobs
(crf, x264 speed and motion search, GOP) are reelhouse's own choices and stay plain values; crf, x264 speed
and motion search are tuned per family of presets (frame + max rate) by bench/encoder_tuning.py and written
on each shipped preset.
"""

from __future__ import annotations

import re
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

T = TypeVar("T")

FigureStatus = Literal["documented", "commonly_cited"]
Fit = Literal["crop", "pad", "smart"]
ReframeFallback = Literal["centre", "pad"]
CountBy = Literal["approval_date", "submission_date"]
Opening = Literal["automatically", "on_application"]
MediaKind = Literal["video", "image", "audio"]

_ID = r"^[a-z0-9][a-z0-9_.\-]*$"
_ASPECT = re.compile(r"^(\d+):(\d+)$")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(Frozen):
    """Where a figure comes from. `ref` is a URL or a page/document name a person can look up."""

    status: FigureStatus
    ref: str = Field(min_length=3)
    note: str = ""
    checked: str | None = None  # YYYY-MM or YYYY-MM-DD when someone last compared it with `ref`


class Figure(Frozen, Generic[T]):
    value: T
    source: Source

    @property
    def documented(self) -> bool:
        return self.source.status == "documented"


class Names(Frozen):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Loudness(Frozen):
    integrated_lufs: Figure[float]
    true_peak_dbtp: Figure[float]

    @field_validator("integrated_lufs")
    @classmethod
    def _lufs_range(cls, v: Figure[float]) -> Figure[float]:
        if not -70 <= v.value <= -5:
            raise ValueError("integrated loudness must be between -70 and -5 LUFS")
        return v


class SafeZone(Frozen):
    """Fractions of the frame hidden by the app's own UI, measured from each edge."""

    top: float = Field(ge=0, lt=0.5)
    bottom: float = Field(ge=0, lt=0.5)
    left: float = Field(ge=0, lt=0.5)
    right: float = Field(ge=0, lt=0.5)


class CoverSpec(Frozen):
    width: Figure[int]
    height: Figure[int]


class X264Params(Frozen):
    """x264 options beyond the speed preset, passed as `-x264-params`. Only the motion search may be changed
    (an allow-list: unknown keys are refused, and the values are literals or bounded integers, so a preset
    file cannot put arbitrary text into the ffmpeg argv). Unset keys keep what the speed preset chooses
    (`veryfast`: me=hex, subme=2)."""

    # Motion search pattern: dia (diamond, radius 1, the cheapest), hex (radius 2), umh (uneven multi-hexagon).
    me: Literal["dia", "hex", "umh"] | None = None
    # Subpixel refinement and mode decision: 1 (SAD mode decision, one quarter-pixel iteration: the fastest),
    # 2 (SATD mode decision: veryfast's) ... 7 (rate-distortion decision on every frame). 0 (full pixels only) is refused.
    subme: int | None = Field(default=None, ge=1, le=7)

    def argv_value(self) -> str:
        """`me=dia:subme=1`; empty when nothing is set."""
        return ":".join(f"{k}={v}" for k, v in self.model_dump(exclude_none=True).items())


class RenditionPreset(Frozen):
    id: str = Field(pattern=_ID)
    platform: str = Field(pattern=_ID)
    label: Names
    aspect: Figure[str]
    width: Figure[int]
    height: Figure[int]
    fit: Fit = "crop"
    # What a smart reframe shows in a shot with no subject, or with two people who cannot share the window:
    # the centre crop, or the whole frame padded over a blurred copy of itself.
    reframe_fallback: ReframeFallback = "centre"
    fps_cap: Figure[float]
    video_codec: Figure[Literal["h264"]]
    profile: Literal["baseline", "main", "high"] = "high"
    level: str = Field(default="4.1", pattern=r"^\d(\.\d)?$")
    x264_preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower"
    ] = "veryfast"
    crf: int = Field(default=21, ge=0, le=51)
    # Motion search settings on top of x264_preset, tuned per family like crf (see X264Params).
    x264_params: X264Params | None = None
    maxrate_kbps: int = Field(gt=0)
    bufsize_kbps: int = Field(gt=0)
    gop_seconds: float = Field(default=2.0, gt=0, le=10)
    audio_codec: Figure[Literal["aac"]]
    audio_sample_rate: Figure[int]
    audio_channels: Figure[int]
    audio_bitrate_kbps: int = Field(default=128, ge=32, le=512)
    requires_audio: bool = True
    loudness: Loudness | None = None
    min_duration_s: Figure[float] | None = None
    max_duration_s: Figure[float] | None = None
    max_file_size_mb: Figure[float] | None = None
    # The platform's smallest accepted picture, as the shorter side in pixels (720 for "720p or higher").
    # A source smaller than the preset renders smaller (no upscaling); this says whether that is still enough.
    min_short_side_px: Figure[int] | None = None
    faststart: bool = True
    cover: CoverSpec | None = None
    caption_safe_zone: Figure[SafeZone] | None = None
    stream_copy_codecs: tuple[str, ...] = ("h264",)
    notes: str = ""

    @field_validator("aspect")
    @classmethod
    def _aspect_form(cls, v: Figure[str]) -> Figure[str]:
        m = _ASPECT.match(v.value)
        if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
            raise ValueError(f"aspect must look like '9:16', got {v.value!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> RenditionPreset:
        w, h = self.width.value, self.height.value
        if w < 16 or h < 16 or w % 2 or h % 2:
            raise ValueError(f"width/height must be even and >= 16, got {w}x{h}")
        aw, ah = (int(x) for x in self.aspect.value.split(":"))
        if abs(w / h - aw / ah) > 0.01:
            raise ValueError(f"{w}x{h} does not match aspect {self.aspect.value}")
        if not 1 <= self.fps_cap.value <= 120:
            raise ValueError("fps_cap must be between 1 and 120")
        if self.audio_channels.value not in (1, 2):
            raise ValueError("audio_channels must be 1 or 2")
        if self.audio_sample_rate.value not in (22050, 32000, 44100, 48000):
            raise ValueError("audio_sample_rate must be one of 22050, 32000, 44100, 48000")
        if self.min_short_side_px and not 16 <= self.min_short_side_px.value <= min(w, h):
            raise ValueError(f"min_short_side_px must be between 16 and the preset's shorter side {min(w, h)}")
        if self.bufsize_kbps < self.maxrate_kbps // 4:
            raise ValueError("bufsize_kbps is too small for maxrate_kbps")
        lo = self.min_duration_s.value if self.min_duration_s else 0.0
        if self.max_duration_s and self.max_duration_s.value <= lo:
            raise ValueError("max_duration_s must be above min_duration_s")
        return self

    @property
    def size(self) -> tuple[int, int]:
        return self.width.value, self.height.value

    def figures(self) -> dict[str, Figure]:
        """Every platform figure of this preset by dotted field name (for listings and audits)."""
        out: dict[str, Figure] = {}

        def walk(prefix: str, model: BaseModel) -> None:
            for name in type(model).model_fields:
                value = getattr(model, name)
                if isinstance(value, Figure):
                    out[prefix + name] = value
                elif isinstance(value, BaseModel):
                    walk(f"{prefix}{name}.", value)

        walk("", self)
        return out


class ChannelRule(Frozen):
    """A publishing channel on a platform and the quota rules a brand account must follow there."""

    id: str = Field(pattern=_ID)
    name: Names
    requires: tuple[str, ...] = ()
    opening_threshold: int = Field(default=0, ge=0)  # approved uploads in `requires` needed to open
    monthly_minimum: int | None = Field(default=None, ge=0)  # approved per month once open
    daily_cap: int | None = Field(default=None, ge=1)
    monthly_cap: int | None = Field(default=None, ge=1)
    count_by: CountBy = "approval_date"
    threshold_source: Literal["own", "prerequisites"] = "own"  # whose approvals open the channel
    opening_month: Literal["exempt", "prorated", "full"] = "exempt"  # the minimum in the month it opens
    # "on_application": the store applies and the platform opens the channel; it stays closed until the
    # team records that opening. "automatically": open once its prerequisites and threshold are met
    # (from the start when it has none).
    opens: Opening = "automatically"
    # What a submission must be: checked when a publication is recorded, and used to pick gap fillers.
    media_types: tuple[MediaKind, ...] = ("video",)
    aspects: Figure[tuple[str, ...]] | None = None  # None: any aspect
    min_duration_s: Figure[float] | None = None
    max_duration_s: Figure[float] | None = None
    notes: str = ""
    source: Source

    @field_validator("aspects")
    @classmethod
    def _aspects_form(cls, v: Figure[tuple[str, ...]] | None) -> Figure[tuple[str, ...]] | None:
        if v is None:
            return v
        if not v.value:
            raise ValueError("aspects needs at least one ratio, or leave it out to take any")
        for a in v.value:
            m = _ASPECT.match(a)
            if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
                raise ValueError(f"aspect must look like '9:16', got {a!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ChannelRule:
        if self.opens == "on_application" and self.opening_threshold:
            raise ValueError(f"channel {self.id!r} opens on application, so it cannot also have a threshold")
        if not self.media_types:
            raise ValueError(f"channel {self.id!r} takes no media type")
        lo = self.min_duration_s.value if self.min_duration_s else 0.0
        if self.max_duration_s and self.max_duration_s.value <= lo:
            raise ValueError(f"channel {self.id!r}: max_duration_s must be above min_duration_s")
        return self


class Platform(Frozen):
    id: str = Field(pattern=_ID)
    name: Names
    presets: tuple[RenditionPreset, ...] = ()
    channels: tuple[ChannelRule, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Platform:
        seen: set[str] = set()
        for p in self.presets:
            if p.platform != self.id:
                raise ValueError(f"preset {p.id!r} names platform {p.platform!r}, expected {self.id!r}")
            if p.id in seen:
                raise ValueError(f"duplicate preset id {p.id!r}")
            seen.add(p.id)
        channel_ids = [c.id for c in self.channels]
        if len(set(channel_ids)) != len(channel_ids):
            raise ValueError("duplicate channel id")
        for c in self.channels:
            for r in c.requires:
                if r not in channel_ids:
                    raise ValueError(f"channel {c.id!r} requires unknown channel {r!r}")
                if r == c.id:
                    raise ValueError(f"channel {c.id!r} requires itself")
            if c.opening_threshold and not c.requires:
                raise ValueError(f"channel {c.id!r} has an opening_threshold but no prerequisite")
        return self

    def channel(self, channel_id: str) -> ChannelRule:
        for c in self.channels:
            if c.id == channel_id:
                return c
        raise KeyError(f"platform {self.id!r} has no channel {channel_id!r}")


class UnknownPreset(KeyError):
    pass


class UnknownPlatform(KeyError):
    pass


class PresetCatalog(Frozen):
    platforms: tuple[Platform, ...]

    @model_validator(mode="after")
    def _unique(self) -> PresetCatalog:
        ids = [p.id for p in self.platforms]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate platform id")
        preset_ids = [r.id for p in self.platforms for r in p.presets]
        if len(set(preset_ids)) != len(preset_ids):
            raise ValueError("duplicate preset id across platforms")
        return self

    def platform(self, platform_id: str) -> Platform:
        for p in self.platforms:
            if p.id == platform_id:
                return p
        raise UnknownPlatform(platform_id)

    def preset(self, preset_id: str) -> RenditionPreset:
        for p in self.platforms:
            for r in p.presets:
                if r.id == preset_id:
                    return r
        raise UnknownPreset(preset_id)

    def presets(self) -> tuple[RenditionPreset, ...]:
        return tuple(r for p in self.platforms for r in p.presets)
