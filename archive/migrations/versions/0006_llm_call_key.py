"""Model calls get the gateway's key.

The gateway spools each call to the run's folder before answering it; after
a kill the next driver records the spooled calls the archive lacks. The
unique key is what makes that replay record a call once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch:
        batch.add_column(sa.Column("call_key", sa.String(32), nullable=True))
        batch.create_unique_constraint("uq_llm_calls_call_key", ["call_key"])


def downgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch:
        batch.drop_constraint("uq_llm_calls_call_key", type_="unique")
        batch.drop_column("call_key")
