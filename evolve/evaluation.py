"""One evaluation as a worker runs it: a node's agent on one task.

The work itself is the evaluator's (`evaluator.task_run.run_task`: the agent
in one sandbox, the grading in a fresh one, swebench's verdict); this module
only unpacks the unit (evolve.units) and packs the result — outcome,
reason, details and log files — for the driver to record.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from evaluator.agents import code_agent
from evaluator.task_run import run_task
from evolve.units import EvaluateResult, EvaluateUnit, check_version, unpack_code


def run_evaluation(unit: EvaluateUnit) -> EvaluateResult:
    check_version(unit)
    with tempfile.TemporaryDirectory(prefix="clade-eval-") as tmp:
        code = unpack_code(unit.agent_code, Path(tmp) / "agent")
        logs = Path(tmp) / "logs"
        agent = code_agent(code, node_id=unit.node_id, needs_agents_image=unit.in_agents_image)
        result = run_task(unit.task, agent, unit.options, node_id=unit.node_id,
                          evaluation_id=unit.evaluation_id, log_dir=logs)
        files = {p.name: p.read_text(errors="replace") for p in sorted(logs.iterdir()) if p.is_file()}
    return EvaluateResult(unit.evaluation_id, result.outcome, result.reason, result.duration_s, result.details(),
                          files)
