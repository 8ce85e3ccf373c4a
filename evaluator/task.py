"""The one task model every benchmark loads into, and the result of running it.

A `Task` is a SWE-bench instance (same field names, same meaning) plus what
Clade needs to run it in its own sandbox: where the repository comes from
(files on the host, or already inside an image) and where it lives in the
sandbox. The `eval_script`, `log_parser` and `eval_type` fields are the
ones swebench 5 reads to build a `TestSpec`, so a built-in task, a Polyglot
exercise and a SWE-bench instance are all graded by the same swebench call
(see `evaluator.grading`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from archive.models import Outcome

__all__ = ["Outcome", "Task", "TaskResult", "TestsStatus"]

# Where a task's repository lives inside the Clade sandbox image: /workspace
# is the sandbox user's writable folder.
SANDBOX_REPO_DIR = "/workspace/repo"


class Task(BaseModel):
    """One benchmark task, SWE-bench compatible."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    benchmark: str = Field(description="builtin, polyglot or swebench: which loader made it.")
    instance_id: str
    repo: str = Field(description="owner/name of the project the task comes from.")
    base_commit: str = Field(description="Commit the agent starts from and the patches apply to.")
    problem_statement: str
    test_patch: str = Field(description="Adds the hidden tests; applied only for grading.")
    patch: str = Field("", description="The reference (gold) solution, as a git diff.")
    FAIL_TO_PASS: list[str]
    PASS_TO_PASS: list[str] = Field(default_factory=list)
    version: str = "1"
    hints_text: str = ""
    created_at: str = ""

    # How the tests run: the fields swebench's make_test_spec reads.
    eval_script: str = Field(description="Bash script run in the repository after the model patch is applied.")
    log_parser: str = Field("parse_log_pytest", description="Name in swebench's PARSER_REGISTRY.")
    eval_type: str = Field("pass_and_fail", description="swebench EvalType value.")

    # Where the code comes from and where it lives in the sandbox.
    image: str | None = Field(None, description="Docker image to run in; None: Clade's sandbox image.")
    repo_dir: str = Field(SANDBOX_REPO_DIR, description="Repository path inside the sandbox.")
    source_dir: Path | None = Field(
        None, description="Host folder with the base files (None: the image already holds the repo at repo_dir)."
    )
    source_exclude: list[str] = Field(
        default_factory=list, description="Paths of source_dir (relative) left out of the repository."
    )
    test_timeout: float = Field(300.0, gt=0, description="Seconds the hidden tests may run.")
    test_cmd: str | None = Field(
        None, description="For tasks made from files: the test command eval_script was built from."
    )
    difficulty: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("FAIL_TO_PASS", "PASS_TO_PASS", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        """SWE-bench datasets store the test lists as JSON strings."""
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    @property
    def task_id(self) -> str:
        return self.instance_id

    def swebench_instance(self) -> dict[str, Any]:
        """The row swebench's `make_test_spec` expects."""
        return {
            "instance_id": self.instance_id,
            "repo": self.repo,
            "version": self.version,
            "base_commit": self.base_commit,
            "patch": self.patch,
            "test_patch": self.test_patch,
            "problem_statement": self.problem_statement,
            "FAIL_TO_PASS": list(self.FAIL_TO_PASS),
            "PASS_TO_PASS": list(self.PASS_TO_PASS),
            "image": self.image or "clade-sandbox",
            "eval_script": self.eval_script,
            "log_parser": self.log_parser,
            "eval_type": self.eval_type,
        }


class TestsStatus(BaseModel):
    """Which FAIL_TO_PASS and PASS_TO_PASS tests passed (swebench's tests_status)."""

    __test__ = False  # not a pytest class

    fail_to_pass_success: list[str] = Field(default_factory=list)
    fail_to_pass_failure: list[str] = Field(default_factory=list)
    pass_to_pass_success: list[str] = Field(default_factory=list)
    pass_to_pass_failure: list[str] = Field(default_factory=list)


class TaskResult(BaseModel):
    """What running one agent on one task came to.

    `outcome` is the archive's `Outcome`; `reason` says why in one line
    (always set, so a log reader never has to guess why a task failed).
    """

    task_id: str
    benchmark: str
    agent: str
    outcome: Outcome
    reason: str
    duration_s: float = 0.0
    agent_s: float = 0.0
    tests_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    patch_bytes: int = 0
    empty_patch: bool = False
    agent_status: str | None = Field(None, description="The agent's own summary.json status, if any.")
    agent_exit_code: int | None = None
    tests: TestsStatus | None = None
    tampering: dict[str, str] | None = Field(
        None, description="Outcome tampered: the evidence, {'rule': which check caught it, 'detail': what it saw}.")
    set_aside: list[str] = Field(
        default_factory=list, description="Files the patch changed that the task owns (test set-up): not used.")
    log_dir: str | None = None
    evaluation_id: int | None = None

    @property
    def resolved(self) -> bool:
        return self.outcome == Outcome.RESOLVED

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def context_overflow(self) -> bool:
        return self.agent_status == "context_overflow"

    def details(self) -> dict[str, Any]:
        """What the archive keeps in `Evaluation.details`: the material a later
        self-improvement step reads (empty patch, context overflow, tests)."""
        return {
            "benchmark": self.benchmark,
            "agent": self.agent,
            "empty_patch": self.empty_patch,
            "context_overflow": self.context_overflow,
            "agent_status": self.agent_status,
            "agent_exit_code": self.agent_exit_code,
            "patch_bytes": self.patch_bytes,
            "agent_s": round(self.agent_s, 3),
            "tests_s": round(self.tests_s, 3),
            "tests": self.tests.model_dump() if self.tests else None,
            "tampering": self.tampering,
            "set_aside": list(self.set_aside),
        }

    def as_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["outcome"] = self.outcome.value
        return data
