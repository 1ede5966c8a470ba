"""Generated footage with a known subject path, for the smart reframe tests and benchmark.

A real face (scikit-image's `astronaut` photo, which ships inside the package) over a noisy backdrop:
it holds still, moves, holds again, jumps across a shot cut (the backdrop changes), and a second face
(the same photo, mirrored) shows up for a moment beside it. Keyframes every 2 s and no scene-cut
keyframes, like a live-stream encoder, so the analysis samples every 2 s.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workers.media.run import ffmpeg_path


@dataclass(frozen=True)
class SubjectSpec:
    width: int = 1280
    height: int = 720
    fps: int = 30
    keyint: int = 60
    cut: float = 11.3
    # (time, face centre x as a fraction of the width): straight between the points
    path: tuple[tuple[float, float], ...] = (
        (0.0, 0.25), (3.0, 0.25), (7.0, 0.60), (11.3, 0.60),  # hold, move, hold ...
        (11.3, 0.80), (19.0, 0.80), (23.0, 0.70), (26.0, 0.70),  # ... cut: jump, hold, move, hold
    )
    y: float = 0.45
    face_height: float = 0.33
    distractor: tuple[float, float] = (13.4, 14.8)  # a second face, briefly (on a whole-frame search sample)
    distractor_x: float = 0.22
    duration: float = 26.0
    preset: str = "veryfast"


@dataclass
class SubjectFootage:
    path: Path
    spec: SubjectSpec
    face_size: tuple[int, int]  # the overlaid picture (w, h) in pixels
    face_box: tuple[float, float, float, float]  # the face inside the picture: x0, y0, x1, y1 as fractions of it

    def centre_x(self, t: float) -> float:
        pts = self.spec.path
        jump = next(i for i in range(len(pts) - 1) if pts[i][0] == pts[i + 1][0])  # the cut
        part = pts[jump + 1 :] if t >= pts[jump][0] - 1e-6 else pts[: jump + 1]  # frame times carry float error
        return float(np.interp(t, [p[0] for p in part], [p[1] for p in part]))

    def subject_box(self, t: float) -> tuple[float, float, float, float]:
        """The face (not the picture around it) at time t: x0, y0, x1, y1 as fractions of the frame."""
        s = self.spec
        pw, ph = self.face_size[0] / s.width, self.face_size[1] / s.height
        left, top = self.centre_x(t) - pw / 2, s.y - ph / 2
        fx0, fy0, fx1, fy1 = self.face_box
        return left + fx0 * pw, top + fy0 * ph, left + fx1 * pw, top + fy1 * ph


def _face_png(spec: SubjectSpec, work: Path) -> tuple[Path, Path, int, int, tuple[float, float, float, float]]:
    import cv2
    from PIL import Image, ImageOps
    from skimage import data

    photo = data.astronaut()
    head = Image.fromarray(photo[0:230, 130:330])
    h = int(spec.height * spec.face_height) // 2 * 2
    w = int(head.width * h / head.height) // 2 * 2
    face = head.resize((w, h), Image.Resampling.LANCZOS)
    path, mirrored = work / "face.png", work / "face2.png"
    face.save(path)
    ImageOps.mirror(face).save(mirrored)
    # where the face is inside the picture: the same cascade the analysis uses, on the picture alone
    grey = cv2.cvtColor(np.asarray(face), cv2.COLOR_RGB2GRAY)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]
    found = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=4)
    x, y, fw, fh = max(found, key=lambda r: int(r[2]) * int(r[3]))
    return path, mirrored, w, h, (x / w, y / h, (x + fw) / w, (y + fh) / h)


def _x_expr(points: tuple[tuple[float, float], ...], width: int, face_w: int) -> str:
    expr = f"{points[-1][1]}"
    for (t0, x0), (t1, x1) in reversed(list(zip(points, points[1:], strict=False))):
        piece = f"{x0}" if t1 == t0 or x0 == x1 else f"({x0}+({x1 - x0})*(t-{t0})/{t1 - t0})"
        expr = f"if(lt(t,{t1}),{piece},{expr})"
    return f"({expr})*{width}-{face_w / 2}"


def make_subject_footage(out: Path, spec: SubjectSpec | None = None) -> SubjectFootage:
    spec = spec or SubjectSpec()
    W, H = spec.width, spec.height
    with tempfile.TemporaryDirectory(prefix="reframe-footage-") as tmp:
        work = Path(tmp)
        face, mirrored, fw, fh, box = _face_png(spec, work)
        fx = _x_expr(spec.path, W, fw)
        fy = f"{spec.y * H - fh / 2}"
        d0, d1 = spec.distractor
        graph = (
            f"color=c=0x2f4f6f:s={W}x{H}:r={spec.fps}:d={spec.cut}[a];"
            f"color=c=0xc8b89a:s={W}x{H}:r={spec.fps}:d={spec.duration - spec.cut:.3f}[b];"
            f"[a][b]concat=n=2:v=1:a=0,noise=alls=6:allf=t[bg];"
            f"[bg][1:v]overlay=x='{fx}':y={fy}:eval=frame[v1];"
            f"[v1][2:v]overlay=x={spec.distractor_x * W - fw / 2}:y={fy}:enable='between(t,{d0},{d1})',format=yuv420p[vout]"
        )
        argv = [
            ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"nullsrc=s=16x16:d={spec.duration}",
            "-loop", "1", "-i", str(face), "-loop", "1", "-i", str(mirrored),
            "-filter_complex", graph, "-map", "[vout]",
            "-c:v", "libx264", "-preset", spec.preset, "-crf", "23", "-g", str(spec.keyint),
            "-keyint_min", str(spec.keyint), "-sc_threshold", "0", "-bf", "2",
            "-t", f"{spec.duration}", "-movflags", "+faststart", str(out),
        ]  # fmt: skip
        subprocess.run(argv, check=True, timeout=600)
    return SubjectFootage(path=out, spec=spec, face_size=(fw, fh), face_box=box)
