"""Proposal storyboards and rule back-fill runs (issue 17: review and report)

Revision ID: 0018_autoclip_review
Revises: 0016_proxies
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018_autoclip_review"
down_revision: str | Sequence[str] | None = "0016_proxies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    # {key, times, width, height} of the storyboard image made for the proposal's current range.
    op.add_column("proposal", sa.Column("storyboard", _JSON, nullable=True))
    # What started a run: the ingest trigger or a back-fill over the catalogue.
    op.add_column("autoclip_run", sa.Column("origin", sa.String(length=16), nullable=False, server_default="ingest"))


def downgrade() -> None:
    op.drop_column("autoclip_run", "origin")
    op.drop_column("proposal", "storyboard")
