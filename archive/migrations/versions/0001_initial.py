"""The first archive schema: runs, nodes, evaluations, model calls, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamps(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.DateTime(timezone=True), nullable=name in {"started_at", "finished_at"}) for name in names]


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("nodes_count", sa.Integer(), nullable=False),
        sa.Column("evaluations_count", sa.Integer(), nullable=False),
        sa.Column("llm_calls_count", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("last_event_seq", sa.BigInteger(), nullable=False),
        *_timestamps("created_at", "updated_at", "started_at", "finished_at"),
    )
    op.create_table(
        "nodes",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("run_id", sa.BigInteger(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), sa.ForeignKey("nodes.id"), nullable=True),
        sa.Column("commit", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("entry_task", sa.String(200), nullable=True),
        sa.Column("proposal", sa.JSON(), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        *_timestamps("created_at", "updated_at"),
    )
    op.create_index("ix_nodes_run_id", "nodes", ["run_id"])
    op.create_index("ix_nodes_parent_id", "nodes", ["parent_id"])
    op.create_table(
        "evaluations",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("run_id", sa.BigInteger(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("node_id", sa.BigInteger(), sa.ForeignKey("nodes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("task_id", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("log_path", sa.Text(), nullable=True),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        *_timestamps("created_at", "finished_at"),
    )
    op.create_index("ix_evaluations_run_id", "evaluations", ["run_id"])
    op.create_index("ix_evaluations_node_id", "evaluations", ["node_id"])
    op.create_table(
        "llm_calls",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("run_id", sa.BigInteger(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=True),
        sa.Column("node_id", sa.BigInteger(), sa.ForeignKey("nodes.id", ondelete="CASCADE"), nullable=True),
        sa.Column(
            "evaluation_id", sa.BigInteger(), sa.ForeignKey("evaluations.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("purpose", sa.String(32), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        *_timestamps("created_at"),
    )
    op.create_index("ix_llm_calls_run_id", "llm_calls", ["run_id"])
    op.create_index("ix_llm_calls_node_id", "llm_calls", ["node_id"])
    op.create_index("ix_llm_calls_evaluation_id", "llm_calls", ["evaluation_id"])
    op.create_table(
        "events",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("run_id", sa.BigInteger(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        *_timestamps("created_at"),
        sa.UniqueConstraint("run_id", "seq", name="uq_events_run_seq"),
    )


def downgrade() -> None:
    for table in ("events", "llm_calls", "evaluations", "nodes", "runs"):
        op.drop_table(table)
