"""Media facts the renders need (demuxer, bit depth) stored with the rest; a flag for material
whose previews could not be made

Revision ID: 0007
Revises: 0006_catalogue_sort_indexes
Create Date: 2026-12-07

Every field of workers.media.facts.MediaFacts has a column of its name on `material`. A live
segment whose frames do not decode into a poster is kept with `previews_failed` set; a periodic
task tries again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_media_facts_previews_failed"
down_revision: str | Sequence[str] | None = "0006_catalogue_sort_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ADD/DROP COLUMN (SQLite 3.35+ has both): a batch copy of the table on SQLite would drop
# the expression index ix_material_duration_sort, which it cannot reflect.


def upgrade() -> None:
    op.add_column("material", sa.Column("demuxer", sa.String(length=64), nullable=True))
    op.add_column("material", sa.Column("bit_depth", sa.Integer(), nullable=True))
    op.add_column("material", sa.Column("previews_failed", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.drop_column("material", "previews_failed")
    op.drop_column("material", "bit_depth")
    op.drop_column("material", "demuxer")
