"""The lease kernel (backend/leases.py) that render jobs, analyses and proxies share, on SQLite and
PostgreSQL: only the holder renews, finishes or releases; progress is clamped; a release lets the next
claim in at once; an expired lease is taken over. The sweep, as each domain (proxies, analyses, render
jobs) calls it: a lost row is sent again once, then not before `stale_after` has passed again."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from backend.sqltypes import utcnow


@pytest.fixture
def proxy_row(app_env: dict[str, str]) -> uuid.UUID:
    from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType
    from backend.db import session_scope
    from backend.proxies.models import Proxy

    material_id = uuid.uuid4()
    with session_scope() as session:
        session.add(
            Material(
                id=material_id,
                title="直播回放 租约",
                media_type=MediaType.video,
                kind=MaterialKind.source,
                status=MaterialStatus.ready,
                storage_key=f"materials/{material_id}/original.mp4",
            )
        )
        session.flush()
        session.add(Proxy(id=material_id))
    return material_id


def _row(material_id: uuid.UUID):  # type: ignore[no-untyped-def]
    from backend.db import session_scope
    from backend.proxies.models import Proxy

    with session_scope() as session:
        row = session.get(Proxy, material_id)
        assert row is not None
        session.expunge(row)
        return row


def test_only_the_holder_renews_and_releases(proxy_row: uuid.UUID) -> None:
    from backend import leases
    from backend.db import session_scope
    from backend.proxies.models import Proxy, ProxyState

    states = {"queued": ProxyState.queued, "running": ProxyState.running}
    with session_scope() as session:
        assert leases.claim(session, Proxy, proxy_row, "w1", 60, **states)
        assert not leases.claim(session, Proxy, proxy_row, "w2", 60, **states)  # a live lease holds
    first = _row(proxy_row)
    assert (first.status, first.lease_owner, first.attempts) == (ProxyState.running, "w1", 1)

    with session_scope() as session:
        assert leases.heartbeat(session, Proxy, proxy_row, "w1", 600, running=ProxyState.running, progress=1.7)
        assert not leases.heartbeat(session, Proxy, proxy_row, "w2", 600, running=ProxyState.running, progress=0.1)
    renewed = _row(proxy_row)
    assert renewed.progress == 1.0  # clamped
    assert renewed.lease_expires_at is not None and first.lease_expires_at is not None
    assert renewed.lease_expires_at - first.lease_expires_at > timedelta(seconds=500)

    with session_scope() as session:
        assert leases.heartbeat(session, Proxy, proxy_row, "w1", 60, running=ProxyState.running, progress=None)
        assert leases.heartbeat(session, Proxy, proxy_row, "w1", 60, running=ProxyState.running, progress=-3)
    assert _row(proxy_row).progress == 0.0  # None left it as it was, then -3 clamped to 0

    with session_scope() as session:
        assert not leases.update_held(session, Proxy, proxy_row, "w2", running=ProxyState.running, error="not mine")
        assert not leases.release(session, Proxy, proxy_row, "w2", **states)
        assert leases.release(session, Proxy, proxy_row, "w1", **states)
    released = _row(proxy_row)
    assert (released.status, released.lease_owner, released.lease_expires_at) == (ProxyState.queued, None, None)
    assert released.error is None

    with session_scope() as session:  # the released row is free for the next attempt at once
        assert not leases.heartbeat(session, Proxy, proxy_row, "w1", 60, running=ProxyState.running, progress=0.5)
        assert leases.claim(session, Proxy, proxy_row, "w2", 60, **states)
    assert (_row(proxy_row).lease_owner, _row(proxy_row).attempts) == ("w2", 2)


def test_an_expired_lease_is_taken_over_and_the_old_holder_loses_it(proxy_row: uuid.UUID) -> None:
    from backend import leases
    from backend.db import session_scope
    from backend.proxies.models import Proxy, ProxyState

    states = {"queued": ProxyState.queued, "running": ProxyState.running}
    with session_scope() as session:
        assert leases.claim(session, Proxy, proxy_row, "dead", 60, **states)
        row = session.get(Proxy, proxy_row)
        assert row is not None
        row.lease_expires_at = utcnow() - timedelta(seconds=1)
    with session_scope() as session:
        assert leases.claim(session, Proxy, proxy_row, "alive", 60, **states)
    with session_scope() as session:
        assert not leases.update_held(
            session, Proxy, proxy_row, "dead", running=ProxyState.running, status=ProxyState.failed
        )
        assert leases.update_held(
            session,
            Proxy,
            proxy_row,
            "alive",
            running=ProxyState.running,
            status=ProxyState.ready,
            lease_owner=None,
            lease_expires_at=None,
        )
    assert _row(proxy_row).status == ProxyState.ready


# --------------------------------------------------------------------------- the sweep, for each kind of work row


@dataclass(frozen=True)
class WorkRows:
    """One kind of work row as its domain sweeps it: the table, how a row is made and claimed, the
    domain's sweep (the ids it sent), the column it measures a lost message from, and its give-up code."""

    table: str
    make: Callable[[Any, uuid.UUID], uuid.UUID]
    claim: Callable[[Any, uuid.UUID, str], bool]
    sweep: Callable[[Any], list[uuid.UUID]]
    sent_at: str
    stale_after: Callable[[], timedelta]
    exhausted_code: str


