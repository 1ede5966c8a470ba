"""Render requests and jobs through the API and the service, on SQLite and PostgreSQL.

The Celery message is recorded at the send boundary (`sent`); no worker runs here.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import select

from backend.renders.models import JobStatus, RenderJob
from backend.sqltypes import utcnow
from tests.renders.conftest import ingest_clip

RENDERS = "/api/v1/materials/{}/renders"


def catalogue_row(
    media_type: str = "video", duration: float | None = 4.0, title: str = "直播回放 618 新品"
) -> uuid.UUID:
    """A ready material row with probe facts but no bytes: enough for requests that never render."""
    from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType
    from backend.db import session_scope
    material_id = uuid.uuid4()
    with session_scope() as session:
        session.add(
            Material(
                id=material_id,
                title=title,
                media_type=MediaType(media_type),
                kind=MaterialKind.source,
                status=MaterialStatus.ready,
                storage_key=f"materials/{material_id}/original.mp4",
                duration_s=duration,
                width=320,
                height=240,
                display_width=320,
                display_height=240,
            )
        )
    return material_id


@pytest.fixture
def source_id(app_env, sent) -> uuid.UUID:  # type: ignore[no-untyped-def]
    return catalogue_row()


@pytest.fixture
def logo_id(app_env) -> uuid.UUID:  # type: ignore[no-untyped-def]
    return catalogue_row("image", None, "品牌 logo")


THREE = ["douyin.feed_9x16", "xiaohongshu.note_3x4", "weibo.landscape_720p"]


def _body(**extra):  # type: ignore[no-untyped-def]
    return {"ranges": [{"start": 0, "end": 1.5}, {"start": 2, "end": 4}], "presets": THREE, **extra}


def test_presets_show_every_figure_with_its_source(client):
    listing = client.get("/api/v1/presets").json()
    assert listing["count"] >= 20
    douyin = next(p for p in listing["items"] if p["id"] == "douyin.feed_9x16")
    assert douyin["width"]["value"] == 1080 and douyin["width"]["source"]["status"] in (
        "documented",
        "commonly_cited",
    )
    assert douyin["width"]["source"]["ref"]
    named = douyin["figure_status"]["documented"] + douyin["figure_status"]["commonly_cited"]
    assert {"width", "height", "fps_cap", "aspect"} <= set(named)
    one = client.get("/api/v1/presets/tmall.shipai_3x4").json()
    assert one["platform"] == "tmall" and one["label"]["zh"]
    assert client.get("/api/v1/presets/nope.nope").status_code == 404
    assert {p["platform"] for p in client.get("/api/v1/presets?platform=weibo").json()["items"]} == {"weibo"}
    platforms = {p["id"]: p for p in client.get("/api/v1/platforms").json()["items"]}
    assert "douyin.feed_9x16" in platforms["douyin"]["presets"]
    assert any(c["id"] for c in platforms["tmall"]["channels"]) and platforms["tmall"]["name"]["zh"]


def test_render_request_is_accepted_and_enqueued_after_commit(client, source_id, sent):
    r = client.post(RENDERS.format(source_id), json=_body(loudnorm=True, fit={"weibo.landscape_720p": "pad"}))
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert sent == [uuid.UUID(job["id"])]
    assert job["status"] == "queued" and job["progress"] == 0 and job["attempts"] == 0
    assert [o["preset_id"] for o in job["renditions"]] == THREE
    assert all(o["status"] == "pending" for o in job["renditions"])
    got = client.get(r.headers["Location"]).json()
    assert got["request"]["fit"] == {"weibo.landscape_720p": "pad"} and got["request"]["loudnorm"] is True
    assert got["request"]["origin"] == "api" and got["links"]["source"].endswith(str(source_id))


def test_no_message_when_the_transaction_rolls_back(app_env, source_id, sent):
    from backend.config import get_settings
    from backend.db import session_scope
    from backend.renders import service as renders
    request = renders.RenderRequest.model_validate(_body())
    with pytest.raises(RuntimeError), session_scope() as session:
        renders.create_render_job(session, None, get_settings(), source_id, request, requested_by=None)
        assert sent == []  # not before the commit either
        raise RuntimeError("the request failed after the job row was written")
    assert sent == []
    with session_scope() as session:
        assert len(session.exec(select(RenderJob)).all()) == 0


BAD_REQUESTS = [
    (_body(presets=["nope.preset"]), "render-preset-unknown"),
    (_body(ranges=[{"start": 3, "end": 9}]), "render-range-invalid"),
    (_body(ranges=[{"start": 5, "end": 6}]), "render-range-invalid"),
    (
        {"ranges": [{"start": 0, "end": 2}], "presets": ["tiktok.feed_9x16", "instagram.reels_9x16"]},
        "render-too-short",
    ),
    (_body(fit={"jd.main_video_1x1": "pad"}), "render-request-invalid"),
    (_body(intro_material_id=str(uuid.uuid4())), "render-overlay-invalid"),
    (_body(intro_seconds=2), "validation-error"),
    (
        _body(fit={"douyin.feed_9x16": "smart"}, crop_path=[{"t": 2, "x": 0.5}, {"t": 1, "x": 0.5}]),
        "validation-error",
    ),
    (_body(fit={"douyin.feed_9x16": "smart"}, crop_path=[{"t": 0, "cx": 1.2}]), "validation-error"),
    (_body(fit={"douyin.feed_9x16": "smart"}, crop_path=[{"t": 0, "x": 0.2, "cx": 0.3}]), "validation-error"),
    (_body(crop_path=[{"t": 0, "x": 0.5}]), "render-request-invalid"),
    (_body(subtitles={"srt": "no cues here"}), "render-overlay-invalid"),
    (_body(ranges=[{"start": 2, "end": 1}]), "validation-error"),
    (_body(presets=[]), "validation-error"),
]


def test_bad_requests_are_refused_with_a_type(client, source_id, sent):
    for body, slug in BAD_REQUESTS:
        r = client.post(RENDERS.format(source_id), json=body)
        assert r.status_code == 422, r.text
        assert r.json()["type"] == f"/problems/{slug}", body
    assert sent == []


def test_too_short_for_every_preset_names_each_minimum(client, source_id):
    r = client.post(
        RENDERS.format(source_id), json={"ranges": [{"start": 0, "end": 2}], "presets": ["tiktok.feed_9x16"]}
    )
    problem = r.json()
    assert problem["renditions"]["tiktok.feed_9x16"]["code"] == "source-too-short"
    assert "at least 3s" in problem["detail"]


def test_source_and_overlays_must_be_the_right_materials(client, source_id, logo_id, keys):
    assert client.post(RENDERS.format(uuid.uuid4()), json=_body()).status_code == 404
    r = client.post(RENDERS.format(logo_id), json=_body())
    assert r.status_code == 422 and r.json()["type"] == "/problems/render-source-not-ready"
    r = client.post(RENDERS.format(source_id), json=_body(watermark={"material_id": str(source_id)}))
    assert r.json()["type"] == "/problems/render-overlay-invalid"
    ok = client.post(
        RENDERS.format(source_id),
        json=_body(watermark={"material_id": str(logo_id), "corner": "bottom_left"}),
    )
    assert ok.status_code == 202
    viewer = client.post(RENDERS.format(source_id), json=_body(), headers=keys.auth(keys.viewer))
    assert viewer.status_code == 403


def test_inline_subtitles_are_stored_by_the_server(client, source_id):
    from backend.objectstore import get_storage

    srt = "1\n00:00:00,000 --> 00:00:01,500\n直播回放：夏季新品\n"
    job = client.post(RENDERS.format(source_id), json=_body(subtitles={"srt": srt})).json()
    key = job["request"]["subtitles"]["key"]
    assert key == f"render-jobs/{job['id']}/subtitles.srt"
    with get_storage().open(key) as fh:
        assert fh.read().decode("utf-8") == srt


def test_jobs_are_listed_and_filtered(client, source_id):
    other = catalogue_row(duration=3.0, title="other")
    a = client.post(RENDERS.format(source_id), json=_body()).json()
    b = client.post(
        RENDERS.format(other), json={"ranges": [{"start": 0, "end": 3}], "presets": ["jd.main_video_1x1"]}
    ).json()
    client.post(f"/api/v1/jobs/{a['id']}/cancel")

    def ids(query: str) -> list[str]:
        return [j["id"] for j in client.get(f"/api/v1/jobs{query}").json()["items"]]

    assert ids("") == [b["id"], a["id"]]
    assert ids("?status=cancelled") == [a["id"]]
    assert ids("?status=queued") == [b["id"]]
    assert ids(f"?source_id={other}") == [b["id"]]
    assert ids("?preset=xiaohongshu.note_3x4") == [a["id"]]
    assert ids("?preset=jd.main_video_1x1") == [b["id"]]
    assert ids("?limit=1&offset=1") == [a["id"]]
    assert client.get(f"/api/v1/jobs/{uuid.uuid4()}").status_code == 404


def test_cancel_and_retry(client, source_id, sent):
    job = client.post(RENDERS.format(source_id), json=_body()).json()
    cancelled = client.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["finished_at"] is not None
    again = client.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and again.json()["type"] == "/problems/job-state-conflict"
    retried = client.post(f"/api/v1/jobs/{job['id']}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "queued"
    assert retried.json()["error"] is None and retried.json()["attempts"] == 0
    assert sent == [uuid.UUID(job["id"])] * 2
    assert client.post(f"/api/v1/jobs/{job['id']}/retry").status_code == 409


def test_lease_claim_heartbeat_and_sweep(app_env, source_id, sent):
    from backend.config import get_settings
    from backend.db import session_scope
    from backend.renders import service as renders
    settings = get_settings()
    request = renders.RenderRequest.model_validate(_body())
    with session_scope() as session:
        job_id = renders.create_render_job(session, None, settings, source_id, request, requested_by=None).id
    with session_scope() as session:
        assert renders.claim_job(session, job_id, "w1", 60)
    with session_scope() as session:
        assert not renders.claim_job(session, job_id, "w2", 60)  # a live lease is respected
        assert renders.heartbeat(session, job_id, "w1", 60, 0.5)
        assert not renders.heartbeat(session, job_id, "w2", 60, 0.9)
    with session_scope() as session:
        assert renders.sweep_render_jobs(session, settings).requeued == []
        job = session.get(RenderJob, job_id)
        assert (job.status, job.progress, job.attempts) == (JobStatus.running, 0.5, 1)
        job.lease_expires_at = utcnow() - timedelta(seconds=1)  # the worker vanished
    sent.clear()
    with session_scope() as session:
        assert renders.sweep_render_jobs(session, settings).requeued == [job_id]
        assert sent == []  # only after the commit
    assert sent == [job_id]
    with session_scope() as session:
        job = session.get(RenderJob, job_id)
        assert job.status == JobStatus.queued and job.lease_owner is None
        assert not renders.heartbeat(session, job_id, "w1", 60, 0.6)  # the old worker lost it
        assert renders.claim_job(session, job_id, "w3", 60)
        job = session.get(RenderJob, job_id)
        session.refresh(job)
        job.attempts, job.max_attempts = 3, 3
        job.lease_expires_at = utcnow() - timedelta(seconds=1)
    with session_scope() as session:
        assert renders.sweep_render_jobs(session, settings).failed == [job_id]
    with session_scope() as session:
        job = session.get(RenderJob, job_id)
        assert job.status == JobStatus.failed and job.error_code == "worker-lost"
        job.status, job.attempts = JobStatus.queued, 0
        job.enqueued_at = utcnow() - timedelta(hours=1)  # its message was lost
    sent.clear()
    with session_scope() as session:
        assert renders.sweep_render_jobs(session, settings).resent == [job_id]
    assert sent == [job_id]
    with session_scope() as session:
        session.get(RenderJob, job_id).attempts = 3  # transient retries used every attempt
    with session_scope() as session:
        assert renders.sweep_render_jobs(session, settings).failed == [job_id]
    assert _status(job_id) == (JobStatus.failed, "attempts-exhausted")


def _status(job_id):  # type: ignore[no-untyped-def]
    from backend.db import session_scope

    with session_scope() as session:
        job = session.get(RenderJob, job_id)
        return job.status, job.error_code


def test_auto_render_rule_queues_new_sources(app_env, monkeypatch, clip_4s, sent, queued, tmp_path):
    from backend import queue
    from backend.catalogue.models import MaterialKind
    from backend.config import get_settings
    from backend.db import session_scope
    from workers.renders import auto_render_source_task

    def run_rule() -> list[str | None]:
        """What the quick worker does with the messages ingest sent after its commit."""
        results = [auto_render_source_task(*args) for name, args in queued if name == queue.AUTO_RENDER_SOURCE]
        queued.clear()
        return results

    monkeypatch.setenv("REELHOUSE_AUTO_RENDER_PRESETS", "douyin.feed_9x16, tiktok.feed_9x16,nope.unknown")
    monkeypatch.setenv("REELHOUSE_AUTO_RENDER_SECONDS", "2.5")
    get_settings.cache_clear()
    material_id = ingest_clip(clip_4s)
    assert (queue.AUTO_RENDER_SOURCE, (str(material_id),)) in queued
    assert sent == []  # ingest only names the rule's task; the job is made by the worker
    [made] = run_rule()
    with session_scope() as session:
        job = session.exec(select(RenderJob).where(RenderJob.source_id == material_id)).one()
        assert made == str(job.id)
        assert job.request["presets"] == ["douyin.feed_9x16"]  # tiktok needs 3 s; unknown ids are skipped
        assert job.request["ranges"] == [{"start": 0.0, "end": 2.5}]
        assert job.request["origin"] == "auto-rule" and job.status == JobStatus.queued
    assert sent == [job.id]
    # a re-delivered message makes no second job
    assert auto_render_source_task(str(material_id)) is None
    with session_scope() as session:
        assert len(session.exec(select(RenderJob).where(RenderJob.source_id == material_id)).all()) == 1
    # external copies (and re-uploads of known bytes) are not auto-rendered
    from tests.conftest import make_clip

    ingest_clip(make_clip(tmp_path / "ext.mp4", seconds=3.0, seed=5), kind=MaterialKind.external)
    ingest_clip(clip_4s)
    assert run_rule() == []
    assert sent == [job.id]
    monkeypatch.setenv("REELHOUSE_AUTO_RENDER_PRESETS", "tiktok.feed_9x16")
    monkeypatch.setenv("REELHOUSE_AUTO_RENDER_SECONDS", "2")
    get_settings.cache_clear()
    ingest_clip(make_clip(tmp_path / "short.mp4", seconds=2.0, seed=9))
    assert run_rule() == [None]
    assert sent == [job.id]  # nothing the 2 s cut can satisfy: no doomed job
    monkeypatch.setenv("REELHOUSE_AUTO_RENDER_PRESETS", "")
    get_settings.cache_clear()
    ingest_clip(make_clip(tmp_path / "off.mp4", seconds=3.0, seed=11))
    assert run_rule() == []  # no rule configured: no message for it at all


def test_intro_and_outro_count_toward_the_duration_limits(client, source_id, logo_id, sent):
    sting = catalogue_row("video", 1.5, "品牌片头")
    tiktok_only = {"ranges": [{"start": 0, "end": 2}], "presets": ["tiktok.feed_9x16"]}
    assert (
        client.post(RENDERS.format(source_id), json=tiktok_only).json()["type"].endswith("render-too-short")
    )
    # 2 s cut + 1 s title card reaches TikTok's 3 s minimum
    r = client.post(RENDERS.format(source_id), json={**tiktok_only, "intro_material_id": str(logo_id),
                                                    "intro_seconds": 1})  # fmt: skip
    assert r.status_code == 202, r.text
    both = client.post(
        RENDERS.format(source_id),
        json=_body(intro_material_id=str(sting), outro_material_id=str(logo_id), outro_seconds=2.5),
    )
    assert both.status_code == 202, both.text
    stored = both.json()["request"]
    assert stored["intro_material_id"] == str(sting) and stored["intro_seconds"] is None
    assert stored["outro_material_id"] == str(logo_id) and stored["outro_seconds"] == 2.5
    assert len(sent) == 2


def test_intro_must_be_a_short_ready_video_or_image(client, source_id, sent):
    long_video = catalogue_row("video", 40.0, "整场直播")
    r = client.post(RENDERS.format(source_id), json=_body(intro_material_id=str(long_video)))
    assert r.status_code == 422 and r.json()["type"] == "/problems/render-overlay-invalid"
    assert "at most 30s" in r.json()["detail"]
    # only its first 5 s: accepted
    r = client.post(RENDERS.format(source_id), json=_body(outro_material_id=str(long_video), outro_seconds=5))
    assert r.status_code == 202, r.text
    audio = catalogue_row("audio", 3.0, "背景音乐")
    r = client.post(RENDERS.format(source_id), json=_body(intro_material_id=str(audio)))
    assert r.json()["type"] == "/problems/render-overlay-invalid"


def test_smart_fit_takes_a_crop_path(client, source_id, sent):
    body = _body(
        fit={"douyin.feed_9x16": "smart"},
        crop_path=[{"t": 0, "cx": 0.25}, {"t": 2.5, "x": 0.75}],
    )
    r = client.post(RENDERS.format(source_id), json=body)
    assert r.status_code == 202, r.text
    # x-only keyframes (the first form of the path) still do: y is the middle, no zoom, no padding
    rest = {"y": 0.5, "scale": 1.0, "pad": False}
    assert r.json()["request"]["crop_path"] == [{"t": 0, "x": 0.25, **rest}, {"t": 2.5, "x": 0.75, **rest}]
    # smart without a crop path is accepted: it renders as a centre crop
    plain = client.post(RENDERS.format(source_id), json=_body(fit={"douyin.feed_9x16": "smart"}))
    assert plain.status_code == 202 and plain.json()["request"]["crop_path"] is None
    spec = client.get("/openapi.json").json()
    assert (
        "centre crop"
        in spec["components"]["schemas"]["RenderRequest"]["properties"]["crop_path"]["description"]
    )


def test_the_crop_path_reaches_the_engine_recipe(app_env, tmp_path):
    from backend.config import get_settings
    from backend.renders.pipeline import RenderPlan, _recipe
    from backend.renders.service import RenderRequest
    from workers.media.argv import CropKey

    request = RenderRequest.model_validate({
        "ranges": [{"start": 0, "end": 2}], "presets": ["douyin.feed_9x16"],
        "crop_path": [{"t": 0, "x": 0.25}, {"t": 2.5, "x": 0.75}],
    })
    plan = RenderPlan(job_id=uuid.uuid4(), source_id=uuid.uuid4(), source_key=None, source_title="",
                      requested_by=None, request=request, subtitles_key=None, origin="api")
    recipe = _recipe(plan, tmp_path, None, get_settings())  # type: ignore[arg-type]
    assert recipe.crop_path == (CropKey(0, 0.25), CropKey(2.5, 0.75))
    assert recipe.intro is None and recipe.outro is None
