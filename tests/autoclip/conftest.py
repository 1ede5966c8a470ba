"""Generated footage with a known answer, made once per test session (about 20 s of ffmpeg)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.autoclip.footage import Footage, make_footage
from workers.media.run import cjk_font_path


@pytest.fixture(scope="session")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Footage:
    if shutil.which("espeak-ng") is None or cjk_font_path() is None:
        pytest.fail("the footage generator needs espeak-ng and fonts-noto-cjk (.ci/run installs both)")
    return make_footage(Path(tmp_path_factory.mktemp("footage")) / "live.mp4")
