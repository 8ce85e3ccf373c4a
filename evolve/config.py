"""A run's configuration: one pydantic model, loaded from YAML, overridable
from the CLI (`--set budget.task_evaluations=50`) and the API (a JSON body)
alike. Unknown fields are errors, so a typo never silently falls back to a
default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from archive.code_limits import CodeLimits
from archive.errors import CladeError
from evaluator.contract import AgentLimits
from evolve.policies import POLICIES, make_policy
from llm.config import BackendConfig
from sandbox.limits import SandboxLimits

class ConfigError(CladeError):
    """A run configuration that does not validate; the message names each field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromptsConfig(_Strict):
    folder: Path | None = Field(None, description="a folder of prompt files overriding evolve/prompts/")


class PolicyConfig(_Strict):
    name: Literal["hgm", "dgm", "sica", "greedy", "random"] = "hgm"
    params: dict[str, Any] = Field(default_factory=dict, description="e.g. {alpha: 0.6, cooldown: true} for hgm")

    @model_validator(mode="after")
    def _params_fit_the_policy(self) -> "PolicyConfig":
        try:
            make_policy(self.name, **self.params)
        except TypeError as exc:
            fields = ", ".join(f for f in POLICIES[self.name].__dataclass_fields__ if f != "name")
            raise ValueError(f"{exc}; parameters of {self.name}: {fields}") from None
        return self


class BenchmarkConfig(_Strict):
    name: str = Field("builtin", description="builtin, polyglot:PATH or swebench:FILE")
    subset: str = "small"
    tasks: list[str] | None = Field(None, description="explicit task ids (override the subset)")
    held_out: list[str] = Field(default_factory=list, description="tasks kept back for the final confirmation")


class ModelsConfig(_Strict):
    """The models behind the gateway, and which one does what. Every call
    goes through the gateway, which holds the keys; roles name a backend."""

    backends: list[BackendConfig] = Field(default_factory=lambda: [BackendConfig()])
    solve: str = Field("local", description="backend agents use on tasks")
    self_improve: str = Field("local", description="backend the parent agent uses on its own code")
    diagnosis: str = Field("local", description="backend that turns a failure into a proposal")
    diagnosis_max_chars: int = Field(24_000, ge=2_000, description="prompt size of the diagnosis")
    diagnosis_max_tokens: int = Field(1536, gt=0, description="the longest diagnosis answer asked for")

    @model_validator(mode="after")
    def _roles_name_backends(self) -> "ModelsConfig":
        names = [b.name for b in self.backends]
        for role in ("solve", "self_improve", "diagnosis"):
            if getattr(self, role) not in names:
                raise ValueError(f"{role} names backend {getattr(self, role)!r}, but the backends are {names}")
        return self


class BudgetConfig(_Strict):
    task_evaluations: int = Field(100, gt=0)
    expansions: int | None = Field(None, gt=0, description="most children to attempt")
    wall_seconds: float | None = Field(None, gt=0)
    tokens: int | None = Field(None, gt=0)
    usd: float | None = Field(None, ge=0)


class TimeoutConfig(_Strict):
    agent_seconds: float = Field(AgentLimits.seconds, gt=0, description="an agent on one task")
    tests_seconds: float = Field(120, gt=0, description="a task's hidden tests")
    self_improve_seconds: float = Field(900, gt=0, description="the parent agent working on its own code")
    validation_seconds: float = Field(300, gt=0, description="a child's own tests")


class AgentConfig(_Strict):
    """Limits passed to every agent run (evaluator.contract.AgentLimits, whose
    defaults these are: CLADE_AGENT_* variables, which an evolved agent may
    ignore — the sandbox's wall clock still bounds it)."""

    max_steps: int = Field(AgentLimits.max_steps, gt=0)
    max_tokens: int = Field(AgentLimits.max_tokens, gt=0)
    max_answer_tokens: int = Field(AgentLimits.max_answer_tokens, gt=0,
                                   description="the longest answer asked of the model per turn")

    def limits(self, seconds: float) -> AgentLimits:
        """The contract's limits for one agent run of `seconds` wall clock."""
        return AgentLimits(self.max_steps, self.max_tokens, seconds, self.max_answer_tokens)


class FinalConfig(_Strict):
    quantile: float = Field(0.05, gt=0, lt=1, description="lower posterior quantile used to rank agents")
    min_evaluations: int = Field(5, ge=1)
    confirm_top: int = Field(0, ge=0, description="re-evaluate this many candidates on held-out tasks")


class RayConfig(_Strict):
    """Where the `ray` executor sends work units (see evolve.ray_executor)."""

    address: str | None = Field(
        None, description="the cluster: HOST:PORT of its head, 'auto' (the cluster this machine belongs to), or "
        "'local' (a private one-machine Ray); None: RAY_ADDRESS, else 'auto'")
    gateway_host: str | None = Field(
        None, description="the address workers reach this machine at, for the LLM gateway's bridge; "
        "None: this machine's address in the Ray cluster")
    gateway_port: int = Field(0, ge=0, le=65535, description="the bridge's TCP port (0: any free port)")
    task_cpus: float = Field(1.0, ge=0, description="CPUs a unit reserves on its Ray node (one unit per CPU)")
    resources: dict[str, float] = Field(default_factory=dict,
                                        description="custom Ray resources a unit needs, e.g. {clade: 1}")
    max_retries: int = Field(3, ge=0, description="times a unit whose worker or node died is run again")


class RunConfig(_Strict):
    name: str = "run"
    seed: int = 0
    workers: int = Field(2, ge=1, le=256)
    executor: Literal["local", "ray"] = Field(
        "local", description="local: a pool of threads on this machine; ray: Ray tasks on a cluster's nodes")
    ray: RayConfig = Field(default_factory=RayConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    timeouts: TimeoutConfig = Field(default_factory=TimeoutConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    sandbox: SandboxLimits = Field(default_factory=SandboxLimits)
    code: CodeLimits = Field(default_factory=CodeLimits, description="what a child's code may be (checked at the door)")
    final: FinalConfig = Field(default_factory=FinalConfig)
    prompts: PromptsConfig = Field(default_factory=PromptsConfig)


def describe_errors(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in error.errors())


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """`a.b.c=value` into nested dicts; the value is read as YAML (numbers, lists, true)."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r} is not KEY=VALUE: write e.g. --set budget.task_evaluations=50")
    key, raw = assignment.split("=", 1)
    *parents, leaf = key.strip().split(".")
    node = data
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {part} is not a section")
        node = child
    node[leaf] = yaml.safe_load(raw) if raw.strip() else ""


def validate_config(data: dict[str, Any], source: str = "the configuration") -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{source} is not valid: {describe_errors(error)}") from None


def load_config(path: Path | None, overrides: list[str] = ()) -> RunConfig:
    """Read YAML (or start from defaults when `path` is None), apply overrides, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read {path} ({exc.strerror}): give the path of a run config YAML file") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML ({str(exc).splitlines()[0]}): fix the file") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping of settings, not a {type(loaded).__name__}")
        data = loaded or {}
    for assignment in overrides:
        apply_override(data, assignment)
    return validate_config(data, str(path) if path else "the configuration")
