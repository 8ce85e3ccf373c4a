"""Running agents on tasks in real sandboxes, and every way it can go wrong.

Reference agents: `gold` resolves every built-in task and `noop` none.
Misbehaving agents are small real programs run in the sandbox exactly like
the seed agent: one that crashes, one that writes no patch, one whose patch
does not apply, one that never finishes, one that tries to shadow the
hidden tests; a task whose tests hang. Each must end as the right outcome
with a reason, never as an exception.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from evaluator import (
    GOLD,
    NOOP,
    AgentLimits,
    EvalOptions,
    Outcome,
    code_agent,
    dgm_stages,
    tests_script,
    evaluate_task,
    evaluate_tasks,
    staged_evaluation,
)
from evaluator.benchmarks import builtin

pytestmark = pytest.mark.docker

TASK = "textkit__slug-max-length-separator"
HIDDEN_TEST_FILE = "tests/test_slug_max_length_separator.py"


@pytest.fixture
def options(sandbox_image: str, tmp_path: Path) -> EvalOptions:
    return EvalOptions(image=sandbox_image, log_root=tmp_path / "logs", agent_limits=AgentLimits(seconds=60))


def fake_agent(root: Path, body: str) -> Path:
    """An agent package whose __main__ runs `body` (argv parsed like the real one)."""
    package = root / "agent"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(textwrap.dedent('''
        import argparse, pathlib, subprocess, sys, time
        parser = argparse.ArgumentParser()
        parser.add_argument("--problem"); parser.add_argument("--repo"); parser.add_argument("--out")
        args = parser.parse_args()
        out = pathlib.Path(args.out); out.mkdir(parents=True, exist_ok=True)
        repo = pathlib.Path(args.repo)
    ''') + textwrap.dedent(body))
    return root


def test_gold_resolves_every_builtin_task_and_noop_none(options: EvalOptions) -> None:
    tasks = builtin.load()
    gold = evaluate_tasks(tasks, GOLD, options, workers=4)
    assert [(r.task_id, r.reason) for r in gold if r.outcome != Outcome.RESOLVED] == []
    noop = evaluate_tasks(tasks, NOOP, options, workers=4)
    assert [(r.task_id, r.outcome.value, r.reason) for r in noop if r.outcome != Outcome.UNRESOLVED] == []
    assert all(r.empty_patch and r.reason.startswith("empty patch") for r in noop)
    assert all(r.tests and r.tests.fail_to_pass_failure for r in noop)


def test_crashing_agent_is_an_error_with_its_last_words(options, scripted_model, tmp_path) -> None:
    _, access = scripted_model(["unused"])
    agent = code_agent(fake_agent(tmp_path / "crash", 'raise RuntimeError("the agent fell over")\n'))
    result = evaluate_task(builtin.load(ids=[TASK])[0], agent, EvalOptions(**{**vars(options), "model": access}))
    assert result.outcome == Outcome.ERROR
    assert "wrote no patch.diff" in result.reason and "RuntimeError: the agent fell over" in result.reason
    assert result.agent_exit_code == 1


def test_agent_that_writes_no_patch_is_an_error(options, scripted_model, tmp_path) -> None:
    _, access = scripted_model(["unused"])
    agent = code_agent(fake_agent(tmp_path / "silent", 'print("done, honestly")\n'))
    result = evaluate_task(builtin.load(ids=[TASK])[0], agent, EvalOptions(**{**vars(options), "model": access}))
    assert result.outcome == Outcome.ERROR
    assert result.reason.startswith("the agent exited with status 0 and wrote no patch.diff")


def test_patch_that_does_not_apply_is_unresolved(options, scripted_model, tmp_path) -> None:
    _, access = scripted_model(["unused"])
    bad = ("diff --git a/textkit/slug.py b/textkit/slug.py\n--- a/textkit/slug.py\n+++ b/textkit/slug.py\n"
           "@@ -1,3 +1,3 @@\n-this line is not in the file\n+neither is this one\n context\n")
    agent = code_agent(fake_agent(tmp_path / "bad", f"(out / 'patch.diff').write_text({bad!r})\n"))
    result = evaluate_task(builtin.load(ids=[TASK])[0], agent, EvalOptions(**{**vars(options), "model": access}))
    assert result.outcome == Outcome.UNRESOLVED
    assert result.reason.startswith("the patch does not apply")
    assert result.tests is None


def test_agent_past_its_time_limit_is_a_timeout(options, scripted_model, tmp_path) -> None:
    _, access = scripted_model(["unused"])
    agent = code_agent(fake_agent(tmp_path / "slow", "time.sleep(600)\n"))
    slow = EvalOptions(**{**vars(options), "model": access, "agent_limits": AgentLimits(seconds=3)})
    result = evaluate_task(builtin.load(ids=[TASK])[0], agent, slow)
    assert result.outcome == Outcome.TIMEOUT
    assert "ran past its 3 s limit" in result.reason


def test_hanging_tests_are_a_timeout(options) -> None:
    task = builtin.load(ids=[TASK])[0]
    hang = ("diff --git a/tests/test_hang.py b/tests/test_hang.py\nnew file mode 100644\n--- /dev/null\n"
            "+++ b/tests/test_hang.py\n@@ -0,0 +1,5 @@\n+import time\n+\n+\n+def test_hangs():\n"
            "+    time.sleep(3600)\n")
    hanging = task.model_copy(update={
        "test_patch": hang,
        "FAIL_TO_PASS": ["tests/test_hang.py::test_hangs"],
        "eval_script": tests_script.build(repo_dir=task.repo_dir, base_commit=task.base_commit, test_patch=hang,
                                         test_cmd=task.test_cmd),
    })
    result = evaluate_task(hanging, GOLD, EvalOptions(**{**vars(options), "tests_timeout": 5}))
    assert result.outcome == Outcome.TIMEOUT
    assert "tests ran past their 5 s limit" in result.reason


def test_agent_cannot_shadow_the_hidden_tests(options, scripted_model, tmp_path) -> None:
    """A patch that creates the hidden test file with passing tests of the same names."""
    _, access = scripted_model(["unused"])
    task = builtin.load(ids=[TASK])[0]
    fake_tests = "".join(f"def {t.split('::')[-1]}():\n    pass\n\n\n" for t in task.FAIL_TO_PASS)
    body = (f"(repo / {HIDDEN_TEST_FILE!r}).write_text({fake_tests!r})\n"
            "subprocess.run(['git', 'add', '-A'], cwd=repo, check=True)\n"
            "diff = subprocess.run(['git', 'diff', '--cached'], cwd=repo, capture_output=True, text=True).stdout\n"
            "(out / 'patch.diff').write_text(diff)\n")
    agent = code_agent(fake_agent(tmp_path / "cheat", body))
    result = evaluate_task(task, agent, EvalOptions(**{**vars(options), "model": access}))
    assert result.patch_bytes > 0
    assert result.outcome == Outcome.UNRESOLVED
    assert "FAIL_TO_PASS tests still fail" in result.reason


def test_seed_agent_with_a_scripted_model_resolves_a_task(options, scripted_model, tmp_path) -> None:
    """The real seed agent, in the sandbox, through the mounted socket, fixes a real bug."""
    from evaluator import resolve_agent
    from tests.support.script import Reply

    fix = "sed -i 's/slug = slug\\[:max_length\\]$/slug = slug[:max_length].rstrip(sep)/' textkit/slug.py"
    server, access = scripted_model([
        Reply.tool_call("bash", {"command": fix}, prompt_tokens=100, completion_tokens=20),
        Reply.tool_call("finish", {"summary": "strip the separator after cutting"}, prompt_tokens=150,
                        completion_tokens=10),
    ])
    agent = resolve_agent("seed", workdir=tmp_path / "seed")
    result = evaluate_task(builtin.load(ids=[TASK])[0], agent, EvalOptions(**{**vars(options), "model": access}))
    assert result.outcome == Outcome.RESOLVED, result.reason
    assert (result.prompt_tokens, result.completion_tokens) == (250, 30)
    assert result.agent_status == "finished"
    logs = Path(result.log_dir)
    assert "rstrip(sep)" in (logs / "patch.diff").read_text()
    assert json.loads((logs / "result.json").read_text())["outcome"] == "resolved"
    assert (logs / "trajectory.jsonl").is_file()
    assert len(server.chat_requests) == 2


def test_evaluation_is_recorded_in_the_archive(options, clade_home, seed_agent) -> None:
    from archive import open_archive

    archive = open_archive(clade_home)
    try:
        run, root = archive.create_run("eval-test", {}, seed_agent)
        task = builtin.load(ids=[TASK])[0]
        result = evaluate_task(task, NOOP, options, archive=archive, node_id=root.id)
        [row] = archive.repo.node_evaluations(root.id)
        assert row.id == result.evaluation_id
        assert row.outcome == Outcome.UNRESOLVED and row.reason == result.reason
        assert row.details["empty_patch"] is True and row.details["context_overflow"] is False
        assert row.details["tests"]["fail_to_pass_failure"]
        assert Path(row.log_path).is_relative_to(clade_home.logs_dir(run.id))
        assert (Path(row.log_path) / "test_output.txt").is_file()
    finally:
        archive.close()


def test_staged_evaluation_goes_on_only_above_the_threshold(options) -> None:
    tasks = builtin.load()
    small, medium = tasks[:2], tasks[2:5]
    gold = staged_evaluation(dgm_stages(small, medium), GOLD, options, workers=2)
    assert gold.stages_run == ["small", "medium"] and len(gold.results) == 5 and gold.score == 1.0
    noop = staged_evaluation(dgm_stages(small, medium), NOOP, options, workers=2)
    assert noop.stages_run == ["small"] and noop.stopped_after == "small" and len(noop.results) == 2
