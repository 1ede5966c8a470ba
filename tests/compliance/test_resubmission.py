"""Resubmitting a rejected publication (the web app's 重新提交): a new pending publication of the same
material, account and channel, linked both ways; checked like any submission; once only; and counted
toward the quota only once approved, the rejected one never."""

from __future__ import annotations

from tests.compliance.conftest import channel, iso, sh
from tests.compliance.test_api import problem


def test_a_rejected_publication_is_resubmitted_once_and_counts_once_approved(api, client):  # type: ignore[no-untyped-def]
    acc = api.account()
    api.open_channel(acc, "video", on="2026-06-01")
    for day in (2, 3, 4, 5, 6):  # 实拍 opens with its fifth approval (June)
        api.publish(acc, "shipai", sh(2026, 6, day, 9), approved=sh(2026, 6, day, 18))
    for day in (1, 2, 3, 4, 5):  # July: five approved of the six needed
        api.publish(acc, "shipai", sh(2026, 7, day, 9), approved=sh(2026, 7, day, 16))
    bad = api.publish(acc, "shipai", sh(2026, 7, 10, 9), post_id="SP-1")
    rejected = api.act(bad, "reject", sh(2026, 7, 10, 15), reason="非实拍画面")
    assert rejected["resubmitted_as"] is None
    assert channel(api.status(sh(2026, 7, 11)), "shipai")["quota"]["approved"] == 5  # a rejection never counts

    url = f"/api/v1/publications/{bad['id']}/resubmit"
    res = client.post(url, json={"submitted_at": iso(sh(2026, 7, 11, 9)), "platform_post_id": "SP-2"})
    assert res.status_code == 201, res.text
    new = res.json()
    assert (new["material_id"], new["account_id"], new["channel_id"]) == (bad["material_id"], acc["id"], "shipai")
    assert (new["status"], new["resubmission_of"], new["platform_post_id"]) == ("pending", bad["id"], "SP-2")
    assert new["events"][0]["to_status"] == "pending"
    old = client.get(f"/api/v1/publications/{bad['id']}").json()
    assert old["resubmitted_as"] == new["id"] and old["status"] == "rejected"
    listed = {p["id"]: p for p in client.get("/api/v1/publications", params={"status": "rejected"}).json()}
    assert listed[bad["id"]]["resubmitted_as"] == new["id"]

    # Pending, it counts as a pending review, not an approval.
    quota = channel(api.status(sh(2026, 7, 12)), "shipai")["quota"]
    assert (quota["approved"], quota["pending"]) == (5, 1)

    # Once only: a second resubmission (a double click) is refused and names the first.
    again = problem(client.post(url, json={}), 409, "publication-already-resubmitted")
    assert again["resubmitted_as"] == new["id"]
    assert len(client.get("/api/v1/publications", params={"status": "pending"}).json()) == 1

    # Approved, the video counts once: July is met with six.
    api.act(new, "approve", sh(2026, 7, 12, 10))
    july = channel(api.month("2026-07", sh(2026, 8, 1, 9)), "shipai")["quota"]
    assert (july["approved"], july["required"], july["status"]) == (6, 6, "met")


def test_a_resubmission_is_checked_like_any_submission(api, client, make_material):  # type: ignore[no-untyped-def]
    acc = api.account()
    api.open_channel(acc, "video", on="2026-06-01")
    wide = make_material("直播切片 16:9", parent=api.footage, size=(1920, 1080))  # 实拍 takes 3:4 only
    pub = api.publish(acc, "shipai", sh(2026, 6, 2, 9), material=wide, post_id="SP-1", override=["aspect"],
                      override_reason="小二同意本条参加实拍试点")
    api.act(pub, "reject", sh(2026, 6, 2, 15), reason="画面比例不符")
    url = f"/api/v1/publications/{pub['id']}/resubmit"

    # Only rejected or withdrawn publications; a review cannot end before it starts.
    pending = api.publish(acc, "video", sh(2026, 6, 3, 9), post_id="V-1")
    problem(client.post(f"/api/v1/publications/{pending['id']}/resubmit", json={}), 409,
            "publication-invalid-transition")
    problem(client.post(url, json={"submitted_at": iso(sh(2026, 6, 2, 10))}), 422, "publication-dates-out-of-order")
    problem(client.post("/api/v1/publications/00000000-0000-0000-0000-000000000000/resubmit", json={}), 404,
            "not-found")
    # The channel's checks, as for a first submission: the aspect again, a post id the account has.
    refused = problem(client.post(url, json={}), 422, "publication-aspect")
    assert [c["check"] for c in refused["checks"]] == ["aspect"]
    problem(client.post(url, json={"platform_post_id": "V-1", "override": ["aspect"], "override_reason": "试点"}), 409,
            "publication-duplicate-post-id")
    assert client.get(f"/api/v1/publications/{pub['id']}").json()["resubmitted_as"] is None  # nothing recorded
    ok = client.post(url, json={"override": ["aspect"], "override_reason": "小二同意重新提交"})
    assert ok.status_code == 201, ok.text
    assert any("小二同意重新提交" in e["note"] for e in ok.json()["events"])
