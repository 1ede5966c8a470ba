"""Analyse a recording end to end: the audio track and the sampled pictures decoded side by side (two
ffmpeg processes), each fed to its analysers as it arrives, then the session series if given.

The result keeps evidence with times in source seconds and the wall time each stage took.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from workers.media.analysis.audio import AudioAnalyser
from workers.media.analysis.decode import FrameSampling, iter_audio, iter_frames, keyframe_gaps
from workers.media.analysis.picture import FaceFinder, Frames, PictureAnalyser, hold_series
from workers.media.analysis.session import session_signals
from workers.media.analysis.signals import (
    AnalysisResult,
    AudioSignals,
    FaceBoxes,
    FaceSample,
    PictureSignals,
    Series,
    TextSignals,
)
from workers.media.analysis.text import ProductName, TextReader, TextTracker, product_mentions, selling_from
from workers.media.analysis.transcript import transcript_signals
from workers.media.run import ffmpeg_path

# Bump when a signal's meaning changes or one is added. What a bump triggers: a rule back-fill analyses a
# recording again instead of reusing an older analysis (backend/autoclip/rules.py), a draft follows the
# smart-reframe path only from a current one, and the reframe API says the analysis is older. Nothing
# re-analyses the catalogue by itself: older analyses stay in use until someone asks for a new one.
# 2: picture signals keep every face of a sample (face_boxes) and the area of motion (motion_boxes).
ANALYSIS_VERSION = 2

Progress = Callable[[float], None]


@dataclass(frozen=True)
class AnalysisOptions:
    max_keyframe_gap_s: float = 2.5  # sparser keyframes than this: sample every frame at `fallback_fps`
    fallback_fps: float = 2.0
    decode_width: int = 640
    decode_threads: int = 2
    refine_skips_nonref: bool = True  # shot cuts placed on reference frames: within 0.1 s at live-stream GOPs
    faces: bool = True
    face_full_every: int = 4  # search the whole frame every n-th sample; between, only near the last face
    ocr: bool = True
    ocr_threads: int = 1  # onnxruntime with 2 threads beside ffmpeg on 2 cores was 3x slower per read
    signal_step_s: float = 1.0


@dataclass(frozen=True)
class RecordingFacts:
    duration: float
    width: int
    height: int
    has_audio: bool
    has_video: bool


def recording_facts(path: str | Path) -> RecordingFacts:
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0] if c.streams.video else None
        duration = float(c.duration / 1_000_000) if c.duration else 0.0
        if not duration and v is not None and v.duration and v.time_base:
            duration = float(v.duration * v.time_base)
        return RecordingFacts(
            duration=duration,
            width=int(v.codec_context.width) if v is not None else 0,
            height=int(v.codec_context.height) if v is not None else 0,
            has_audio=bool(c.streams.audio),
            has_video=v is not None,
        )


@dataclass
class _Clock:
    spent: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.spent[name] = self.spent.get(name, 0.0) + (now - since)
        return now


def choose_sampling(path: str | Path, options: AnalysisOptions) -> FrameSampling:
    gaps = keyframe_gaps(path)
    keyframes = bool(gaps) and statistics.median(gaps) <= options.max_keyframe_gap_s
    return FrameSampling(
        keyframes=keyframes, fps=options.fallback_fps, width=options.decode_width, threads=options.decode_threads
    )


def analyse_recording(
    path: str | Path,
    *,
    products: list[ProductName] | None = None,
    session: Mapping[str, Series] | None = None,
    transcript: Sequence[tuple[float, float, str]] | None = None,
    options: AnalysisOptions | None = None,
    ffmpeg: str | None = None,
    on_progress: Progress | None = None,
) -> AnalysisResult:
    options = options or AnalysisOptions()
    ffmpeg = ffmpeg or ffmpeg_path()
    clock = _Clock()
    started = time.perf_counter()
    facts = recording_facts(path)

    audio_box: dict[str, AudioSignals | BaseException] = {}

    def run_audio() -> None:
        t0 = time.perf_counter()
        try:
            analyser = AudioAnalyser()
            for chunk in iter_audio(ffmpeg, path):
                analyser.feed(chunk)
            audio_box["result"] = analyser.result()
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            audio_box["error"] = e
        clock.spent["audio"] = time.perf_counter() - t0

    audio_thread = threading.Thread(target=run_audio, name="analysis-audio", daemon=True)
    if facts.has_audio:
        audio_thread.start()

    picture = text = None
    if facts.has_video:
        picture, text = _analyse_pictures(path, facts, options, ffmpeg, products or [], clock, on_progress)

    audio = None
    if facts.has_audio:
        audio_thread.join()
        outcome = audio_box.get("result") or audio_box.get("error")
        if not isinstance(outcome, AudioSignals):
            raise outcome or RuntimeError("the audio analysis ended without a result")
        audio = outcome
    t = time.perf_counter()
    session_result = session_signals(session) if session else None
    t = clock.add("session", t)
    transcript_result = transcript_signals(transcript, products or []) if transcript else None
    clock.add("transcript", t)
    clock.spent["total"] = time.perf_counter() - started
    duration = facts.duration
    if not duration:  # a container that does not say (MediaRecorder's WebM): what was decoded
        ends = [audio.decoded_s] if audio else []
        ends += picture.sample_times[-1:] if picture else []
        duration = max(ends, default=0.0)
    if on_progress:
        on_progress(1.0)
    return AnalysisResult(
        version=ANALYSIS_VERSION,
        duration=round(duration, 3),
        audio=audio,
        picture=picture,
        text=text,
        session=session_result,
        transcript=transcript_result,
        timings={k: round(v, 3) for k, v in clock.spent.items()},
    )


def _analyse_pictures(
    path: str | Path,
    facts: RecordingFacts,
    options: AnalysisOptions,
    ffmpeg: str,
    products: list[ProductName],
    clock: _Clock,
    on_progress: Progress | None,
) -> tuple[PictureSignals, TextSignals | None]:
    t = time.perf_counter()
    sampling = choose_sampling(path, options)
    t = clock.add("keyframe_probe", t)
    pictures = PictureAnalyser(faces=FaceFinder(full_every=options.face_full_every) if options.faces else None)
    tracker = TextTracker(TextReader(options.ocr_threads)) if options.ocr else None
    t = clock.add("model_load", t)
    size = (facts.width, facts.height)
    faces = pictures.faces
    pictures.faces = None  # timed separately below
    last_progress = 0.0
    refine_sampling = FrameSampling(
        keyframes=False, fps=None, nonref_skipped=options.refine_skips_nonref, width=64, threads=1
    )

    # Sampled every 0.5 s, a stretch is too short to tell a short fade from a pan: decode some context
    # around it (cheap there: the decoder starts from the keyframe before `a` either way).
    context = 0.0 if sampling.keyframes else 0.5

    def decode_stretch(a: float, b: float) -> Frames:
        started = time.perf_counter()
        first = max(0.0, a - context)
        frames = list(iter_frames(ffmpeg, path, refine_sampling, start=first, duration=b + context - first + 0.05))
        clock.add("shot_refine_decode (overlapped)", started)
        return frames

    # A candidate cut's stretch is decoded by a second ffmpeg while the main loop goes on: the second
    # core is otherwise idle whenever Python works on a sample.
    stretches: dict[tuple[float, float], Future[Frames]] = {}
    face_boxes: list[FaceBoxes] = []
    refiner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analysis-refine")
    for ts, grey, chroma in iter_frames(ffmpeg, path, sampling):
        if not pictures.times and (grey.shape[0] > grey.shape[1]) != (size[1] > size[0]):
            size = (size[1], size[0])  # shown turned a quarter (a phone's rotation flag): report it upright
        t = clock.add("video_decode", t)
        pictures.feed(ts, grey, chroma)
        if len(pictures.times) > 1 and pictures.scores[-1] >= pictures.cut_score:
            a, b = pictures.times[-2], pictures.times[-1]
            stretches[(a, b)] = refiner.submit(decode_stretch, a, b)
        t = clock.add("shots_motion", t)
        if faces is not None:
            box = faces.find(grey)
            if box is not None:
                pictures.face_samples.append(
                    FaceSample(t=round(ts, 3), x=round(box[0], 4), y=round(box[1], 4), w=round(box[2], 4), h=round(box[3], 4))
                )
                face_boxes.append(FaceBoxes(t=round(ts, 3), boxes=[tuple(round(v, 4) for v in b) for b in faces.all_boxes]))
            t = clock.add("faces", t)
        if tracker is not None:
            tracker.feed(ts, grey)
            t = clock.add("ocr", t)
        if on_progress and facts.duration and ts / facts.duration - last_progress >= 0.02:
            last_progress = ts / facts.duration
            on_progress(0.95 * min(1.0, last_progress))
        t = time.perf_counter()

    def refine(a: float, b: float) -> Frames:
        return stretches[(a, b)].result() if (a, b) in stretches else decode_stretch(a, b)

    cut_idx = pictures.candidate_cuts()
    try:
        shot_changes = pictures.shot_changes(refine)
    finally:
        refiner.shutdown(wait=True, cancel_futures=True)
    t = clock.add("shot_refine_wait", t)
    duration = facts.duration or (pictures.times[-1] if pictures.times else 0.0)
    gaps = [b - a for a, b in zip(pictures.times, pictures.times[1:], strict=False)]
    step = max(options.signal_step_s, statistics.median(gaps) if gaps else options.signal_step_s)
    picture = PictureSignals(
        sampling=sampling.label,
        sample_times=[round(x, 3) for x in pictures.times],
        shot_changes=shot_changes,
        motion=pictures.motion(step, duration, cut_idx),
        faces=pictures.face_samples,
        face_presence=pictures.presence(step, duration) if faces is not None else hold_series([], [], step, duration, unit="face"),
        frame_size=size,
        face_boxes=face_boxes if faces is not None else None,
        motion_boxes=pictures.motion_boxes,
    )
    text = None
    if tracker is not None:
        spans = tracker.finish(duration)
        text = TextSignals(
            frames_read=tracker.frames_read, lines=spans, products=product_mentions(spans, products), selling=selling_from(spans)
        )
    clock.add("text_match", t)
    return picture, text
