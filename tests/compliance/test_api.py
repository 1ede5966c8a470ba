"""The compliance API on SQLite and PostgreSQL: accounts and channels, publications, audit trail, status,
and the T-mall story replayed month by month."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.compliance.conftest import channel, iso, sh


def problem(res, status: int, slug: str) -> dict:  # type: ignore[no-untyped-def]
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith("application/problem+json")
    body = res.json()
    assert body["type"] == f"/problems/{slug}", body
    return body


# --- accounts and channels ----------------------------------------------------------------------------


def test_accounts_come_with_the_platforms_channels_and_take_overrides(api, client, keys):
    acc = api.account(store_id="tm-001", store_url="https://example.tmall.com")
    assert acc["timezone"] == "Asia/Shanghai"
    shipai = next(c for c in acc["channels"] if c["channel_id"] == "shipai")
    assert (
        shipai["name_zh"],
        shipai["requires"],
        shipai["opening_threshold"],
        shipai["monthly_minimum"],
    ) == ("实拍", ["video"], 5, 6)
    assert shipai["threshold_source"] == "own" and shipai["overridden"] == []
    assert (shipai["aspects"], shipai["max_duration_s"], shipai["media_types"]) == (["3:4"], 60.0, ["video"])

    base = f"/api/v1/accounts/{acc['id']}/channels"
    res = client.patch(f"{base}/shipai", json={"monthly_minimum": 8, "opening_month": "prorated"})
    assert res.status_code == 200, res.text
    assert res.json()["monthly_minimum"] == 8 and res.json()["overridden"] == [
        "monthly_minimum",
        "opening_month",
    ]

    problem(client.patch(f"{base}/video", json={"requires": ["shipai"]}), 422, "channel-rules-invalid")
    problem(client.patch(f"{base}/shipai", json={"manual_state": "open"}), 422, "channel-rules-invalid")
    res = client.patch(
        f"{base}/shipai",
        json={
            "manual_state": "open",
            "manual_effective_on": "2026-03-01",
            "manual_reason": "天猫小二 opened 实拍 for the store",
        },
    )
    assert res.status_code == 200 and res.json()["manual_state"] == "open"
    res = client.patch(f"{base}/shipai", json={"manual_state": None})
    assert res.json()["manual_state"] is None and res.json()["manual_reason"] is None

    res = client.post(f"{base}/shipai/reset")
    assert res.json()["monthly_minimum"] == 6 and res.json()["overridden"] == []

    res = client.post(
        base,
        json={
            "channel_id": "guangguang",
            "name_zh": "逛逛",
            "name_en": "Browse",
            "monthly_minimum": 4,
            "count_by": "submission_date",
        },
    )
    assert res.status_code == 201, res.text
    assert res.json()["from_platform_rules"] is False
    assert [c["channel_id"] for c in client.get(base).json()] == ["video", "shipai", "guangguang"]
    assert client.delete(f"{base}/guangguang").status_code == 204

    res = client.patch(
        f"/api/v1/accounts/{acc['id']}", json={"timezone": "America/Los_Angeles", "name": "海外店"}
    )
    assert res.json()["timezone"] == "America/Los_Angeles"
    problem(
        client.patch(f"/api/v1/accounts/{acc['id']}", json={"timezone": "Mars/Olympus"}),
        422,
        "validation-error",
    )
    problem(
        client.post("/api/v1/accounts", json={"platform_id": "myspace", "name": "x"}), 422, "platform-unknown"
    )
    assert [a["name"] for a in client.get("/api/v1/accounts", params={"platform_id": "tmall"}).json()] == [
        "海外店"
    ]

    problem(client.delete(f"/api/v1/accounts/{acc['id']}"), 403, "forbidden")  # editors cannot delete
    res = client.delete(f"/api/v1/accounts/{acc['id']}", headers={"Authorization": f"Bearer {keys.admin}"})
    assert res.status_code == 204
    problem(client.get(f"/api/v1/accounts/{acc['id']}"), 404, "not-found")


def test_bilibili_daily_cap_counts_every_submission(api):
    acc = api.account("bilibili", "B站官方号")
    for i in range(6):
        pub = api.publish(acc, "video", sh(2026, 11, 20, 9 + i))
        if i == 0:
            api.act(pub, "reject", sh(2026, 11, 20, 20), reason="画质不达标")
    video = channel(api.status(sh(2026, 11, 20, 22)), "video")
    assert video["submitted_today"] == {"cap": 5, "used": 6, "remaining": 0, "exceeded": True}


# --- publications: validation, transitions, audit trail ------------------------------------------------


def test_publications_are_validated_with_clear_problems(api, client, make_material):
    acc = api.account()
    clip = make_material("切片", parent=api.footage)
    body = {"material_id": str(clip), "account_id": acc["id"], "channel_id": "video"}

    problem(
        client.post(
            "/api/v1/publications",
            json={
                **body,
                "material_id": "00000000-0000-0000-0000-000000000000",
                "submitted_at": iso(sh(2026, 6, 1)),
            },
        ),
        422,
        "publication-unknown-material",
    )
    problem(client.post("/api/v1/publications", json={**body, "channel_id": "zhibo"}), 422, "channel-unknown")
    body_ = problem(
        client.post(
            "/api/v1/publications", json={**body, "status": "approved", "approved_at": iso(sh(2026, 6, 2))}
        ),
        422,
        "publication-not-submitted",
    )
    assert "submitted_at" in body_["detail"]
    problem(
        client.post(
            "/api/v1/publications",
            json={
                **body,
                "status": "approved",
                "submitted_at": iso(sh(2026, 6, 2)),
                "approved_at": iso(sh(2026, 6, 1)),
            },
        ),
        422,
        "publication-dates-out-of-order",
    )
    problem(
        client.post(
            "/api/v1/publications", json={**body, "submitted_at": iso(datetime(2099, 1, 1, tzinfo=UTC))}
        ),
        422,
        "publication-dates-out-of-order",
    )
    problem(
        client.post("/api/v1/publications", json={**body, "submitted_at": "2026-06-01T12:00:00"}),
        422,
        "validation-error",
    )

    first = api.publish(acc, "video", sh(2026, 6, 1), material=clip, post_id="TM-1001")
    another_clip = make_material("另一个切片", parent=api.footage)
    dup = problem(
        client.post(
            "/api/v1/publications",
            json={
                **body,
                "material_id": str(another_clip),
                "submitted_at": iso(sh(2026, 6, 2)),
                "platform_post_id": "TM-1001",
            },
        ),
        409,
        "publication-duplicate-post-id",
    )
    assert dup["publication_id"] == first["id"]
    other = api.account(name="旗舰店二")  # the same post id on another account is another post
    api.publish(other, "video", sh(2026, 6, 2), material=clip, post_id="TM-1001")

    url = f"/api/v1/publications/{first['id']}"
    problem(
        client.post(f"{url}/approve", json={"at": iso(sh(2026, 5, 31))}),
        422,
        "publication-dates-out-of-order",
    )
    problem(client.post(f"{url}/reject", json={"at": iso(sh(2026, 6, 2))}), 422, "validation-error")
    problem(client.post(f"{url}/resubmit", json={}), 409, "publication-invalid-transition")
    api.act(first, "reject", sh(2026, 6, 2), reason="含有站外引流信息")
    problem(
        client.post(f"{url}/approve", json={"at": iso(sh(2026, 6, 3))}), 409, "publication-invalid-transition"
    )
    problem(client.get("/api/v1/publications/00000000-0000-0000-0000-000000000000"), 404, "not-found")


def test_status_changes_keep_an_audit_trail_with_who_and_when(api, client, keys):
    acc = api.account()
    pub = api.publish(acc, "video", sh(2026, 7, 1, 9), post_id="A-1", post_url="https://detail.tmall.com/a1")
    rejected = api.act(pub, "reject", sh(2026, 7, 1, 15), reason="画面有水印")
    assert rejected["status"] == "rejected" and rejected["rejection_reason"] == "画面有水印"
    again = client.post(
        f"/api/v1/publications/{pub['id']}/resubmit",
        json={"submitted_at": iso(sh(2026, 7, 2, 9)), "platform_post_id": "A-2"},
    )
    assert again.status_code == 201, again.text
    again = again.json()
    assert again["resubmission_of"] == pub["id"] and again["status"] == "pending"
    api.act(again, "approve", sh(2026, 7, 2, 20))
    final = api.act(again, "withdraw", sh(2026, 8, 3, 10), note="商品下架")

    key_id = next(
        k["id"]
        for k in client.get("/api/v1/keys", headers={"Authorization": f"Bearer {keys.admin}"}).json()
        if k["name"] == "test editor"
    )
    trail = [(e["from_status"], e["to_status"], e["actor_key_id"]) for e in final["events"]]
    assert trail == [
        (None, "pending", key_id),
        ("pending", "approved", key_id),
        ("approved", "withdrawn", key_id),
    ]
    assert final["events"][-1]["note"] == "商品下架"
    assert final["events"][-1]["effective_at"].startswith("2026-08-03T02:00:00")
    first = client.get(f"/api/v1/publications/{pub['id']}").json()
    assert [e["to_status"] for e in first["events"]] == ["pending", "rejected"]

    listed = client.get(
        "/api/v1/publications", params={"account_id": acc["id"], "status": "withdrawn"}
    ).json()
    assert [p["id"] for p in listed] == [again["id"]]
    res = client.patch(
        f"/api/v1/publications/{pub['id']}", json={"post_url": "https://detail.tmall.com/a1?v=2"}
    )
    assert res.json()["post_url"].endswith("v=2")
    res = client.patch(f"/api/v1/publications/{pub['id']}", json={"platform_post_id": "A-2"})
    problem(res, 409, "publication-duplicate-post-id")


def test_viewers_read_but_do_not_record(api, client, keys):
    acc = api.account()
    viewer = {"Authorization": f"Bearer {keys.viewer}"}
    assert client.get("/api/v1/compliance/status", headers=viewer).status_code == 200
    res = client.post(
        "/api/v1/publications",
        headers=viewer,
        json={"material_id": str(api.footage), "account_id": acc["id"], "channel_id": "video"},
    )
    problem(res, 403, "forbidden")


# --- the T-mall story --------------------------------------------------------------------------------


def test_tmall_story_across_months(api, client):
    """视频 opened on application; 5 approved 实拍 uploads open 实拍 (mid-June: June is exempt); then 6 实拍
    a month."""
    acc = api.account()
    closed = api.status(sh(2026, 5, 20))
    assert (channel(closed, "video")["state"], channel(closed, "video")["lock_reason"]) == ("locked", "not_opened")
    assert channel(closed, "shipai")["lock_reason"] == "prerequisite"
    api.open_channel(acc, "video", on="2026-06-01")
    video_days = (2, 5, 9, 14, 19)
    for i, day in enumerate(video_days):
        api.publish(acc, "shipai", sh(2026, 6, day, 9), approved=sh(2026, 6, day, 18), post_id=f"V-{i}")

    early = api.status(sh(2026, 6, 10))
    shipai = channel(early, "shipai")
    assert (shipai["state"], shipai["approved_toward_opening"], shipai["opening_threshold"]) == (
        "opening",
        3,
        5,
    )
    assert channel(early, "video")["state"] == "open"

    opened = channel(api.status(sh(2026, 6, 20)), "shipai")
    assert opened["state"] == "open" and opened["open_since"] == "2026-06-19T18:00:00+08:00"
    june = channel(api.month("2026-06", sh(2026, 7, 1, 9)), "shipai")
    assert (june["quota"]["required"], june["quota"]["status"]) == (0, "not_required")  # opened mid-month
    assert june["quota"]["approved"] == 5  # the approvals that opened it count in their month

    # July: 6 approvals, one of them after a rejection and a resubmission: met.
    for day in (1, 4, 8, 12, 20):
        api.publish(acc, "shipai", sh(2026, 7, day, 9), approved=sh(2026, 7, day, 16))
    bad = api.publish(acc, "shipai", sh(2026, 7, 22, 9))
    api.act(bad, "reject", sh(2026, 7, 22, 15), reason="非实拍画面")
    res = client.post(
        f"/api/v1/publications/{bad['id']}/resubmit", json={"submitted_at": iso(sh(2026, 7, 23, 9))}
    )
    api.act(res.json(), "approve", sh(2026, 7, 24, 10))
    mid_july = channel(api.status(sh(2026, 7, 15)), "shipai")["quota"]
    assert (mid_july["approved"], mid_july["required"], mid_july["status"]) == (4, 6, "on_track")
    july = channel(api.month("2026-07", sh(2026, 8, 1, 9)), "shipai")["quota"]
    assert (july["approved"], july["required"], july["status"]) == (6, 6, "met")

    # August: 4 approvals and one pending review at the month's end: missed.
    for day in (3, 10, 17, 24):
        api.publish(acc, "shipai", sh(2026, 8, day, 9), approved=sh(2026, 8, day, 16))
    late = api.publish(acc, "shipai", sh(2026, 8, 31, 20))
    aug_mid = channel(api.status(sh(2026, 8, 25)), "shipai")["quota"]
    assert aug_mid["status"] == "at_risk" and aug_mid["days_left"] == 7
    august = channel(api.month("2026-08", sh(2026, 9, 1, 9)), "shipai")["quota"]
    assert (august["approved"], august["pending"], august["status"], august["shortfall"]) == (
        4,
        1,
        "missed",
        2,
    )
    api.act(late, "approve", sh(2026, 9, 1, 10))  # counts in September, the month it was approved in

    # September: 6 counted (the late August one included); a withdrawal in October re-opens the question.
    sept_pubs = [
        api.publish(acc, "shipai", sh(2026, 9, d, 9), approved=sh(2026, 9, d, 15)) for d in (5, 9, 14, 21, 28)
    ]
    assert channel(api.month("2026-09", sh(2026, 10, 1, 9)), "shipai")["quota"]["status"] == "met"
    api.act(sept_pubs[0], "withdraw", sh(2026, 10, 8, 11), note="被平台下架")
    september_now = channel(api.month("2026-09", sh(2026, 10, 9)), "shipai")["quota"]
    assert (september_now["approved"], september_now["status"]) == (5, "missed")
    september_then = channel(api.month("2026-09", sh(2026, 10, 1, 9)), "shipai")["quota"]
    assert september_then["status"] == "met"  # a past as_of still gives the past answer

    # October: the sixth approval lands at 23:30 on the 31st in Shanghai (15:30 UTC): it is October's.
    for d in (2, 9, 16, 23, 28):
        api.publish(acc, "shipai", sh(2026, 10, d, 9), approved=sh(2026, 10, d, 15))
    api.publish(acc, "shipai", sh(2026, 10, 31, 10), approved=datetime(2026, 10, 31, 15, 30, tzinfo=UTC))
    october = channel(api.month("2026-10", sh(2026, 11, 1, 9)), "shipai")
    assert (october["quota"]["approved"], october["quota"]["status"]) == (6, "met")
    assert october["daily_approved"][30] == 1
    # The status carries the running month's day-by-day approvals, the report's figures (the dashboard's charts).
    october_status = channel(api.status(sh(2026, 10, 31, 23, 45)), "shipai")
    assert october_status["quota"]["month"] == "2026-10"
    running = channel(api.month("2026-10", sh(2026, 10, 31, 23, 45)), "shipai")
    assert october_status["daily_approved"] == running["daily_approved"] and sum(running["daily_approved"]) == 6

    # The whole story in one monthly report per month, and the API's status agrees with it.
    status = channel(api.status(sh(2026, 11, 1, 9)), "shipai")
    assert status["state"] == "open" and status["quota"]["month"] == "2026-11"


def test_months_follow_each_accounts_timezone_and_accounts_stay_apart(api):
    shanghai = api.account(name="国内店")
    la = api.account(name="US store", timezone="America/Los_Angeles")
    at = datetime(2026, 10, 31, 20, 0, tzinfo=UTC)  # 1 November in Shanghai, 31 October in Los Angeles
    for acc in (shanghai, la):
        api.publish(acc, "video", datetime(2026, 10, 31, 10, 0, tzinfo=UTC), approved=at)
    doc = api.month("2026-10", sh(2026, 11, 5))
    by_name = {a["account"]["name"]: a for a in doc["accounts"]}
    approved = {
        name: next(c for c in a["channels"] if c["channel_id"] == "video")["quota"]["approved"]
        for name, a in by_name.items()
    }
    assert approved == {"国内店": 0, "US store": 1}
    assert len(by_name["US store"]["approved"]) == 1 and by_name["国内店"]["approved"] == []
    assert by_name["US store"]["approved"][0]["counted_at"] == "2026-10-31T13:00:00-07:00"


def test_leap_february_and_a_month_without_activity(api):
    acc = api.account()
    api.publish(acc, "video", sh(2024, 2, 29, 9), approved=sh(2024, 2, 29, 20))
    feb = channel(api.month("2024-02", sh(2024, 3, 2)), "video")
    assert len(feb["daily_approved"]) == 29 and feb["daily_approved"][28] == 1
    quiet = api.month("2025-03", sh(2025, 4, 1))
    assert [c["quota"]["approved"] for c in quiet["accounts"][0]["channels"]] == [0, 0]
    assert {c["quota"]["status"] for c in quiet["accounts"][0]["channels"]} == {"not_required"}
    assert quiet["accounts"][0]["approved"] == [] and quiet["summary"] == {"not_required": 2}
