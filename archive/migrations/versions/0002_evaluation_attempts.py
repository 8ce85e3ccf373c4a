"""Evaluation attempts: a node may run a task more than once, but each
(node, task, attempt) is recorded once, so a resumed run cannot record the
same evaluation twice. Existing rows become attempt 0. Also an index for the
per-node counts of the tree view.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"))
        batch.create_unique_constraint("uq_evaluations_node_task_attempt", ["node_id", "task_id", "attempt"])
    op.create_index("ix_evaluations_node_outcome", "evaluations", ["node_id", "outcome"])


def downgrade() -> None:
    op.drop_index("ix_evaluations_node_outcome", table_name="evaluations")
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_constraint("uq_evaluations_node_task_attempt", type_="unique")
        batch.drop_column("attempt")
