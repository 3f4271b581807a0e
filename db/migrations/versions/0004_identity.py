"""identity: accounts, sessions, MFA recovery codes, login attempts, service clients, single sign-on, audit

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 01:00:33

Staff accounts gain a name, a chef link, the TOTP secret and lockout state; server-side sessions,
one-time recovery codes, login attempts (throttling), OAuth service clients, single sign-on requests
in flight, and the identity audit trail.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column(
            "detail", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_events")),
        schema="identity",
    )
    op.create_index("ix_auth_events_user_at", "auth_events", ["user_id", "at"], unique=False, schema="identity")
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("email_bidx", sa.LargeBinary(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
        schema="identity",
    )
    op.create_index(
        "ix_login_attempts_email_at", "login_attempts", ["email_bidx", "at"], unique=False, schema="identity"
    )
    op.create_index("ix_login_attempts_ip_at", "login_attempts", ["ip", "at"], unique=False, schema="identity")
    op.create_table(
        "oidc_requests",
        sa.Column("state_hash", sa.LargeBinary(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.Text(), nullable=False),
        sa.Column("code_verifier_enc", sa.LargeBinary(), nullable=False),
        sa.Column("return_to", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_oidc_requests")),
        schema="identity",
    )
    op.create_table(
        "service_clients",
        sa.Column("id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), server_default=sa.text("'ai_service'"), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_clients")),
        sa.UniqueConstraint("name", name=op.f("uq_service_clients_name")),
        schema="identity",
    )
    op.create_table(
        "recovery_codes",
        sa.Column("user_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["identity.staff_users.id"], name=op.f("fk_recovery_codes_user_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "code_hash", name=op.f("pk_recovery_codes")),
        schema="identity",
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.UUID(as_uuid=False), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("user_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("csrf_token", sa.Text(), nullable=False),
        sa.Column("mfa_passed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["identity.staff_users.id"], name=op.f("fk_staff_sessions_user_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
        schema="identity",
    )
    op.create_index("ix_staff_sessions_user", "staff_sessions", ["user_id"], unique=False, schema="identity")
    op.add_column("staff_users", sa.Column("name_enc", sa.LargeBinary(), nullable=True), schema="identity")
    op.add_column("staff_users", sa.Column("chef_id", sa.UUID(as_uuid=False), nullable=True), schema="identity")
    op.add_column("staff_users", sa.Column("mfa_secret_enc", sa.LargeBinary(), nullable=True), schema="identity")
    op.add_column(
        "staff_users", sa.Column("mfa_enrolled_at", sa.DateTime(timezone=True), nullable=True), schema="identity"
    )
    op.add_column(
        "staff_users",
        sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False),
        schema="identity",
    )
    op.add_column(
        "staff_users", sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True), schema="identity"
    )
    op.add_column(
        "staff_users",
        sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        schema="identity",
    )
    op.add_column(
        "staff_users",
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        schema="identity",
    )
    op.create_foreign_key(
        op.f("fk_staff_users_chef_id_chefs"),
        "staff_users",
        "chefs",
        ["chef_id"],
        ["id"],
        source_schema="identity",
        referent_schema="core",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_staff_users_chef_id_chefs"), "staff_users", schema="identity", type_="foreignkey")
    op.drop_column("staff_users", "updated_at", schema="identity")
    op.drop_column("staff_users", "version", schema="identity")
    op.drop_column("staff_users", "locked_until", schema="identity")
    op.drop_column("staff_users", "failed_logins", schema="identity")
    op.drop_column("staff_users", "mfa_enrolled_at", schema="identity")
    op.drop_column("staff_users", "mfa_secret_enc", schema="identity")
    op.drop_column("staff_users", "chef_id", schema="identity")
    op.drop_column("staff_users", "name_enc", schema="identity")
    op.drop_index("ix_staff_sessions_user", table_name="staff_sessions", schema="identity")
    op.drop_table("staff_sessions", schema="identity")
    op.drop_table("recovery_codes", schema="identity")
    op.drop_table("service_clients", schema="identity")
    op.drop_table("oidc_requests", schema="identity")
    op.drop_index("ix_login_attempts_ip_at", table_name="login_attempts", schema="identity")
    op.drop_index("ix_login_attempts_email_at", table_name="login_attempts", schema="identity")
    op.drop_table("login_attempts", schema="identity")
    op.drop_index("ix_auth_events_user_at", table_name="auth_events", schema="identity")
    op.drop_table("auth_events", schema="identity")
