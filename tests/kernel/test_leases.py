"""The lease kernel (backend/leases.py) that render jobs, analyses and proxies share, on SQLite and
PostgreSQL: only the holder renews, finishes or releases; progress is clamped; a release lets the next
claim in at once; an expired lease is taken over."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest


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
    from backend.sqltypes import utcnow

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
