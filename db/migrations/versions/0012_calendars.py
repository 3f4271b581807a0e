"""chef calendars (Google): busy time, sync tokens, push channels

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 04:20:00

Chefs' busy time read from their Google calendars (availability subtracts it), the syncToken per
calendar for incremental sync, and the events.watch channels a push must name (with its token).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_busy",
        sa.Column("calendar_id", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=1024), nullable=False),
        sa.Column("chef_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["chef_id"], ["core.chefs.id"], name=op.f("fk_calendar_busy_chef_id_chefs")),
        sa.PrimaryKeyConstraint("calendar_id", "event_id", name=op.f("pk_calendar_busy")),
        schema="integra",
    )
    op.create_index("ix_calendar_busy_chef_starts", "calendar_busy", ["chef_id", "starts_at"], schema="integra")
    op.create_table(
        "calendar_sync",
        sa.Column("calendar_id", sa.String(length=255), nullable=False),
        sa.Column("chef_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("sync_token", sa.Text(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["chef_id"], ["core.chefs.id"], name=op.f("fk_calendar_sync_chef_id_chefs")),
        sa.PrimaryKeyConstraint("calendar_id", name=op.f("pk_calendar_sync")),
        schema="integra",
    )
    op.create_table(
        "calendar_channels",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("calendar_id", sa.String(length=255), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("resource_id", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_channels")),
        schema="integra",
    )
    op.create_index("ix_calendar_channels_calendar_id", "calendar_channels", ["calendar_id"], schema="integra")


def downgrade() -> None:
    op.drop_index("ix_calendar_channels_calendar_id", table_name="calendar_channels", schema="integra")
    op.drop_table("calendar_channels", schema="integra")
    op.drop_table("calendar_sync", schema="integra")
    op.drop_index("ix_calendar_busy_chef_starts", table_name="calendar_busy", schema="integra")
    op.drop_table("calendar_busy", schema="integra")
