"""Check a rendered file against its preset; compute a lowered bitrate when it is over the size limit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from presets.schema import RenditionPreset

MB = 1024 * 1024


@dataclass(frozen=True)
class RenditionFacts:
    width: int
    height: int
    duration: float
    size_bytes: int
    fps: float
    video_codec: str
    has_audio: bool
    audio_codec: str | None = None


@dataclass(frozen=True)
class Violation:
    field: str  # the preset field that is not met
    expected: str
    actual: str
    message: str


def probe_rendition(path: Path) -> RenditionFacts:
    """Facts of a file reelhouse rendered itself (trusted: plain MP4 from our own argv)."""
    import av  # lazily: keep imports light for the API process

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0] if c.streams.audio else None
        duration = float(c.duration) / 1e6 if c.duration else float((v.duration or 0) * (v.time_base or 0))
        return RenditionFacts(
            width=v.codec_context.width,
            height=v.codec_context.height,
            duration=duration,
            size_bytes=path.stat().st_size,
            fps=float(v.average_rate or 0),
            video_codec=v.codec_context.name,
            has_audio=a is not None,
            audio_codec=a.codec_context.name if a else None,
        )


def validate_rendition(
    facts: RenditionFacts,
    preset: RenditionPreset,
    *,
    expected_size: tuple[int, int] | None = None,
    duration_tolerance: float = 0.1,
) -> list[Violation]:
    """Every way the file misses its preset; empty when it conforms.

    `expected_size` is the planned size when reelhouse deliberately rendered smaller than the preset
    (no upscaling); otherwise the preset's own size is expected.
    """
    out: list[Violation] = []
    want_w, want_h = expected_size or preset.size
    if (facts.width, facts.height) != (want_w, want_h):
        out.append(
            Violation("size", f"{want_w}x{want_h}", f"{facts.width}x{facts.height}", "frame size differs")
        )
    if facts.width % 2 or facts.height % 2:
        out.append(Violation("size", "even", f"{facts.width}x{facts.height}", "odd frame dimension"))
    if facts.video_codec != preset.video_codec.value:
        out.append(
            Violation("video_codec", preset.video_codec.value, facts.video_codec, "video codec differs")
        )
    if facts.fps > preset.fps_cap.value + 0.01:
        out.append(
            Violation("fps_cap", f"<= {preset.fps_cap.value:g}", f"{facts.fps:.3f}", "frame rate above cap")
        )
    if preset.requires_audio and not facts.has_audio:
        out.append(Violation("requires_audio", "audio track", "none", "platform needs an audio track"))
    if preset.min_duration_s and facts.duration < preset.min_duration_s.value - duration_tolerance:
        out.append(
            Violation(
                "min_duration_s",
                f">= {preset.min_duration_s.value:g}s",
                f"{facts.duration:.2f}s",
                "too short",
            )
        )
    if preset.max_duration_s and facts.duration > preset.max_duration_s.value + duration_tolerance:
        out.append(
            Violation(
                "max_duration_s", f"<= {preset.max_duration_s.value:g}s", f"{facts.duration:.2f}s", "too long"
            )
        )
    if preset.max_file_size_mb and facts.size_bytes > preset.max_file_size_mb.value * MB:
        out.append(
            Violation(
                "max_file_size_mb",
                f"<= {preset.max_file_size_mb.value:g} MB",
                f"{facts.size_bytes / MB:.1f} MB",
                "file too large",
            )
        )
    return out


@dataclass(frozen=True)
class SizeWarning:
    """The file was made, but smaller than its preset: the source is smaller and is not upscaled."""

    code: str  # "below-preset-size" | "below-platform-minimum"
    expected: str
    actual: str
    message: str
    platform_minimum_px: int | None  # the preset's min_short_side_px, when the platform has one
    platform_minimum_met: bool | None  # None: the platform states no minimum


def size_warnings(facts: RenditionFacts, preset: RenditionPreset) -> list[SizeWarning]:
    """Why a conforming rendition still needs a look: below the preset's frame size, and whether the
    platform's minimum (the shorter side, `min_short_side_px`) is still met. Empty at full size."""
    want_w, want_h = preset.size
    if facts.width >= want_w and facts.height >= want_h:
        return []
    actual, expected = f"{facts.width}x{facts.height}", f"{want_w}x{want_h}"
    minimum = preset.min_short_side_px
    floor = minimum.value if minimum else None
    short = min(facts.width, facts.height)
    met = None if floor is None else short >= floor
    if met is None:
        verdict = "平台未给出最低分辨率 / the platform states no minimum"
    elif met:
        verdict = f"短边 {short} px 满足平台最低 {floor} px / meets the platform minimum of {floor} px"
    else:
        verdict = f"短边 {short} px 低于平台最低 {floor} px / below the platform minimum of {floor} px"
    out = [
        SizeWarning(
            "below-preset-size",
            expected,
            actual,
            f"画面 {actual} 小于预设的 {expected}（源素材分辨率较低，未放大）；{verdict} / rendered at {actual}, "
            f"below the preset's {expected} (the source is smaller and is not upscaled)",
            floor,
            met,
        )
    ]
    if minimum is not None and not met:
        out.append(
            SizeWarning(
                "below-platform-minimum",
                f">= {minimum.value} px",
                f"{short} px",
                f"短边 {short} px 低于 {preset.platform} 的最低要求 {minimum.value} px，平台可能拒收或显示模糊"
                f"（{minimum.source.status}: {minimum.source.ref}） / the shorter side {short} px is below "
                f"{preset.platform}'s minimum of {minimum.value} px: the platform may refuse it or show it blurred",
                minimum.value,
                False,
            )
        )
    return out


def lowered_maxrate_kbps(
    facts: RenditionFacts, preset: RenditionPreset, *, headroom: float = 0.9
) -> int | None:
    """Video maxrate (kbit/s) for the one re-encode of an over-size file, or None when it fits.

    Budget = size limit spread over the duration, minus audio and `headroom` for container overhead
    and rate-control overshoot.
    """
    if not preset.max_file_size_mb or facts.duration <= 0:
        return None
    limit = preset.max_file_size_mb.value * MB
    if facts.size_bytes <= limit:
        return None
    total_kbps = limit * 8 / facts.duration / 1000 * headroom
    audio_kbps = preset.audio_bitrate_kbps if facts.has_audio else 0
    current_kbps = facts.size_bytes * 8 / facts.duration / 1000 - audio_kbps
    video_kbps = min(total_kbps - audio_kbps, current_kbps * headroom)
    return max(100, int(video_kbps))
