"""Fixtures for media tests: the ffmpeg binary, tiny generated clips, the shared sample folder."""

import subprocess
from pathlib import Path

import pytest

from presets.loader import load_catalog
from tests.conftest import IN_CI
from workers.media.argv import SourceFacts
from workers.media.run import ffmpeg_path

MEDIA_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "media"


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    return ffmpeg_path()


@pytest.fixture(scope="session")
def media_dir() -> Path:
    if not MEDIA_DIR.is_dir():
        if IN_CI:
            pytest.fail(f"{MEDIA_DIR} is missing; CI must have ../shared/media")
        pytest.skip(f"{MEDIA_DIR} is missing (sample media live beside the repository)")
    return MEDIA_DIR.resolve()


@pytest.fixture(scope="session")
def make_clip(tmp_path_factory, ffmpeg):
    """Generate (once per parameter set) a tiny H.264/AAC clip from lavfi test sources."""
    made: dict[tuple, Path] = {}
    root = tmp_path_factory.mktemp("clips")

    def make(width=320, height=240, seconds=3.0, fps=30, audio=True, gop=None) -> Path:
        key = (width, height, seconds, fps, audio, gop)
        if key not in made:
            out = root / f"clip_{width}x{height}_{seconds}s_{fps}_{int(audio)}_{gop}.mp4"
            argv = [
                ffmpeg,
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}",
            ]
            if audio:
                argv += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
            argv += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(gop or fps)]
            if audio:
                argv += ["-c:a", "aac", "-ac", "2", "-shortest"]
            subprocess.run(argv + [str(out)], check=True, timeout=60)
            made[key] = out
        return made[key]

    return make


def facts_for(path: Path) -> SourceFacts:
    from workers.media.probe import probe_file

    return SourceFacts.from_media_facts(str(path), probe_file(path))


@pytest.fixture(scope="session")
def source_facts():
    return facts_for
