"""uploads: resumable (tus) uploads in progress, with their hash state and storage parts

Revision ID: 0003_uploads
Revises: 0001_catalogue
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import backend.sqltypes  # noqa: F401  (custom column types)

revision: str = '0003_uploads'
down_revision: str | Sequence[str] | None = '0001_catalogue'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('tus_upload',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('owner_key_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('length', sa.BigInteger(), nullable=True),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('metadata_header', sa.Text(), nullable=True),
    sa.Column('upload_metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('filename', sa.String(length=500), nullable=True),
    sa.Column('title', sa.String(length=500), nullable=True),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('media_type', sa.String(length=16), nullable=True),
    sa.Column('storage_mode', sa.String(length=8), nullable=False),
    sa.Column('staging_key', sa.String(length=512), nullable=True),
    sa.Column('multipart_upload_id', sa.String(length=1024), nullable=True),
    sa.Column('parts', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('tail_start', sa.BigInteger(), nullable=False),
    sa.Column('sha256_state', sa.LargeBinary(), nullable=True),
    sa.Column('sha256_offset', sa.BigInteger(), nullable=False),
    sa.Column('error_type', sa.String(length=200), nullable=True),
    sa.Column('material_id', sa.Uuid(), nullable=True),
    sa.Column('expires_at', backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['material_id'], ['material.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_key_id'], ['api_key.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tus_upload', schema=None) as batch_op:
        batch_op.create_index('ix_tus_upload_owner', ['owner_key_id'], unique=False)
        batch_op.create_index('ix_tus_upload_status_expires', ['status', 'expires_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('tus_upload', schema=None) as batch_op:
        batch_op.drop_index('ix_tus_upload_status_expires')
        batch_op.drop_index('ix_tus_upload_owner')

    op.drop_table('tus_upload')
