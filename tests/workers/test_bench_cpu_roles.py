"""bench/cpu_roles.py: the analysis' decoders are told from other ffmpeg runs by their argv, CPU goes to the
roles the bench reports, and children that end between two samples are counted through their parent."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.cpu_roles import CRITICAL, TICK, Sample, TreeSampler, Windows, _ffmpeg_detail, role
from workers.media.analysis.decode import FrameSampling, audio_argv, frames_argv


def test_the_analysis_decoders_argv_is_told_from_an_encoders() -> None:
    assert _ffmpeg_detail(frames_argv("ffmpeg", "/x.mp4", FrameSampling())) == "decode"
    assert _ffmpeg_detail(frames_argv("ffmpeg", "/x.mp4", FrameSampling(keyframes=True), start=3, duration=2)) == "decode"
    assert _ffmpeg_detail(audio_argv("ffmpeg", "/x.mp4")) == "decode"
    encoder = ["ffmpeg", "-i", "/x.mp4", "-filter_complex", "split=3", "-c:v", "libx264", "-f", "mp4", "/a.mp4"]
    cover = ["ffmpeg", "-ss", "1", "-i", "/a.mp4", "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "pipe:1"]
    assert _ffmpeg_detail(encoder) == _ffmpeg_detail(cover) == "encode"


def test_roles() -> None:
    w = Windows(analysis=(100.0, 200.0), jobs_queued=210.0, renders=[(250.0, 300.0)])

    def at(t: float, kind: str, pool: str | None, detail: str = "", reaped: bool = False) -> str:
        return role(Sample(t, 1, 1.0, kind, pool, 0, detail, reaped), w)

    assert at(150, "api", None) == "API server"
    assert at(150, "inspect", None) == "preview/poster/inspect"
    assert at(150, "pool-main", "render") == "Celery overhead"
    assert at(150, "ffmpeg", "proxy", "encode") == at(150, "pool-child", "proxy") == "proxy"
    assert at(150, "inspect", "quick") == at(150, "pool-child", "quick", "inspect") == "fingerprint"
    assert at(150, "pool-child", "quick") == "quick tasks"
    assert at(150, "ffmpeg", "render", "decode") == at(150, "pool-child", "render") == "analysis"
    assert at(205, "pool-child", "render") == "proposals"
    assert at(230, "pool-child", "render") == "storyboard"
    assert at(260, "pool-child", "render") == at(230, "pool-child", "render", "ffmpeg-encode") == "render"
    assert at(260, "ffmpeg", "render", "encode") == at(260, "inspect", "render") == "render"
    assert {"analysis", "proposals", "storyboard", "render"} <= set(CRITICAL)


def test_children_that_end_between_samples_are_counted_through_the_parent() -> None:
    burn = f"{sys.executable} -c 'sum(range(3 * 10**6))'"
    parent = subprocess.Popen(["bash", "-c", f"for i in 1 2 3 4 5 6 7 8; do {burn}; done; sleep 30"])
    sampler = TreeSampler(parent.pid, interval=0.5)
    sampler.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until bash has become the last command, `sleep`
            time.sleep(0.2)
            root = sampler.procs.get(parent.pid)
            if root is not None and root.argv[:1] == ["sleep"]:
                break
        time.sleep(1.0)
        sampler.stop()
        with open(f"/proc/{parent.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        reaped = (int(fields[13]) + int(fields[14])) / TICK
    finally:
        parent.kill()
        parent.wait()
    counted = sum(s.cpu for s in sampler.samples)
    # All but what the first child spent before the first sample (the sampler's baseline).
    assert counted <= reaped + 0.05
    assert counted >= reaped * 0.75

