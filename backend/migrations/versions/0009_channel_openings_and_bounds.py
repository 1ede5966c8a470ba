"""Channel openings recorded by the team, and what a channel takes (media types, aspects, durations)

Revision ID: 0009
Revises: 0007_media_facts_previews_failed
Create Date: 2026-12-07

`opens` says whether a channel opens by itself or only when the platform opens it on application (then
the team records the date, who and a note: the manual state plus `manual_recorded_by/_at`). Existing
channels keep opening as they did ("automatically"), so reports already issued read the same; a team
switches a store over with a PATCH or a reset to the platform's rules. T-mall channels created from the
platform's rules get the format bounds of the shipped rules of this revision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import backend.sqltypes

revision: str = "0009_channel_openings_and_bounds"
down_revision: str | Sequence[str] | None = "0007_media_facts_previews_failed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# The shipped T-mall format bounds at this revision (frozen here: later edits of the TOML do not move them).
_TMALL_BOUNDS = {"video": ["3:4", "1:1", "16:9"], "shipai": ["3:4"]}
_TMALL_MAX_DURATION_S = 60.0


def upgrade() -> None:
    with op.batch_alter_table("account_channel", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("opens", sa.String(length=20), server_default="automatically", nullable=False)
        )
        batch_op.add_column(sa.Column("media_types", _JSON, nullable=True))
        batch_op.add_column(sa.Column("aspects", _JSON, nullable=True))
        batch_op.add_column(sa.Column("min_duration_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("max_duration_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("manual_recorded_by", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("manual_recorded_at", backend.sqltypes.UTCDateTime(timezone=True), nullable=True)
        )
    channel = sa.table(
        "account_channel",
        sa.column("id", sa.Integer()),
        sa.column("account_id", sa.Uuid()),
        sa.column("channel_id", sa.String()),
        sa.column("from_platform_rules", sa.Boolean()),
        sa.column("media_types", _JSON),
        sa.column("aspects", _JSON),
        sa.column("max_duration_s", sa.Float()),
    )
    account = sa.table("platform_account", sa.column("id", sa.Uuid()), sa.column("platform_id", sa.String()))
    op.execute(channel.update().values(media_types=["video"]))
    tmall = sa.select(account.c.id).where(account.c.platform_id == "tmall")
    for channel_id, aspects in _TMALL_BOUNDS.items():
        op.execute(
            channel.update()
            .where(
                channel.c.channel_id == channel_id,
                channel.c.from_platform_rules.is_(True),
                channel.c.account_id.in_(tmall),
            )
            .values(aspects=aspects, max_duration_s=_TMALL_MAX_DURATION_S)
        )
    with op.batch_alter_table("account_channel", schema=None) as batch_op:
        batch_op.alter_column("media_types", existing_type=_JSON, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("account_channel", schema=None) as batch_op:
        for name in (
            "manual_recorded_at",
            "manual_recorded_by",
            "max_duration_s",
            "min_duration_s",
            "aspects",
            "media_types",
            "opens",
        ):
            batch_op.drop_column(name)
