"""Scheduled compliance tasks, called directly: stored monthly reports, at-risk checks, signed webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from backend.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify
from tests.compliance.conftest import iso, sh

SECRET = "s3cret-签名"


class Receiver:
    """A tiny webhook receiver on 127.0.0.1 that answers with the queued status codes, then 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k: v for k, v in self.headers.items()}, body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/reelhouse"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch, app_env) -> Iterator[Receiver]:  # type: ignore[no-untyped-def]
    from tests.conftest import clear_caches

    found = Receiver()
    monkeypatch.setenv("REELHOUSE_WEBHOOK_URL", found.url)
    monkeypatch.setenv("REELHOUSE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("REELHOUSE_PUBLIC_URL", "https://reelhouse.example.com")
    clear_caches()
    yield found
    found.close()


@pytest.fixture
def queued(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """Webhook tasks enqueued by the report tasks (the broker is not under test here)."""
    from workers import compliance as compliance_tasks

    sent: list[int] = []
    monkeypatch.setattr(compliance_tasks.send_webhook, "delay", lambda report_id: sent.append(report_id))
    return sent


def _reports(session):  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from backend.compliance.models import Report

    return list(session.exec(select(Report)))


def test_monthly_report_task_is_idempotent_and_signs_its_webhook(api, receiver, queued, app_env):
    from backend.db import session_scope
    from backend.objectstore import get_storage
    from workers.compliance import generate_monthly_report, send_webhook

    acc = api.account()
    api.publish(acc, "video", sh(2026, 10, 3, 9), approved=sh(2026, 10, 3, 18))
    first = generate_monthly_report(as_of=iso(sh(2026, 11, 1, 20)))  # default: last month
    api.publish(acc, "video", sh(2026, 10, 30, 9), approved=sh(2026, 10, 31, 10))  # recorded late
    again = generate_monthly_report("2026-10", as_of=iso(sh(2026, 11, 2, 9)))
    assert first == again and queued == [first, first]

    with session_scope() as session:
        rows = _reports(session)
    assert [(r.kind, r.period) for r in rows] == [("monthly", "2026-10")]
    stored = get_storage().iter_bytes(rows[0].files["json"]["key"])
    doc = json.loads(b"".join(stored))
    assert rows[0].files["json"]["key"] == "reports/monthly/2026-10/reelhouse-report-2026-10.json"
    assert (
        doc["accounts"][0]["channels"][0]["quota"]["approved"] == 2
    )  # the regenerated report replaced the first
    listed = api.client.get("/api/v1/reports").json()
    assert [(r["kind"], r["period"]) for r in listed] == [("monthly", "2026-10")]
    res = api.client.get(listed[0]["files"]["csv"])
    assert (
        res.status_code == 200 and res.content.startswith(b"\xef\xbb\xbf") and "视频".encode() in res.content
    )

    assert send_webhook.apply(args=(first,)).get() is True
    assert send_webhook.apply(args=(first,)).get() is False  # delivered once
    ((headers, body),) = receiver.requests
    assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify("another secret", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert headers["X-Reelhouse-Event"] == "report.monthly"
    payload = json.loads(body)
    assert payload["report"]["period"] == "2026-10"
    assert (
        payload["report"]["files"]["xlsx"]
        == f"https://reelhouse.example.com/api/v1/reports/{first}/files/xlsx"
    )
    assert generate_monthly_report("2026-10", as_of=iso(sh(2026, 11, 3))) == first
    assert queued == [first, first]  # already delivered: not queued again


def test_webhook_retries_with_backoff_on_server_errors_but_not_on_refusals(api, receiver, queued):
    from workers.compliance import generate_monthly_report, send_webhook, webhook_backoff

    api.account()
    report_id = generate_monthly_report("2026-10", as_of=iso(sh(2026, 11, 1, 20)))
    receiver.answers = [503, 500]
    assert send_webhook.apply(args=(report_id,)).get() is True  # eager retries: 503, 500, then 200
    assert len(receiver.requests) == 3
    deliveries = {h["X-Reelhouse-Delivery"] for h, _ in receiver.requests}
    assert len(deliveries) == 1  # the same delivery id on every attempt, for de-duplication
    assert [webhook_backoff(n) for n in (0, 1, 2, 10)] == [30, 60, 120, 3600]

    report_id = generate_monthly_report("2026-09", as_of=iso(sh(2026, 11, 1, 20)))
    receiver.answers = [410]
    assert send_webhook.apply(args=(report_id,)).get() is False
    assert len(receiver.requests) == 4


def test_at_risk_check_notifies_mid_month_only_when_a_projection_falls_short(api, receiver, queued, app_env):
    from backend.db import session_scope
    from workers.compliance import check_at_risk, send_webhook

    acc = api.account()
    api.client.patch(
        f"/api/v1/accounts/{acc['id']}/channels/shipai",
        json={"manual_state": "open", "manual_effective_on": "2026-10-01", "manual_reason": "小二开通"},
    )
    assert check_at_risk(iso(sh(2026, 11, 3))) is None  # too early in the month to judge the pace
    report_id = check_at_risk(iso(sh(2026, 11, 12)))
    assert report_id is not None and check_at_risk(iso(sh(2026, 11, 12, 18))) == report_id
    assert send_webhook.apply(args=(report_id,)).get() is True
    ((headers, body),) = receiver.requests
    assert headers["X-Reelhouse-Event"] == "compliance.at_risk"
    attention = json.loads(body)["report"]["summary"]["attention"]
    assert [(a["channel"], a["status"], a["approved"], a["required"]) for a in attention] == [
        ("实拍", "at_risk", 0, 6)
    ]

    for day in range(1, 7):
        api.publish(acc, "shipai", sh(2026, 11, day, 9), approved=sh(2026, 11, day, 15))
    assert check_at_risk(iso(sh(2026, 11, 13))) is None  # met: nothing to say
    with session_scope() as session:
        assert [(r.kind, r.period) for r in _reports(session)] == [("at_risk", "2026-11-12")]


def test_signature_is_hmac_sha256_over_timestamp_and_body():
    import hashlib
    import hmac

    body = '{"实拍":6}'.encode()
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, "1700000000", body) == "sha256=" + expected
