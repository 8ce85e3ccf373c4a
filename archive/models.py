"""The archive's tables: runs, the nodes of each run's tree, evaluations,
model calls, and an append-only event log.

Statuses and outcomes are stored as short strings (not native enums) so that
SQLite and PostgreSQL hold the same schema and a new status needs no
migration of a database type.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class RunStatus(str, enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    FAILED = "failed"  # its configuration can never work: final
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # stopped by an error or a signal: `clade run resume` goes on


class NodeStatus(str, enum.Enum):
    PROPOSED = "proposed"
    BUILDING = "building"
    INVALID = "invalid"
    VALID = "valid"


class Outcome(str, enum.Enum):
    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"
    ERROR = "error"
    TIMEOUT = "timeout"
    # The grader caught the code under test forging its grade (a canary,
    # the exit status, the report): a failure, kept with its evidence.
    TAMPERED = "tampered"


def _status(enum_cls: type[enum.Enum]) -> Enum:
    return Enum(
        enum_cls,
        native_enum=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[RunStatus] = mapped_column(_status(RunStatus), default=RunStatus.CREATED)
    # Counters are updated in the same statement as the row they count, so
    # they never drift from the rows themselves.
    nodes_count: Mapped[int] = mapped_column(Integer, default=0)
    evaluations_count: Mapped[int] = mapped_column(Integer, default=0)
    llm_calls_count: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    last_event_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # The agent the run ships, chosen by the final-agent rule when it ends.
    best_node_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The lease of the one process driving the run (archive.lease): who, and until when.
    driver_owner: Mapped[str | None] = mapped_column(String(200))
    driver_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The search's random generators after its last persisted decision (evolve.engine).
    search_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Node(Base):
    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"), index=True)
    commit: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[NodeStatus] = mapped_column(_status(NodeStatus), default=NodeStatus.PROPOSED)
    # The failed task (or systemic weakness) chosen as the starting point of
    # the self-modification, and the improvement proposal drawn from it.
    entry_task: Mapped[str | None] = mapped_column(String(200))
    proposal: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Evaluation(Base):
    """One task run by one node's agent; `outcome` is NULL while it runs.

    Recording the row before the work starts is what lets a resumed run tell
    an evaluation that was started from one that never was.
    """

    __tablename__ = "evaluations"
    __table_args__ = (
        UniqueConstraint("node_id", "task_id", "attempt", name="uq_evaluations_node_task_attempt"),
        Index("ix_evaluations_node_outcome", "node_id", "outcome"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    outcome: Mapped[Outcome | None] = mapped_column(_status(Outcome))
    reason: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float | None] = mapped_column(Float)
    log_path: Mapped[str | None] = mapped_column(Text)
    # What the agent and the grader reported (empty patch, context overflow,
    # failing tests...): the material the next self-improvement step reads.
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LLMCall(Base):
    __tablename__ = "llm_calls"
    __table_args__ = (UniqueConstraint("call_key", name="uq_llm_calls_call_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_s: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    # The gateway's key for the call, so a spooled row replayed after a kill is recorded once.
    call_key: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Event(Base):
    """Append-only run log. `seq` counts per run, without gaps, in commit order."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_events_run_seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
