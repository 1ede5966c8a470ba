"""POST /publications:check on SQLite and PostgreSQL: a submission checked before it is recorded answers the
same checks recording it would (each with a stable code and its figures), what would refuse it whatever is
passed over, and what the platform may object to; recording it then goes as the check said."""

from __future__ import annotations

import uuid

import numpy as np

from tests.compliance.conftest import iso, sh
from tests.compliance.test_api import problem
from tests.compliance.test_openings_and_submissions import _fingerprint

CHECK = "/api/v1/publications:check"


def _check(client, acc: dict, material: uuid.UUID, channel: str = "shipai", **extra) -> dict:  # type: ignore[no-untyped-def]
    res = client.post(
        CHECK, json={"material_id": str(material), "account_id": acc["id"], "channel_id": channel, **extra}
    )
    assert res.status_code == 200, res.text
    return res.json()


def _codes(answer: dict) -> list[tuple[str, str, str | None]]:
    return [(f["code"], f["severity"], f["check"]) for f in answer["findings"]]


def test_a_fitting_clip_fits_and_misfits_are_named_with_their_figures(api, client, make_material):
    acc = api.account()
    api.open_channel(acc, "video", on="2026-10-01")
    clip = make_material("实拍 3:4 切片", parent=api.footage, has_audio=True)
    fits = _check(client, acc, clip)
    assert (fits["verdict"], fits["override"], fits["findings"]) == ("fits", [], [])
    assert fits["material"] == {
        "id": str(clip),
        "title": "实拍 3:4 切片",
        "status": "ready",
        "media_type": "video",
        "width": 1080,
        "height": 1440,
        "aspect": "3:4",
        "duration_s": 30.0,
        "has_audio": True,
    }
    assert (fits["channel"]["name_zh"], fits["channel"]["aspects"], fits["channel"]["max_duration_s"]) == (
        "实拍",
        ["3:4"],
        60.0,
    )
    assert fits["channel"]["needs_audio"] is True and fits["timezone"] == "Asia/Shanghai"

    stream = make_material("直播回放 横屏", size=(1920, 1080), duration_s=180, has_audio=True)
    misfit = _check(client, acc, stream)
    assert misfit["verdict"] == "warning" and misfit["override"] == ["aspect", "duration"]
    assert _codes(misfit) == [("aspect", "warning", "aspect"), ("duration_long", "warning", "duration")]
    aspect, long = misfit["findings"]
    assert aspect["params"] == {"aspect": "16:9", "width": 1920, "height": 1080, "accepted": ["3:4"]}
    assert aspect["type"] == "/problems/publication-aspect" and "16:9" in aspect["detail"]
    assert long["params"] == {"duration_s": 180.0, "max_duration_s": 60.0}
    assert long["type"] == "/problems/publication-duration"

    audio = make_material("直播音频", media_type="audio", size=None, duration_s=120)
    only = _check(client, acc, audio)
    assert _codes(only) == [("media_type", "warning", "media_type")]
    assert only["findings"][0]["params"] == {"media_type": "audio", "accepted": ["video"]}
    assert only["material"]["aspect"] is None

    short = make_material("三秒", duration_s=2)
    res = client.patch(f"/api/v1/accounts/{acc['id']}/channels/shipai", json={"min_duration_s": 5})
    assert res.status_code == 200, res.text
    answer = _check(client, acc, short)
    assert ("duration_short", "warning", "duration") in _codes(answer)
    assert answer["findings"][0]["params"] == {"duration_s": 2.0, "min_duration_s": 5.0}

    # Recording goes as the check said: the misfit only with its checks passed over and a reason.
    body = {
        "material_id": str(stream),
        "account_id": acc["id"],
        "channel_id": "shipai",
        "submitted_at": iso(sh(2026, 11, 2, 9)),
    }
    problem(client.post("/api/v1/publications", json=body), 422, "publication-aspect")
    res = client.post(
        "/api/v1/publications", json={**body, "override": misfit["override"], "override_reason": "小二同意横屏试点"}
    )
    assert res.status_code == 201, res.text
    res = client.post("/api/v1/publications", json={**body, "material_id": str(clip)})
    assert res.status_code == 201, res.text


