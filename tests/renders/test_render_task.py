"""Real renders through the task body on tiny generated clips: outputs probed and checked against their
presets, derived materials with lineage, covers, idempotent re-runs, too-short renditions, cancel."""

from __future__ import annotations

import io
import subprocess
import threading
import time
import uuid

import pytest
from PIL import Image
from sqlmodel import select

from backend.catalogue.models import Material, MaterialKind
from backend.renders.models import JobStatus, OutputStatus, RenderJob
from tests.conftest import make_clip
from tests.renders.conftest import cjk_font_or_skip, ingest_clip

THREE = ["douyin.feed_9x16", "xiaohongshu.note_3x4", "weibo.landscape_720p"]
# A 320x240 source stays in its resolution class: no upscaling to the preset's 1080p.
PLANNED = {
    "douyin.feed_9x16": (180, 320),
    "xiaohongshu.note_3x4": (240, 320),
    "weibo.landscape_720p": (320, 180),
}

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def create_job(source_id: uuid.UUID, body: dict) -> uuid.UUID:
    from backend.config import get_settings
    from backend.db import session_scope
    from backend.objectstore import get_storage
    from backend.renders import service as renders
    request = renders.RenderRequest.model_validate(body)
    with session_scope() as session:
        return renders.create_render_job(
            session, get_storage(), get_settings(), source_id, request, requested_by=None
        ).id


def job_state(job_id: uuid.UUID):  # type: ignore[no-untyped-def]
    from backend.db import session_scope
    from backend.renders import service as renders
    with session_scope() as session:
        job = session.get(RenderJob, job_id)
        return job, renders.outputs_of(session, [job_id])[job_id]


def derived_of(job_id: uuid.UUID) -> list[Material]:
    from backend.db import session_scope

    with session_scope() as session:
        return list(session.exec(select(Material).where(Material.render_job_id == job_id)).all())


def test_one_job_renders_three_presets_into_derived_materials(client, source_id, logo_id, tmp_path, make_previews):
    from backend.objectstore import get_storage
    from presets.loader import load_catalog
    from workers.media.validate import probe_rendition, validate_rendition
    from workers.renders import execute_render_job, output_material_id

    body = {
        "ranges": [{"start": 0, "end": 1.5}, {"start": 2, "end": 4}],
        "presets": THREE,
        "loudnorm": True,
        "watermark": {"material_id": str(logo_id), "corner": "bottom_right"},
    }
    job_id = uuid.UUID(client.post(f"/api/v1/materials/{source_id}/renders", json=body).json()["id"])
    assert execute_render_job(str(job_id)) == "succeeded"

    job, outputs = job_state(job_id)
    assert (job.status, job.progress, job.attempts, job.error_code) == (JobStatus.succeeded, 1.0, 1, None)
    assert job.started_at and job.finished_at and job.lease_owner is None
    catalog, storage = load_catalog(), get_storage()
    for out in outputs:
        assert out.status == OutputStatus.succeeded, out.error_detail
        assert out.material_id == output_material_id(job_id, out.preset_id)
        assert (out.width, out.height) == PLANNED[out.preset_id] and out.violations == []
        assert out.duration_s == pytest.approx(3.5, abs=0.15)
    materials = {m.preset_id: m for m in derived_of(job_id)}
    assert set(materials) == set(THREE)
    for pid, m in materials.items():
        assert (m.kind, m.parent_id, m.status) == (MaterialKind.derived, source_id, "ready")
        assert (
            m.recipe["ranges"] == body["ranges"]
            and m.recipe["preset_id"] == pid
            and m.recipe["loudnorm"] is True
        )
        assert (m.display_width, m.display_height) == PLANNED[pid] and m.has_audio
        assert make_previews(m.id) is True  # the quick queue's work once the rendition is catalogued
        local = tmp_path / f"{pid}.mp4"
        storage.download_to(m.storage_key, local)
        facts = probe_rendition(local)
        assert validate_rendition(facts, catalog.preset(pid), expected_size=PLANNED[pid]) == []
        cover = tmp_path / f"{pid}.jpg"
        storage.download_to(f"materials/{m.id}/cover.jpg", cover)
        spec = catalog.preset(pid).cover
        assert Image.open(cover).size == (spec.width.value, spec.height.value)

    shown = client.get(f"/api/v1/jobs/{job_id}").json()
    assert shown["status"] == "succeeded" and shown["timings"]["run_seconds"] > 0
    assert {r["links"]["material"] for r in shown["renditions"]} == {
        f"/api/v1/materials/{m.id}" for m in materials.values()
    }
    lineage = client.get(f"/api/v1/materials/{materials['douyin.feed_9x16'].id}/lineage").json()
    assert str(source_id) in str(lineage)

    # A done job is left alone; a job run again (e.g. redelivered after its commit) reuses its materials.
    assert execute_render_job(str(job_id)) == "succeeded"
    from backend.db import session_scope

    with session_scope() as session:
        row = session.get(RenderJob, job_id)
        row.status, row.attempts = JobStatus.queued, 0
    assert execute_render_job(str(job_id)) == "succeeded"
    assert sorted(m.id for m in derived_of(job_id)) == sorted(m.id for m in materials.values())
    _, again = job_state(job_id)
    assert {o.material_id for o in again} == {m.id for m in materials.values()}


