"""A small, realistic run written straight into an archive (no engine, no
Docker): the seed, valid children whose diffs change agent/prompts.py, an
invalid child with its validation log, a node being built, evaluations with
trajectories and test output, one evaluation still running, and the events
the engine would have appended."""

from __future__ import annotations

import difflib
import json
import tempfile
from pathlib import Path

from archive import Archive, NodeStatus, Outcome, RunStatus
from evolve.config import validate_config
from evaluator.agents import seed_agent_dir, write_agent_code

TASKS = ["cachekit__lru-get-refreshes", "cachekit__lru-update-existing-key", "cachekit__memoize-kwargs"]
PROPOSAL = {
    "log_summary": "The agent stopped without changing anything.",
    "potential_improvements": ["be careful", "run the tests before finishing"],
    "improvement_proposal": "Tell the model to run the tests before it finishes.",
    "implementation_suggestion": "Append a sentence to SYSTEM in agent/prompts.py.",
    "problem_description": "Append a sentence to the system prompt in agent/prompts.py.",
}


def prompt_patch(archive: Archive, parent_id: int, sentence: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        code = write_agent_code(archive, parent_id, Path(tmp))
        before = (code / "agent" / "prompts.py").read_text()
    after = before + f'\nSYSTEM += "\\n{sentence}"\n'
    lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                 "a/agent/prompts.py", "b/agent/prompts.py")
    return "".join(lines)


