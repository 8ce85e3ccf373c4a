"""The evaluator: benchmarks, running an agent on a task in sandboxes, grading.

Library calls (what `evolve` and the CLI use)::

    from evaluator import open_benchmark, resolve_agent, EvalOptions
    from evaluator import evaluate_task, evaluate_tasks, staged_evaluation, dgm_stages

    bench = open_benchmark("builtin")                  # or "polyglot:PATH", "swebench:FILE"
    task = bench.load(ids=["calc__floor-division"])[0]
    result = evaluate_task(task, agent, options, archive=archive, node_id=node.id)   # HGM: one task
    staged = staged_evaluation(dgm_stages(bench.load("small"), bench.load("medium")), agent, options,
                               workers=4, archive=archive, node_id=node.id)       # DGM: 10, then 50 at >= 40 %

Every task, whatever its benchmark, is a `Task` (SWE-bench's fields) and is
graded by swebench's `get_eval_report`; every run ends as a `TaskResult`
whose outcome is resolved, unresolved, error or timeout, with a reason.
"""

from evaluator.agents import GOLD, NOOP, AgentSpec, code_agent, patch_agent, resolve_agent
from evaluator.benchmarks import Benchmark, open_benchmark
from evaluator.contract import AccessIssuer, AgentLimits, ModelAccess
from evaluator.errors import EvaluatorError
from evaluator.scoring import StagedResult, evaluate_task, evaluate_tasks, staged_evaluation
from evaluator.predictions import load_predictions
from evaluator.task_run import EvalOptions, run_task
from evaluator.stages import Stage, dgm_stages
from evaluator.task import Outcome, Task, TaskResult, TestsStatus

__all__ = [
    "AccessIssuer",
    "GOLD",
    "NOOP",
    "patch_agent",
    "AgentLimits",
    "AgentSpec",
    "Benchmark",
    "EvalOptions",
    "EvaluatorError",
    "ModelAccess",
    "Outcome",
    "Stage",
    "StagedResult",
    "Task",
    "TaskResult",
    "TestsStatus",
    "code_agent",
    "dgm_stages",
    "evaluate_task",
    "evaluate_tasks",
    "load_predictions",
    "open_benchmark",
    "resolve_agent",
    "run_task",
    "staged_evaluation",
]
