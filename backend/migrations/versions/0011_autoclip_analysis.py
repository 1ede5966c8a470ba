"""Analyses of recordings (versioned signals) and their attachments: transcripts and live-session data

Revision ID: 0011
Revises: 0009_channel_openings_and_bounds (to be rechained after 0010_tag_categories when that lands)
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import backend.sqltypes

revision: str = "0011_autoclip_analysis"
down_revision: str | Sequence[str] | None = "0010_tag_categories_renditions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, backend.sqltypes.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "analysis",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("material_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("analyser_version", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), server_default="0", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default="3", nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        _when("lease_expires_at"),
        sa.Column("inputs", _JSON, nullable=False),
        sa.Column("signals", _JSON, nullable=True),
        sa.Column("error_code", sa.String(length=100), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        _when("created_at", False),
        _when("started_at"),
        _when("finished_at"),
        _when("updated_at", False),
        sa.ForeignKeyConstraint(["material_id"], ["material.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("material_id", "version", name="uq_analysis_material_version"),
    )
    with op.batch_alter_table("analysis", schema=None) as batch_op:
        batch_op.create_index("ix_analysis_lease", ["status", "lease_expires_at"], unique=False)
    op.create_table(
        "transcript",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("material_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=500), nullable=True),
        sa.Column("segments", _JSON, nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        _when("created_at", False),
        sa.ForeignKeyConstraint(["material_id"], ["material.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("transcript", schema=None) as batch_op:
        batch_op.create_index("ix_transcript_material", ["material_id", "created_at"], unique=False)
    op.create_table(
        "session_data",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("material_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=500), nullable=True),
        sa.Column("offset_s", sa.Float(), nullable=False),
        sa.Column("series", _JSON, nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        _when("created_at", False),
        sa.ForeignKeyConstraint(["material_id"], ["material.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("session_data", schema=None) as batch_op:
        batch_op.create_index("ix_session_data_material", ["material_id", "created_at"], unique=False)


def downgrade() -> None:
    for table, index in (("session_data", "ix_session_data_material"), ("transcript", "ix_transcript_material"),
                         ("analysis", "ix_analysis_lease")):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(index)
        op.drop_table(table)
