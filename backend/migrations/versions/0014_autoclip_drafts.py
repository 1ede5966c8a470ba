"""Review state of a material: automatic re-edit drafts wait for a person (issue 17 part 3)

Revision ID: 0014_autoclip_drafts
Revises: 0013_autoclip_proposals
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_autoclip_drafts"
down_revision: str | Sequence[str] | None = "0013_autoclip_proposals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("material", sa.Column("review_state", sa.String(length=16), nullable=False, server_default="none"))
    op.add_column("material", sa.Column("review", _JSON, nullable=True))
    op.create_index("ix_material_review_state", "material", ["review_state"])


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of `material` would trip on its expression index.
    op.drop_index("ix_material_review_state", table_name="material")
    op.drop_column("material", "review")
    op.drop_column("material", "review_state")
