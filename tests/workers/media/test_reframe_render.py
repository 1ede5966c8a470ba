"""The render engine follows a smart-reframe path exactly: a source whose every pixel says where it is
(luma = its column, blue chroma = its row) rendered with moving, zooming and padded keyframes, each
output frame measured; then the suggested path of generated footage rendered and the face found in it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from workers.media.argv import (
    CropKey,
    OutputSpec,
    RenderRecipe,
    SourceFacts,
    TimeRange,
    build_render_argv,
    output_duration,
)
from workers.media.probe import probe_file
from workers.media.reframe import key_at
from workers.media.run import run_ffmpeg

W, H, FPS = 640, 360, 30


@pytest.fixture(scope="module")
def ramp(tmp_path_factory, ffmpeg) -> Path:
    path = Path(tmp_path_factory.mktemp("ramp")) / "ramp.mp4"
    subprocess.run([
        ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
        "-i", f"nullsrc=s={W}x{H}:r={FPS}:d=4,geq=lum='X*255/W':cb='Y*255/H':cr=128,format=yuv420p",
        "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-g", "30", str(path),
    ], check=True, timeout=120)  # fmt: skip
    return path


def _render(source: Path, keys: tuple[CropKey, ...], preset, out: Path) -> SourceFacts:
    facts = SourceFacts(str(source), probe_file(source))
    recipe = RenderRecipe(ranges=(TimeRange(0, min(4.0, facts.duration)),), crop_path=keys)
    argv = build_render_argv(facts, recipe, [OutputSpec(preset, str(out), fit="smart")], ffmpeg=_ffmpeg())
    run_ffmpeg(argv, total_seconds=output_duration(facts, recipe), timeout=300)
    return facts


def _ffmpeg() -> str:
    from workers.media.run import ffmpeg_path

    return ffmpeg_path()


def _planes(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Every frame as (n, 3, h, w) yuv444p."""
    w, h = size
    raw = subprocess.run(
        [_ffmpeg(), "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "yuv444p", "pipe:1"],
        check=True, capture_output=True, timeout=120,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, 3, h, w)


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def test_the_engine_follows_x_y_and_zoom_keyframes_exactly(ramp, catalog, tmp_path):
    preset = catalog.preset("douyin.feed_9x16")  # a 640x360 source gives 360x640: a 202x360 window
    keys = (
        CropKey(0, 0.2), CropKey(1, 0.8),  # a pan across
        CropKey(1.5, 0.5, 0.3, 0.5), CropKey(2.5, 0.5, 0.3, 0.5),  # zoomed in (half the window), high
        CropKey(3.5, 0.4, 0.6, 1.0),  # and out again, lower
    )
    _render(ramp, keys, preset, tmp_path / "o.mp4")
    frames = _planes(tmp_path / "o.mp4", (360, 640))
    assert len(frames) == 4 * FPS
    cw0, ch0 = 202, 360
    errors = []
    for n, f in enumerate(frames):
        k = key_at([_key(k) for k in keys], n / FPS)
        cw, ch = min(cw0, _even(cw0 * k.scale)), min(ch0, _even(ch0 * k.scale))
        x0 = min(max(k.x * W - cw / 2, 0), W - cw)
        y0 = min(max(k.y * H - ch / 2, 0), H - ch)
        # the first and last columns show the window's edges; the top row its top
        seen_x0 = float(np.median(f[0, :, 1])) * W / 255
        seen_x1 = float(np.median(f[0, :, -2])) * W / 255
        seen_y0 = float(np.median(f[1, 1, :])) * H / 255
        errors.append((abs(seen_x0 - x0), abs(seen_x1 - (x0 + cw)), abs(seen_y0 - y0)))
    err = np.array(errors)
    # within a few source pixels (the ramp's step is 2.5 px, the crop snaps to even pixels)
    assert err[:, 0].max() < 6 and err[:, 1].max() < 8 and err[:, 2].max() < 6, err.max(axis=0)


def _key(k: CropKey):
    from workers.media.reframe import Key

    return Key(k.t, k.x, k.y, k.scale, k.pad)


def test_the_engine_pads_the_stretches_marked_pad(ramp, catalog, tmp_path):
    preset = catalog.preset("douyin.feed_9x16")
    keys = (CropKey(0, 0.5), CropKey(1, 0.5, pad=True), CropKey(2, 0.5))
    _render(ramp, keys, preset, tmp_path / "o.mp4")
    frames = _planes(tmp_path / "o.mp4", (360, 640))
    mid = 320  # the middle row: the whole frame's width in the padded stretch, the window's otherwise
    for n in (15, 45, 75):
        row = frames[n, 0, mid, :].astype(int)
        padded = 1 <= n / FPS < 2
        assert (row[2] < 20 and row[-3] > 235) == padded, (n, row[2], row[-3])


def test_a_suggested_path_rendered_keeps_the_face_in_the_picture(tmp_path, catalog):
    """The generated host footage (2 s of it around the cut and the distractor would do, 8 s are used)
    rendered along its suggested path: the face is found in every sampled output frame."""
    import cv2

    from tests.workers.media.reframe_footage import make_subject_footage
    from workers.media.analysis.pipeline import AnalysisOptions, analyse_recording
    from workers.media.argv import output_size
    from workers.media.reframe import camera_path

    footage = make_subject_footage(tmp_path / "host.mp4")
    result = analyse_recording(footage.path, options=AnalysisOptions(ocr=False))
    preset = catalog.preset("douyin.feed_9x16")
    start, end = 9.0, 17.0
    out_size = output_size(1280, 720, preset.width.value, preset.height.value, False)
    path = camera_path(result, [(start, end)], out_size)
    keys = tuple(CropKey(k.t, k.x, k.y, k.scale, k.pad) for k in path.keys)
    facts = SourceFacts(str(footage.path), probe_file(footage.path))
    recipe = RenderRecipe(ranges=(TimeRange(start, end),), crop_path=keys)
    out = tmp_path / "o.mp4"
    run_ffmpeg(build_render_argv(facts, recipe, [OutputSpec(preset, str(out), fit="smart")], ffmpeg=_ffmpeg()),
               total_seconds=end - start, timeout=300)
    frames = _planes(out, out_size)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]
    found = 0
    picked = range(0, len(frames), FPS // 2)
    for n in picked:
        faces = cascade.detectMultiScale(frames[n, 0], scaleFactor=1.1, minNeighbors=4, minSize=(60, 60))
        # the host (the distractor at 13.4-14.8 s is out of the window)
        found += any(x > 0 and x + w < out_size[0] for x, y, w, h in faces)
    assert found / len(picked) >= 0.95


def test_two_smart_outputs_of_joined_ranges_zoom_and_pad_each_on_their_own(ramp, catalog, tmp_path):
    """One decode, split into two smart outputs (9:16 and 3:4), each resized by its own commands."""
    keys = (CropKey(0, 0.3), CropKey(1, 0.6, 0.5, 0.6), CropKey(2, 0.6, 0.5, 0.6, pad=True), CropKey(2.5, 0.4))
    facts = SourceFacts(str(ramp), probe_file(ramp))
    recipe = RenderRecipe(ranges=(TimeRange(0, 1.5), TimeRange(2, 3.5)), crop_path=keys)
    specs = [OutputSpec(catalog.preset("douyin.feed_9x16"), str(tmp_path / "a.mp4"), fit="smart"),
             OutputSpec(catalog.preset("xiaohongshu.note_3x4"), str(tmp_path / "b.mp4"), fit="smart")]
    run_ffmpeg(build_render_argv(facts, recipe, specs, ffmpeg=_ffmpeg()), total_seconds=3, timeout=300)
    a, b = _planes(tmp_path / "a.mp4", (360, 640)), _planes(tmp_path / "b.mp4", (480, 640))
    assert len(a) == len(b) == 3 * FPS
    for frames, base_w in ((a, 202), (b, 270)):
        f = frames[int(1.5 * FPS)]  # zoomed to 0.6 around x 0.6: the window spans 0.6 of its width
        x0, x1 = float(np.median(f[0, :, 1])) * W / 255, float(np.median(f[0, :, -2])) * W / 255
        assert abs((x1 - x0) - _even(base_w * 0.6)) < 10 and abs((x0 + x1) / 2 - 0.6 * W) < 10


def test_a_rotated_phone_clip_renders_its_path_upright(catalog, tmp_path):
    """The 4K portrait phone clip (stored landscape, turned by its rotation flag): its suggested 3:4 path
    moves in y (the window is shorter than the upright frame) and renders portrait, like a plain crop."""
    from tests.conftest import shared_media
    from workers.media.analysis.pipeline import AnalysisOptions, analyse_recording
    from workers.media.argv import output_size
    from workers.media.reframe import camera_path

    clip = shared_media("phone_android_portrait_4k60_h264_aac_rot90.mp4")
    result = analyse_recording(clip, options=AnalysisOptions(ocr=False))
    preset = catalog.preset("tmall.main_video_3x4")
    facts = SourceFacts(str(clip), probe_file(clip))
    assert facts.size == (2160, 3840)
    out_size = output_size(*facts.size, preset.width.value, preset.height.value, False)
    path = camera_path(result, [(0, facts.duration)], out_size)
    assert path.window == pytest.approx((1.0, 0.75))
    keys = tuple(CropKey(k.t, k.x, k.y, k.scale, k.pad) for k in path.keys)
    recipe = RenderRecipe(ranges=(TimeRange(0, facts.duration),), crop_path=keys)
    out, plain = tmp_path / "smart.mp4", tmp_path / "crop.mp4"
    for fit, target in (("smart", out), ("crop", plain)):
        argv = build_render_argv(facts, recipe, [OutputSpec(preset, str(target), fit=fit)], ffmpeg=_ffmpeg())  # type: ignore[arg-type]
        run_ffmpeg(argv, total_seconds=facts.duration, timeout=300)
    a, b = _planes(out, out_size), _planes(plain, out_size)
    assert out_size == (1080, 1440) and len(a) == len(b) > 0
    if all(k.y == 0.5 and k.x == 0.5 and k.scale == 1 for k in keys):
        # a centred path is the plain crop, pixel for pixel (up to the encoder)
        assert float(np.mean(np.abs(a[0, 0].astype(int) - b[0, 0].astype(int)))) < 2


def test_a_long_path_renders(ramp, catalog, tmp_path):
    """2000 keyframes (the most a request may send): ffmpeg's expression parser refuses nesting past ~100
    levels, so the pieces are picked by a balanced tree, not a chain of ifs."""
    keys = tuple(CropKey(i * 0.002, 0.3 + 0.4 * ((i // 250) % 2)) for i in range(2000))
    _render(ramp, keys, catalog.preset("douyin.feed_9x16"), tmp_path / "o.mp4")
    frames = _planes(tmp_path / "o.mp4", (360, 640))
    for n in (0, 45, 100):
        k = key_at([_key(k) for k in keys], n / FPS)
        x0 = min(max(k.x * W - 101, 0), W - 202)
        assert abs(float(np.median(frames[n, 0, :, 1])) * W / 255 - x0) < 6
