"""The evaluator's library calls: one task (HGM style), many tasks, staged (DGM style).

    from evaluator import evaluate_task, evaluate_tasks, staged_evaluation

`evaluate_task` is what the search calls to score a node on one task: it
records the evaluation in the archive (started before the work, finished
with outcome, reason, log folder, tokens and details), so that a resumed run
can tell a started evaluation from one never begun.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evaluator.agents import AgentSpec
from evaluator.task_run import EvalOptions, run_task
from evaluator.stages import Stage, may_enter
from evaluator.task import Outcome, Task, TaskResult

if TYPE_CHECKING:
    from archive import Archive, Evaluation
    from archive.repository import ArchiveRepository

OnResult = Callable[[TaskResult], None]


def evaluate_task(
    task: Task,
    agent: AgentSpec,
    options: EvalOptions | None = None,
    *,
    archive: Archive | None = None,
    node_id: int | None = None,
    attempt: int = 0,
) -> TaskResult:
    """Run `agent` on `task` and grade it; with an archive and a node, record it.

    The evaluation row is created before the work starts and finished with
    the outcome; its logs go to `CLADE_HOME/runs/<run>/logs/evaluation-<id>`.
    """
    options = options or EvalOptions()
    if archive is None or node_id is None:
        return run_task(task, agent, options, node_id=node_id)
    node = archive.repo.get_node(node_id)
    evaluation = archive.repo.start_evaluation(node_id, task.instance_id, attempt)
    log_dir = archive.home.logs_dir(node.run_id) / f"evaluation-{evaluation.id}"
    result = run_task(task, agent, options, node_id=node_id, evaluation_id=evaluation.id, log_dir=log_dir)
    record_finished(archive.repo, evaluation.id, result.outcome, duration_s=result.duration_s, reason=result.reason,
                    log_path=result.log_dir, details=result.details())
    return result


def record_finished(repo: ArchiveRepository, evaluation_id: int, outcome: Outcome, *, duration_s: float,
                    reason: str, log_path: str | None, details: dict[str, Any]) -> Evaluation:
    """Finish an evaluation's row: the one way the engine and `clade eval` both record.

    Tokens and cost are what the gateway accounted to the evaluation (its
    LLMCall rows, written when the calls were answered, summed by the
    repository), never the agent's own summary.json: that file is the
    agent's claim, not an account.
    """
    return repo.finish_evaluation(evaluation_id, outcome, duration_s=duration_s, reason=reason, log_path=log_path,
                                  details=details)


def evaluate_tasks(
    tasks: Sequence[Task],
    agent: AgentSpec,
    options: EvalOptions | None = None,
    *,
    workers: int = 1,
    archive: Archive | None = None,
    node_id: int | None = None,
    on_result: OnResult | None = None,
    on_start: Callable[[Task], None] | None = None,
) -> list[TaskResult]:
    """Every task on a pool of `workers` threads; results in the tasks' order.

    `on_start` / `on_result` are called (from worker threads, one at a time)
    as tasks begin and end, for progress displays.
    """
    options = options or EvalOptions()
    lock = threading.Lock()

    def one(task: Task) -> TaskResult:
        if on_start is not None:
            with lock:
                on_start(task)
        result = evaluate_task(task, agent, options, archive=archive, node_id=node_id)
        if on_result is not None:
            with lock:
                on_result(result)
        return result

    if workers <= 1:
        return [one(task) for task in tasks]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clade-eval") as pool:
        return list(pool.map(one, tasks))


@dataclass
class StagedResult:
    results: list[TaskResult] = field(default_factory=list)
    stages_run: list[str] = field(default_factory=list)
    stopped_after: str | None = None  # the stage below whose threshold the agent fell

    @property
    def resolved(self) -> int:
        return sum(r.outcome == Outcome.RESOLVED for r in self.results)

    @property
    def score(self) -> float:
        return self.resolved / len(self.results) if self.results else 0.0


def staged_evaluation(
    stages: Sequence[Stage],
    agent: AgentSpec,
    options: EvalOptions | None = None,
    *,
    workers: int = 1,
    archive: Archive | None = None,
    node_id: int | None = None,
    on_result: OnResult | None = None,
) -> StagedResult:
    """DGM's staged evaluation: run each stage while the score so far clears
    the next stage's threshold (DGM: 10 tasks, then 50 more at >= 40 %)."""
    staged = StagedResult()
    for stage in stages:
        if not may_enter(stage.threshold, staged.resolved, len(staged.results)):
            staged.stopped_after = staged.stages_run[-1]
            break
        staged.results += evaluate_tasks(stage.tasks, agent, options, workers=workers, archive=archive,
                                         node_id=node_id, on_result=on_result)
        staged.stages_run.append(stage.name)
    return staged
