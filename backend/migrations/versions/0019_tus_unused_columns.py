"""tus_upload: drop the columns nothing reads

Revision ID: 0019_tus_unused_columns
Revises: 0018_autoclip_review
Create Date: 2026-12-07

`multipart_upload_id` and `storage_mode` were for staging uploads in S3 (gone since 0012): an upload
still receiving in S3 mode could never finish, so it is marked expired (answered 410 as before).
`upload_metadata` (the decoded Upload-Metadata) was written and never read: HEAD echoes
`metadata_header`, and the fields reelhouse uses have their own columns. Downgrading adds them back
(`storage_mode` as `local`, the metadata empty).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019_tus_unused_columns"
down_revision: str | Sequence[str] | None = "0018_autoclip_review"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.execute("UPDATE tus_upload SET status = 'expired' WHERE status = 'receiving' AND storage_mode <> 'local'")
    with op.batch_alter_table("tus_upload", schema=None) as batch_op:
        for column in ("multipart_upload_id", "storage_mode", "upload_metadata"):
            batch_op.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("tus_upload", schema=None) as batch_op:
        batch_op.add_column(sa.Column("upload_metadata", _JSON, nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("storage_mode", sa.String(length=8), nullable=False, server_default="local"))
        batch_op.add_column(sa.Column("multipart_upload_id", sa.String(length=1024), nullable=True))
