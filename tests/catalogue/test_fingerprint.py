"""Perceptual fingerprints: copies made the way platforms make them are found; other videos are not.

Variants are made here with ffmpeg from generated clips and from ../shared/media recordings:
re-encoded at a low bitrate, resized to 720p and 480p, cropped by 10 %, padded to 9:16, and stamped
with a corner watermark box. Precision and recall are measured over every variant and over clips that
are not in the index.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_MEDIA, ffmpeg_exe, shared_media
from workers.media.fingerprint import (
    FLAT,
    Fingerprint,
    FingerprintIndex,
    align,
    fingerprint_file,
    frame_hash,
    trim_borders,
)
from workers.media.inspect import inspect_untrusted
from workers.media.probe import Limits

SECONDS = 4
GENERATED = {
    "testsrc2": "testsrc2=size=480x270:rate=10",
    "mandelbrot": "mandelbrot=size=480x270:rate=10",
    "mandelbrot_deep": "mandelbrot=size=480x270:rate=10:start_x=-0.743643887037151:start_y=0.13182590420533:start_scale=0.05",
    "sierpinski": "sierpinski=size=480x270:rate=10:seed=9",
}
NOT_INDEXED = {
    "testsrc": "testsrc=size=480x270:rate=10",
    "mptestsrc": "mptestsrc=rate=10",
    "gradients_other": "gradients=size=480x270:rate=10:speed=0.02:seed=77",
}
SHARED = ["flower_cc0_h264_aac_960x540.mp4", "gopro_max_landscape_h264_aac_gpmf.mp4"]
SHARED_NOT_INDEXED = ["apple_coremedia_h264_aac_640x428.mov", "mkv_h264_ac3_srt_subtitle.mkv"]
VARIANTS = {
    "low_bitrate": ["-b:v", "120k"],
    "720p": ["-vf", "scale=-2:720"],
    "480p": ["-vf", "scale=-2:480"],
    "crop_10pct": ["-vf", "crop=iw*0.9:ih*0.9"],
    "pad_9x16": ["-vf", "scale=480:-2,pad=480:854:0:(oh-ih)/2"],
    "watermark": ["-vf", "drawbox=x=iw*0.78:y=ih*0.04:w=iw*0.18:h=ih*0.08:color=white@0.7:t=fill"],
}


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args], check=True)


def _generate(path: Path, source: str) -> Path:
    _ffmpeg("-f", "lavfi", "-i", source, "-t", str(SECONDS), "-c:v", "libx264", "-preset", "ultrafast",
            "-pix_fmt", "yuv420p", str(path))
    return path


def _variant(src: Path, out: Path, args: list[str]) -> Path:
    _ffmpeg("-i", str(src), "-t", str(SECONDS), *args, "-c:v", "libx264", "-preset", "ultrafast",
             "-pix_fmt", "yuv420p", "-an", str(out))
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("fingerprint")
    originals = {name: _generate(d / f"{name}.mp4", src) for name, src in GENERATED.items()}
    others = {name: _generate(d / f"{name}.mp4", src) for name, src in NOT_INDEXED.items()}
    if all((SHARED_MEDIA / n).exists() for n in SHARED + SHARED_NOT_INDEXED):
        originals.update({n: SHARED_MEDIA / n for n in SHARED})
        others.update({n: SHARED_MEDIA / n for n in SHARED_NOT_INDEXED})
    variants = {
        (name, v): _variant(path, d / f"{Path(name).stem}.{v}.mp4", args)
        for name, path in originals.items() for v, args in VARIANTS.items()
    }
    return {"originals": originals, "others": others, "variants": variants}


def test_precision_and_recall_on_platform_style_copies(corpus: dict) -> None:  # type: ignore[type-arg]
    index = FingerprintIndex()
    for name, path in corpus["originals"].items():
        index.add(name, fingerprint_file(path))
    # Unrelated fingerprints around them, as in a real catalogue.
    rng = np.random.default_rng(1)
    for i in range(300):
        index.add(f"noise-{i}", rng.integers(1, 2**63, size=20, dtype=np.int64).astype(np.uint64))

    tp = fp = fn = 0
    misses = []
    for (name, variant), path in corpus["variants"].items():
        found = index.search(fingerprint_file(path), limit=1)
        if found and found[0].key == name:
            tp += 1
        else:
            fn += 1
            misses.append((name, variant, found[0].key if found else None))
            fp += bool(found)
    for name, path in corpus["others"].items():
        found = index.search(fingerprint_file(path), limit=1)
        if found:
            fp += 1
            misses.append((name, "not indexed", found[0].key))
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    assert precision >= 0.95 and recall >= 0.95, misses


def test_shared_media_copy_across_codecs() -> None:
    """The same film as H.264/MP4 and VP8/WebM is one video to the fingerprint."""
    mp4 = fingerprint_file(shared_media("flower_cc0_h264_aac_960x540.mp4"))
    webm = fingerprint_file(shared_media("flower_cc0_vp8_vorbis.webm"))
    other = fingerprint_file(shared_media("gopro_max_landscape_h264_aac_gpmf.mp4"))
    assert align(mp4.hashes, webm.hashes).is_match
    assert not align(mp4.hashes, other.hashes).is_match


def test_rotation_is_applied(tmp_path: Path) -> None:
    path = shared_media("phone_android_landscape_h264_aac_vfr_rot180.mp4")
    upright = _variant(path, tmp_path / "upright.mp4", [])  # ffmpeg applies the display matrix
    assert align(fingerprint_file(path, rotation=-180).hashes, fingerprint_file(upright).hashes).is_match


def test_borders_and_flat_frames() -> None:
    rng = np.random.default_rng(0)
    picture = (rng.random((90, 160)) * 255).astype(np.uint8)
    boxed = np.zeros((284, 160), dtype=np.uint8)
    boxed[97:187] = picture
    assert trim_borders(boxed).shape == picture.shape
    assert frame_hash(np.full((90, 160), 40, dtype=np.uint8)) == FLAT
    assert Fingerprint.from_bytes(Fingerprint(np.array([1, 2**63 + 5], dtype=np.uint64)).to_bytes()).hashes[1] == 2**63 + 5


def test_inspector_writes_the_fingerprint(tmp_path: Path, small_clip: Path) -> None:
    out = tmp_path / "clip.fingerprint"
    facts = inspect_untrusted(small_clip, limits=Limits(), fingerprint=out)
    assert facts.media_type == "video"
    written = Fingerprint.from_bytes(out.read_bytes())
    assert len(written) == 4  # 2 s at 2 samples per second
    assert align(written.hashes, fingerprint_file(small_clip).hashes).distance == 0
