"""One driver per run, and the search's random state.

`driver_owner` / `driver_expires_at`: the lease of the process driving the
run (taken atomically, renewed by a heartbeat, expired when the driver
dies), so two drivers can never run one run, on one machine or many.
`search_state`: the policy's and the entry choice's random generators,
saved with every decision, so a resumed run decides as an uninterrupted
one would.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("driver_owner", sa.String(200), nullable=True))
        batch.add_column(sa.Column("driver_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("search_state", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("search_state")
        batch.drop_column("driver_expires_at")
        batch.drop_column("driver_owner")
