"""Checkpoints as C2SP signed notes (docs/adr/0010-signed-note-checkpoints.md).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

``registry.checkpoints`` gains ``note``: the checkpoint's signed note, byte for byte what
``GET /verify/log/checkpoint`` serves (a tlog-checkpoint body signed by the log's Ed25519
checkpoint key). A row is either a note checkpoint (``note`` set, ``signature`` NULL: the
note carries its signatures) or one signed before the switch (a canonical JSON statement
signed by the record key: ``signature`` set, ``note`` NULL); a CHECK holds each row to
exactly one. Existing rows are all of the second kind and are left as they are: they keep
verifying with the record keys, which stay trusted.

The foreign key from ``checkpoints.key_id`` to ``signing_keys`` goes: ``signing_keys``
lists the keys that sign records, and the checkpoint key is not one. No key in the
database is trusted anyway; checkpoints verify against configured keys only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEMA = "registry"
OWNER = "registry_owner"
# A note is three short lines and a few signature lines; the bound keeps a row small
# and a served checkpoint far below any response limit.
MAX_NOTE_BYTES = 8192


def upgrade() -> None:
    op.execute(f"SET LOCAL ROLE {OWNER}")
    op.add_column("checkpoints", sa.Column("note", sa.LargeBinary(), nullable=True), schema=SCHEMA)
    op.alter_column("checkpoints", "signature", nullable=True, schema=SCHEMA)
    # op.f: the name is final, not a name for the metadata's naming convention to wrap.
    op.create_check_constraint(
        op.f("ck_checkpoints_note_or_signature"),
        "checkpoints",
        "(note IS NULL) <> (signature IS NULL)",
        schema=SCHEMA,
    )
    op.create_check_constraint(
        op.f("ck_checkpoints_note_size"),
        "checkpoints",
        f"octet_length(note) BETWEEN 1 AND {MAX_NOTE_BYTES}",
        schema=SCHEMA,
    )
    op.drop_constraint(
        op.f("fk_checkpoints_key_id_signing_keys"), "checkpoints", type_="foreignkey", schema=SCHEMA
    )
    op.execute("RESET ROLE")


def downgrade() -> None:
    # Note checkpoints have no JSON signature to fall back to: a downgrade with any
    # stored would lose them, so it refuses (the log tables are append-only anyway).
    op.execute(f"SET LOCAL ROLE {OWNER}")
    # FORCEd RLS hides every row from the owner; lifted for this one check, inside the
    # transaction, as migration 0005 does.
    op.execute(f"ALTER TABLE {SCHEMA}.checkpoints NO FORCE ROW LEVEL SECURITY")
    op.execute(
        f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM {SCHEMA}.checkpoints WHERE note IS NOT NULL) "
        "THEN RAISE EXCEPTION 'signed-note checkpoints are stored; 0008 cannot be undone'; "
        "END IF; END $$"
    )
    op.execute(f"ALTER TABLE {SCHEMA}.checkpoints FORCE ROW LEVEL SECURITY")
    op.create_foreign_key(
        op.f("fk_checkpoints_key_id_signing_keys"),
        "checkpoints",
        "signing_keys",
        ["key_id"],
        ["key_id"],
        source_schema=SCHEMA,
        referent_schema=SCHEMA,
    )
    op.drop_constraint(
        op.f("ck_checkpoints_note_size"), "checkpoints", type_="check", schema=SCHEMA
    )
    op.drop_constraint(
        op.f("ck_checkpoints_note_or_signature"), "checkpoints", type_="check", schema=SCHEMA
    )
    op.alter_column("checkpoints", "signature", nullable=False, schema=SCHEMA)
    op.drop_column("checkpoints", "note", schema=SCHEMA)
    op.execute("RESET ROLE")
