"""agent: schema `agent` with the LangGraph checkpoint tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:00:00

The tables are LangGraph's own (`PostgresSaver.setup()` creates and versions them in its
`checkpoint_migrations` table), so this migration runs their setup rather than copying their DDL.
Setup creates some indexes CONCURRENTLY, which cannot run in Alembic's transaction: it runs on a
connection of its own with autocommit, the way the checkpointer connects at run time. A LangGraph
upgrade that adds checkpoint migrations needs a new revision that runs `setup()` again.
"""

from collections.abc import Sequence

import psycopg
from alembic import op
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg.rows import dict_row

from db.engine import libpq_url

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "agent"


def upgrade() -> None:
    url = op.get_bind().engine.url.render_as_string(hide_password=False)
    with psycopg.connect(
        libpq_url(url), autocommit=True, row_factory=dict_row, options=f"-c search_path={SCHEMA}"
    ) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        PostgresSaver(conn).setup()


def downgrade() -> None:
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
