"""The runner: progress, timeout, cancel (process group killed), typed failures."""

import os
import time

import pytest

from workers.media.run import (
    FfmpegFailed,
    FfmpegNotFound,
    MediaCancelled,
    MediaTimeout,
    _Progress,
    cjk_font_path,
    ffmpeg_filters,
    ffmpeg_path,
    run_ffmpeg,
)


def lavfi_argv(ffmpeg, seconds, out, realtime=False):
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1", "-nostats"]
    if realtime:
        argv.append("-re")
    return argv + [
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size=160x120:rate=25:duration={seconds}",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        str(out),
    ]


def test_progress_parser_reports_fractions():
    seen = []
    p = _Progress(10.0, seen.append)
    for line in [
        "frame=10",
        "out_time_us=2500000",
        "progress=continue",
        "out_time_us=N/A",
        "out_time_us=5000000",
    ]:
        p.feed(line)
    p.feed("progress=end")
    assert seen == [0.25, 0.5, 1.0]


def test_run_reports_progress_to_the_end(ffmpeg, tmp_path):
    seen = []
    result = run_ffmpeg(
        lavfi_argv(ffmpeg, 2, tmp_path / "o.mp4"), total_seconds=2, timeout=60, on_progress=seen.append
    )
    assert result.returncode == 0 and (tmp_path / "o.mp4").stat().st_size > 0
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_timeout_kills_the_process_group(ffmpeg, tmp_path):
    started = time.monotonic()
    with pytest.raises(MediaTimeout):
        run_ffmpeg(lavfi_argv(ffmpeg, 60, tmp_path / "o.mp4", realtime=True), total_seconds=60, timeout=1.0)
    assert time.monotonic() - started < 10


def test_ffmpeg_gets_its_own_group_in_the_workers_session(ffmpeg, tmp_path, monkeypatch):
    """A group so a timeout kills it whole; the worker's session so the pool's nice value applies (Linux
    shares the CPU between sessions first: an ffmpeg in a session of its own escaped the proxy pool's nice)."""
    import subprocess

    seen: dict[str, int] = {}
    real_popen = subprocess.Popen

    def spy(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        seen.update(sid=os.getsid(proc.pid), pgid=os.getpgid(proc.pid), pid=proc.pid)
        return proc

    monkeypatch.setattr(subprocess, "Popen", spy)
    run_ffmpeg(lavfi_argv(ffmpeg, 1, tmp_path / "o.mp4"), total_seconds=1, timeout=60)
    assert seen["sid"] == os.getsid(0) and seen["pgid"] == seen["pid"]


def test_cancel_hook_stops_the_render(ffmpeg, tmp_path):
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(MediaCancelled):
        run_ffmpeg(
            lavfi_argv(ffmpeg, 60, tmp_path / "o.mp4", realtime=True),
            total_seconds=60,
            timeout=60,
            should_cancel=cancel,
            poll_interval=0.1,
        )


def test_failure_carries_the_stderr_tail(ffmpeg, tmp_path):
    argv = [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-i",
        f"file:{tmp_path}/missing.mp4",
        "-f",
        "null",
        "-",
    ]
    with pytest.raises(FfmpegFailed) as e:
        run_ffmpeg(argv, total_seconds=1, timeout=30)
    assert e.value.returncode != 0 and "missing.mp4" in e.value.stderr_tail


def test_ffmpeg_path_settings(monkeypatch, tmp_path):
    with pytest.raises(FfmpegNotFound):
        ffmpeg_path(tmp_path / "nope")
    assert os.access(ffmpeg_path(), os.X_OK)
    assert cjk_font_path("/srv/fonts/brand.otf") == "/srv/fonts/brand.otf"
    from backend.config import Settings

    monkeypatch.setenv("REELHOUSE_FFMPEG_PATH", str(tmp_path / "nope"))
    monkeypatch.setenv("REELHOUSE_CJK_FONT_PATH", "/srv/fonts/brand.otf")
    settings = Settings()
    with pytest.raises(FfmpegNotFound):
        ffmpeg_path(settings.ffmpeg_path)
    assert cjk_font_path(settings.cjk_font_path) == "/srv/fonts/brand.otf"


def test_ffmpeg_filters_lists_what_renders_need(ffmpeg):
    filters = ffmpeg_filters(ffmpeg)
    assert {"split", "concat", "scale", "crop", "overlay", "fps", "anullsrc", "loudnorm"} <= filters