def _write_logs(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def _trajectory(task: str, resolved: bool) -> str:
    entries = [
        {"type": "message", "time": 1.0, "role": "system", "content": "You are a careful coding agent."},
        {"type": "message", "time": 1.1, "role": "user", "content": f"Fix the bug described in {task}."},
        {"type": "message", "time": 2.0, "role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "function": {"name": "bash", "arguments": json.dumps({"command": "ls"})}}]},
        {"type": "tool", "time": 2.5, "tool": "bash", "args": {"command": "ls"}, "result": "cachekit/\ntests/\n"},
        {"type": "summary", "time": 3.0, "status": "finished", "resolved_hint": resolved},
    ]
    return "".join(json.dumps(e) + "\n" for e in entries)


def populate_run(archive: Archive, *, status: RunStatus = RunStatus.FINISHED, name: str = "api-test") -> dict:
    """Returns the ids: run, root, children (valid), invalid, building, evaluations, running evaluation."""
    config = validate_config({
        "name": name,
        "benchmark": {"name": "builtin", "subset": "full", "tasks": TASKS},
        "budget": {"task_evaluations": 12, "expansions": 4},
        "final": {"min_evaluations": 1},
    })
    run, root = archive.create_run(name, config.model_dump(mode="json"), seed_agent_dir())
    repo = archive.repo
    logs = archive.home.logs_dir(run.id)
    repo.append_event(run.id, "run_created", {"policy": "hgm"})
    repo.set_run_status(run.id, RunStatus.RUNNING)
    repo.append_event(run.id, "run_started")
    evaluations = []

    def evaluate(node_id: int, task: str, outcome: Outcome | None) -> int:
        evaluation = repo.start_evaluation(node_id, task)
        repo.append_event(run.id, "evaluation_started",
                          {"evaluation_id": evaluation.id, "node_id": node_id, "task_id": task})
        if outcome is None:
            return evaluation.id
        resolved = outcome == Outcome.RESOLVED
        folder = _write_logs(logs / f"evaluation-{evaluation.id}", {
            "trajectory.jsonl": _trajectory(task, resolved),
            "patch.diff": "" if not resolved else "--- a/cachekit/lru.py\n+++ b/cachekit/lru.py\n@@ -1 +1 @@\n-old\n+new\n",
            "test_output.txt": f"tests for {task}: {'PASSED' if resolved else 'FAILED'}\n",
            "agent_output.txt": "agent finished\n",
        })
        repo.finish_evaluation(evaluation.id, outcome, duration_s=3.5, log_path=str(folder),
                               reason="all tests pass" if resolved else "FAIL_TO_PASS tests fail",
                               details={"empty_patch": not resolved}, prompt_tokens=120, completion_tokens=30)
        repo.record_llm_call(model="scripted", run_id=run.id, node_id=node_id, evaluation_id=evaluation.id,
                             purpose="solve", prompt_tokens=120, completion_tokens=30, cost_usd=0.001)
        repo.append_event(run.id, "evaluation_finished", {"evaluation_id": evaluation.id, "node_id": node_id,
                                                          "task_id": task, "outcome": outcome.value})
        evaluations.append(evaluation.id)
        return evaluation.id

    for task in TASKS[:2]:
        evaluate(root.id, task, Outcome.UNRESOLVED)

    def expand(parent_id: int, sentence: str, *, valid: bool) -> int:
        node = repo.add_node(run.id, parent_id, status=NodeStatus.BUILDING, entry_task=TASKS[0])
        repo.append_event(run.id, "expansion_started", {"node_id": node.id, "parent_id": parent_id,
                                                        "entry": TASKS[0]})
        archive.attach_patch(node.id, prompt_patch(archive, parent_id, sentence))
        _write_logs(logs / f"node-{node.id}", {
            "proposal.json": json.dumps(PROPOSAL, indent=2),
            "validation.log": "compile: ok\nown tests: " + ("12 passed" if valid else "1 failed, 11 passed") + "\n",
        })
        reason = None if valid else "tests: agent/tests failed: test_prompts.py::test_system_prompt"
        repo.update_node(node.id, status=NodeStatus.VALID if valid else NodeStatus.INVALID, proposal=PROPOSAL,
                         failure_reason=reason)
        repo.record_llm_call(model="scripted", run_id=run.id, node_id=node.id, purpose="diagnosis",
                             prompt_tokens=900, completion_tokens=200, cost_usd=0.002)
        repo.append_event(run.id, "expansion_finished", {
            "node_id": node.id, "status": "valid" if valid else "invalid",
            "stage": "passed" if valid else "tests", "reason": reason or "valid", "seconds": 4.2})
        return node.id

    child_a = expand(root.id, "Run the tests before you finish.", valid=True)
    child_b = expand(root.id, "Read the failing test first.", valid=True)
    invalid = expand(root.id, "Break the prompt.", valid=False)
    grandchild = expand(child_a, "Keep patches small.", valid=True)
    for task in TASKS:
        evaluate(child_a, task, Outcome.RESOLVED)
    evaluate(child_b, TASKS[0], Outcome.RESOLVED)
    evaluate(child_b, TASKS[1], Outcome.UNRESOLVED)
    evaluate(grandchild, TASKS[0], Outcome.RESOLVED)
    ids = {"run": run.id, "root": root.id, "children": [child_a, child_b, grandchild], "invalid": invalid,
           "best": child_a, "evaluations": evaluations, "building": None, "running_evaluation": None}
    if status == RunStatus.FINISHED:
        repo.set_best_node(run.id, child_a)
        repo.set_run_status(run.id, RunStatus.FINISHED)
        repo.append_event(run.id, "run_finished", {"best_node_id": child_a, "best": "3/3"})
    else:
        building = repo.add_node(run.id, child_b, status=NodeStatus.BUILDING, entry_task=TASKS[1])
        repo.append_event(run.id, "expansion_started", {"node_id": building.id, "parent_id": child_b,
                                                        "entry": TASKS[1]})
        ids["building"] = building.id
        ids["running_evaluation"] = evaluate(grandchild, TASKS[1], None)
        repo.set_run_status(run.id, status)
    return ids


def populate_big_run(archive: Archive, nodes: int = 1000, seed: int = 7, name: str = "big-tree") -> dict:
    """A search-shaped tree of `nodes` nodes written as rows in one transaction
    (a second or so at 1 000): parents drawn with a preference for the
    better-scoring ones, 0–8 evaluations per node over 20 tasks, a tenth
    invalid, a few tampered grades, the best node the best-scoring deep one.
    The commits are made up (no code store): enough for the tree, the table
    and the pages, not for diffs or exports."""
    import random

    from sqlalchemy import insert, update

    from archive.models import Evaluation, LLMCall, Node, Run, utcnow

    rng = random.Random(seed)
    run = archive.repo.create_run(name, {"policy": {"name": "hgm"}, "final": {"min_evaluations": 3}})
    now = utcnow()
    ids: list[int] = []
    skill: list[float] = []
    depth: list[int] = []
    rows: list[dict] = []
    with archive.db.session() as s:
        for i in range(nodes):
            k = (max(rng.sample(range(i), min(i, 3)), key=lambda j: skill[j]) if rng.random() < 0.7
                 else rng.randrange(i)) if i else None
            invalid = i > 0 and rng.random() < 0.1
            row = {"run_id": run.id, "parent_id": ids[k] if k is not None else None,
                   "status": NodeStatus.INVALID if invalid else NodeStatus.VALID,
                   "commit": None if invalid else f"{i:040x}", "created_at": now, "updated_at": now,
                   "failure_reason": "tests: agent/tests failed" if invalid else None}
            ids.append(s.execute(insert(Node).returning(Node.id), row).scalar_one())
            skill.append(0.3 if k is None else min(max(skill[k] + rng.uniform(-0.15, 0.12), 0.0), 1.0))
            depth.append(0 if k is None else depth[k] + 1)
            for t in ([] if invalid else rng.sample(range(20), rng.randint(0, 8))):
                outcome = Outcome.RESOLVED if rng.random() < skill[i] else rng.choice(
                    [Outcome.UNRESOLVED] * 12 + [Outcome.ERROR, Outcome.TIMEOUT, Outcome.TAMPERED])
                rows.append({"run_id": run.id, "node_id": ids[i], "task_id": f"task-{t:02d}", "attempt": 1,
                             "outcome": outcome, "reason": outcome.value, "duration_s": rng.uniform(5, 90),
                             "prompt_tokens": rng.randint(500, 9000), "completion_tokens": rng.randint(50, 900),
                             "created_at": now, "finished_at": now})
        if rows:
            s.execute(insert(Evaluation), rows)
            s.execute(insert(LLMCall), [{"run_id": run.id, "node_id": row["node_id"], "purpose": "solve",
                                         "model": "scripted", "prompt_tokens": row["prompt_tokens"],
                                         "completion_tokens": row["completion_tokens"],
                                         "cost_usd": row["prompt_tokens"] * 1e-6, "created_at": now}
                                        for row in rows])
        best = max((i for i in range(nodes) if depth[i] >= 3), key=lambda i: (skill[i], -i), default=0)
        s.execute(update(Run).where(Run.id == run.id).values(
            nodes_count=nodes, evaluations_count=len(rows), best_node_id=ids[best], status=RunStatus.FINISHED,
            started_at=now, finished_at=now))
    return {"run": run.id, "ids": ids, "best": ids[best], "root": ids[0], "evaluations": len(rows)}
