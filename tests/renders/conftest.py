"""Fixtures for render tests: a tiny source video in the catalogue and a recorder at the message boundary."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.conftest import make_clip


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[uuid.UUID]:
    """Job ids whose Celery message would have been sent (after the commit)."""
    messages: list[uuid.UUID] = []
    monkeypatch.setattr("backend.renders.service.send_render_message", messages.append)
    return messages


def ingest_clip(path: Path, title: str = "直播回放 618 新品", **kind) -> uuid.UUID:  # type: ignore[no-untyped-def]
    from backend.config import get_settings
    from backend.db import session_scope
    from backend.objectstore import get_storage
    from backend.uploads.service import IngestRequest, ingest_local_file

    with session_scope() as session:
        result = ingest_local_file(
            session, get_storage(), get_settings(), path, IngestRequest(title=title, **kind)
        )
        return result.material.id


@pytest.fixture(scope="session")
def clip_4s(clip_dir: Path) -> Path:
    return make_clip(clip_dir / "render_4s.mp4", seconds=4.0, seed=7)


@pytest.fixture
def source_id(app_env: dict[str, str], clip_4s: Path, sent: list[uuid.UUID]) -> uuid.UUID:
    return ingest_clip(clip_4s)


@pytest.fixture
def logo_id(app_env: dict[str, str], tmp_path: Path) -> uuid.UUID:
    from PIL import Image

    path = tmp_path / "logo.png"
    Image.new("RGBA", (64, 32), (255, 0, 0, 200)).save(path)
    return ingest_clip(path, title="品牌 logo")


def cjk_font_or_skip() -> str:
    """The CJK font burned-in titles need: skipped outside CI when absent, a failure in CI."""
    from backend.config import get_settings
    from tests.conftest import service_missing
    from workers.media.run import cjk_font_path

    font = cjk_font_path(get_settings().cjk_font_path)
    if font is None or not Path(font).is_file():
        service_missing("a CJK font (Debian fonts-noto-cjk, or REELHOUSE_CJK_FONT_PATH)")
    assert font is not None
    return font
