"""The quota-aware plan: pure arithmetic on a channel's position, and the API over a month built through the
compliance API (real SQLite and PostgreSQL): it asks for exactly the shortfall."""

from __future__ import annotations

import pytest

from backend.autoclip.plan import ChannelPosition, plan_channel
from tests.compliance.conftest import Api, api, iso, make_material, sh  # noqa: F401 - `api`, `make_material` are fixtures


def _pos(required: int, approved: int, pending: int, days_left: int, rate: float) -> ChannelPosition:
    return ChannelPosition("video", required, approved, pending, days_left, rate)


def test_shortfall_counts_pending_at_the_approval_rate_and_adds_a_margin_for_rejections() -> None:
    plan = plan_channel(_pos(10, 3, 2, 10, 0.5))
    # 10 - 3 - 0.5 x 2 = 6 approvals missing; at 50 % that takes 12 clips, 2 a day over 10 days (rounded up)
    assert (plan.missing, plan.shortfall, plan.per_day, plan.propose_today) == (6, 12, 2, 2)
    assert plan_channel(_pos(10, 3, 2, 10, 0.5), extra=1).propose_today == 3


def test_nothing_is_asked_when_the_quota_is_met_or_not_required() -> None:
    assert plan_channel(_pos(6, 6, 0, 5, 0.7), extra=2).propose_today == 0
    assert plan_channel(_pos(0, 0, 0, 5, 0.7), extra=2).shortfall == 0
    # pending reviews that will likely pass cover the rest: 6 - 4 - 1.0 x 2 = 0
    assert plan_channel(_pos(6, 4, 2, 5, 1.0)).shortfall == 0


def test_rounding_and_the_edges_of_the_rate_and_the_month() -> None:
    # 6 - 1 - 0.7 x 3 = 2.9 (2.9000000000000004 in floats): 2.9 / 0.7 = 4.14 -> 5 clips, not 6
    assert plan_channel(_pos(6, 1, 3, 3, 0.7)).shortfall == 5
    # the last day gets everything that is left
    assert plan_channel(_pos(6, 0, 0, 1, 1.0)).per_day == 6
    # a rate of 0 is floored (at most 10 clips per missing approval), not a division by zero
    assert plan_channel(_pos(2, 0, 0, 2, 0.0)).shortfall == 20
    with pytest.raises(ValueError):
        plan_channel(_pos(2, 0, 0, 2, 0.5), extra=-1)


def test_the_plan_asks_for_exactly_the_shortfall_in_a_constructed_month(api: Api, client) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    acc = api.account(name="旗舰店 自动剪辑", approval_rate=0.5)
    api.open_channel(acc, "video", on="2026-01-05")
    r = client.patch(f"/api/v1/accounts/{acc['id']}/channels/video", json={"monthly_minimum": 10})
    assert r.status_code == 200, r.text
    # November 2026 at the 21st (10 days left, today counted): 3 approved, 2 in review, 1 rejected
    for day in (2, 6, 9):
        api.publish(acc, "video", sh(2026, 11, day, 9), approved=sh(2026, 11, day, 18))
    for day in (19, 20):
        api.publish(acc, "video", sh(2026, 11, day, 9))
    refused = api.publish(acc, "video", sh(2026, 11, 12, 9))
    api.act(refused, "reject", sh(2026, 11, 12, 15), reason="画面模糊")

    as_of = sh(2026, 11, 21, 10)
    r = client.get("/api/v1/autoclip/plan", params={"account_id": acc["id"], "as_of": iso(as_of)})
    assert r.status_code == 200, r.text
    video = next(c for c in r.json()["channels"] if c["channel_id"] == "video")
    assert (video["month"], video["required"], video["approved"], video["pending"]) == ("2026-11", 10, 3, 2)
    assert video["days_left"] == 10 and video["approval_rate"] == 0.5
    # (10 - 3 - 0.5 x 2) / 0.5 = 12 clips this month, 2 a day
    assert (video["missing"], video["shortfall"], video["per_day"], video["propose_today"]) == (6, 12, 2, 2)
    shipai = next(c for c in r.json()["channels"] if c["channel_id"] == "shipai")
    assert shipai["required"] == 0 and shipai["propose_today"] == 0  # not open: nothing required

    r = client.get("/api/v1/autoclip/plan", params={"account_id": acc["id"], "as_of": iso(as_of), "extra": 1})
    assert next(c for c in r.json()["channels"] if c["channel_id"] == "video")["propose_today"] == 3
    assert client.get(
        "/api/v1/autoclip/plan", params={"account_id": acc["id"], "as_of": "2026-11-21T10:00:00"}
    ).status_code == 400
    missing = client.get("/api/v1/autoclip/plan", params={"account_id": "00000000-0000-0000-0000-000000000000"})
    assert missing.status_code == 404
