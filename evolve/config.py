"""A run's configuration: one pydantic model, loaded from YAML, overridable
from the CLI (`--set budget.task_evaluations=50`) and the API (a JSON body)
alike. Unknown fields are errors, so a typo never silently falls back to a
default.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from archive.code_limits import CodeLimits
from archive.errors import CladeError
from evaluator.contract import AgentLimits
from evolve.policies import POLICIES, make_policy
from llm.config import BackendConfig
from sandbox.limits import SandboxLimits, format_size, parse_size

# Upper bounds of a run configuration. They hold wherever a configuration
# comes from (a YAML file, `--set`, a body posted to the API), so that no
# configuration can ask the host for more than a machine has: a run name
# that fills the database, a sandbox of a hundred terabytes, a timeout of
# 1e300 seconds. Sandbox bounds live with the limits (sandbox.limits).
DAY = 86_400.0
MAX_NAME_CHARS = 200  # a run's name, a backend's name, a task id
MAX_TASKS = 10_000  # benchmark.tasks, benchmark.held_out
MAX_BENCHMARK_CHARS = 4096  # benchmark.name (it may carry a path)
MAX_POLICY_PARAMS = 32
MAX_POLICY_NUMBER = 1e9  # |value| of one policy parameter
MAX_BACKENDS = 32

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
TaskId = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]


class ConfigError(CladeError):
    """A run configuration that does not validate; the message names each field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromptsConfig(_Strict):
    folder: Path | None = Field(None, description="a folder of prompt files overriding evolve/prompts/")


class PolicyConfig(_Strict):
    name: Literal["hgm", "dgm", "sica", "greedy", "random"] = "hgm"
    params: dict[str, Any] = Field(default_factory=dict, max_length=MAX_POLICY_PARAMS,
                                   description="e.g. {alpha: 0.6, cooldown: true} for hgm")

    @field_validator("params")
    @classmethod
    def _params_are_plain_values(cls, params: dict[str, Any]) -> dict[str, Any]:
        for key, value in params.items():
            shown = key if len(key) <= 40 else key[:40] + "..."
            if len(key) > 64:
                raise ValueError(f"parameter name {shown!r} is longer than 64 characters")
            if isinstance(value, bool) or value is None:
                continue
            if isinstance(value, (int, float)):
                if not math.isfinite(value) or abs(value) > MAX_POLICY_NUMBER:
                    raise ValueError(f"parameter {shown} = {value!r} must be a finite number between "
                                     f"-{MAX_POLICY_NUMBER:.0e} and {MAX_POLICY_NUMBER:.0e}")
                continue
            if isinstance(value, str) and len(value) <= MAX_NAME_CHARS:
                continue
            raise ValueError(f"parameter {shown} must be a number, true/false or a short string "
                             f"(at most {MAX_NAME_CHARS} characters), not {type(value).__name__}")
        return params

    @model_validator(mode="after")
    def _params_fit_the_policy(self) -> "PolicyConfig":
        try:
            make_policy(self.name, **self.params)
        except TypeError as exc:
            fields = ", ".join(f for f in POLICIES[self.name].__dataclass_fields__ if f != "name")
            raise ValueError(f"{exc}; parameters of {self.name}: {fields}") from None
        return self


class BenchmarkConfig(_Strict):
    name: str = Field("builtin", min_length=1, max_length=MAX_BENCHMARK_CHARS,
                      description="builtin, polyglot:PATH or swebench:FILE")
    subset: str = Field("small", min_length=1, max_length=MAX_NAME_CHARS)
    tasks: list[TaskId] | None = Field(None, max_length=MAX_TASKS,
                                       description="explicit task ids (override the subset)")
    held_out: list[TaskId] = Field(default_factory=list, max_length=MAX_TASKS,
                                   description="tasks kept back for the final confirmation")


class ModelsConfig(_Strict):
    """The models behind the gateway, and which one does what. Every call
    goes through the gateway, which holds the keys; roles name a backend."""

    backends: list[BackendConfig] = Field(default_factory=lambda: [BackendConfig()], min_length=1,
                                          max_length=MAX_BACKENDS)
    solve: Name = Field("local", description="backend agents use on tasks")
    self_improve: Name = Field("local", description="backend the parent agent uses on its own code")
    diagnosis: Name = Field("local", description="backend that turns a failure into a proposal")
    diagnosis_max_chars: int = Field(24_000, ge=2_000, le=1_000_000, description="prompt size of the diagnosis")
    diagnosis_max_tokens: int = Field(1536, gt=0, le=1_000_000, description="the longest diagnosis answer asked for")

    @model_validator(mode="after")
    def _roles_name_backends(self) -> "ModelsConfig":
        names = [b.name for b in self.backends]
        for role in ("solve", "self_improve", "diagnosis"):
            if getattr(self, role) not in names:
                raise ValueError(f"{role} names backend {getattr(self, role)!r}, but the backends are {names}")
        return self


class BudgetConfig(_Strict):
    task_evaluations: int = Field(100, gt=0, le=1_000_000)
    expansions: int | None = Field(None, gt=0, le=100_000, description="most children to attempt")
    wall_seconds: float | None = Field(None, gt=0, le=30 * DAY, description="at most 30 days")
    tokens: int | None = Field(None, gt=0, le=10**12)
    usd: float | None = Field(None, ge=0, le=1_000_000)


class TimeoutConfig(_Strict):
    agent_seconds: float = Field(AgentLimits.seconds, gt=0, le=DAY, description="an agent on one task")
    tests_seconds: float = Field(120, gt=0, le=DAY, description="a task's hidden tests")
    self_improve_seconds: float = Field(900, gt=0, le=DAY, description="the parent agent working on its own code")
    validation_seconds: float = Field(300, gt=0, le=DAY, description="a child's own tests")


