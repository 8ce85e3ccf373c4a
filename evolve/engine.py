"""The run engine: decide, persist, dispatch, record — until the budget is spent.

One driver thread owns the archive and the tree's counts; workers only run
units (evolve.units: evolve.expansion, evolve.evaluation) and hand back
results. Every piece of work is written
down before it starts — an expansion as a `building` node, an evaluation as
a row without an outcome — so a process killed at any moment leaves a
record of exactly what was under way, and `resume` runs those same rows
again: nothing is lost, nothing is recorded twice. Sandboxes of a dead
process are reaped by the sandbox room when the next one starts.

Pause and cancel are requests written into the run's status (by the CLI or
the API, from any process); the driver sees them within a second, stops
dispatching, and lets the work under way finish and be recorded.
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archive import Archive
from archive.errors import PatchDoesNotApply
from archive.lease import DriverLease, LeaseLost
from archive.models import Evaluation, Node, NodeStatus, Outcome, Run, RunStatus
from evaluator.agents import write_agent_code
from evaluator.contract import ModelAccess
from evaluator.scoring import record_finished
from evaluator.task_run import PLATFORM_ERRORS, EvalOptions
from evaluator.task import Task
from evolve import confirmation, journal
from evolve.config import RunConfig
from evolve.diagnosis import EntryMaterial
from evolve.entry import Entry
from evolve.evaluation import run_evaluation
from evolve.executor import Executor, make_executor
from evolve.expansion import run_expansion
from evolve.final import Belief, Beliefs, best_belief, rank
from evolve.grades import node_kind, resolved, tree_state
from evolve.lesson import parent_entry
from evolve.policies import Budget, Evaluate, Expand, make_policy
from evolve.run_gateway import RunGateway
from evolve.state import Kind, TreeState
from evolve.units import EvaluateResult, EvaluateUnit, ExpandResult, ExpandUnit, pack_code
from llm.gateway import Gateway
from sandbox.client import get_client
from sandbox.reaper import reap_orphans

log = logging.getLogger(__name__)
STOP_REQUESTS = {RunStatus.PAUSED, RunStatus.CANCELLED}
FATAL_ERRORS = PLATFORM_ERRORS  # no sandbox can run: stop, keep the work pending (never graded)


@dataclass(frozen=True)
class Dispatched:
    """A unit under way: what it is, the row it writes, the model access it holds
    (revoked the moment its result comes back, whatever the result)."""

    kind: str  # "expand" or "evaluate"
    row_id: int
    grants: tuple[ModelAccess, ...]


@dataclass
class Progress:
    """What a live view shows; handed to the progress callback after every change."""

    nodes: int
    valid: int
    evaluations_finished: int
    evaluations_budget: int
    running: list[str]
    best_node_id: int | None
    best_score: str


class RunEngine:
    def __init__(
        self,
        archive: Archive,
        run_id: int,
        config: RunConfig,
        tasks: list[Task],
        *,
        held_out: list[Task] = (),
        executor: Executor | None = None,
        gateway: Gateway | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        lease: DriverLease | None = None,
    ) -> None:
        self.lease = lease  # the archive's word that this process is the run's one driver
        self.archive, self.repo, self.run_id, self.config = archive, archive.repo, run_id, config
        self.tasks = {t.instance_id: t for t in tasks}
        if not self.tasks:
            raise ValueError("a run needs at least one task")
        # Held-out tasks are only for confirming the final choice; the search never sees their results.
        self.held_out = {t.instance_id: t for t in held_out}
        self.all_tasks = {**self.tasks, **self.held_out}
        self.policy = make_policy(config.policy.name, **config.policy.params)
        self.executor = executor or make_executor(config, archive)
        self.gateway = RunGateway(config, self.repo, run_id, gateway,
                                  spool=archive.home.run_dir(run_id) / "llm-calls.jsonl")
        self.executor.attach_gateway(self.gateway.gateway)
        self.on_progress = on_progress
        self.logs = archive.home.logs_dir(run_id)
        self.in_flight: dict[Future, Dispatched] = {}
        self.rng = _policy_rng(config.seed, self.repo.get_run(run_id).search_state)
        self.state = self._load_state()
        self.beliefs = Beliefs(self.state, config.final.quantile, config.final.min_evaluations)

    # -- set-up ---------------------------------------------------------------
    def _load_state(self) -> TreeState:
        nodes = [(n.id, n.parent_id, node_kind(n)) for n in self.repo.list_nodes(self.run_id)]
        return tree_state(list(self.tasks), nodes, self.repo.run_evaluations(self.run_id),
                          pooled_failures=self.policy.pooled_failures())

    def _rng_state(self) -> dict[str, Any]:
        """The policy's generator as it is now, saved with the row each decision writes."""
        state = self.rng.bit_generator.state
        return {"policy_rng": {**state, "state": {k: str(v) for k, v in state["state"].items()}}}

    # -- the loop ---------------------------------------------------------------
    def run(self) -> RunStatus:
        resumed = self.repo.get_run(self.run_id).started_at is not None  # a driver had it before this one
        self.repo.mark_running(self.run_id)
        self._event("run_resumed" if resumed else "run_started",
                    {"policy": self.policy.name, "conventions": self.policy.conventions()})
        started = time.monotonic()
        try:
            if self.executor.runs_here:  # remote workers reap their own machines
                reap_orphans(get_client())  # sandboxes of a process that died driving this run
            self._redo_pending()
            stop, under_way = False, True
            while under_way:
                stop, under_way = self._pass(started, stop)
            final = self.repo.get_run(self.run_id).status
            if final in STOP_REQUESTS:
                self._event(f"run_{final.value}")
                return final
            return self._finish()
        except LeaseLost:  # the run is another driver's now: record nothing more, leave it to that one
            self._event("driver_lost", {"owner": self.lease.owner if self.lease else None})
            raise
        except BaseException as exc:  # Docker gone, the database, Ctrl-C, a bug: resumable, nothing lost
            if not isinstance(exc, KeyboardInterrupt):  # Ctrl-C means now: work under way stays pending
                self._drain()
            self._interrupted(exc)
            raise
        finally:
            self.close()

    def _pass(self, started: float, stop: bool) -> tuple[bool, bool]:
        """Once round the loop: still this run's driver, told to stop or out of budget?
        If not, fill the free slots; then record what came back. Returns (stop, work under way)."""
        if self.lease is not None:
            self.lease.check()
        run = self.repo.get_run(self.run_id)  # one read a pass: only this driver starts evaluations
        stop = stop or run.status in STOP_REQUESTS or self._budget_spent(run, started)
        if not stop:
            self._fill_slots(run.evaluations_count)
        if not self.in_flight:
            return stop, False
        self._record_some()
        return stop, True

    def _interrupted(self, exc: BaseException) -> None:
        """Mark the run resumable and say why; a database that fails here too leaves
        it `running` with its work pending, which resume handles the same way."""
        error = str(exc) if isinstance(exc, FATAL_ERRORS) else f"{type(exc).__name__}: {exc}"
        try:
            self.repo.set_run_status(self.run_id, RunStatus.INTERRUPTED)
            self._event("run_interrupted", {"error": error, "fix": "fix the cause, then `clade run resume`"})
        except Exception:  # noqa: BLE001 - the archive itself may be what failed
            log.exception("could not record that run %s was interrupted (%s)", self.run_id, error)

    def _charged(self, evaluations_count: int) -> int:
        """The evaluations the budget counts: the root's stay outside it where the policy says so."""
        return evaluations_count - (0 if self.policy.charges_root else int(self.state.n_tried[0]))

    def _budget_spent(self, run: Run, started: float) -> bool:
        budget = self.config.budget
        if self._charged(run.evaluations_count) >= budget.task_evaluations:
            return True
        if budget.wall_seconds is not None and time.monotonic() - started >= budget.wall_seconds:
            return True
        if budget.tokens is not None and run.prompt_tokens + run.completion_tokens >= budget.tokens:
            return True
        return budget.usd is not None and run.cost_usd >= budget.usd

    def _fill_slots(self, evaluations_count: int) -> None:
        # The count as the pass read it: only this driver starts evaluations, so it counts the rest itself.
        budget = Budget(self.config.budget.task_evaluations, self._charged(evaluations_count), self.config.workers)
        while len(self.in_flight) < self.config.workers and budget.spent < budget.total:
            action = self.policy.next_action(self.state, self.rng, budget)
            if isinstance(action, Expand) and not self._may_expand():
                action = self.policy.evaluate_only(self.state, self.rng, budget)
            if action is None:
                return
            if isinstance(action, Expand):
                node = self.repo.add_node(self.run_id, action.parent_id, status=NodeStatus.BUILDING,
                                          search_state=self._rng_state())
                self.state.add_node(node.id, action.parent_id, kind=Kind.BUILDING)
                self._dispatch_expansion(node)
            elif isinstance(action, Evaluate):
                evaluation = self.repo.start_evaluation(action.node_id, action.task_id,
                                                        search_state=self._rng_state())
                charged = self.policy.charges_root or self.state.index[action.node_id] != 0
                self.state.start(action.node_id, action.task_id)
                self._dispatch_evaluation(evaluation)
                budget.spent += int(charged)

    def _may_expand(self) -> bool:
        limit = self.config.budget.expansions
        return limit is None or self.state.size - 1 < limit

    def _redo_pending(self) -> None:
        """Work a killed process left under way: recorded from its journal when it had
        finished (nothing paid for twice), else run again on the same rows."""
        nodes, evaluations = self.repo.pending_work(self.run_id)
        for node in nodes:
            finished = journal.read_expansion(self.logs / f"node-{node.id}")
            if finished is not None:
                self._event("expansion_recovered", {"node_id": node.id})
                self._record_expansion(node.id, finished, None)
                continue
            self._event("expansion_resumed", {"node_id": node.id})
            self._dispatch_expansion(node)
        for evaluation in evaluations:
            if evaluation.task_id not in self.all_tasks:
                continue
            done = journal.read_evaluation(self.logs / f"evaluation-{evaluation.id}")
            if done is not None:
                self._event("evaluation_recovered", {"evaluation_id": evaluation.id})
                self._record_evaluation(evaluation.id, done, None)
                continue
            self._event("evaluation_resumed", {"evaluation_id": evaluation.id})
            self._dispatch_evaluation(evaluation)

    # -- dispatch ---------------------------------------------------------------
    def _dispatch_expansion(self, node: Node) -> None:
        assert node.parent_id is not None
        entry, material = self._entry(node)
        self.repo.update_node(node.id, status=NodeStatus.BUILDING, entry_task=entry.label)
        models, timeouts, issuer = self.config.models, self.config.timeouts, self.gateway.issuer
        diagnosis = issuer.grant("diagnosis", models.diagnosis, node_id=node.id)
        self_improve = issuer.grant("self_improve", models.self_improve, node_id=node.id)
        unit = ExpandUnit(
            run_id=self.run_id, node_id=node.id, parent_id=node.parent_id, parent_code=self._packed_code(node.parent_id),
            entry=entry, material=material, diagnosis=diagnosis, self_improve=self_improve,
            limits=self.config.sandbox,
            agent_limits=self.config.agent.limits(timeouts.self_improve_seconds),
            validation_seconds=timeouts.validation_seconds,
            diagnosis_max_chars=models.diagnosis_max_chars,
            diagnosis_max_tokens=models.diagnosis_max_tokens,
            prompts_dir=str(self.config.prompts.folder) if self.config.prompts.folder else None,
            code_limits=self.config.code,
            in_agents_image=self.config.agent.seed != "clade",
        )
        self._event("expansion_started", {"node_id": node.id, "parent_id": node.parent_id, "entry": entry.label})
        self.in_flight[self.executor.submit(run_expansion, unit)] = Dispatched("expand", node.id,
                                                                               (diagnosis, self_improve))

    def _dispatch_evaluation(self, evaluation: Evaluation) -> None:
        access = self.gateway.issuer.grant("solve", self.config.models.solve, node_id=evaluation.node_id,
                                           evaluation_id=evaluation.id)
        options = EvalOptions(agent_limits=self.config.agent.limits(self.config.timeouts.agent_seconds),
                              tests_timeout=self.config.timeouts.tests_seconds, limits=self.config.sandbox,
                              model=access, raise_platform_errors=True)
        unit = EvaluateUnit(evaluation_id=evaluation.id, node_id=evaluation.node_id,
                            task=self.all_tasks[evaluation.task_id],
                            agent_code=self._packed_code(evaluation.node_id), options=options,
                            in_agents_image=self.config.agent.seed != "clade")
        self._event("evaluation_started", {"evaluation_id": evaluation.id, "node_id": evaluation.node_id,
                                           "task_id": evaluation.task_id})
        self.in_flight[self.executor.submit(run_evaluation, unit)] = Dispatched("evaluate", evaluation.id, (access,))

    def _packed_code(self, node_id: int) -> bytes:
        with tempfile.TemporaryDirectory(prefix="clade-agent-") as tmp:
            return pack_code(write_agent_code(self.archive, node_id, Path(tmp)))

    def _entry(self, node: Node) -> tuple[Entry, EntryMaterial]:
        """The parent's failure this expansion learns from (kept on resume)."""
        return parent_entry(self.repo, node, self.tasks, random.Random(f"{self.config.seed}:{node.id}"))

    # -- recording ---------------------------------------------------------------
    def _record(self, future: Future) -> None:
        dispatched = self._settle(future)
        kind, row_id = dispatched.kind, dispatched.row_id
        error = future.exception()
        if isinstance(error, FATAL_ERRORS):
            raise error
        if kind == "expand":
            self._record_expansion(row_id, future.result() if error is None else None, error)
        else:
            self._record_evaluation(row_id, future.result() if error is None else None, error)

    def _record_expansion(self, node_id: int, result: ExpandResult | None, error: BaseException | None) -> None:
        if result is None:
            result = ExpandResult(node_id, False, "worker", f"the expansion crashed: {type(error).__name__}: {error}")
        journal.write(self._write_logs(f"node-{node_id}", result.logs), result)  # before anything is recorded
        patched = False
        if result.patch:
            try:
                self.archive.attach_patch(node_id, result.patch, self.config.code)
                patched = True
            except PatchDoesNotApply as exc:
                result.ok, result.stage, result.reason = False, "patch", str(exc)
        status = NodeStatus.VALID if result.ok else NodeStatus.INVALID
        self.repo.update_node(node_id, status=status, proposal=result.proposal,
                              failure_reason=None if result.ok else f"{result.stage}: {result.reason}")
        kind = Kind.VALID if result.ok else Kind.BROKEN if patched else Kind.FAILED
        self.state.finish_node(node_id, kind)
        if kind == Kind.BROKEN and self.policy.pooled_failures():
            self.state.pool_failures(node_id, self.policy.pooled_failures())
        self._event("expansion_finished", {"node_id": node_id, "status": status.value, "stage": result.stage,
                                           "reason": result.reason, "seconds": round(result.duration_s, 1)})

    def _record_evaluation(self, evaluation_id: int, result: EvaluateResult | None, error: BaseException | None) -> None:
        if result is None:
            result = EvaluateResult(evaluation_id, Outcome.ERROR,
                                    f"the evaluation crashed: {type(error).__name__}: {error}")
        folder = self._write_logs(f"evaluation-{evaluation_id}", result.logs)
        journal.write(folder, result)  # before anything is recorded
        self.gateway.flush()
        evaluation = record_finished(self.repo, evaluation_id, result.outcome, duration_s=result.duration_s,
                                     reason=result.reason, log_path=str(folder), details=result.details)
        if evaluation.task_id in self.tasks:
            self.state.record(evaluation.node_id, evaluation.task_id, bool(resolved(result.outcome)))
            self.beliefs.update(evaluation.node_id)
        self._event("evaluation_finished", {"evaluation_id": evaluation_id, "node_id": evaluation.node_id,
                                            "task_id": evaluation.task_id, "outcome": result.outcome.value})

    def _write_logs(self, name: str, files: dict[str, str]) -> Path:
        folder = self.logs / name
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, text in files.items():
            (folder / Path(file_name).name).write_text(text)
        return folder

    def _record_some(self) -> None:
        finished, _ = wait(list(self.in_flight), timeout=1.0, return_when=FIRST_COMPLETED)
        for future in finished:
            self._record(future)
        self._report()

    # -- the end ------------------------------------------------------------------
    def _finish(self) -> RunStatus:
        final = self.config.final
        best = best_belief(self.state, final.quantile, final.min_evaluations)
        if best is not None and final.confirm_top > 0 and self.held_out:
            best = self._confirm(rank(self.state, final.quantile, final.min_evaluations)[: final.confirm_top]) or best
        self.repo.set_best_node(self.run_id, best.node_id if best else None)
        self.repo.set_run_status(self.run_id, RunStatus.FINISHED)
        self._event("run_finished", {"best_node_id": best.node_id if best else None,
                                     "best": f"{best.resolved}/{best.total}" if best else None})
        self._report()
        return RunStatus.FINISHED

    def _confirm(self, candidates: list[Belief]) -> Belief | None:
        """The best of `candidates` on the held-out tasks (evolve.confirmation)."""
        self._event("confirmation_started", {"candidates": [c.node_id for c in candidates]})
        for node_id, task_id in confirmation.owed(self.repo, candidates, self.held_out):
            self._dispatch_evaluation(self.repo.start_evaluation(node_id, task_id))
        while self.in_flight:
            self._record_some()
        return confirmation.confirmed_best(self.repo, candidates, self.held_out, self.config.final.quantile)

    def _settle(self, future: Future) -> Dispatched:
        """The unit is over: no call may be made with its model access any more."""
        dispatched = self.in_flight.pop(future)
        for access in dispatched.grants:
            self.gateway.issuer.revoke(access)
        return dispatched

    def _drain(self) -> None:
        """Wait for work under way and record what finished (a fatal error
        leaves the rest pending for resume)."""
        for future in list(self.in_flight):
            try:
                future.result(timeout=max(self.config.timeouts.agent_seconds, 60) * 2)
            except Exception:  # noqa: BLE001 - left pending: resume redoes it
                self._settle(future)
                continue
            try:
                self._record(future)
            except Exception:  # noqa: BLE001
                log.exception("could not record finished work while stopping")

    def close(self) -> None:
        self.executor.shutdown()
        self.gateway.stop()

    # -- events and progress ----------------------------------------------------
    def _event(self, kind: str, payload: dict[str, Any] | None = None) -> None:
        self.repo.append_event(self.run_id, kind, payload or {})

    def _report(self) -> None:
        if self.on_progress is None:
            return
        n = self.state.size
        best = self.beliefs.best()
        running = [f"{d.kind} {d.row_id}" for d in self.in_flight.values()]
        self.on_progress(Progress(
            nodes=n, valid=int(self.state.valid[:n].sum()), evaluations_finished=self.state.finished_evaluations,
            evaluations_budget=self.config.budget.task_evaluations, running=running,
            best_node_id=best.node_id if best else None,
            best_score=f"{best.resolved}/{best.total}" if best else "-",
        ))


def _policy_rng(seed: int, saved: dict[str, Any] | None) -> np.random.Generator:
    """The policy's generator: as the last persisted decision left it, or fresh from the seed."""
    rng = np.random.default_rng(seed)
    if saved and "policy_rng" in saved:
        state = saved["policy_rng"]
        rng.bit_generator.state = {**state, "state": {k: int(v) for k, v in state["state"].items()}}
    return rng
