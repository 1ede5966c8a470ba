"""Chunked proxy encoding: a long source's proxy video encoded in independent pieces that join by stream copy.

The source's timeline is cut at its own keyframes into chunks of about `chunk_seconds`, so a chunk
decodes from its keyframe without reading what came before. Each chunk's video is encoded alone
(closed GOPs every `gop` frames, no scene-cut keyframes, no B-frames: the baseline profile has none),
and starts on an output frame that is a multiple of the GOP, so the joined proxy has one keyframe
every `gop` frames as the whole-file encode has. The audio is encoded once for the whole file (an AAC
encode per chunk would put its priming silence at every join), then the pieces are joined with the
concat demuxer and stream copy.

Exactness: every encode maps the source to the same grid of output frames, frame `n` at `n / rate` on
the source's timeline (ffmpeg's `fps` filter anchored at 0, with the same rounding in every chunk),
and a chunk keeps the frames `[first_frame, first_frame + frames)` of that grid. Output frame `n`
shows the last source frame whose time rounds to `n` or before, and a chunk's decoding starts at a
keyframe at or before `first_frame / rate`, so it sees every source frame the whole-file encode would
choose for its frames: the joined proxy is frame for frame the whole-file encode's sequence.

Pure planning and argv builders first; then the readers (PyAV) that find keyframes and measure a joined
file. Nothing here imports backend/.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from workers.media.argv import DEFAULT_FILTERS
from workers.media.facts import MediaFacts
from workers.media.proxy import (
    AUDIO_SAMPLE_RATE,
    ProxyNotPossible,
    ProxyTargets,
    build_proxy_argv,
    proxy_audio_options,
    proxy_container_options,
    proxy_geometry,
    proxy_video_codec_options,
    proxy_video_filter,
)

# Protocols a source is read with: a presigned URL (S3) or the local file. Chunk files and the
# concat list are ours.
SOURCE_PROTOCOLS = "file,http,https,tcp,tls,crypto"
CHUNK_FORMATS = "concat,mov,mp4,m4a,3gp,3g2,mj2"
MP4_DEMUXER = "mov,mp4,m4a,3gp,3g2,mj2"


class ChunkPlanError(ValueError):
    """The source cannot be planned in chunks (no video, no frame rate)."""


# --------------------------------------------------------------------------- the proxy's picture


@dataclass(frozen=True)
class ProxyVideo:
    """The proxy's video (workers.media.proxy's geometry): displayed size, constant rate, keyframe
    interval of about a second."""

    width: int
    height: int
    rate: Fraction

    @classmethod
    def of(cls, facts: MediaFacts) -> ProxyVideo:
        g = proxy_geometry(facts)
        return cls(g.width, g.height, g.fps)

    @property
    def gop(self) -> int:
        """Frames between keyframes (proxy_geometry's `gop`: round(fps))."""
        return max(1, round(self.rate))

    @property
    def timescale(self) -> int:
        """MP4 track timescale in which every frame lasts a whole number of ticks (at least 10000 ticks/s)."""
        return self.rate.numerator * max(1, math.ceil(10000 / self.rate.numerator))

    def frame_time(self, frame: int) -> Fraction:
        return frame / self.rate


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Chunk:
    """Output frames `[first_frame, first_frame + frames)`; `frames` None runs to the source's end.
    `seek` is the source keyframe (seconds on the source's timeline, its start at 0) decoding starts
    at; None decodes from the start."""

    index: int
    first_frame: int
    frames: int | None
    seek: Fraction | None

    @property
    def last(self) -> bool:
        return self.frames is None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "first_frame": self.first_frame, "frames": self.frames,
                "seek": None if self.seek is None else [self.seek.numerator, self.seek.denominator]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        seek = data.get("seek")
        return cls(int(data["index"]), int(data["first_frame"]), data.get("frames"),
                   None if seek is None else Fraction(int(seek[0]), int(seek[1])))


def boundary_targets(duration: float, chunk_seconds: float) -> list[float]:
    """Where chunk boundaries are wanted (seconds): every `chunk_seconds`, none in the last half chunk."""
    if chunk_seconds <= 0:
        raise ChunkPlanError("chunk length must be positive")
    count = int(duration // chunk_seconds)
    return [k * chunk_seconds for k in range(1, count + 1) if duration - k * chunk_seconds >= chunk_seconds / 2]


def plan_chunks(keyframes: Sequence[Fraction], duration: float, video: ProxyVideo, chunk_seconds: float) -> list[Chunk]:
    """Chunks that start at source keyframes (times on the source's timeline): for each wanted boundary
    (`boundary_targets`) the last keyframe at or before it (or, if that one is too close to the
    previous cut, the first after it).

    A chunk starts at the first output frame on the GOP grid at or after its keyframe; a keyframe that
    would leave a chunk (or the last one) shorter than half `chunk_seconds` is skipped, so a source
    whose keyframes are sparser than the chunk length gets fewer, longer chunks."""
    gop = video.gop
    shortest = max(gop, int(chunk_seconds * video.rate / 2))
    total = int(duration * video.rate)
    keys = sorted(k for k in set(keyframes) if k > 0)
    starts: list[tuple[int, Fraction | None]] = [(0, None)]
    for target in boundary_targets(duration, chunk_seconds):
        # The last keyframe at or before the boundary, else the first one after it (within half a chunk).
        before = [k for k in keys if k <= target]
        after = [k for k in keys if target < k <= target + chunk_seconds / 2]
        for key in before[-1:] + after[:1]:
            frame = math.ceil(key * video.rate)
            frame = -(-frame // gop) * gop
            if frame - starts[-1][0] >= shortest and total - frame >= shortest:
                starts.append((frame, key))
                break
    chunks = []
    for i, (frame, seek) in enumerate(starts):
        frames = starts[i + 1][0] - frame if i + 1 < len(starts) else None
        chunks.append(Chunk(i, frame, frames, seek))
    return chunks


# --------------------------------------------------------------------------- argv


def _seconds(t: Fraction) -> str:
    """Seconds to the microsecond ffmpeg parses, rounded up: a backward seek to a time within a
    microsecond after a keyframe lands on that keyframe."""
    micro = math.ceil(t * 1_000_000)
    return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"


def chunk_video_filter(facts: MediaFacts, chunk: Chunk, filters: frozenset[str] = DEFAULT_FILTERS) -> str:
    """The whole-file encode's video filter (workers.media.proxy) with the chunk's frames kept: its
    `fps` step, anchored at 0, rounds source times to frames as in every other chunk; `trim` then keeps
    the chunk's frames (the ones decoded before are padding, dropped before colour and scaling)."""
    whole = proxy_video_filter(facts, filters)
    grid, _, rest = whole.partition(",")
    if not grid.startswith("fps=") or ":start_time=0" not in grid:
        raise ChunkPlanError(f"the proxy's filter does not start on a frame grid anchored at 0: {grid}")
    if not chunk.first_frame and chunk.frames is None:
        return whole
    end = "" if chunk.frames is None else f":end_pts={chunk.first_frame + chunk.frames}"
    return ",".join([grid, f"trim=start_pts={chunk.first_frame}{end}", "setpts=PTS-STARTPTS", rest])


def _source_input(source: str, facts: MediaFacts, seek: Fraction | None) -> list[str]:
    if not facts.demuxer:
        raise ProxyNotPossible("the material's demuxer is unknown, so its input cannot be whitelisted")
    argv = ["-protocol_whitelist", SOURCE_PROTOCOLS, "-format_whitelist", facts.demuxer]
    # Source times stay on the source's own timeline (its start at 0, as the whole-file encode sees
    # them), so a chunk's frames carry the times the whole-file encode gives them; the seek only
    # chooses where decoding begins.
    argv += ["-copyts", "-start_at_zero"]
    if seek is not None:
        argv += ["-ss", _seconds(seek), "-noaccurate_seek"]
    return argv + ["-i", source]


def _base(ffmpeg: str) -> list[str]:
    return [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-y", "-progress", "pipe:1", "-nostats"]


def chunk_video_argv(ffmpeg: str, source: str, facts: MediaFacts, chunk: Chunk, output: str,
                     filters: frozenset[str] = DEFAULT_FILTERS) -> list[str]:
    """Encode one chunk's video (no audio) to an MP4 whose first frame is output frame `first_frame`,
    with the proxy's own encoder options (workers.media.proxy)."""
    video = ProxyVideo.of(facts)
    argv = _base(ffmpeg) + _source_input(source, facts, chunk.seek)
    argv += ["-map", "0:v:0", "-an", "-sn", "-dn", "-filter:v", chunk_video_filter(facts, chunk, filters)]
    if chunk.frames is not None:
        argv += ["-frames:v", str(chunk.frames)]
    argv += proxy_video_codec_options(facts)
    return argv + ["-video_track_timescale", str(video.timescale), "-f", "mp4", output]


def audio_argv(ffmpeg: str, source: str, facts: MediaFacts, output: str) -> list[str]:
    """Encode the whole file's first audio stream once (M4A), as the whole-file encode does."""
    argv = _base(ffmpeg) + _source_input(source, facts, None)
    return argv + proxy_audio_options() + ["-vn", "-sn", "-dn", "-f", "mp4", output]


def concat_list(chunk_files: Sequence[str]) -> str:
    """An ffconcat script naming the chunks in order (their own durations place them)."""
    lines = ["ffconcat version 1.0"]
    for name in chunk_files:
        if "'" in name or "\n" in name:
            raise ChunkPlanError(f"chunk file name {name!r} cannot be quoted in a concat list")
        lines.append(f"file '{name}'")
    return "\n".join(lines) + "\n"


def join_argv(ffmpeg: str, concat_path: str, audio_path: str | None, video: ProxyVideo, output: str) -> list[str]:
    """Join the chunks (stream copy) and the audio into the proxy, index at the front."""
    argv = _base(ffmpeg) + ["-protocol_whitelist", "file", "-format_whitelist", CHUNK_FORMATS,
                            "-f", "concat", "-safe", "0", "-i", concat_path]
    if audio_path is not None:
        argv += ["-protocol_whitelist", "file", "-format_whitelist", MP4_DEMUXER, "-i", audio_path]
    argv += ["-map", "0:v:0"] + (["-map", "1:a:0"] if audio_path is not None else [])
    argv += ["-c", "copy", "-video_track_timescale", str(video.timescale)]
    return argv + proxy_container_options() + [output]


def proxy_facts(facts: MediaFacts) -> MediaFacts:
    """What the joined proxy is, as a source: the original's facts with the proxy's picture."""
    g = proxy_geometry(facts)
    return facts.model_copy(update={
        "container": "mp4", "demuxer": MP4_DEMUXER, "video_codec": "h264", "width": g.width, "height": g.height,
        "display_width": g.width, "display_height": g.height, "rotation": 0, "fps": float(g.fps), "is_vfr": False,
        "pix_fmt": "yuv420p", "bit_depth": 8, "color_transfer": None,
    })


def extras_argv(ffmpeg: str, joined: str, facts: MediaFacts, out_dir: Path,
                filters: frozenset[str] = DEFAULT_FILTERS) -> tuple[list[str], MediaFacts, ProxyTargets]:
    """The sprite sheets and the waveform's PCM of a chunked proxy, from the joined proxy itself (one
    decode of a 540-line file: the tiles are the proxy's frames, as in the whole-file encode)."""
    source = proxy_facts(facts)
    targets = ProxyTargets(proxy=None, sprite_dir=out_dir,
                           waveform_pcm=out_dir / "waveform.pcm" if facts.has_audio else None)
    return build_proxy_argv(joined, source, targets, ffmpeg=ffmpeg, filters=filters), source, targets


# --------------------------------------------------------------------------- readers (PyAV)


@dataclass(frozen=True)
class SourceTimeline:
    """What chunk planning reads from the source: its length, and keyframes near the wanted cuts."""

    duration: float
    keyframes: tuple[Fraction, ...]


def _time_base(stream: Any) -> Fraction:
    if stream.time_base is None:
        raise ChunkPlanError(f"stream {stream.index} has no time base")
    return Fraction(stream.time_base)


def _open(source: str, demuxer: str | None = None) -> Any:
    import av

    options = {"protocol_whitelist": SOURCE_PROTOCOLS}
    if demuxer:
        options["format_whitelist"] = demuxer
    return av.open(source, options=options, timeout=30)


def read_keyframes(source: str, chunk_seconds: float, demuxer: str | None = None) -> SourceTimeline:
    """The keyframe at or before each wanted boundary, found by seeking (the container's index: a few
    small reads, not the whole file), on the source's timeline (its start at 0)."""
    with _open(source, demuxer) as container:
        if not container.streams.video:
            raise ChunkPlanError("the source has no video stream")
        stream = container.streams.video[0]
        tb = _time_base(stream)
        start = Fraction(container.start_time or 0, 1_000_000)
        duration = (container.duration or 0) / 1_000_000 or float((stream.duration or 0) * tb)
        keys: list[Fraction] = []
        for target in boundary_targets(duration, chunk_seconds):
            container.seek(math.floor((start + Fraction(target)) / tb), stream=stream, backward=True, any_frame=False)
            for i, packet in enumerate(container.demux(stream)):
                if packet.pts is not None and packet.is_keyframe:
                    keys.append(packet.pts * tb - start)
                    break
                if i > 2000:  # no keyframe near: leave this boundary out
                    break
        return SourceTimeline(duration, tuple(sorted(set(keys))))


@dataclass
class JoinReport:
    """Measured facts of a joined proxy: frames, durations, and the timeline at every join."""

    frames: int
    video_duration: float
    audio_duration: float | None
    keyframes: list[int] = field(default_factory=list)
    video_gaps: list[float] = field(default_factory=list)
    """Largest step between consecutive video frames beyond one frame's length (s), 0 when regular."""
    audio_gap_max: float = 0.0
    """Largest hole (or overlap, negative) between consecutive audio packets (s)."""
    audio_gaps_at_joins: list[float] = field(default_factory=list)
    """The hole between the audio packets either side of each join's time (s)."""
    av_end_offset: float | None = None
    """Audio end minus video end (s)."""


def measure_join(path: str, video: ProxyVideo, join_frames: Sequence[int] = ()) -> JoinReport:
    """Read the packet timeline of a proxy (no decoding)."""
    import av

    with av.open(path) as container:
        vs = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        vtb, atb = _time_base(vs), _time_base(audio) if audio is not None else Fraction(1)
        vtimes: list[Fraction] = []
        keyframes: list[int] = []
        apackets: list[tuple[Fraction, Fraction]] = []
        streams = [vs] + ([audio] if audio is not None else [])
        for packet in container.demux(*streams):
            if packet.pts is None:
                continue
            if packet.stream.type == "video":
                if packet.is_keyframe:
                    keyframes.append(len(vtimes))
                vtimes.append(packet.pts * vtb)
            else:
                apackets.append((packet.pts * atb, (packet.duration or 0) * atb))
    step = 1 / video.rate
    vtimes.sort()
    gaps = [float(b - a - step) for a, b in zip(vtimes, vtimes[1:], strict=False)]
    video_end = float(vtimes[-1] + step) if vtimes else 0.0
    report = JoinReport(len(vtimes), video_end, None, keyframes, [max(gaps, default=0.0)])
    if apackets:
        apackets.sort()
        holes = [float(b[0] - (a[0] + a[1])) for a, b in zip(apackets, apackets[1:], strict=False)]
        report.audio_gap_max = max(holes, key=abs, default=0.0)
        audio_end = float(apackets[-1][0] + apackets[-1][1])
        report.audio_duration = audio_end - float(max(apackets[0][0], Fraction(0)))
        report.av_end_offset = audio_end - video_end
        for frame in join_frames:
            t = frame / video.rate
            i = next((k for k, (pts, _) in enumerate(apackets) if pts > t), len(apackets)) - 1
            report.audio_gaps_at_joins.append(holes[i] if 0 <= i < len(holes) else 0.0)
    return report


class ChunkJoinInvalid(ValueError):
    """The joined proxy is not what the plan promised (frames missing, a hole at a join...)."""


# A hole smaller than this is timestamp rounding, not lost media.
_TOLERANCE = 0.0005


def validate_join(report: JoinReport, video: ProxyVideo, chunks: Sequence[Chunk], expected_frames: int,
                  audio_duration: float | None) -> None:
    """Raise ChunkJoinInvalid unless the joined proxy has every planned frame on an unbroken grid, a
    keyframe at every chunk's start, and the whole audio track with no hole (`audio_duration`: the
    audio encode's own length; None when the source has no audio)."""
    problems = []
    if abs(report.frames - expected_frames) > 0:
        problems.append(f"{report.frames} frames, expected {expected_frames}")
    if any(abs(g) > _TOLERANCE for g in report.video_gaps):
        problems.append(f"video timestamps break by {max(report.video_gaps, key=abs):.6f}s")
    missing = [c.first_frame for c in chunks if c.first_frame not in set(report.keyframes)]
    if missing:
        problems.append(f"no keyframe at chunk starts {missing}")
    if audio_duration is not None:
        if report.audio_duration is None:
            problems.append("the audio track is missing")
        else:
            if abs(report.audio_gap_max) > _TOLERANCE:
                problems.append(f"audio breaks by {report.audio_gap_max:.6f}s")
            if abs(report.audio_duration - audio_duration) > 1 / AUDIO_SAMPLE_RATE * 1024:
                problems.append(f"audio lasts {report.audio_duration:.3f}s, encoded {audio_duration:.3f}s")
    if problems:
        raise ChunkJoinInvalid("; ".join(problems))


def media_duration(path: str) -> float | None:
    """Length of the first audio (else video) track of a file we wrote (packet times, no decoding)."""
    import av

    with av.open(path) as container:
        stream = (container.streams.audio or container.streams.video)[0]
        tb = _time_base(stream)
        end: Fraction | None = None
        first: Fraction | None = None
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            t = packet.pts * tb
            first = t if first is None else min(first, t)
            end = max(end if end is not None else t, t + (packet.duration or 0) * tb)
        return None if end is None or first is None else float(end - max(first, Fraction(0)))


def chunk_frames(path: str) -> int:
    """Video frames in a chunk file."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        return sum(1 for p in container.demux(stream) if p.pts is not None)


# --------------------------------------------------------------------------- one machine


@dataclass
class LocalRun:
    """What `encode_chunked` did: the plan, each chunk's wall time, the audio and join costs."""

    chunks: list[Chunk]
    chunk_seconds: list[float]
    audio_seconds: float
    join_seconds: float
    report: JoinReport


def encode_chunked(ffmpeg: str, source: str, output: str, workdir: str, facts: MediaFacts, chunk_seconds: float,
                   *, parallel: int = 1, timeout: float = 3 * 3600.0,
                   filters: frozenset[str] = DEFAULT_FILTERS) -> LocalRun:
    """The chunked encode on this machine: chunks one after another (or `parallel` at a time), the
    audio alongside, then the join and its validation. The Celery workflow does the same across
    workers (workers/proxy_chunks.py); this is what one machine, the bench and the tests run."""
    import os
    import time
    from concurrent.futures import ThreadPoolExecutor

    from workers.media.run import run_ffmpeg

    video = ProxyVideo.of(facts)
    timeline = read_keyframes(source, chunk_seconds, facts.demuxer)
    chunks = plan_chunks(timeline.keyframes, timeline.duration, video, chunk_seconds)
    files = [os.path.join(workdir, f"chunk-{c.index:05d}.mp4") for c in chunks]
    audio = os.path.join(workdir, "audio.m4a") if facts.has_audio else None
    times: dict[int, float] = {}

    def one(i: int) -> None:
        started = time.monotonic()
        if i < 0:
            assert audio is not None
            run_ffmpeg(audio_argv(ffmpeg, source, facts, audio), total_seconds=timeline.duration, timeout=timeout)
        else:
            run_ffmpeg(chunk_video_argv(ffmpeg, source, facts, chunks[i], files[i], filters),
                       total_seconds=chunk_seconds, timeout=timeout)
        times[i] = time.monotonic() - started

    # The audio (one thread of work) runs beside the chunks, as it does on a worker with two slots.
    with ThreadPoolExecutor(1) as beside, ThreadPoolExecutor(max(1, parallel)) as pool:
        audio_done = beside.submit(one, -1) if audio else None
        list(pool.map(one, range(len(chunks))))
        if audio_done is not None:
            audio_done.result()
    started = time.monotonic()
    listing = os.path.join(workdir, "chunks.ffconcat")
    with open(listing, "w", encoding="utf-8") as f:
        f.write(concat_list([os.path.basename(p) for p in files]))
    run_ffmpeg(join_argv(ffmpeg, listing, audio, video, output), total_seconds=timeline.duration, timeout=timeout)
    report = measure_join(output, video, [c.first_frame for c in chunks[1:]])
    expected = sum(c.frames or 0 for c in chunks[:-1]) + chunk_frames(files[-1])
    validate_join(report, video, chunks, expected, media_duration(audio) if audio else None)
    join = time.monotonic() - started
    return LocalRun(chunks, [times[i] for i in range(len(chunks))], times.get(-1, 0.0), join, report)
