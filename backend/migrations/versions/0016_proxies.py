"""Proxies: a browser-playable copy of every video, its thumbnail sprite and waveform (issue 18)

Revision ID: 0016_proxies
Revises: 0015_autoclip_rules
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.sqltypes import UTCDateTime

revision: str = "0016_proxies"
down_revision: str | Sequence[str] | None = "0015_autoclip_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "proxy",
        sa.Column("id", sa.Uuid(), sa.ForeignKey("material.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("progress", sa.Float(), nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="3"),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("proxy_key", sa.String(length=512), nullable=True),
        sa.Column("proxy_size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("sprite_keys", _JSON, nullable=False),
        sa.Column("sprite_vtt_key", sa.String(length=512), nullable=True),
        sa.Column("waveform_key", sa.String(length=512), nullable=True),
        sa.Column("details", _JSON, nullable=False),
        sa.Column("error_code", sa.String(length=100), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_proxy_lease", "proxy", ["status", "lease_expires_at"])


def downgrade() -> None:
    op.drop_index("ix_proxy_lease", table_name="proxy")
    op.drop_table("proxy")
