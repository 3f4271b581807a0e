"""identity: MFA enrolment in progress, one-time enrolment codes, TOTP replay guard

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 02:00:00

A TOTP secret waits encrypted in `mfa_pending_enc` (bound to the session that asked for it) until a
code from it is confirmed; an owner or admin who has not enrolled needs a one-time enrolment code
(stored as a keyed hash, with its expiry) to start; `mfa_last_step` refuses a TOTP code used twice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("staff_users", sa.Column("mfa_pending_enc", sa.LargeBinary(), nullable=True), schema="identity")
    op.add_column(
        "staff_users", sa.Column("mfa_pending_session_id", sa.UUID(as_uuid=False), nullable=True), schema="identity"
    )
    op.add_column("staff_users", sa.Column("mfa_last_step", sa.BigInteger(), nullable=True), schema="identity")
    op.add_column("staff_users", sa.Column("mfa_enrol_code_hash", sa.LargeBinary(), nullable=True), schema="identity")
    op.add_column(
        "staff_users",
        sa.Column("mfa_enrol_code_expires_at", sa.DateTime(timezone=True), nullable=True),
        schema="identity",
    )


def downgrade() -> None:
    op.drop_column("staff_users", "mfa_enrol_code_expires_at", schema="identity")
    op.drop_column("staff_users", "mfa_enrol_code_hash", schema="identity")
    op.drop_column("staff_users", "mfa_last_step", schema="identity")
    op.drop_column("staff_users", "mfa_pending_session_id", schema="identity")
    op.drop_column("staff_users", "mfa_pending_enc", schema="identity")
