"""tus_upload: drop the columns no longer written

Revision ID: 0012_tus_unused_columns
Revises: 0010_tag_categories_renditions
Create Date: 2026-12-07

The running SHA-256 stays in the receiving process (`sha256_state`, `sha256_offset`), and uploads are
staged only on local disk (`staging_key`, `parts`, `tail_start` were for S3 multipart staging).
Downgrading adds them back empty.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012_tus_unused_columns"
down_revision: str | Sequence[str] | None = "0011_autoclip_analysis"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("tus_upload", schema=None) as batch_op:
        for column in ("staging_key", "parts", "tail_start", "sha256_state", "sha256_offset"):
            batch_op.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("tus_upload", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staging_key", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("parts", _JSON, nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("tail_start", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("sha256_state", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("sha256_offset", sa.BigInteger(), nullable=False, server_default="0"))
