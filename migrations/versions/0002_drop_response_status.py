"""Idempotency keys keep the response body only: drop the never-read response_status.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Every stored response is a write's 201, and a replay is rebuilt from the stored body
alone, so the column held one constant that no code read. Dropping it takes DDL, which
the append-only triggers (row-level: UPDATE, DELETE, TRUNCATE) do not refuse.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "registry"


def upgrade() -> None:
    op.drop_column("idempotency_keys", "response_status", schema=SCHEMA)


def downgrade() -> None:
    # Rows written since the upgrade were all 201s, so that is the value they get back.
    op.add_column(
        "idempotency_keys",
        sa.Column("response_status", sa.Integer(), nullable=False, server_default="201"),
        schema=SCHEMA,
    )
    op.alter_column("idempotency_keys", "response_status", server_default=None, schema=SCHEMA)
