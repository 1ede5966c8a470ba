"""Compliance test builders: catalogue rows written directly, accounts and publications through the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

SH = ZoneInfo("Asia/Shanghai")


def sh(y: int, m: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=SH)


def iso(value: datetime) -> str:
    return value.isoformat()


@pytest.fixture
def make_material(app_env):  # type: ignore[no-untyped-def]
    """Insert a catalogue row (no file): compliance only needs the row and its lineage."""
    from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType
    from backend.db import session_scope
    def make(
        title: str,
        *,
        parent: uuid.UUID | None = None,
        status: str = "ready",
        preset_id: str | None = None,
        media_type: str = "video",
        size: tuple[int, int] | None = (1080, 1440),
        duration_s: float | None = 30.0,
        has_audio: bool = False,
    ) -> uuid.UUID:
        """A catalogue row; by default a 30 s 3:4 video as a T-mall 实拍 render would be."""
        width, height = size or (None, None)
        with session_scope() as session:
            m = Material(
                title=title,
                media_type=MediaType(media_type),
                kind=MaterialKind.derived if parent else MaterialKind.source,
                status=MaterialStatus(status),
                parent_id=parent,
                preset_id=preset_id,
                width=width,
                height=height,
                display_width=width,
                display_height=height,
                duration_s=duration_s if media_type != "image" else None,
                has_audio=has_audio,
            )
            session.add(m)
            session.flush()
            return m.id

    return make


class Api:
    """Small helpers over the API client that assert success."""

    def __init__(self, client, make_material) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.make_material = make_material
        self.footage = make_material("618 直播回放 洗衣液专场")

    def account(self, platform_id: str = "tmall", name: str = "旗舰店", **extra) -> dict:  # type: ignore[no-untyped-def]
        res = self.client.post("/api/v1/accounts", json={"platform_id": platform_id, "name": name, **extra})
        assert res.status_code == 201, res.text
        return res.json()

    def open_channel(self, account: dict, channel: str = "video", on: str = "2026-01-05", **extra) -> dict:  # type: ignore[no-untyped-def]
        """Record that the platform opened the channel (T-mall 视频 opens on application)."""
        res = self.client.post(
            f"/api/v1/accounts/{account['id']}/channels/{channel}/opening",
            json={"opened_on": on, "note": "千牛后台通知：已开通", **extra},
        )
        assert res.status_code == 200, res.text
        return res.json()

    def publish(
        self,
        account: dict,
        channel: str,
        submitted: datetime,
        *,
        approved: datetime | None = None,
        material: uuid.UUID | None = None,
        post_id: str | None = None,
        **extra,
    ) -> dict:  # type: ignore[no-untyped-def]
        if material is None:
            material = self.make_material(f"切片 {uuid.uuid4().hex[:6]}", parent=self.footage)
        body = {
            "material_id": str(material),
            "account_id": account["id"],
            "channel_id": channel,
            "submitted_at": iso(submitted),
            "platform_post_id": post_id,
            **extra,
        }
        res = self.client.post("/api/v1/publications", json=body)
        assert res.status_code == 201, res.text
        pub = res.json()
        if approved is not None:
            pub = self.act(pub, "approve", approved)
        return pub

    def act(self, pub: dict, action: str, at: datetime, **body) -> dict:  # type: ignore[no-untyped-def]
        res = self.client.post(f"/api/v1/publications/{pub['id']}/{action}", json={"at": iso(at), **body})
        assert res.status_code in (200, 201), res.text
        return res.json()

    def status(self, as_of: datetime, account: dict | None = None) -> dict:
        params: dict = {"as_of": iso(as_of)}
        if account:
            params["account_id"] = account["id"]
        res = self.client.get("/api/v1/compliance/status", params=params)
        assert res.status_code == 200, res.text
        return res.json()

    def month(self, month: str, as_of: datetime) -> dict:
        res = self.client.get(
            f"/api/v1/reports/monthly/{month}", params={"as_of": iso(as_of), "format": "json"}
        )
        assert res.status_code == 200, res.text
        return res.json()


@pytest.fixture
def api(client, make_material) -> Api:  # type: ignore[no-untyped-def]
    return Api(client, make_material)


def channel(doc: dict, channel_id: str, account_index: int = 0) -> dict:
    return next(c for c in doc["accounts"][account_index]["channels"] if c["channel_id"] == channel_id)
