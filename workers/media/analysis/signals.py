"""The typed results of analysing a recording: every time is in source seconds (0 = the first decoded
sample, as ffmpeg's input-side seeking counts), every series has a fixed step.

These are what gets stored with the material (as JSON) and what proposals are computed from, so they
keep the evidence (times, values, the text read) rather than decisions.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Span(_Frozen):
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


class Series(_Frozen):
    """Values sampled every `step` seconds from `start`; `values[i]` covers [start + i*step, +step)."""

    start: float = 0.0
    step: float
    values: list[float]
    unit: str = ""

    def time_of(self, i: int) -> float:
        return self.start + i * self.step


class AudioSignals(_Frozen):
    sample_rate: int
    vad_frame_s: float
    vad_aggressiveness: int
    speech: list[Span]  # merged utterances: never cut inside one
    pauses: list[Span]  # gaps between utterances at least `min_pause_s` long (and the leading/trailing silence)
    loudness: Series  # RMS level in dBFS per window
    speech_density: Series  # share of each window that is speech (0..1)
    decoded_s: float = 0.0  # length of the decoded audio track


class FaceSample(_Frozen):
    """The most prominent face at time t; x, y are its centre and w, h its size, as fractions of the frame."""

    t: float
    x: float
    y: float
    w: float
    h: float


class FaceBoxes(_Frozen):
    """Every face found in the sample at time t (the followed one first), each (cx, cy, w, h) as
    fractions of the frame. Faces besides the followed one are only looked for on whole-frame searches."""

    t: float
    boxes: list[tuple[float, float, float, float]]


class MotionBox(_Frozen):
    """Where the picture changed since the previous sample of the same shot (a host's hands showing a
    product, a product turned to the camera): x0, y0, x1, y1 as fractions of the frame."""

    t: float
    box: tuple[float, float, float, float]


class PictureSignals(_Frozen):
    sampling: str  # "keyframes" or "rate:<fps>"
    sample_times: list[float]
    shot_changes: list[float]  # refined to a frame where the decode allowed it
    motion: Series  # mean absolute change between consecutive samples (0..1 per second), 0 across a cut
    faces: list[FaceSample]
    face_presence: Series  # 1 where a face was seen in the sample, else 0 (step = median sample gap)
    frame_size: tuple[int, int]  # (width, height) of the source picture as decoded
    # Samples with at least one face, every face in them (None in analyses made before they were kept)
    face_boxes: list[FaceBoxes] | None = None
    # Samples where a compact part of the picture changed since the sample before (None: not kept then)
    motion_boxes: list[MotionBox] | None = None


class TextSpan(_Frozen):
    """One line of on-screen text, normalised, and the time it stayed on screen."""

    start: float
    end: float
    text: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the frame
    score: float


class ProductMention(_Frozen):
    tag_id: int
    name: str  # the name or alias that matched
    start: float
    end: float
    text: str  # the on-screen line it was read in
    exact: bool


class SellingCue(_Frozen):
    kind: str  # "price", "link", "keyword"
    value: str  # "59.9", "3", "秒杀"
    start: float
    end: float
    text: str


class TextSignals(_Frozen):
    frames_read: int  # frames that went through OCR (the rest were unchanged where text appears)
    lines: list[TextSpan]
    products: list[ProductMention]
    selling: list[SellingCue]


class SpokenLine(_Frozen):
    start: float
    end: float
    text: str


class TranscriptSignals(_Frozen):
    """What the attached transcript says, in the same terms as the on-screen text."""

    segments: int
    products: list[ProductMention]
    selling: list[SellingCue]
    questions: list[SpokenLine]  # lines that ask (吗, 呢, 怎么, 多少, 能不能, ?): where a Q&A may start


class Peak(_Frozen):
    metric: str
    t: float  # start of the minute (source seconds) where the series peaks
    value: float
    baseline: float  # median of the series
    score: float  # (value - baseline) / robust spread


class SessionSignals(_Frozen):
    series: dict[str, Series]
    peaks: list[Peak]


class AnalysisResult(_Frozen):
    version: int
    duration: float
    audio: AudioSignals | None = None
    picture: PictureSignals | None = None
    text: TextSignals | None = None
    session: SessionSignals | None = None
    transcript: TranscriptSignals | None = None
    timings: dict[str, float] = Field(default_factory=dict)  # seconds of wall time per stage
