"""Transcripts as a small source interface. The first (and, for now, only) source is a subtitle file the
team already exported from its editor: no Mandarin speech recogniser ships its model inside a registry
package, and nothing may download one at run time, so none is wired in."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import srt
import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from backend import i18n

MAX_SEGMENTS = 50_000


class TranscriptError(ValueError):
    """The transcript cannot be read; the message says why in English, `key` (a text of backend/i18n)
    and `params` in every language."""

    def __init__(self, key: str, params: Mapping[str, Any] | None = None) -> None:
        self.key, self.params = key, dict(params or {})
        super().__init__(i18n.text(key, i18n.EN, self.params) or key)


@dataclass(frozen=True)
class TranscriptSegment:
    start: float
    end: float
    text: str

    def as_dict(self) -> dict[str, float | str]:
        return {"start": self.start, "end": self.end, "text": self.text}


class TranscriptSource(Protocol):
    """Where a transcript comes from: `name` is stored with it; `segments` are in source seconds."""

    @property
    def name(self) -> str: ...

    def segments(self) -> list[TranscriptSegment]: ...


_TAGS = re.compile(r"<[^>]+>|\{\\[^}]*\}")  # <i>, <c.yellow>, {\an8}


def _clean(text: str) -> str:
    return " ".join(_TAGS.sub("", text).split())


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding != "utf-16" or text.startswith(("1", "W", "\n")) or "-->" in text:
            return text
    raise TranscriptError("transcript.encoding")


@dataclass(frozen=True)
class SubtitleTranscript:
    """An SRT or WebVTT file (by its first line: WEBVTT, else SRT), shifted by `offset_s` when the
    subtitles were made for a cut that starts later in the recording."""

    data: bytes
    filename: str = "transcript.srt"
    offset_s: float = 0.0
    name: str = "subtitles"

    def segments(self) -> list[TranscriptSegment]:
        text = _decode(self.data).replace("\r\n", "\n")
        if text.lstrip().startswith("WEBVTT") or self.filename.lower().endswith(".vtt"):
            out = self._vtt(text)
        else:
            out = self._srt(text)
        if not out:
            raise TranscriptError("transcript.empty")
        if len(out) > MAX_SEGMENTS:
            raise TranscriptError("transcript.too-many", {"limit": MAX_SEGMENTS})
        return sorted(out, key=lambda s: (s.start, s.end))

    def _segment(self, start: float, end: float, text: str) -> TranscriptSegment | None:
        cleaned = _clean(text)
        if not cleaned:
            return None
        if end < start:
            raise TranscriptError("transcript.ends-before-start", {"start": start, "end": end, "text": cleaned[:40]})
        return TranscriptSegment(round(start + self.offset_s, 3), round(end + self.offset_s, 3), cleaned)

    def _srt(self, text: str) -> list[TranscriptSegment]:
        try:
            subs = list(srt.parse(text, ignore_errors=False))
        except (srt.SRTParseError, ValueError) as e:
            raise TranscriptError("transcript.srt-unreadable", {"error": str(e)}) from e
        found = (self._segment(s.start.total_seconds(), s.end.total_seconds(), s.content) for s in subs)
        return [s for s in found if s is not None]

    def _vtt(self, text: str) -> list[TranscriptSegment]:
        try:
            captions = webvtt.from_buffer(io.StringIO(text))
        except (MalformedCaptionError, MalformedFileError) as e:
            raise TranscriptError("transcript.vtt-unreadable", {"error": str(e)}) from e

        def seconds(ts: object) -> float:
            return ts.hours * 3600 + ts.minutes * 60 + ts.seconds + ts.milliseconds / 1000  # type: ignore[attr-defined]

        found = (self._segment(seconds(c.start_time), seconds(c.end_time), c.text) for c in captions.captions)
        return [s for s in found if s is not None]
