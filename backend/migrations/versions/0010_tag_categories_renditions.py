"""Tag categories as data, one material per rendition, render warnings

Revision ID: 0010
Revises: 0009_channel_openings_and_bounds
Create Date: 2026-12-07

- `tag_category`: the categories tags are filed under, each with Chinese and English labels and whether
  a derived clip inherits its source's tags of that category; seeded with the seven categories that were
  a fixed list until now. `tag.category` refers to it.
- `material.sha256` is unique only among uploads (kind != 'derived'): two presets with the same encoding
  settings make byte-identical files, and each rendition is its own material.
- `render_job.warnings`, `render_output.warnings`: what a rendition was made with but should be looked at
  (below the preset's size, below the platform's minimum).

Downgrading restores the unique sha256, which fails while identical renditions exist.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import backend.sqltypes

revision: str = "0010_tag_categories_renditions"
down_revision: str | Sequence[str] | None = "0009_channel_openings_and_bounds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
# Frozen here: later changes to the seed list in the code do not move this revision.
_CATEGORIES = [
    ("audience", "受众", "Audience", True),
    ("content_type", "内容类型", "Content type", True),
    ("product", "产品", "Product", True),
    ("campaign", "活动", "Campaign", True),
    ("style", "风格", "Style", True),
    ("platform", "平台", "Platform", False),
    ("other", "其他", "Other", True),
]
# SQLite's unique constraint from 0001 has no name; batch mode names it by this convention to drop it.
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
_NOT_DERIVED = sa.text("kind != 'derived'")


def _recreate_material_without_unique_sha256(drop: bool) -> None:
    """SQLite cannot drop or add a constraint in place: batch mode copies the table, which loses the
    expression index of 0006 (not reflected), so it is dropped before and made again after."""
    op.drop_index("ix_material_duration_sort", table_name="material")
    with op.batch_alter_table("material", schema=None, naming_convention=_SQLITE_NAMES) as batch_op:
        if drop:
            batch_op.drop_constraint("uq_material_sha256", type_="unique")
        else:
            batch_op.create_unique_constraint("uq_material_sha256", ["sha256"])
    op.create_index(
        "ix_material_duration_sort", "material", [sa.text("coalesce(duration_s, -1.0)"), sa.text("id")]
    )


def upgrade() -> None:
    categories = op.create_table(
        "tag_category",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("label_zh", sa.String(length=100), nullable=False),
        sa.Column("label_en", sa.String(length=100), nullable=False),
        sa.Column("inheritable", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", backend.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    now = backend.sqltypes.utcnow()
    op.bulk_insert(
        categories,
        [
            {"id": i, "label_zh": zh, "label_en": en, "inheritable": inherit, "created_at": now}
            for i, zh, en, inherit in _CATEGORIES
        ],
    )
    # Tags of a category nobody seeded (none should exist) keep working: their category becomes a row.
    tag = sa.table("tag", sa.column("category", sa.String()))
    known = [c[0] for c in _CATEGORIES]
    for (other,) in op.get_bind().execute(sa.select(tag.c.category).distinct().where(tag.c.category.notin_(known))):
        op.execute(
            sa.table(
                "tag_category",
                sa.column("id", sa.String()),
                sa.column("label_zh", sa.String()),
                sa.column("label_en", sa.String()),
                sa.column("inheritable", sa.Boolean()),
                sa.column("created_at", backend.sqltypes.UTCDateTime(timezone=True)),
            ).insert().values(id=other, label_zh=other, label_en=other, inheritable=True, created_at=now)
        )
    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_tag_category", "tag_category", ["category"], ["id"], ondelete="RESTRICT")

    if op.get_bind().dialect.name == "sqlite":
        _recreate_material_without_unique_sha256(drop=True)
    else:
        op.drop_constraint("material_sha256_key", "material", type_="unique")
    with op.batch_alter_table("material", schema=None) as batch_op:
        batch_op.create_index("ix_material_sha256", ["sha256"], unique=False)
        batch_op.create_index(
            "uq_material_sha256_upload",
            ["sha256"],
            unique=True,
            sqlite_where=_NOT_DERIVED,
            postgresql_where=_NOT_DERIVED,
        )

    for table in ("render_job", "render_output"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("warnings", _JSON, server_default="[]", nullable=False))


def downgrade() -> None:
    for table in ("render_output", "render_job"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("warnings")
    with op.batch_alter_table("material", schema=None) as batch_op:
        batch_op.drop_index("uq_material_sha256_upload")
        batch_op.drop_index("ix_material_sha256")
    if op.get_bind().dialect.name == "sqlite":
        _recreate_material_without_unique_sha256(drop=False)
    else:
        op.create_unique_constraint("material_sha256_key", "material", ["sha256"])
    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.drop_constraint("fk_tag_category", type_="foreignkey")
    op.drop_table("tag_category")