class AgentConfig(_Strict):
    """The root's code, and the limits passed to every agent run
    (evaluator.contract.AgentLimits, whose defaults these are: CLADE_AGENT_*
    variables, which an evolved agent may ignore — the sandbox's wall clock
    still bounds it)."""

    seed: Literal["clade", "mini-swe-agent"] = Field(
        "clade", description="the root node's code: Clade's own agent, or mini-swe-agent's source behind the contract "
                             "(its nodes run in the agents image: evaluator/agents_image.py)")
    max_steps: int = Field(AgentLimits.max_steps, gt=0, le=10_000)
    max_tokens: int = Field(AgentLimits.max_tokens, gt=0, le=100_000_000)
    max_answer_tokens: int = Field(AgentLimits.max_answer_tokens, gt=0, le=1_000_000,
                                   description="the longest answer asked of the model per turn")

    def limits(self, seconds: float) -> AgentLimits:
        """The contract's limits for one agent run of `seconds` wall clock."""
        return AgentLimits(self.max_steps, self.max_tokens, seconds, self.max_answer_tokens)


class FinalConfig(_Strict):
    quantile: float = Field(0.05, gt=0, lt=1, description="lower posterior quantile used to rank agents")
    min_evaluations: int = Field(5, ge=1, le=1_000_000)
    confirm_top: int = Field(0, ge=0, le=1_000, description="re-evaluate this many candidates on held-out tasks")


class RayConfig(_Strict):
    """Where the `ray` executor sends work units (see evolve.ray_executor)."""

    address: str | None = Field(
        None, max_length=500,
        description="the cluster: HOST:PORT of its head, 'auto' (the cluster this machine belongs to), or "
        "'local' (a private one-machine Ray); None: RAY_ADDRESS, else 'auto'")
    gateway_host: str | None = Field(
        None, max_length=255, description="the address workers reach this machine at, for the LLM gateway's bridge; "
        "None: this machine's address in the Ray cluster")
    gateway_port: int = Field(0, ge=0, le=65535, description="the bridge's TCP port (0: any free port)")
    task_cpus: float = Field(1.0, ge=0, le=1024, description="CPUs a unit reserves on its Ray node (one unit per CPU)")
    resources: dict[Name, Annotated[float, Field(ge=0, le=1_000_000)]] = Field(
        default_factory=dict, max_length=32, description="custom Ray resources a unit needs, e.g. {clade: 1}")
    max_retries: int = Field(3, ge=0, le=100, description="times a unit whose worker or node died is run again")


class RunConfig(_Strict):
    name: Name = "run"
    seed: int = Field(0, ge=0, le=2**63 - 1)
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

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_finite(cls, data: Any) -> Any:
        """NaN and Infinity (which Python's JSON reader accepts) are no
        setting of anything; refused wherever they are, with their path."""
        stack: list[tuple[str, Any]] = [("", data)]
        while stack:
            path, value = stack.pop()
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{path or 'the configuration'}: {value!r} is not a finite number")
            if isinstance(value, dict):
                stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
            elif isinstance(value, (list, tuple)):
                stack.extend((f"{path}.{i}" if path else str(i), v) for i, v in enumerate(value))
        return data


_BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "too_long", "too_short",
           "string_too_long", "string_too_short"}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def allowed_range(loc: tuple[Any, ...] | list[Any], model: type[BaseModel] | None = None) -> str | None:
    """`at least 1 and at most 256` for the field at `loc` (None when it has no bounds):
    what a bound's error message adds, so that it says the whole allowed range."""
    cls: type[BaseModel] | None = model or RunConfig
    field = None
    for part in loc:
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            continue
        if cls is None or part not in cls.model_fields:
            return None
        field = cls.model_fields[part]
        cls = _model_in(field.annotation)
    if field is None or (loc and (isinstance(loc[-1], int) or str(loc[-1]).isdigit())):
        return None  # no field, or one item of a list (the list's own bounds are not the item's)
    size = any(getattr(m, "func", None) is parse_size for m in field.metadata)

    def shown(n: float) -> str:
        if size and n:
            return f"{format_size(int(n))} ({int(n)} bytes)"
        return f"{n:g}" if isinstance(n, float) else str(n)

    unit = "characters" if str in (field.annotation, *getattr(field.annotation, "__args__", ())) else "items"
    lower, upper = [], []
    for m in field.metadata:
        if isinstance(m, annotated_types.Gt):
            lower.append(f"more than {shown(m.gt)}")
        elif isinstance(m, annotated_types.Ge):
            lower.append(f"at least {shown(m.ge)}")
        elif isinstance(m, annotated_types.MinLen) and m.min_length:
            lower.append(f"at least {m.min_length}")
        elif isinstance(m, annotated_types.Lt):
            upper.append(f"less than {shown(m.lt)}")
        elif isinstance(m, annotated_types.Le):
            upper.append(f"at most {shown(m.le)}")
        elif isinstance(m, annotated_types.MaxLen):
            upper.append(f"at most {m.max_length} {unit}")
    if lower and not upper and any(isinstance(m, annotated_types.MinLen) for m in field.metadata):
        lower[-1] += f" {unit}"
    parts = lower + upper
    return " and ".join(parts) or None


def error_message(error: dict[str, Any], model: type[BaseModel] | None = None) -> str:
    """A validation error's message, with the field's allowed range when a bound was crossed."""
    message = str(error.get("msg", ""))
    if error.get("type") in _BOUNDS:
        allowed = allowed_range(tuple(error.get("loc", ())), model)
        if allowed:
            message = f"{message} (allowed: {allowed})"
    return message


def describe_errors(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {error_message(e)}"  # type: ignore[arg-type]
                     for e in error.errors())


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