@sqlite_only
def test_too_short_source_fails_that_rendition_clearly(client, source_id):
    from workers.renders import execute_render_job

    body = {"ranges": [{"start": 0, "end": 2}], "presets": ["douyin.feed_9x16", "tiktok.feed_9x16"]}
    job_id = uuid.UUID(client.post(f"/api/v1/materials/{source_id}/renders", json=body).json()["id"])
    assert execute_render_job(str(job_id)) == "succeeded"
    shown = client.get(f"/api/v1/jobs/{job_id}").json()
    assert shown["error"]["code"] == "partial"
    by_preset = {r["preset_id"]: r for r in shown["renditions"]}
    assert by_preset["douyin.feed_9x16"]["status"] == "succeeded"
    tiktok = by_preset["tiktok.feed_9x16"]
    assert tiktok["status"] == "failed" and tiktok["material_id"] is None
    assert tiktok["error"]["code"] == "source-too-short" and "needs at least 3s" in tiktok["error"]["detail"]
    assert [m.preset_id for m in derived_of(job_id)] == ["douyin.feed_9x16"]


@sqlite_only
def test_over_size_output_is_re_encoded_once_at_a_lower_bitrate(
    monkeypatch, app_env, sent, tmp_path, clip_4s
):
    from backend.config import get_settings

    overrides = tmp_path / "presets"
    overrides.mkdir()
    (overrides / "douyin.toml").write_text(
        'id = "douyin"\n[sources.test]\nstatus = "commonly_cited"\nref = "reelhouse render test"\n'
        '[[presets]]\nid = "douyin.feed_9x16"\nmax_file_size_mb = { value = 0.04, source = "test" }\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("REELHOUSE_PRESETS_DIR", str(overrides))
    get_settings.cache_clear()
    from workers.renders import execute_render_job

    source_id = ingest_clip(clip_4s)
    job_id = create_job(source_id, {"ranges": [{"start": 0, "end": 4}], "presets": ["douyin.feed_9x16"]})
    execute_render_job(str(job_id))
    _, (out,) = job_state(job_id)
    assert out.reencoded
    if out.status == OutputStatus.succeeded:
        assert out.size_bytes <= 0.04 * 1024 * 1024
    else:  # the lowered bitrate could not reach the limit: recorded as a violation, not a material
        assert out.error_code == "preset-violation" and out.violations[0]["field"] == "max_file_size_mb"


@sqlite_only
def test_title_and_subtitles_in_chinese_are_burned_in(client, source_id):
    cjk_font_or_skip()
    from workers.renders import execute_render_job

    body = {
        "ranges": [{"start": 0, "end": 3}],
        "presets": ["xiaohongshu.note_3x4"],
        "title": {"text": "618 大促 · 新品首发", "position": "top"},
        "subtitles": {"srt": "1\n00:00:00,000 --> 00:00:02,000\n直播回放：夏季新品\n"},
    }
    job_id = uuid.UUID(client.post(f"/api/v1/materials/{source_id}/renders", json=body).json()["id"])
    assert execute_render_job(str(job_id)) == "succeeded"
    (m,) = derived_of(job_id)
    assert m.recipe["title"]["text"] == "618 大促 · 新品首发"
    assert m.recipe["subtitles"]["key"] == f"render-jobs/{job_id}/subtitles.srt"
    assert m.title.startswith("直播回放 618 新品 · ") and (m.display_width, m.display_height) == (240, 320)


@sqlite_only
def test_cancel_kills_the_ffmpeg_process_group(monkeypatch, app_env, sent, tmp_path):
    from backend.db import session_scope
    from backend.renders import service as renders
    from workers.renders import execute_render_job

    clip = make_clip(tmp_path / "long.mp4", seconds=20.0, size="640x360", seed=3)
    source_id = ingest_clip(clip)
    job_id = create_job(source_id, {"ranges": [{"start": 0, "end": 20}], "presets": THREE})

    started: list[subprocess.Popen] = []
    real_popen = subprocess.Popen

    class Recording(real_popen):  # type: ignore[misc, valid-type]
        def __init__(self, argv, *a, **kw):  # type: ignore[no-untyped-def]
            super().__init__(argv, *a, **kw)
            if "-filter_complex" in argv:
                started.append(self)

    monkeypatch.setattr(subprocess, "Popen", Recording)
    result: list[str] = []
    worker = threading.Thread(target=lambda: result.append(execute_render_job(str(job_id))))
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job, _ = job_state(job_id)
        if started and job.progress > 0:
            break
        time.sleep(0.1)
    assert started and started[0].poll() is None, "ffmpeg should be rendering"
    with session_scope() as session:
        renders.cancel_job(session, job_id)
    cancelled_at = time.monotonic()
    worker.join(timeout=30)
    assert result == ["cancelled"] and time.monotonic() - cancelled_at < 10
    ffmpeg = started[0]
    assert ffmpeg.poll() is not None and ffmpeg.returncode < 0  # killed by a signal, not finished
    job, outputs = job_state(job_id)
    assert job.status == JobStatus.cancelled and job.progress < 0.85
    assert all(o.status == OutputStatus.pending for o in outputs) and derived_of(job_id) == []


@sqlite_only
def test_unreadable_source_fails_the_job_without_retry(app_env, source_id, sent):
    from backend.db import session_scope
    from backend.objectstore import get_storage
    from workers.renders import execute_render_job

    with session_scope() as session:
        key = session.get(Material, source_id).storage_key
    get_storage().put(key, io.BytesIO(b"\x00" * 4096), size=4096)  # the stored original went bad
    job_id = create_job(source_id, {"ranges": [{"start": 0, "end": 2}], "presets": ["douyin.feed_9x16"]})
    assert execute_render_job(str(job_id)) == "failed"
    job, _ = job_state(job_id)
    assert (job.status, job.error_code, job.attempts) == (JobStatus.failed, "source-unreadable", 1)


@sqlite_only
def test_storage_outage_releases_the_job_and_raises_for_a_retry(monkeypatch, app_env, source_id, sent):
    from storage import StorageError
    from workers import renders as render_tasks

    class Down:
        def presigned_url(self, key, **_):  # type: ignore[no-untyped-def]
            raise StorageError("connection refused")

        def download_to(self, key, path):  # type: ignore[no-untyped-def]
            raise StorageError("connection refused")

    monkeypatch.setattr(render_tasks, "_storage", lambda: Down())
    job_id = create_job(source_id, {"ranges": [{"start": 0, "end": 2}], "presets": ["douyin.feed_9x16"]})
    with pytest.raises(render_tasks.TransientStorageError):
        render_tasks.execute_render_job(str(job_id))
    job, _ = job_state(job_id)
    assert (job.status, job.lease_owner, job.attempts) == (JobStatus.queued, None, 1)
    assert render_tasks.TransientStorageError in render_tasks.render_job.autoretry_for
    assert render_tasks.render_job.acks_late and render_tasks.render_job.reject_on_worker_lost
    assert render_tasks.render_job.queue == "render"


def test_intro_clip_and_title_card_outro_are_joined_and_recorded(client, source_id, logo_id, tmp_path):
    from workers.renders import execute_render_job

    intro_id = ingest_clip(
        make_clip(tmp_path / "sting.mp4", seconds=1.0, size="160x160", audio=False), "片头"
    )
    body = {
        "ranges": [{"start": 0, "end": 2}],
        "presets": ["weibo.landscape_720p"],
        "intro_material_id": str(intro_id),
        "outro_material_id": str(logo_id),
        "outro_seconds": 1,
    }
    job_id = uuid.UUID(client.post(f"/api/v1/materials/{source_id}/renders", json=body).json()["id"])
    assert execute_render_job(str(job_id)) == "succeeded"
    (rendition,) = client.get(f"/api/v1/jobs/{job_id}").json()["renditions"]
    assert rendition["status"] == "succeeded", rendition
    assert (rendition["width"], rendition["height"]) == PLANNED["weibo.landscape_720p"]
    assert rendition["duration_s"] == pytest.approx(4.0, abs=0.15)
    (derived,) = derived_of(job_id)
    assert derived.has_audio and derived.parent_id == source_id
    assert derived.recipe["intro"] == {"material_id": str(intro_id), "seconds": 1.0}
    assert derived.recipe["outro"] == {"material_id": str(logo_id), "seconds": 1.0}


def test_the_stored_request_reads_back_as_the_request_it_was():
    from backend.renders.service import RenderRequest, read_stored_request, store_request

    request = RenderRequest.model_validate({
        "ranges": [{"start": 1, "end": 3}], "presets": ["douyin.feed_9x16"], "fit": {"douyin.feed_9x16": "smart"},
        "crop_path": [{"t": 0, "cx": 0.3}], "title": {"text": "618 大促"}, "subtitles": {"srt": "1\n00:00:00,000 --> 00:00:01,000\n嗨\n"},
    })
    stored = store_request(request, ["douyin.feed_9x16"], origin="auto-rule", subtitles_key="render-jobs/x/subtitles.srt")
    assert "嗨" not in str(stored)  # the text lives in storage, not in the row
    back = read_stored_request(stored)
    assert (back.origin, back.subtitles_key) == ("auto-rule", "render-jobs/x/subtitles.srt")
    assert back.request == request.model_copy(update={"subtitles": None})


@sqlite_only
def test_a_stored_request_that_no_longer_validates_fails_the_job(app_env, source_id, sent):
    from backend.db import session_scope
    from workers.renders import execute_render_job

    job_id = create_job(source_id, {"ranges": [{"start": 0, "end": 2}], "presets": ["douyin.feed_9x16"]})
    with session_scope() as session:
        job = session.get(RenderJob, job_id)
        job.request = {**job.request, "ranges": [{"start": 2, "end": 1}]}
        session.add(job)
    assert execute_render_job(str(job_id)) == "failed"
    job, _ = job_state(job_id)
    assert job.error_code == "request-invalid" and "end must be after start" in job.error_detail
