"""Join the feature branches; catalogue indexes for the sort orders, none on aspect ratio

Revision ID: 0006_catalogue_sort_indexes
Revises: 0003_uploads, 0004_metrics, 0005_render
Create Date: 2026-11-22

Every catalogue listing is "filters, sorted, first 50". An index per sort key lets the database
walk rows in order and stop after 50 matches. The aspect-ratio index is dropped: most material
is 9:16 or 16:9, so it was never selective, and planners that picked it then sorted tens of
thousands of rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_catalogue_sort_indexes"
down_revision: str | Sequence[str] | None = ("0003_uploads", "0004_metrics", "0005_render")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("material", schema=None) as batch_op:
        batch_op.drop_index("ix_material_aspect_ratio")
        batch_op.create_index("ix_material_title_sort", ["title", "id"], unique=False)
        batch_op.create_index("ix_material_size_sort", ["size_bytes", "id"], unique=False)
    op.create_index(
        "ix_material_duration_sort",
        "material",
        [sa.text("coalesce(duration_s, -1.0)"), sa.text("id")],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_material_duration_sort", table_name="material")
    with op.batch_alter_table("material", schema=None) as batch_op:
        batch_op.drop_index("ix_material_size_sort")
        batch_op.drop_index("ix_material_title_sort")
        batch_op.create_index("ix_material_aspect_ratio", ["aspect_ratio"], unique=False)
