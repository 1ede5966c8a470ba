"""The smart reframe API over real SQLite and PostgreSQL: the suggested path from a stored analysis of
generated host footage, the preview strip, and the path sent back (edited) as a render's crop path."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.renders.conftest import ingest_clip
from tests.workers.media.reframe_footage import SubjectFootage, make_subject_footage

REFRAME = "/api/v1/materials/{}/reframe"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> tuple[SubjectFootage, dict]:
    from workers.media.analysis.pipeline import AnalysisOptions, analyse_recording

    footage = make_subject_footage(Path(tmp_path_factory.mktemp("reframe-api")) / "host.mp4")
    signals = analyse_recording(footage.path, options=AnalysisOptions(ocr=False)).model_dump(mode="json")
    return footage, signals


@pytest.fixture
def recording(app_env: dict[str, str], host: tuple[SubjectFootage, dict]) -> uuid.UUID:
    return ingest_clip(host[0].path, title="直播回放 主播走位")


def _analysed(material_id: uuid.UUID, signals: dict) -> uuid.UUID:
    from backend.autoclip.models import Analysis, AnalysisStatus
    from backend.db import session_scope

    with session_scope() as session:
        row = Analysis(material_id=material_id, version=1, analyser_version=1, status=AnalysisStatus.succeeded,
                       progress=1.0, signals=signals)
        session.add(row)
        session.flush()
        return row.id


def test_suggest_a_path_then_render_it_edited(
    client: TestClient, recording: uuid.UUID, host: tuple[SubjectFootage, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"preset": "douyin.feed_9x16", "ranges": [{"start": 9, "end": 17}]}
    r = client.post(REFRAME.format(recording), json=body)
    assert r.status_code == 409 and r.json()["type"].endswith("/reframe-needs-analysis")

    analysis_id = _analysed(recording, host[1])
    r = client.post(REFRAME.format(recording), json=body)
    assert r.status_code == 200, r.text
    path = r.json()
    assert path["analysis_id"] == str(analysis_id) and path["output_size"] == [720, 1280]
    assert path["fallback"] == "centre" and path["min_scale"] == 1.0
    assert [s["move"] for s in path["shots"]] == ["hold", "hold"]  # still before and after the cut at 11.3 s
    keys = path["crop_path"]
    assert keys[0]["t"] == 0 and set(keys[0]) == {"t", "x", "y", "scale", "pad"}
    jump = next(i for i, k in enumerate(keys) if k["t"] >= 2.3 - 1e-6)
    assert keys[jump - 1]["x"] < 0.65 < keys[jump]["x"]  # the jump at the cut (2.3 s into the range)

    # the same keyframes (nudged by hand) go into a render request and come back stored
    sent: list[uuid.UUID] = []
    monkeypatch.setattr("backend.renders.service.send_render_message", sent.append)
    keys[-1]["x"] = 0.7
    render = {"ranges": body["ranges"], "presets": ["douyin.feed_9x16"], "fit": {"douyin.feed_9x16": "smart"},
              "crop_path": keys}
    r = client.post(f"/api/v1/materials/{recording}/renders", json=render)
    assert r.status_code == 202, r.text
    assert r.json()["request"]["crop_path"] == keys and len(sent) == 1

    # a Tmall main video falls back to the padded frame (its preset says so), on 3:4
    r = client.post(REFRAME.format(recording), json={"preset": "tmall.main_video_3x4", "ranges": body["ranges"]})
    assert r.status_code == 200 and r.json()["fallback"] == "pad"


def test_preview_strip_and_refusals(client: TestClient, recording: uuid.UUID, host: tuple[SubjectFootage, dict]) -> None:
    from PIL import Image

    _analysed(recording, host[1])
    body = {"preset": "douyin.feed_9x16", "ranges": [{"start": 0, "end": 26}], "frames": 6}
    r = client.post(REFRAME.format(recording) + "/preview", json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    strip = Image.open(io.BytesIO(r.content))
    assert strip.height == 240 and strip.width == 6 * 426 + 5 * 4  # six 16:9 tiles side by side
    # an edited path is drawn as sent
    edited = {**body, "crop_path": [{"t": 0, "x": 0.2}, {"t": 10, "x": 0.8, "pad": True}]}
    assert client.post(REFRAME.format(recording) + "/preview", json=edited).status_code == 200

    bad = [
        ({"preset": "nope.nope", "ranges": [{"start": 0, "end": 5}]}, 422, "reframe-request-invalid"),
        ({"preset": "douyin.feed_9x16", "ranges": [{"start": 90, "end": 95}]}, 422, "reframe-request-invalid"),
        ({"preset": "douyin.feed_9x16", "ranges": []}, 422, "validation-error"),
    ]
    for payload, status, kind in bad:
        r = client.post(REFRAME.format(recording), json=payload)
        assert r.status_code == status and r.json()["type"].endswith(kind), r.text
    assert client.post(REFRAME.format(uuid.uuid4()), json=bad[0][0] | {"preset": "douyin.feed_9x16"}).status_code == 404
