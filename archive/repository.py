"""The archive's small repository API: every read and write of the tables.

Other rooms call these methods instead of writing queries, so that counters,
event order and "not found" messages are handled in one place. Each method
is one short transaction; returned rows are detached snapshots that are safe
to pass between threads.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from archive.db import Database
from archive.errors import CladeError, NotFound
from archive.models import Evaluation, Event, LLMCall, Node, NodeStatus, Outcome, Run, RunStatus, utcnow
from archive.tree import TreeNode, evaluation_sums, tree_columns

# Statuses in which a run has stopped for good.
FINAL_RUN_STATUSES = {RunStatus.FINISHED, RunStatus.FAILED, RunStatus.CANCELLED}


def _get(session: Session, model: type, row_id: int, hint: str) -> Any:
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"no {model.__name__.lower()} with id {row_id} in the archive: {hint}")
    return row


_RUN_HINT = "list runs with `clade run list`"
_NODE_HINT = "list a run's nodes with `clade run tree RUN`"
_EVAL_HINT = "see a node's evaluations with `clade node show NODE`"


class ArchiveRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- runs ---------------------------------------------------------------
    def create_run(self, name: str, config: dict[str, Any] | None = None) -> Run:
        with self.db.session() as s:
            run = Run(name=name, config=config or {}, status=RunStatus.CREATED)
            s.add(run)
            s.flush()
            return run

    def get_run(self, run_id: int) -> Run:
        with self.db.session() as s:
            return _get(s, Run, run_id, _RUN_HINT)

    def list_runs(self) -> list[Run]:
        with self.db.session() as s:
            return list(s.scalars(select(Run).order_by(Run.id)))

    def set_best_node(self, run_id: int, node_id: int | None) -> Run:
        with self.db.session() as s:
            run = _get(s, Run, run_id, _RUN_HINT)
            run.best_node_id = node_id
            return run

    def pending_work(self, run_id: int) -> tuple[list[Node], list[Evaluation]]:
        """Expansions and evaluations that were started and never finished
        (the process died): a resumed run picks them up again."""
        with self.db.session() as s:
            nodes = s.scalars(
                select(Node)
                .where(Node.run_id == run_id, Node.status.in_([NodeStatus.PROPOSED, NodeStatus.BUILDING]))
                .order_by(Node.id)
            )
            evaluations = s.scalars(
                select(Evaluation).where(Evaluation.run_id == run_id, Evaluation.outcome.is_(None)).order_by(Evaluation.id)
            )
            return list(nodes), list(evaluations)

    def evaluations_page(self, run_id: int, offset: int, limit: int,
                         outcome: Outcome | None = None) -> tuple[int, list[Evaluation]]:
        """(how many the run has, with `outcome` if given; the `limit` of them from `offset`), oldest first."""
        with self.db.session() as s:
            _get(s, Run, run_id, _RUN_HINT)
            where = [Evaluation.run_id == run_id] + ([Evaluation.outcome == outcome] if outcome else [])
            total = int(s.scalar(select(func.count()).select_from(Evaluation).where(*where)) or 0)
            rows = s.scalars(select(Evaluation).where(*where).order_by(Evaluation.id).offset(offset).limit(limit))
            return total, list(rows)

    def run_evaluations(self, run_id: int) -> list[Evaluation]:
        with self.db.session() as s:
            return list(s.scalars(select(Evaluation).where(Evaluation.run_id == run_id).order_by(Evaluation.id)))

    def mark_running(self, run_id: int) -> Run:
        """Running again — unless a cancel landed first (it wins: a cancelled
        run never starts, whichever process got there first)."""
        with self.db.session() as s:
            run = s.get(Run, run_id, with_for_update=True)  # row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE
            if run is None:
                raise NotFound(f"no run with id {run_id} in the archive: {_RUN_HINT}")
            if run.status in FINAL_RUN_STATUSES:
                raise CladeError(f"run {run_id} is {run.status.value}: it cannot go on; start a new run")
            run.status = RunStatus.RUNNING
            run.started_at = run.started_at or utcnow()
            return run

    def set_run_status(self, run_id: int, status: RunStatus) -> Run:
        with self.db.session() as s:
            run = _get(s, Run, run_id, _RUN_HINT)
            run.status = status
            now = utcnow()
            if status == RunStatus.RUNNING and run.started_at is None:
                run.started_at = now
            if status in FINAL_RUN_STATUSES:
                run.finished_at = now
            return run

    # -- nodes --------------------------------------------------------------
    def add_node(
        self,
        run_id: int,
        parent_id: int | None,
        *,
        commit: str | None = None,
        status: NodeStatus = NodeStatus.PROPOSED,
        entry_task: str | None = None,
        proposal: dict[str, Any] | None = None,
        search_state: dict[str, Any] | None = None,
    ) -> Node:
        """A new node; `search_state` (the search's random state after deciding to grow
        it) is saved in the same transaction, so a resumed run draws on from there."""
        with self.db.session() as s:
            _get(s, Run, run_id, _RUN_HINT)
            if parent_id is not None:
                parent = _get(s, Node, parent_id, _NODE_HINT)
                if parent.run_id != run_id:
                    raise NotFound(f"node {parent_id} belongs to run {parent.run_id}, not run {run_id}")
            node = Node(
                run_id=run_id,
                parent_id=parent_id,
                commit=commit,
                status=status,
                entry_task=entry_task,
                proposal=proposal,
            )
            s.add(node)
            s.execute(update(Run).where(Run.id == run_id).values(nodes_count=Run.nodes_count + 1,
                                                                  **_search_state(search_state)))
            s.flush()
            return node

    def get_node(self, node_id: int) -> Node:
        with self.db.session() as s:
            return _get(s, Node, node_id, _NODE_HINT)

    def update_node(
        self,
        node_id: int,
        *,
        status: NodeStatus | None = None,
        commit: str | None = None,
        failure_reason: str | None = None,
        proposal: dict[str, Any] | None = None,
        entry_task: str | None = None,
    ) -> Node:
        """Set the given fields (None leaves a field as it is)."""
        changes = {"status": status, "commit": commit, "failure_reason": failure_reason,
                   "proposal": proposal, "entry_task": entry_task}
        with self.db.session() as s:
            node = _get(s, Node, node_id, _NODE_HINT)
            for field, value in changes.items():
                if value is not None:
                    setattr(node, field, value)
            return node

    def list_nodes(self, run_id: int) -> list[Node]:
        with self.db.session() as s:
            return list(s.scalars(select(Node).where(Node.run_id == run_id).order_by(Node.id)))

    def lineage(self, node_id: int) -> list[Node]:
        """The node's ancestors and the node itself, root first."""
        with self.db.session() as s:
            chain = [_get(s, Node, node_id, _NODE_HINT)]
            while chain[-1].parent_id is not None:
                chain.append(s.get(Node, chain[-1].parent_id))
            return chain[::-1]

    def node_counts(self, node_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        """(resolved, finished) evaluations of each node."""
        with self.db.session() as s:
            rows = s.execute(
                select(Evaluation.node_id, *evaluation_sums())
                .where(Evaluation.node_id.in_(node_ids))
                .group_by(Evaluation.node_id)
            )
            counts = {node_id: (int(resolved or 0), int(total)) for node_id, resolved, total, _tampered in rows}
        return {node_id: counts.get(node_id, (0, 0)) for node_id in node_ids}

    def tampered_counts(self, node_ids: Sequence[int]) -> dict[int, int]:
        """Evaluations of each node whose grade was refused (outcome tampered)."""
        with self.db.session() as s:
            rows = s.execute(
                select(Evaluation.node_id, func.count())
                .where(Evaluation.node_id.in_(node_ids), Evaluation.outcome == Outcome.TAMPERED)
                .group_by(Evaluation.node_id)
            )
            counts = {node_id: int(count) for node_id, count in rows}
        return {node_id: counts.get(node_id, 0) for node_id in node_ids}

    def tree(self, run_id: int) -> dict[int, TreeNode]:
        """Every node of the run with own and clade counts, keyed by id in
        breadth-first order: archive.tree's columns (two queries), as one
        `TreeNode` per node."""
        return tree_columns(self.db, run_id, hint=_RUN_HINT).nodes()

    def outcome_counts(self, *, run_id: int | None = None, node_id: int | None = None) -> dict[str, int]:
        """Finished evaluations of a run or of one node, by outcome (every
        outcome present, zeros included, so a reader never guesses a name)."""
        if (run_id is None) == (node_id is None):
            raise ValueError("outcome_counts needs exactly one of run_id and node_id")
        where = Evaluation.run_id == run_id if run_id is not None else Evaluation.node_id == node_id
        with self.db.session() as s:
            rows = s.execute(
                select(Evaluation.outcome, func.count())
                .where(where, Evaluation.outcome.is_not(None))
                .group_by(Evaluation.outcome)
            ).all()
        counts = {outcome.value: 0 for outcome in Outcome}
        for outcome, count in rows:
            counts[Outcome(outcome).value] = int(count)
        return counts

    # -- evaluations --------------------------------------------------------
    def start_evaluation(self, node_id: int, task_id: str, attempt: int = 0, *,
                         search_state: dict[str, Any] | None = None) -> Evaluation:
        """Record that an evaluation begins (outcome NULL until it finishes); `search_state`
        as for `add_node`."""
        with self.db.session() as s:
            node = _get(s, Node, node_id, _NODE_HINT)
            evaluation = Evaluation(run_id=node.run_id, node_id=node_id, task_id=task_id, attempt=attempt)
            s.add(evaluation)
            s.execute(
                update(Run).where(Run.id == node.run_id).values(evaluations_count=Run.evaluations_count + 1,
                                                                **_search_state(search_state))
            )
            s.flush()
            return evaluation

    def finish_evaluation(
        self,
        evaluation_id: int,
        outcome: Outcome,
        *,
        duration_s: float | None = None,
        reason: str | None = None,
        log_path: str | None = None,
        details: dict[str, Any] | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        cost_usd: float | None = None,
    ) -> Evaluation:
        """Give the row its outcome. Spend left out (None) is what the gateway accounted to the
        evaluation: the sums of its model-call rows, read in the same transaction."""
        with self.db.session() as s:
            evaluation = _get(s, Evaluation, evaluation_id, _EVAL_HINT)
            if None in (prompt_tokens, completion_tokens, cost_usd):
                sums = s.execute(select(func.coalesce(func.sum(LLMCall.prompt_tokens), 0),
                                        func.coalesce(func.sum(LLMCall.completion_tokens), 0),
                                        func.coalesce(func.sum(LLMCall.cost_usd), 0.0))
                                 .where(LLMCall.evaluation_id == evaluation_id)).one()
                prompt_tokens = int(sums[0]) if prompt_tokens is None else prompt_tokens
                completion_tokens = int(sums[1]) if completion_tokens is None else completion_tokens
                cost_usd = float(sums[2]) if cost_usd is None else cost_usd
            evaluation.outcome = outcome
            evaluation.details = details
            evaluation.duration_s = duration_s
            evaluation.reason = reason
            evaluation.log_path = log_path
            evaluation.prompt_tokens = prompt_tokens
            evaluation.completion_tokens = completion_tokens
            evaluation.cost_usd = cost_usd
            evaluation.finished_at = utcnow()
            return evaluation

    def get_evaluation(self, evaluation_id: int) -> Evaluation:
        with self.db.session() as s:
            return _get(s, Evaluation, evaluation_id, _EVAL_HINT)

    def node_evaluations(self, node_id: int) -> list[Evaluation]:
        with self.db.session() as s:
            _get(s, Node, node_id, _NODE_HINT)
            return list(s.scalars(select(Evaluation).where(Evaluation.node_id == node_id).order_by(Evaluation.id)))

    # -- model calls --------------------------------------------------------
    def record_llm_call(
        self,
        *,
        model: str,
        run_id: int | None = None,
        node_id: int | None = None,
        evaluation_id: int | None = None,
        purpose: str | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float = 0.0,
        latency_s: float | None = None,
        error: str | None = None,
        key: str | None = None,
    ) -> None:
        """One row per call; the run's spend counters move in the same transaction."""
        self.record_llm_calls_once([dict(model=model, run_id=run_id, node_id=node_id, evaluation_id=evaluation_id,
                                         purpose=purpose, prompt_tokens=prompt_tokens,
                                         completion_tokens=completion_tokens, cost_usd=cost_usd,
                                         latency_s=latency_s, error=error, key=key or uuid.uuid4().hex)])

    def record_llm_calls_once(self, rows: Sequence[dict[str, Any]]) -> int:
        """Record the calls (fields of `record_llm_call`, each with its `key`) whose key the
        archive does not hold yet, in one transaction: one INSERT for all of them and one
        UPDATE of each run's counters; returns how many were new. The gateway's writer
        hands over whatever queued up at once, and a spool replayed after a kill holds rows
        already written: those are skipped, not counted twice."""
        if not rows:
            return 0
        with self.db.session() as s:
            db = s.connection()  # Core statements: the gateway's writer must not cost the ORM's time per row
            calls = LLMCall.__table__
            held = set(db.execute(select(calls.c.call_key).where(calls.c.call_key.in_([r["key"] for r in rows])))
                       .scalars())
            new = [{**{k: v for k, v in row.items() if k != "key"}, "call_key": row["key"]}
                   for row in rows if row["key"] not in held]
            if not new:
                return 0
            now = utcnow()
            db.execute(insert(calls), [{"created_at": now, **row} for row in new])
            spent: dict[int, list[float]] = {}
            for row in new:
                if row.get("run_id") is not None:
                    total = spent.setdefault(row["run_id"], [0, 0, 0, 0.0])
                    total[0] += 1
                    total[1] += row.get("prompt_tokens") or 0
                    total[2] += row.get("completion_tokens") or 0
                    total[3] += row.get("cost_usd") or 0.0
            runs = Run.__table__
            for run_id, (count, prompt, completion, cost) in spent.items():
                db.execute(update(runs).where(runs.c.id == run_id).values(
                    llm_calls_count=runs.c.llm_calls_count + int(count), prompt_tokens=runs.c.prompt_tokens + int(prompt),
                    completion_tokens=runs.c.completion_tokens + int(completion), cost_usd=runs.c.cost_usd + cost))
            return len(new)

    def llm_calls(
        self, *, run_id: int | None = None, node_id: int | None = None, evaluation_id: int | None = None
    ) -> list[LLMCall]:
        with self.db.session() as s:
            query = select(LLMCall).order_by(LLMCall.id)
            for column, value in ((LLMCall.run_id, run_id), (LLMCall.node_id, node_id),
                                  (LLMCall.evaluation_id, evaluation_id)):
                if value is not None:
                    query = query.where(column == value)
            return list(s.scalars(query))

    # -- events -------------------------------------------------------------
    def append_event(self, run_id: int, kind: str, payload: dict[str, Any] | None = None) -> Event:
        """Append to the run's log. The sequence number comes from an UPDATE of
        the run row, which locks it until commit: numbers are gap-free and
        commit in order, so a reader resuming "after seq N" misses nothing."""
        with self.db.session() as s:
            seq = s.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(last_event_seq=Run.last_event_seq + 1)
                .returning(Run.last_event_seq)
            ).scalar_one_or_none()
            if seq is None:
                raise NotFound(f"no run with id {run_id} in the archive: {_RUN_HINT}")
            event = Event(run_id=run_id, seq=seq, kind=kind, payload=payload or {})
            s.add(event)
            s.flush()
            return event

    def search_conventions(self, run_id: int) -> dict[str, Any] | None:
        """The policy and conventions the run's driver last announced (`run_started` or
        `run_resumed`): what a reported result was searched with. None before it started."""
        with self.db.session() as s:
            event = s.scalars(select(Event).where(Event.run_id == run_id,
                                                  Event.kind.in_(("run_started", "run_resumed")))
                              .order_by(Event.seq.desc()).limit(1)).first()
            if event is None:
                return None
            return {"policy": event.payload.get("policy"), "conventions": event.payload.get("conventions") or {}}

    def events_since(self, run_id: int, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(Event)
                    .where(Event.run_id == run_id, Event.seq > after_seq)
                    .order_by(Event.seq)
                    .limit(limit)
                )
            )


def _search_state(state: dict[str, Any] | None) -> dict[str, Any]:
    """The run columns a decision writes beside its row (none when it has no random state)."""
    return {} if state is None else {"search_state": state}
