"""compliance: platform accounts, channels, publications, events, reports

Revision ID: 0002_compliance
Revises: 0001_catalogue
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import backend.sqltypes  # noqa: F401  (custom column types)

revision: str = "0002_compliance"
down_revision: str | Sequence[str] | None = "0001_catalogue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("platform_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("store_id", sa.String(length=200), nullable=True),
        sa.Column("store_url", sa.String(length=1000), nullable=True),
        sa.Column("timezone", sa.String(length=64), server_default="Asia/Shanghai", nullable=False),
        sa.Column("approval_rate", sa.Float(), nullable=True),
        sa.Column("created_at", backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("platform_account", schema=None) as batch_op:
        batch_op.create_index("ix_platform_account_platform", ["platform_id", "name"], unique=False)

    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("as_of", backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("generated_at", backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "files",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "summary",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("webhook_sent_at", backend.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "period", name="uq_report_kind_period"),
    )
    op.create_table(
        "account_channel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column(
            "requires",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("opening_threshold", sa.Integer(), server_default="0", nullable=False),
        sa.Column("threshold_source", sa.String(length=16), server_default="own", nullable=False),
        sa.Column("monthly_minimum", sa.Integer(), server_default="0", nullable=False),
        sa.Column("opening_month", sa.String(length=16), server_default="exempt", nullable=False),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("monthly_cap", sa.Integer(), nullable=True),
        sa.Column("count_by", sa.String(length=20), server_default="approval_date", nullable=False),
        sa.Column(
            "overridden",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("from_platform_rules", sa.Boolean(), nullable=False),
        sa.Column("manual_state", sa.String(length=16), nullable=True),
        sa.Column("manual_effective_on", sa.Date(), nullable=True),
        sa.Column("manual_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["platform_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "channel_id", name="uq_account_channel"),
    )
    op.create_table(
        "publication",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("material_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.String(length=100), nullable=False),
        sa.Column("submitted_at", backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("platform_post_id", sa.String(length=200), nullable=True),
        sa.Column("post_url", sa.String(length=1000), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("approved_at", backend.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rejected_at", backend.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", backend.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resubmission_of", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["platform_account.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["material_id"], ["material.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["resubmission_of"], ["publication.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "platform_post_id", name="uq_publication_account_post"),
    )
    with op.batch_alter_table("publication", schema=None) as batch_op:
        batch_op.create_index(
            "ix_publication_account_channel", ["account_id", "channel_id", "submitted_at"], unique=False
        )
        batch_op.create_index("ix_publication_material", ["material_id"], unique=False)
        batch_op.create_index("ix_publication_status", ["status"], unique=False)

    op.create_table(
        "publication_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Uuid(), nullable=False),
        sa.Column("actor_key_id", sa.Uuid(), nullable=True),
        sa.Column("recorded_at", backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("effective_at", backend.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["publication_id"], ["publication.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("publication_event", schema=None) as batch_op:
        batch_op.create_index("ix_publication_event_publication", ["publication_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("publication_event", schema=None) as batch_op:
        batch_op.drop_index("ix_publication_event_publication")

    op.drop_table("publication_event")
    with op.batch_alter_table("publication", schema=None) as batch_op:
        batch_op.drop_index("ix_publication_status")
        batch_op.drop_index("ix_publication_material")
        batch_op.drop_index("ix_publication_account_channel")

    op.drop_table("publication")
    op.drop_table("account_channel")
    op.drop_table("report")
    with op.batch_alter_table("platform_account", schema=None) as batch_op:
        batch_op.drop_index("ix_platform_account_platform")

    op.drop_table("platform_account")