def _proxies() -> WorkRows:
    from backend.proxies import service
    from backend.proxies.models import Proxy

    def make(session: Any, material_id: uuid.UUID) -> uuid.UUID:
        session.add(Proxy(id=material_id))
        return material_id

    return WorkRows("Proxy", make, lambda s, i, o: service.claim_proxy(s, i, o, 60), service.sweep_proxies,
                    "updated_at", lambda: timedelta(minutes=10), "proxy-attempts")


def _analyses() -> WorkRows:
    from backend.autoclip import service
    from backend.autoclip.models import Analysis

    def make(session: Any, material_id: uuid.UUID) -> uuid.UUID:
        row = Analysis(material_id=material_id, version=1)
        session.add(row)
        return row.id

    return WorkRows("Analysis", make, lambda s, i, o: service.claim_analysis(s, i, o, 60), service.sweep_analyses,
                    "updated_at", lambda: timedelta(minutes=10), "analysis-attempts")


def _renders() -> WorkRows:
    from backend.config import get_settings
    from backend.renders import service
    from backend.renders.models import RenderJob

    def make(session: Any, material_id: uuid.UUID) -> uuid.UUID:
        row = RenderJob(source_id=material_id, request={}, enqueued_at=utcnow())
        session.add(row)
        return row.id

    return WorkRows("RenderJob", make, lambda s, i, o: service.claim_job(s, i, o, 60),
                    lambda s: service.sweep_render_jobs(s, get_settings()).sent, "enqueued_at",
                    lambda: timedelta(seconds=get_settings().render_lease_seconds), "attempts-exhausted")


@pytest.fixture(params=[_proxies, _analyses, _renders], ids=["proxies", "analyses", "renders"])
def work(request: pytest.FixtureRequest, proxy_row: uuid.UUID, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        tuple[WorkRows, uuid.UUID, list[uuid.UUID]]]:
    """A queued row of one kind (on `proxy_row`'s material), and the ids of the messages sent after commit."""
    from backend.db import session_scope
    from backend.proxies.models import Proxy

    sent: list[uuid.UUID] = []
    monkeypatch.setattr("backend.queue.send", lambda name, *args: sent.append(uuid.UUID(str(args[0]))))
    monkeypatch.setattr("backend.renders.service.send_render_message", sent.append)
    rows: WorkRows = request.param()
    with session_scope() as session:
        session.delete(session.get(Proxy, proxy_row))  # the material alone; each kind makes its own row
    with session_scope() as session:
        row_id = rows.make(session, proxy_row)
    yield rows, row_id, sent


