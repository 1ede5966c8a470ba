"""catalogue: materials, tags, api keys

Revision ID: 0001_catalogue
Revises: 
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import backend.sqltypes

revision: str = '0001_catalogue'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_key',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', backend.sqltypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', backend.sqltypes.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('prefix')
    )
    op.create_table('material',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('media_type', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('storage_key', sa.String(length=512), nullable=True),
    sa.Column('original_filename', sa.String(length=500), nullable=True),
    sa.Column('content_type', sa.String(length=100), nullable=True),
    sa.Column('container', sa.String(length=64), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('video_codec', sa.String(length=32), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('display_width', sa.Integer(), nullable=True),
    sa.Column('display_height', sa.Integer(), nullable=True),
    sa.Column('rotation', sa.Integer(), nullable=False),
    sa.Column('fps', sa.Float(), nullable=True),
    sa.Column('is_vfr', sa.Boolean(), nullable=False),
    sa.Column('pix_fmt', sa.String(length=32), nullable=True),
    sa.Column('color_transfer', sa.String(length=32), nullable=True),
    sa.Column('has_audio', sa.Boolean(), nullable=False),
    sa.Column('audio_codec', sa.String(length=32), nullable=True),
    sa.Column('audio_channels', sa.Integer(), nullable=True),
    sa.Column('audio_sample_rate', sa.Integer(), nullable=True),
    sa.Column('bit_rate', sa.BigInteger(), nullable=True),
    sa.Column('media_created_at', backend.sqltypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('orientation', sa.String(length=16), nullable=True),
    sa.Column('aspect_ratio', sa.Float(), nullable=True),
    sa.Column('poster_key', sa.String(length=512), nullable=True),
    sa.Column('contact_sheet_key', sa.String(length=512), nullable=True),
    sa.Column('parent_id', sa.Uuid(), nullable=True),
    sa.Column('recipe', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('preset_id', sa.String(length=100), nullable=True),
    sa.Column('render_job_id', sa.Uuid(), nullable=True),
    sa.Column('production_cost', sa.Float(), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', backend.sqltypes.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['material.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256')
    )
    with op.batch_alter_table('material', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_material_aspect_ratio'), ['aspect_ratio'], unique=False)
        batch_op.create_index('ix_material_created', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_material_parent', ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_material_render_job_id'), ['render_job_id'], unique=False)
        batch_op.create_index('ix_material_status_kind', ['status', 'kind'], unique=False)

    op.create_table('tag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=True),
    sa.Column('name_zh', sa.String(length=100), nullable=True),
    sa.Column('created_at', backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('category', 'name_en', name='uq_tag_category_name_en'),
    sa.UniqueConstraint('category', 'name_zh', name='uq_tag_category_name_zh')
    )
    with op.batch_alter_table('tag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tag_category'), ['category'], unique=False)

    op.create_table('material_tag',
    sa.Column('material_id', sa.Uuid(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['material_id'], ['material.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('material_id', 'tag_id')
    )
    with op.batch_alter_table('material_tag', schema=None) as batch_op:
        batch_op.create_index('ix_material_tag_tag', ['tag_id', 'material_id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # Free-text search: a 'simple' tsvector index for words, and trigram indexes for substrings
        # (Chinese titles have no spaces, so word search alone would miss them).
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_material_fts ON material USING gin "
            "(to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(description, '')))"
        )
        op.execute("CREATE INDEX ix_material_title_trgm ON material USING gin (title gin_trgm_ops)")
        op.execute("CREATE INDEX ix_material_description_trgm ON material USING gin (description gin_trgm_ops)")



def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("ix_material_fts", "ix_material_title_trgm", "ix_material_description_trgm"):
            op.execute(f"DROP INDEX IF EXISTS {name}")
    with op.batch_alter_table('material_tag', schema=None) as batch_op:
        batch_op.drop_index('ix_material_tag_tag')

    op.drop_table('material_tag')
    with op.batch_alter_table('tag', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tag_category'))

    op.drop_table('tag')
    with op.batch_alter_table('material', schema=None) as batch_op:
        batch_op.drop_index('ix_material_status_kind')
        batch_op.drop_index(batch_op.f('ix_material_render_job_id'))
        batch_op.drop_index('ix_material_parent')
        batch_op.drop_index('ix_material_created')
        batch_op.drop_index(batch_op.f('ix_material_aspect_ratio'))

    op.drop_table('material')
    op.drop_table('api_key')
