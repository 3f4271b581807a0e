"""outbox dead letters

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 06:30:00

A partial index on dead-lettered outbox rows (by when they died, `available_at`): the staff
deliveries page lists them and the inbox counts them without reading the delivered rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_dead",
        "outbox",
        ["available_at"],
        unique=False,
        schema="events",
        postgresql_where=sa.text("status = 'dead'"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_dead", table_name="outbox", schema="events", postgresql_where=sa.text("status = 'dead'"))
