"""Channel openings recorded by the team, the 实拍 opening count, submission checks and `reelhouse publish`,
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
from typer.testing import CliRunner

from tests.compliance.conftest import channel, iso, sh
from tests.compliance.test_api import problem


def _fingerprint(material_id, hashes):  # type: ignore[no-untyped-def]
    from backend.catalogue.fingerprints import store_fingerprint
    from backend.db import session_scope
    from workers.media.fingerprint import Fingerprint

    with session_scope() as session:
        store_fingerprint(session, material_id, Fingerprint(np.asarray(hashes, dtype=np.uint64)))


# --- openings -----------------------------------------------------------------------------------------


def test_a_new_tmall_store_has_not_opened_video_until_the_team_records_it(api, client):
    acc = api.account()
    video = next(c for c in acc["channels"] if c["channel_id"] == "video")
    assert video["opens"] == "on_application" and video["manual_state"] is None
    now = api.status(sh(2026, 11, 10))
    assert (channel(now, "video")["state"], channel(now, "video")["lock_reason"]) == ("locked", "not_opened")
    shipai = channel(now, "shipai")
    assert (shipai["state"], shipai["missing_prerequisites"]) == ("locked", ["video"])  # not "opening"

    base = f"/api/v1/accounts/{acc['id']}/channels/video/opening"
    problem(client.post(base, json={"opened_on": "2099-01-01"}), 422, "validation-error")
    problem(client.post(f"/api/v1/accounts/{acc['id']}/channels/zhibo/opening", json={"opened_on": "2026-11-03"}), 404, "not-found")
    res = client.post(base, json={"opened_on": "2026-11-03", "note": "千牛后台通知：视频频道已开通"})
    assert res.status_code == 200, res.text
    opened = res.json()
    assert (opened["manual_state"], opened["manual_effective_on"], opened["manual_reason"]) == (
        "open",
        "2026-11-03",
        "千牛后台通知：视频频道已开通",
    )
    assert opened["manual_recorded_by"] == "test editor" and opened["manual_recorded_at"]
    res = client.post(base, json={"opened_on": "2026-11-03", "opened_by": "张三"})
    assert res.json()["manual_recorded_by"] == "张三" and res.json()["manual_reason"] == "平台已开通"

    later = api.status(sh(2026, 11, 10))
    assert channel(later, "video")["state"] == "open"
    assert channel(later, "video")["open_since"] == "2026-11-03T00:00:00+08:00"
    assert (channel(later, "shipai")["state"], channel(later, "shipai")["approved_toward_opening"]) == ("opening", 0)
    assert channel(api.status(sh(2026, 11, 2)), "video")["state"] == "locked"  # before the recorded date

    # Douyin's channel needs no application: open from the start, as before.
    douyin = api.account("douyin", "抖音官方号")
    assert channel(api.status(sh(2026, 11, 10), douyin), "video")["state"] == "open"


def test_shipai_opens_with_its_fifth_approval_or_with_video_approvals_when_overridden(api, client):
    own = api.account(name="按实拍计数")
    other = api.account(name="按视频计数")
    for acc in (own, other):
        api.open_channel(acc, "video", on="2026-10-01")
    for day in (2, 3, 4, 5, 6):
        api.publish(own, "shipai", sh(2026, 10, day, 9), approved=sh(2026, 10, day, 18))
        api.publish(own, "video", sh(2026, 10, day, 9), approved=sh(2026, 10, day, 18))
    mid = channel(api.status(sh(2026, 10, 5, 20), own), "shipai")
    assert (mid["state"], mid["approved_toward_opening"]) == ("opening", 4)
    done = channel(api.status(sh(2026, 10, 7), own), "shipai")
    assert done["state"] == "open" and done["open_since"] == "2026-10-06T18:00:00+08:00"

    res = client.patch(
        f"/api/v1/accounts/{other['id']}/channels/shipai", json={"threshold_source": "prerequisites"}
    )
    assert res.json()["overridden"] == ["threshold_source"]
    for day in (2, 3, 4, 5, 8):
        api.publish(other, "video", sh(2026, 10, day, 9), approved=sh(2026, 10, day, 18))
    counted = channel(api.status(sh(2026, 10, 7), other), "shipai")
    assert (counted["state"], counted["approved_toward_opening"]) == ("opening", 4)
    assert channel(api.status(sh(2026, 10, 9), other), "shipai")["open_since"] == "2026-10-08T18:00:00+08:00"


def test_cli_records_an_opening(api, app_env):
    from backend.cli import app

    acc = api.account(name="命令行店")
    result = CliRunner().invoke(
        app, ["channels", "open", "命令行店", "video", "--on", "2026-11-03", "--by", "李四", "--note", "小二通知"]
    )
    assert result.exit_code == 0, result.output
    assert "命令行店 · 视频: opened on 2026-11-03" in result.output and "database: " in result.output
    video = next(c for c in api.client.get(f"/api/v1/accounts/{acc['id']}").json()["channels"] if c["channel_id"] == "video")
    assert (video["manual_recorded_by"], video["manual_reason"]) == ("李四", "小二通知")
    result = CliRunner().invoke(app, ["channels", "open", "没有这个店", "video", "--on", "2026-11-03", "--by", "李四"])
    assert result.exit_code == 1 and "not-found" in result.output


# --- submission checks --------------------------------------------------------------------------------

CHINESE = {"Accept-Language": "zh-CN"}  # the refusals' wording is checked in Chinese, the default


def test_submissions_that_do_not_fit_the_channel_are_refused_with_the_rule_named(api, client, make_material):
    acc = api.account()
    api.open_channel(acc, "video", on="2026-10-01")
    body = {"account_id": acc["id"], "channel_id": "shipai", "submitted_at": iso(sh(2026, 11, 2, 9))}

    audio = make_material("直播音频", media_type="audio", size=None, duration_s=120)
    refused = problem(
        client.post("/api/v1/publications", json={**body, "material_id": str(audio)}, headers=CHINESE), 422, "publication-media-type"
    )
    assert "音频" in refused["detail"] and "实拍" in refused["detail"]

    stream = make_material("直播回放 横屏", size=(1920, 1080), duration_s=180)
    refused = problem(
        client.post("/api/v1/publications", json={**body, "material_id": str(stream)}, headers=CHINESE), 422, "publication-aspect"
    )
    assert [c["check"] for c in refused["checks"]] == ["aspect", "duration"]
    assert refused["checks"][1]["type"] == "/problems/publication-duration"
    assert "16:9" in refused["detail"] and "180 秒" in refused["detail"] and "60 秒" in refused["detail"]
    # In English the same figures and checks; `checks` (for programs) is the same in both languages.
    english = problem(client.post("/api/v1/publications", json={**body, "material_id": str(stream)}), 422, "publication-aspect")
    assert "16:9" in english["detail"] and "180 s" in english["detail"] and "at most 60 s" in english["detail"]
    assert "list aspect, duration in override" in english["detail"] and english["checks"] == refused["checks"]
    long_vertical = make_material("竖屏长视频", size=(1080, 1440), duration_s=95)
    problem(
        client.post("/api/v1/publications", json={**body, "material_id": str(long_vertical)}),
        422,
        "publication-duration",
    )

    clip = make_material("实拍 3:4 切片", parent=api.footage)
    first = api.publish(acc, "shipai", sh(2026, 11, 2, 9), material=clip, approved=sh(2026, 11, 2, 18))
    again = problem(
        client.post("/api/v1/publications", json={**body, "material_id": str(clip), "submitted_at": iso(sh(2026, 11, 3))}, headers=CHINESE),
        409,
        "publication-duplicate",
    )
    assert first["id"] in again["detail"] and "审核通过" in again["detail"]
    api.publish(acc, "video", sh(2026, 11, 3, 9), material=clip)  # another channel: a separate quota

    # A copy of the clip (same fingerprint, e.g. downloaded and uploaded again) is a duplicate too.
    rng = np.random.default_rng(7)
    hashes = rng.integers(1, 2**63, size=60, dtype=np.uint64)
    copy = make_material("实拍 3:4 切片（重新上传）", parent=api.footage)
    _fingerprint(clip, hashes)
    _fingerprint(copy, hashes ^ np.uint64(0b101))  # a re-encode flips a few bits
    unrelated = make_material("另一场直播切片", parent=api.footage)
    _fingerprint(unrelated, rng.integers(1, 2**63, size=60, dtype=np.uint64))
    refused = problem(
        client.post("/api/v1/publications", json={**body, "material_id": str(copy), "submitted_at": iso(sh(2026, 11, 4))}, headers=CHINESE),
        409,
        "publication-duplicate",
    )
    assert "指纹" in refused["detail"] and str(clip) in refused["detail"]
    api.publish(acc, "shipai", sh(2026, 11, 4, 9), material=unrelated)

    # An editor who knows better passes over named checks with a reason the audit trail keeps.
    problem(
        client.post("/api/v1/publications", json={**body, "material_id": str(stream), "override": ["aspect", "duration"]}),
        422,
        "validation-error",
    )
    problem(
        client.post(
            "/api/v1/publications",
            json={**body, "material_id": str(stream), "override": ["aspect"], "override_reason": "平台试点横屏"},
        ),
        422,
        "publication-duration",
    )
    res = client.post(
        "/api/v1/publications",
        json={
            **body,
            "material_id": str(stream),
            "override": ["aspect", "duration"],
            "override_reason": "小二同意本条横屏长视频参加实拍试点",
        },
    )
    assert res.status_code == 201, res.text
    note = res.json()["events"][0]["note"]
    assert "越过检查" in note and "aspect" in note and "duration" in note and "小二同意" in note

    # History imported with its review is what the platform already decided: not re-checked.
    res = client.post(
        "/api/v1/publications",
        json={**body, "material_id": str(clip), "status": "approved", "approved_at": iso(sh(2026, 11, 2, 20))},
    )
    assert res.status_code == 201, res.text


def test_a_rejected_clip_can_be_submitted_again(api, client, make_material):
    acc = api.account()
    clip = make_material("被拒后重发", parent=api.footage)
    pub = api.publish(acc, "shipai", sh(2026, 11, 2, 9), material=clip)
    api.act(pub, "reject", sh(2026, 11, 2, 15), reason="画面模糊")
    api.publish(acc, "shipai", sh(2026, 11, 3, 9), material=clip)


# --- reelhouse publish --------------------------------------------------------------------------------


def test_publish_commands_submit_approve_and_reject(api, app_env, make_material):
    from backend.cli import app

    runner = CliRunner()
    acc = api.account(name="脚本店")
    clips = [make_material(f"脚本切片 {i}", parent=api.footage) for i in range(2)]
    result = runner.invoke(
        app, ["publish", "submit", str(clips[0]), "脚本店", "shipai", "--at", iso(sh(2026, 11, 2, 9)), "--post-id", "SP-9"]
    )
    assert result.exit_code == 0, result.output
    assert "database: " in result.output
    pub_id, status, channel_id = result.stdout.strip().splitlines()[-1].split("\t")
    assert (status, channel_id) == ("pending", "shipai")
    result = runner.invoke(app, ["publish", "approve", pub_id, "--at", iso(sh(2026, 11, 3, 10)), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout[result.stdout.index("{"):])
    assert doc["status"] == "approved" and datetime.fromisoformat(doc["approved_at"]) == sh(2026, 11, 3, 10)

    result = runner.invoke(app, ["publish", "submit", str(clips[1]), acc["id"], "shipai", "--at", iso(sh(2026, 11, 4, 9))])
    second = result.stdout.strip().splitlines()[-1].split("\t")[0]
    result = runner.invoke(app, ["publish", "reject", second, "--reason", "非实拍画面", "--at", iso(sh(2026, 11, 4, 15))])
    assert result.exit_code == 0, result.output
    got = api.client.get(f"/api/v1/publications/{second}").json()
    assert (got["status"], got["rejection_reason"]) == ("rejected", "非实拍画面")

    result = runner.invoke(app, ["publish", "submit", str(clips[0]), "脚本店", "shipai"])
    assert result.exit_code == 1 and "publication-duplicate" in result.output
    result = runner.invoke(
        app,
        ["publish", "submit", str(clips[0]), "脚本店", "shipai", "--override", "duplicate", "--reason", "平台要求重发"],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["publish", "approve", second])
    assert result.exit_code == 1 and "publication-invalid-transition" in result.output
