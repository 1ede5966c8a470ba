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
from workers.media.analysis import ANALYSIS_VERSION

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
        row = Analysis(material_id=material_id, version=1, analyser_version=ANALYSIS_VERSION, status=AnalysisStatus.succeeded,
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


def test_preview_reads_the_stored_file_in_place(
    client: TestClient, recording: uuid.UUID, host: tuple[SubjectFootage, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Local storage: the strip decodes the stored file itself; nothing is copied (download_to refuses)."""
    from storage.local import LocalStorage

    def no_copy(*_: object, **__: object) -> None:
        raise AssertionError("the preview copied the recording")

    monkeypatch.setattr(LocalStorage, "download_to", no_copy)
    _analysed(recording, host[1])
    body = {"preset": "douyin.feed_9x16", "ranges": [{"start": 0, "end": 26}], "frames": 3}
    r = client.post(REFRAME.format(recording) + "/preview", json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", r.text


def test_preview_reads_object_storage_by_ranges(
    host: tuple[SubjectFootage, dict], s3_bucket, tmp_path: Path  # noqa: ANN001
) -> None:
    """S3: the frames come from ranged reads of the object, a share of its bytes, never a download."""
    from backend.objectstore import media_in_place
    from workers.media.previews import frames_at
    from workers.media.ranged import RangedSource

    footage = host[0].path
    # a longer recording (the footage five times over, copied without re-encoding) so the share means something
    import subprocess

    from workers.media.run import ffmpeg_path

    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"file '{footage}'\n" for _ in range(5)))
    long = tmp_path / "long.mp4"
    subprocess.run([ffmpeg_path(), "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                    "-movflags", "+faststart", str(long)], check=True)
    storage = s3_bucket.storage()
    storage.put_file("originals/long.mp4", long)
    source = media_in_place(storage, "originals/long.mp4")
    assert isinstance(source, RangedSource)
    got = frames_at(source, [5.0, 60.0, 120.0], 0, exact=False, max_side=480)
    assert len(got) == 3
    assert 0 < source.bytes_fetched < 0.6 * long.stat().st_size, (source.bytes_fetched, long.stat().st_size)


def test_an_older_analysis_is_flagged(client: TestClient, recording: uuid.UUID, host: tuple[SubjectFootage, dict]) -> None:
    from backend.autoclip.models import Analysis
    from backend.db import session_scope

    aid = _analysed(recording, host[1])
    with session_scope() as session:
        row = session.get(Analysis, aid)
        assert row is not None
        row.analyser_version = 1
    r = client.post(REFRAME.format(recording), json={"preset": "douyin.feed_9x16", "ranges": [{"start": 9, "end": 17}]})
    assert r.status_code == 200 and r.json()["analysis_outdated"] is True


def test_draft_renders_follow_the_suggested_path(
    app_env: dict[str, str], recording: uuid.UUID, host: tuple[SubjectFootage, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drafts of proposals (what a rule renders) for a portrait preset follow the suggested path of their
    range; a padded preset keeps its fit; without a current analysis they take the preset's fallback."""
    from backend.autoclip import service as autoclip
    from backend.autoclip.models import Analysis, Proposal
    from backend.config import get_settings
    from backend.db import session_scope

    monkeypatch.setattr("backend.renders.service.send_render_message", lambda *_: None)
    aid = _analysed(recording, host[1])
    presets = ["douyin.feed_9x16", "tmall.main_video_3x4", "douyin.landscape_16x9"]

    def draft(start: float, end: float) -> dict:
        with session_scope() as session:
            p = Proposal(analysis_id=aid, material_id=recording, type="demo", start_s=start, end_s=end, score=0.5, reasons=[])
            session.add(p)
            session.flush()
            [(_, job)] = autoclip.render_proposals(session, get_settings(), [p.id], presets, requested_by=None, rule_id=None)
            return dict(job.request)

    request = draft(9.0, 17.0)
    # the 9:16 draft follows the host; 3:4 (a different window, its fallback the padded frame) takes its fallback;
    # the landscape preset is as wide as the source and keeps its fit
    assert request["fit"] == {"douyin.feed_9x16": "smart", "tmall.main_video_3x4": "pad"}
    keys = request["crop_path"]
    assert keys and keys[0]["t"] == 0
    jump = next(i for i, k in enumerate(keys) if k["t"] >= 2.3 - 1e-6)
    assert keys[jump - 1]["x"] < 0.65 < keys[jump]["x"]  # the cut at 11.3 s, 2.3 s into the range

    # an analysis from before face tracks: no path, each narrower preset its fallback
    with session_scope() as session:
        row = session.get(Analysis, aid)
        assert row is not None
        row.analyser_version = 1
    request = draft(9.0, 17.0)
    assert request["fit"] == {"douyin.feed_9x16": "crop", "tmall.main_video_3x4": "pad"}
    assert request.get("crop_path") is None

    # switched off: the presets' own fits, as before
    monkeypatch.setenv("REELHOUSE_AUTOCLIP_SMART_REFRAME", "false")
    get_settings.cache_clear()
    request = draft(9.0, 17.0)
    assert request["fit"] == {} and request.get("crop_path") is None


def test_an_unparsable_body_is_a_declared_400(client: TestClient, recording: uuid.UUID) -> None:
    """What schemathesis found on the preview (ST103, Received: 400 "There was an error parsing the body"): a
    body that is not UTF-8 is a 400 from FastAPI's body parsing (not the 422 of malformed JSON); both routes
    answer it as a problem and declare it."""
    for suffix in ("", "/preview"):
        r = client.post(REFRAME.format(recording) + suffix, content=b'{"preset": "\xff\xfe"}', headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json"), r.text
        declared = client.get("/openapi.json").json()["paths"]["/api/v1/materials/{material_id}/reframe" + suffix]["post"]
        assert "400" in declared["responses"]