def test_already_there_copies_post_ids_deleted_unprocessed_and_silent(api, client, make_material):
    acc = api.account()
    api.open_channel(acc, "video", on="2026-10-01")
    clip = make_material("实拍 切片", parent=api.footage, has_audio=True)
    first = api.publish(acc, "shipai", sh(2026, 11, 2, 9), material=clip, post_id="SP-1")
    again = _check(client, acc, clip)
    assert _codes(again) == [("duplicate", "warning", "duplicate")]
    assert again["findings"][0]["params"] == {"publication_id": first["id"], "status": "pending"}
    assert again["findings"][0]["type"] == "/problems/publication-duplicate"
    api.act(first, "approve", sh(2026, 11, 2, 18))
    assert _check(client, acc, clip)["findings"][0]["params"]["status"] == "approved"
    assert _check(client, acc, clip, "video")["verdict"] == "fits"  # another channel, another quota

    hashes = np.random.default_rng(11).integers(1, 2**63, size=60, dtype=np.uint64)
    copy = make_material("实拍 切片（重新上传）", parent=api.footage, has_audio=True)
    _fingerprint(clip, hashes)
    _fingerprint(copy, hashes ^ np.uint64(0b101))
    found = _check(client, acc, copy)
    assert _codes(found) == [("duplicate_copy", "warning", "duplicate")]
    assert found["findings"][0]["params"] == {
        "publication_id": first["id"],
        "status": "approved",
        "material_id": str(clip),
    }

    # A post id the account already has: refused whatever is passed over, as recording it is.
    other = make_material("另一条 实拍", parent=api.footage, has_audio=True)
    taken = _check(client, acc, other, platform_post_id="SP-1")
    assert (taken["verdict"], _codes(taken)) == ("refused", [("post_id_taken", "refused", None)])
    assert taken["findings"][0]["params"] == {"publication_id": first["id"], "platform_post_id": "SP-1"}
    res = client.post(
        "/api/v1/publications",
        json={
            "material_id": str(other),
            "account_id": acc["id"],
            "channel_id": "shipai",
            "platform_post_id": "SP-1",
            "override": ["duplicate"],
            "override_reason": "试试",
        },
    )
    problem(res, 409, "publication-duplicate-post-id")
    assert _check(client, acc, other, platform_post_id="SP-2")["verdict"] == "fits"

    # Deleted: refused; recording it is refused too.
    gone = make_material("已删除的切片", status="deleted", has_audio=True)
    refused = _check(client, acc, gone)
    assert (refused["verdict"], _codes(refused)) == ("refused", [("material_deleted", "refused", None)])
    res = client.post(
        "/api/v1/publications", json={"material_id": str(gone), "account_id": acc["id"], "channel_id": "shipai"}
    )
    problem(res, 422, "publication-unknown-material")

    # Not processed yet, and silent: warnings with nothing to pass over (recording goes through as it is).
    pending = make_material("还在处理", status="processing", size=None, duration_s=None)
    answer = _check(client, acc, pending)
    assert (answer["verdict"], answer["override"]) == ("warning", [])
    assert _codes(answer) == [("material_not_ready", "warning", None)]
    assert answer["findings"][0]["params"] == {"status": "processing"}
    silent = make_material("无声 实拍", parent=api.footage)
    answer = _check(client, acc, silent)
    assert (_codes(answer), answer["override"], answer["material"]["has_audio"]) == (
        [("audio_missing", "warning", None)],
        [],
        False,
    )
    res = client.post(
        "/api/v1/publications", json={"material_id": str(silent), "account_id": acc["id"], "channel_id": "shipai"}
    )
    assert res.status_code == 201, res.text


def test_unknown_names_answer_as_recording_would_and_nothing_is_written(api, client, keys, make_material):
    acc = api.account()
    clip = make_material("切片", has_audio=True)
    body = {"material_id": str(clip), "account_id": acc["id"], "channel_id": "shipai"}
    problem(client.post(CHECK, json={**body, "channel_id": "zhibo"}), 422, "channel-unknown")
    problem(client.post(CHECK, json={**body, "material_id": str(uuid.uuid4())}), 422, "publication-unknown-material")
    problem(client.post(CHECK, json={**body, "account_id": str(uuid.uuid4())}), 404, "not-found")
    problem(client.post(CHECK, json={**body, "material_id": "not-a-uuid"}), 422, "validation-error")
    # A viewer may ask (it records nothing), and nothing was recorded.
    res = client.post(CHECK, json=body, headers={"Authorization": f"Bearer {keys.viewer}"})
    assert res.status_code == 200 and res.json()["verdict"] == "fits"
    assert client.get("/api/v1/publications").json() == []

    spec = client.app.openapi()
    op = spec["paths"]["/api/v1/publications:check"]["post"]
    assert {"200", "400", "401", "404", "422"} <= set(op["responses"])
    assert list(op["responses"]["422"]["content"]) == ["application/problem+json"]
