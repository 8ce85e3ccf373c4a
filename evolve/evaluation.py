"""One evaluation as a self-contained unit: a node's agent on one task.

The work itself is the evaluator's (`evaluator.runner.run_task`: the agent
in one sandbox, the grading in a fresh one, swebench's verdict); this module
only packs it as a unit a worker can run anywhere and unpacks the result —
outcome, reason, details and log files — for the driver to record.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive.models import Outcome
from evaluator.agent_run import AgentLimits, ModelAccess
from evaluator.agents import code_agent
from evaluator.runner import EvalOptions, run_task
from evaluator.task import Task
from evolve.work import unpack_code
from sandbox.limits import SandboxLimits


@dataclass
class EvaluateUnit:
    evaluation_id: int
    node_id: int
    task: Task
    agent_code: bytes
    access: ModelAccess
    limits: SandboxLimits
    agent_limits: AgentLimits
    tests_seconds: float


@dataclass
class EvaluateResult:
    evaluation_id: int
    outcome: Outcome
    reason: str
    duration_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)


def run_evaluation(unit: EvaluateUnit) -> EvaluateResult:
    with tempfile.TemporaryDirectory(prefix="clade-eval-") as tmp:
        code = unpack_code(unit.agent_code, Path(tmp) / "agent")
        logs = Path(tmp) / "logs"
        options = EvalOptions(agent_limits=unit.agent_limits, tests_timeout=unit.tests_seconds, limits=unit.limits,
                              model=unit.access)
        result = run_task(unit.task, code_agent(code, node_id=unit.node_id), options, node_id=unit.node_id,
                          evaluation_id=unit.evaluation_id, log_dir=logs)
        files = {p.name: p.read_text(errors="replace") for p in sorted(logs.iterdir()) if p.is_file()}
    return EvaluateResult(unit.evaluation_id, result.outcome, result.reason, result.duration_s, result.details(),
                          files)
