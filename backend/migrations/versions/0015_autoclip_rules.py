"""Automatic re-edit rules as data and their runs per material (issue 17 part 5)

Revision ID: 0015_autoclip_rules
Revises: 0014_autoclip_drafts
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.sqltypes import UTCDateTime

revision: str = "0015_autoclip_rules"
down_revision: str | Sequence[str] | None = "0014_autoclip_drafts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "autoclip_rule",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("match_tag_ids", _JSON, nullable=False),
        sa.Column("match_kind", sa.String(length=16), nullable=False),
        sa.Column("account_ids", _JSON, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("min_s", sa.Float(), nullable=False),
        sa.Column("max_s", sa.Float(), nullable=False),
        sa.Column("preset_ids", _JSON, nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "autoclip_run",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("rule_id", sa.Uuid(), sa.ForeignKey("autoclip_rule.id", ondelete="CASCADE"), nullable=False),
        sa.Column("material_id", sa.Uuid(), sa.ForeignKey("material.id", ondelete="CASCADE"), nullable=False),
        sa.Column("analysis_id", sa.Uuid(), sa.ForeignKey("analysis.id", ondelete="SET NULL"), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("clip_count", sa.Integer(), nullable=False),
        sa.Column("job_ids", _JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("rule_id", "material_id", name="uq_autoclip_run_rule_material"),
    )
    op.create_index("ix_autoclip_run_material", "autoclip_run", ["material_id"])
    op.create_index("ix_autoclip_run_analysis", "autoclip_run", ["analysis_id"])


def downgrade() -> None:
    op.drop_index("ix_autoclip_run_analysis", table_name="autoclip_run")
    op.drop_index("ix_autoclip_run_material", table_name="autoclip_run")
    op.drop_table("autoclip_run")
    op.drop_table("autoclip_rule")
