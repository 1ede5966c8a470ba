"""Cover images per a preset's cover spec: one frame from the rendition, fitted with Pillow."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from PIL import Image, ImageOps

from presets.schema import RenditionPreset
from workers.media.run import FfmpegFailed, MediaTimeout


def extract_frame(video: Path, at: float, *, ffmpeg: str, timeout: float = 60) -> Image.Image:
    """Decode one displayed frame (ffmpeg applies rotation) at `at` seconds as an RGB image."""
    argv = [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
        "-protocol_whitelist", "file",
        "-ss", f"{max(at, 0.0):.3f}", "-i", f"file:{video}",
        "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "pipe:1",
    ]  # fmt: skip
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, check=False, process_group=0)
    except subprocess.TimeoutExpired as e:
        raise MediaTimeout(f"frame extraction ran longer than {timeout:.0f}s") from e
    if proc.returncode != 0 or not proc.stdout:
        raise FfmpegFailed(proc.returncode, proc.stderr.decode("utf-8", "replace") or "no frame decoded")
    with Image.open(io.BytesIO(proc.stdout)) as img:
        return img.convert("RGB")


def fit_cover(frame: Image.Image, width: int, height: int) -> Image.Image:
    """Centre-crop and resize a frame to exactly width x height."""
    return ImageOps.fit(frame, (width, height), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def render_cover(
    video: Path, preset: RenditionPreset, out: Path, *, ffmpeg: str, at: float = 1.0, quality: int = 90
) -> tuple[int, int]:
    """Write the preset's cover (JPEG) taken at `at` seconds; returns its size.

    Presets without a cover spec get a cover at the rendition's own size.
    """
    frame = extract_frame(video, at, ffmpeg=ffmpeg)
    size = (preset.cover.width.value, preset.cover.height.value) if preset.cover else frame.size
    cover = fit_cover(frame, *size)
    cover.save(out, format="JPEG", quality=quality, optimize=True, progressive=True)
    return cover.size