def _table(rows: WorkRows) -> Any:
    from backend.autoclip.models import Analysis
    from backend.proxies.models import Proxy
    from backend.renders.models import RenderJob

    return {"Proxy": Proxy, "Analysis": Analysis, "RenderJob": RenderJob}[rows.table]


def _set(rows: WorkRows, row_id: uuid.UUID, **values: Any) -> None:
    from backend.db import session_scope

    with session_scope() as session:
        row = session.get(_table(rows), row_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)


def _sweep(rows: WorkRows) -> list[uuid.UUID]:
    from backend.db import session_scope

    with session_scope() as session:
        return rows.sweep(session)


def _sent_long_ago(rows: WorkRows, row_id: uuid.UUID, *, margin: timedelta = timedelta(seconds=1)) -> None:
    """As if the row's message went out `stale_after` (+ margin) ago and nobody took it."""
    _set(rows, row_id, **{rows.sent_at: utcnow() - rows.stale_after() - margin})


def test_a_lost_message_is_sent_again_once_per_stale_after(work: tuple[WorkRows, uuid.UUID, list[uuid.UUID]]) -> None:
    rows, row_id, sent = work
    assert _sweep(rows) == [] and sent == []  # just sent: not lost yet
    # Created long ago, its message lost: what counts is when it was last sent, not when it was made.
    _set(rows, row_id, created_at=utcnow() - timedelta(days=1))
    _sent_long_ago(rows, row_id)
    assert _sweep(rows) == [row_id] and sent == [row_id]
    assert _sweep(rows) == [] and sent == [row_id]  # sent again just now: not at the next sweep
    _sent_long_ago(rows, row_id, margin=-timedelta(seconds=30))
    assert _sweep(rows) == [] and sent == [row_id]  # nor before `stale_after` has passed
    _sent_long_ago(rows, row_id)
    assert _sweep(rows) == [row_id] and sent == [row_id, row_id]  # still lost: sent once more


def test_a_dead_workers_row_is_queued_again_then_waits_like_a_lost_message(
    work: tuple[WorkRows, uuid.UUID, list[uuid.UUID]],
) -> None:
    from backend.db import session_scope

    rows, row_id, sent = work
    with session_scope() as session:
        assert rows.claim(session, row_id, "dead-worker")
    _set(rows, row_id, lease_expires_at=utcnow() - timedelta(seconds=1))
    assert _sweep(rows) == [row_id] and sent == [row_id]
    with session_scope() as session:
        row = session.get(_table(rows), row_id)
        assert row is not None and (row.status, row.lease_owner, row.lease_expires_at) == ("queued", None, None)
    assert _sweep(rows) == [] and sent == [row_id]  # its new message may still be on its way
    _sent_long_ago(rows, row_id)
    assert _sweep(rows) == [row_id] and sent == [row_id, row_id]
    with session_scope() as session:  # the next worker takes it as any queued row
        assert rows.claim(session, row_id, "next-worker")
        row = session.get(_table(rows), row_id)
        assert row is not None and row.attempts == 2


def test_out_of_attempts_the_sweep_gives_up_with_a_clear_error(
    work: tuple[WorkRows, uuid.UUID, list[uuid.UUID]],
) -> None:
    from backend.db import session_scope

    rows, row_id, sent = work
    _set(rows, row_id, attempts=3, max_attempts=3)  # queued again by a transient failure on its last attempt
    assert _sweep(rows) == [] and sent == []
    with session_scope() as session:
        row = session.get(_table(rows), row_id)
        assert row is not None and row.status == "failed" and row.error_code == rows.exhausted_code
        assert row.finished_at is not None
        assert "every attempt" in (row.error if rows.table != "RenderJob" else row.error_detail)
    assert _sweep(rows) == [] and sent == []  # failed stays failed
