"""Whether a material fits a channel: media type, aspect ratio and duration, from plain values.

Used when a publication is submitted (a misfit is refused unless overridden) and when the monthly report
picks ready clips that could fill a gap (only clips that fit are offered). Details speak Chinese: they
reach the team as problem details.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from math import gcd
from typing import Any

ASPECT_TOLERANCE = 0.02  # relative: 1080x1440 and 720x962 are both 3:4
MEDIA_NAMES = {"video": "视频", "image": "图片", "audio": "音频"}
_COMMON = ("9:16", "3:4", "4:5", "1:1", "4:3", "16:9", "2:3", "3:2", "21:9")


@dataclass(frozen=True)
class Bounds:
    """What a channel takes; None: no bound."""

    channel_name: str
    media_types: tuple[str, ...] = ("video",)
    aspects: tuple[str, ...] | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None


@dataclass(frozen=True)
class Facts:
    """A material as displayed: sizes with rotation applied, duration in seconds (None: not probed)."""

    media_type: str
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    has_audio: bool | None = None  # None: not known (not probed)


@dataclass(frozen=True)
class Misfit:
    """One way a material does not fit: the submission check it fails, its words (Chinese), and a stable
    code with the figures behind it, for clients that word it themselves."""

    check: str  # media_type | aspect | duration | duplicate
    detail: str
    code: str = ""  # media_type | aspect | duration_long | duration_short | duplicate | duplicate_copy
    params: Mapping[str, Any] = field(default_factory=dict)


def _ratio(text: str) -> float:
    w, h = text.split(":")
    return int(w) / int(h)


def aspect_name(width: int, height: int) -> str:
    """"16:9" for 1920x1080, "9:16" for 720x1280; the reduced size when no common ratio is near."""
    r = width / height
    for name in _COMMON:
        if abs(r / _ratio(name) - 1) <= ASPECT_TOLERANCE:
            return name
    g = gcd(width, height)
    return f"{width // g}:{height // g}"


def aspect_fits(width: int, height: int, aspects: tuple[str, ...]) -> bool:
    r = width / height
    return any(abs(r / _ratio(a) - 1) <= ASPECT_TOLERANCE for a in aspects)


def _seconds(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def misfits(facts: Facts, bounds: Bounds) -> list[Misfit]:
    """Every way the material does not fit the channel (empty: it fits). Unknown facts are not held
    against it: a material whose sizes were never probed passes the aspect check."""
    out: list[Misfit] = []
    name = bounds.channel_name
    if facts.media_type not in bounds.media_types:
        wanted = "、".join(MEDIA_NAMES.get(m, m) for m in bounds.media_types)
        out.append(
            Misfit(
                "media_type",
                f"素材是{MEDIA_NAMES.get(facts.media_type, facts.media_type)}，渠道「{name}」只接受{wanted}",
                "media_type",
                {"media_type": facts.media_type, "accepted": list(bounds.media_types)},
            )
        )
        return out  # sizes and durations of the wrong kind of media say nothing more
    w, h = facts.width, facts.height
    if bounds.aspects and w and h and not aspect_fits(w, h, bounds.aspects):
        out.append(
            Misfit(
                "aspect",
                f"素材画面比例为 {aspect_name(w, h)}（{w}×{h}），渠道「{name}」要求 {' 或 '.join(bounds.aspects)}",
                "aspect",
                {"aspect": aspect_name(w, h), "width": w, "height": h, "accepted": list(bounds.aspects)},
            )
        )
    d = facts.duration_s
    if d is not None:
        if bounds.max_duration_s is not None and d > bounds.max_duration_s:
            out.append(
                Misfit(
                    "duration",
                    f"素材时长 {_seconds(d)} 秒，渠道「{name}」要求不超过 {_seconds(bounds.max_duration_s)} 秒",
                    "duration_long",
                    {"duration_s": d, "max_duration_s": bounds.max_duration_s},
                )
            )
        elif bounds.min_duration_s is not None and d < bounds.min_duration_s:
            out.append(
                Misfit(
                    "duration",
                    f"素材时长 {_seconds(d)} 秒，渠道「{name}」要求不少于 {_seconds(bounds.min_duration_s)} 秒",
                    "duration_short",
                    {"duration_s": d, "min_duration_s": bounds.min_duration_s},
                )
            )
    return out


def lacks_audio(facts: Facts, needs_audio: bool) -> bool:
    """A probed video without a sound track, for a platform whose presets all carry one (`requires_audio`):
    the platform's review may turn it down. A warning only: submissions are not refused for it."""
    return needs_audio and facts.media_type == "video" and facts.has_audio is False
