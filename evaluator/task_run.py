"""Run one agent on one task in sandboxes, and grade the result.

Two sandboxes, never one, so that nothing the agent leaves behind (a
patched test runner, a background process, a planted conftest) can touch
the grading:

1. **solve** — the task's base repository (without the hidden tests) and
   the agent's code are copied in, the agent runs with the model socket
   mounted and a wall-clock limit, and `OUT/patch.diff` comes back.
   Reference agents skip this: `gold` returns the gold patch, `noop` an
   empty one.
2. **grade** — a fresh sandbox, no model socket: the base repository, the
   patch applied as swebench's harness applies it, the hidden tests
   applied and run with a time limit, the log graded by swebench.

Whatever goes wrong becomes an outcome with a one-line reason, never an
exception: the agent timing out → `timeout`; crashing without a patch →
`error`; a patch that does not apply or tests that fail → `unresolved`;
tests that hang → `timeout`; a sandbox or Docker failure → `error` (in a
run, Docker unreachable or an image not built is raised instead: see
`EvalOptions.raise_platform_errors`).
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from archive.errors import CladeError
from evaluator import gitrepo, grader, grading
from evaluator.agent_run import run_agent
from evaluator.agents import AgentSpec
from evaluator.contract import REPO_DIR, AccessIssuer, AgentLimits, ModelAccess
from evaluator.errors import ImageUnavailable
from evaluator.task import Outcome, Task, TaskResult
from sandbox.base import Sandbox
from sandbox.errors import DockerUnavailable, ImageMissing, SandboxError
from sandbox.factory import open_sandbox
from sandbox.output import first_line, last_line

if TYPE_CHECKING:
    from sandbox.limits import SandboxLimits

log = logging.getLogger(__name__)
# No sandbox can run here (Docker unreachable, an image not built): nothing the agent did.
# A run's evaluations raise them (EvalOptions.raise_platform_errors) instead of grading them.
PLATFORM_ERRORS = (DockerUnavailable, ImageMissing, ImageUnavailable)



@dataclass
class EvalOptions:
    """How tasks are run. The defaults suit the built-in benchmark.

    `model` is how code agents reach a model: one fixed `ModelAccess`, or an
    `AccessIssuer` (`evolve.model_access.GatewayIssuer`) that issues one per
    evaluation and revokes it when the agent is done.
    """

    agent_limits: AgentLimits = field(default_factory=AgentLimits)  # seconds = the agent's wall clock
    tests_timeout: float | None = None  # None: the task's own test_timeout
    limits: SandboxLimits | None = None  # None: the sandbox's defaults
    model: ModelAccess | AccessIssuer | None = None  # required for code agents
    log_root: Path | None = None  # keep per-task logs here; None: logs are discarded
    image: str | None = None  # Clade's sandbox image; None: the current recipe's tag
    # True in a run: a platform failure (PLATFORM_ERRORS) is raised, so that the engine stops with
    # the work pending, instead of an `error` outcome that would count as the agent's failure.
    raise_platform_errors: bool = False


@dataclass
class _Solved:
    patch: str | None
    outcome: Outcome | None = None
    reason: str = ""
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    status: str | None = None
    exit_code: int | None = None


def run_task(
    task: Task,
    agent: AgentSpec,
    options: EvalOptions | None = None,
    *,
    node_id: int | None = None,
    evaluation_id: int | None = None,
    log_dir: Path | None = None,
) -> TaskResult:
    """Solve and grade one task; always returns a result (see the module doc)."""
    options = options or EvalOptions()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="clade-task-") as tmp:
        logs = log_dir or (options.log_root / _safe(task.instance_id) if options.log_root else Path(tmp) / "logs")
        logs.mkdir(parents=True, exist_ok=True)
        kept = log_dir is not None or options.log_root is not None

        def result(outcome: Outcome, reason: str, **extra: object) -> TaskResult:
            done = TaskResult(
                task_id=task.instance_id, benchmark=task.benchmark, agent=agent.name, outcome=outcome,
                reason=reason, duration_s=time.monotonic() - started, log_dir=str(logs) if kept else None,
                evaluation_id=evaluation_id, **extra,  # type: ignore[arg-type]
            )
            (logs / "result.json").write_text(json.dumps(done.as_dict(), indent=2))
            return done

        try:
            if task.image is not None:
                from evaluator.images import require_images

                require_images([task])
            base = _base_repo(task, Path(tmp))
            solved = _solve(task, agent, options, base, logs, node_id=node_id, evaluation_id=evaluation_id)
            agent_facts = {
                "agent_s": solved.seconds, "prompt_tokens": solved.prompt_tokens,
                "completion_tokens": solved.completion_tokens, "agent_status": solved.status,
                "agent_exit_code": solved.exit_code,
            }
            if solved.patch is None:
                return result(solved.outcome or Outcome.ERROR, solved.reason, **agent_facts)
            patch = solved.patch
            (logs / "patch.diff").write_text(patch)
            patch_facts = {"patch_bytes": len(patch.encode()), "empty_patch": not patch.strip()}
            graded = _grade(task, patch, options, base, logs)
            outcome, reason = graded.outcome, graded.reason
            if not patch.strip() and outcome != Outcome.RESOLVED:
                reason = f"empty patch (nothing changed): {reason}"
            if solved.reason and outcome != Outcome.RESOLVED:
                reason = f"{reason} ({solved.reason})"
            return result(outcome, reason, tests=graded.status, tests_s=graded.seconds, tampering=graded.tampering,
                          set_aside=graded.set_aside, **agent_facts, **patch_facts)
        except PLATFORM_ERRORS as exc:
            if options.raise_platform_errors:
                raise
            return result(Outcome.ERROR, str(exc))
        except CladeError as exc:  # the task itself is broken (bad files, ...)
            return result(Outcome.ERROR, str(exc))
        except Exception as exc:  # SandboxError, Docker, or a bug: recorded, never raised
            (logs / "evaluator-error.txt").write_text(traceback.format_exc())
            log.warning("evaluating %s failed: %s (traceback in %s)", task.instance_id, exc,
                        logs / "evaluator-error.txt")
            kind = "sandbox" if isinstance(exc, SandboxError) else "evaluator"
            return result(Outcome.ERROR, f"{kind} failure: {type(exc).__name__}: {first_line(str(exc))}")


def _safe(task_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", task_id)


def _base_repo(task: Task, tmp: Path) -> Path | None:
    """The base repository on the host (None when it lives in the image).

    Made once per base commit and reused (`gitrepo.cached`): sandboxes only
    ever receive copies of it.
    """
    if task.source_dir is None:
        return None
    return gitrepo.cached(task.source_dir, task.base_commit, task_id=task.instance_id, exclude=task.source_exclude)


def _place_repo(sb: Sandbox, task: Task, base: Path | None, user: str = "sandbox") -> str:
    """Put the base repository where the scripts expect it, owned by `user`; return that path."""
    repo = grading.sandbox_repo_dir(task)
    if base is not None:
        sb.copy_in(base, repo, user=user)
        return repo
    copied = sb.exec(["bash", "-c", f"mkdir -p {shlex.quote(repo)} && cp -a {shlex.quote(task.repo_dir)}/. "
                      f"{shlex.quote(repo)}"], timeout=600, user=user)
    if not copied.ok:
        raise CladeError(f"could not copy {task.repo_dir} of image {task.image} to {repo}: {last_line(copied.output) or 'no output'}")
    return repo


# -- solving -------------------------------------------------------------------------------------------------------


def _solve(task: Task, agent: AgentSpec, options: EvalOptions, base: Path | None, logs: Path, *,
           node_id: int | None, evaluation_id: int | None) -> _Solved:
    if agent.is_reference:
        return _Solved(patch=agent.fixed_patch(task.instance_id, task.patch))
    if options.model is None:
        raise CladeError(f"agent {agent.name} needs a model: pass a ModelAccess or an AccessIssuer "
                         "(CLI: --llm-socket and --model)")
    assert agent.code_root is not None
    source = None if isinstance(options.model, ModelAccess) else options.model
    access = options.model if source is None else source.issue(
        node_id=node_id if node_id is not None else agent.node_id, evaluation_id=evaluation_id)
    extra_env = {} if base is not None else {"PYTHONPATH": REPO_DIR}
    image = task.image or options.image
    if agent.needs_agents_image:
        from evaluator import agents_image

        image, env = agents_image.runtime(image)
        extra_env.update(env)
    try:
        ran = run_agent(agent.code_root, base, task.problem_statement, access, limits=options.limits,
                        agent_limits=options.agent_limits, image=image,
                        repo_in_image=None if base is not None else task.repo_dir, extra_env=extra_env)
    finally:
        if source is not None:
            source.revoke(access)
    (logs / "agent-output.txt").write_text(ran.output)
    for name, text in ran.files.items():
        (logs / name).write_text(text)
    summary = ran.summary if isinstance(ran.summary, dict) else {}
    solved = _Solved(
        patch=ran.files.get("patch.diff"), seconds=ran.duration_s,
        exit_code=None if ran.timed_out else ran.exit_code,
        prompt_tokens=_int(summary.get("prompt_tokens")), completion_tokens=_int(summary.get("completion_tokens")),
        status=str(summary["status"]) if summary.get("status") is not None else None,
    )
    if ran.timed_out:
        solved.patch, solved.outcome = None, Outcome.TIMEOUT
        solved.reason = f"the agent ran past its {options.agent_limits.seconds:g} s limit and was stopped"
    elif solved.patch is None:
        solved.outcome = Outcome.ERROR
        solved.reason = (f"the agent exited with status {ran.exit_code} and wrote no patch.diff: "
                         f"{last_line(ran.output) or 'no output'}")
    elif ran.exit_code != 0:
        solved.reason = f"the agent exited with status {ran.exit_code}"
    return solved


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


# -- grading -------------------------------------------------------------------------------------------------------


def _grade(task: Task, patch: str, options: EvalOptions, base: Path | None, logs: Path):  # noqa: ANN202
    """(outcome, reason, tests status, seconds, tampering, set aside) from a fresh sandbox (`evaluator.grader`)."""
    graded = grader.grade_patch(
        task, patch,
        lambda **kwargs: open_sandbox(task.image or options.image, options.limits, **kwargs),
        lambda sb, user: _place_repo(sb, task, base, user=user),
        tests_timeout=options.tests_timeout or task.test_timeout, logs=logs, base=base,
    )
    return graded
