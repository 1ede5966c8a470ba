"""A generated live-stream recording with a known answer, for the analysis tests and the benchmark.

Built with ffmpeg from: Mandarin speech by Debian's espeak-ng (`-v cmn`) placed at known times with
silences between, shots of different backdrops cut at known times (not on keyframes: keyframes every
2 s and no scene-cut keyframes, like a live-stream encoder), product cards with Chinese names and prices
drawn with the Noto CJK font at known times, and a real face (scikit-image's `astronaut` photo, which
ships inside the package) moving across the frame along a known path.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workers.media.run import cjk_font_path, ffmpeg_path

RATE = 22_050  # espeak-ng's output rate


@dataclass(frozen=True)
class Card:
    start: float
    end: float
    lines: tuple[str, ...]


@dataclass(frozen=True)
class FootageSpec:
    duration: float = 40.0
    width: int = 1280
    height: int = 720
    fps: int = 30
    keyint: int = 60
    cuts: tuple[float, ...] = (8.4, 17.1, 26.6, 33.3)
    sentences: tuple[str, ...] = (
        "大家好，欢迎来到直播间",
        "今天给大家介绍这款保温杯",
        "现在秒杀价只要五十九块九",
        "洗衣凝珠也有优惠",
        "三号链接，限时抢购",
    )
    silences: tuple[float, ...] = (0.8, 1.6, 2.0, 1.4, 2.2)  # before each sentence
    cards: tuple[Card, ...] = (
        Card(4.0, 14.0, ("保温杯", "¥59.9")),
        Card(20.0, 30.0, ("洗衣凝珠 39.9元", "3号链接 限时秒杀")),
    )
    face_from: tuple[float, float] = (0.12, 0.40)  # face centre (x, y) as fractions, at t=0 ...
    face_to: tuple[float, float] = (0.50, 0.55)  # ... and at the end, moving linearly
    face_height: float = 0.33  # of the frame height
    preset: str = "veryfast"
    noise: int = 6  # temporal noise strength on the backdrops (a camera's sensor noise; more costs more bits)
    maxrate_kbps: int | None = None  # a live-stream encoder's cap (OBS at 1080p30: about 6000)


@dataclass
class Footage:
    path: Path
    spec: FootageSpec
    speech: list[tuple[float, float]] = field(default_factory=list)  # true utterances
    silences: list[tuple[float, float]] = field(default_factory=list)  # true silences between them

    def face_centre(self, t: float) -> tuple[float, float]:
        f = min(max(t / self.spec.duration, 0.0), 1.0)
        (x0, y0), (x1, y1) = self.spec.face_from, self.spec.face_to
        return x0 + (x1 - x0) * f, y0 + (y1 - y0) * f


def _espeak(text: str, out: Path) -> np.ndarray:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (Debian package espeak-ng)")
    subprocess.run([exe, "-v", "cmn", "-s", "190", "-w", str(out), text], check=True, capture_output=True, timeout=60)
    with wave.open(str(out)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    # espeak pads with near-silence; the truth is where the voice is.
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 300)
    return samples[loud[0] : loud[-1] + 1] if loud.size else samples


def _speech_track(spec: FootageSpec, work: Path) -> tuple[Path, list[tuple[float, float]], list[tuple[float, float]]]:
    track = np.zeros(int(spec.duration * RATE), dtype=np.int16)
    voices = [_espeak(text, work / f"s{i}.wav") for i, text in enumerate(spec.sentences)]
    speech = []
    t = 0.0
    for cycle in range(10_000):  # the sentences again and again until the recording is full
        i = cycle % len(voices)
        t += spec.silences[i % len(spec.silences)]
        a = int(t * RATE)
        if a + voices[i].size > track.size - int(0.5 * RATE):
            break
        track[a : a + voices[i].size] = voices[i]
        speech.append((round(a / RATE, 3), round((a + voices[i].size) / RATE, 3)))
        t = (a + voices[i].size) / RATE
    # Quiet room tone, as a microphone records between sentences (digital silence would be too easy).
    rng = np.random.default_rng(7)
    track = np.clip(track.astype(np.int32) + rng.normal(0, 30, track.size).astype(np.int32), -32768, 32767).astype("<i2")
    path = work / "speech.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(track.tobytes())
    edges = [0.0] + [x for s in speech for x in s] + [spec.duration]
    silences = [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a > 0]
    return path, speech, silences



def _face_png(spec: FootageSpec, work: Path) -> tuple[Path, int, int]:
    from PIL import Image
    from skimage import data

    photo = data.astronaut()  # 512x512 RGB, ships inside scikit-image
    head = Image.fromarray(photo[0:230, 130:330])  # Eileen Collins' head and shoulders
    h = int(spec.height * spec.face_height) // 2 * 2
    w = int(head.width * h / head.height) // 2 * 2
    path = work / "face.png"
    head.resize((w, h), Image.Resampling.LANCZOS).save(path)
    return path, w, h


# Backdrops per shot: different brightness and texture, like different cameras in a studio.
_BACKDROPS = ("0x2f4f6f", "0xc8b89a", "0x3a6b35", "0x8a2d3b", "0xe0e0e0", "0x203040")


def _filter_graph(spec: FootageSpec, face_w: int, face_h: int, font: str, work: Path) -> str:
    W, H, D = spec.width, spec.height, spec.duration
    bounds = [0.0, *spec.cuts, D]
    parts = []
    for k, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        colour = _BACKDROPS[k % len(_BACKDROPS)]
        parts.append(f"color=c={colour}:s={W}x{H}:r={spec.fps}:d={b - a:.3f}[bg{k}]")
    n = len(bounds) - 1
    parts.append("".join(f"[bg{k}]" for k in range(n)) + f"concat=n={n}:v=1:a=0,noise=alls={spec.noise}:allf=t[bg]")
    (x0, y0), (x1, y1) = spec.face_from, spec.face_to
    fx = f"({x0}+({x1 - x0})*t/{D})*{W}-{face_w / 2}"
    fy = f"({y0}+({y1 - y0})*t/{D})*{H}-{face_h / 2}"
    parts.append(f"[bg][1:v]overlay=x='{fx}':y='{fy}':eval=frame[v0]")
    label = "v0"
    size = max(24, H // 15)
    for c, card in enumerate(spec.cards):
        enable = f"between(t,{card.start},{card.end})"
        box_w, box_h = int(W * 0.34), int(size * (1.6 * len(card.lines) + 0.8))
        bx, by = int(W * 0.62), int(H * 0.12)
        chain = f"[{label}]drawbox=x={bx}:y={by}:w={box_w}:h={box_h}:color=white@1:t=fill:enable='{enable}'"
        for j, line in enumerate(card.lines):
            textfile = work / f"card{c}_{j}.txt"
            textfile.write_text(line, encoding="utf-8")
            chain += (
                f",drawtext=fontfile='{font}':textfile='{textfile}':fontsize={size}:fontcolor=0xb01010"
                f":x={bx + size // 2}:y={by + int(size * (0.5 + 1.6 * j))}:enable='{enable}'"
            )
        label = f"v{c + 1}"
        parts.append(chain + f"[{label}]")
    parts.append(f"[{label}]format=yuv420p[vout]")
    return ";".join(parts)


def make_footage(out: Path, spec: FootageSpec | None = None) -> Footage:
    spec = spec or FootageSpec()
    font = cjk_font_path()
    if font is None:
        raise RuntimeError("no CJK font (Debian package fonts-noto-cjk)")
    with tempfile.TemporaryDirectory(prefix="footage-") as tmp:
        work = Path(tmp)
        speech_path, speech, silences = _speech_track(spec, work)
        face, fw, fh = _face_png(spec, work)
        graph = _filter_graph(spec, fw, fh, font, work)
        argv = [
            ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"nullsrc=s=16x16:d={spec.duration}",  # input 0: keeps indices stable
            "-loop", "1", "-i", str(face),
            "-i", str(speech_path),
            "-filter_complex", graph, "-map", "[vout]", "-map", "2:a",
            "-c:v", "libx264", "-preset", spec.preset, "-crf", "23", "-g", str(spec.keyint),
            "-keyint_min", str(spec.keyint), "-sc_threshold", "0", "-bf", "2",
            *(["-maxrate", f"{spec.maxrate_kbps}k", "-bufsize", f"{2 * spec.maxrate_kbps}k"] if spec.maxrate_kbps else []),
            "-c:a", "aac", "-b:a", "96k", "-ar", "44100", "-t", f"{spec.duration}", "-shortest",
            "-movflags", "+faststart", str(out),
        ]
        subprocess.run(argv, check=True, timeout=1800)
    return Footage(path=out, spec=spec, speech=speech, silences=silences)
