"""A run configuration posted to the API: it chooses among what the server
offers, it never names the server's secrets or resources.

The body of `POST /api/runs` is a `PostedRunConfig`: the fields and bounds
of `evolve.config.RunConfig` (shared with YAML files and the CLI), except

- `models.backends` lists backend *names* from the server's registry
  (api/backends.py), or is left out: the server then stores the backends
  the roles name. A backend's key variable, URL, headers or litellm
  arguments cannot be posted: they are the operator's (`clade serve
  --backends FILE`). The roles (`solve`, `self_improve`, `diagnosis`) name
  registry backends; one left out is the registry's first.
- `prompts.folder` (a folder on the server) is refused;
- `ray.address` and `ray.gateway_host` are refused: the cluster is the
  server's (RAY_ADDRESS of its environment), not a client's to point
  elsewhere;
- a benchmark path (`polyglot:PATH`, `swebench:FILE`) must be absolute and
  lie inside CLADE_HOME or a folder of `clade serve --allow-dir`; a
  SWE-bench dataset name (`swebench:lite`, `swebench:ORG/NAME`) is allowed.

`resolve_posted` turns it into the `RunConfig` that is stored, or raises
`PostedConfigError` listing every refused field; nothing is written before.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator

from api.backends import BackendRegistry
from archive.errors import CladeError
from evolve.config import (MAX_BACKENDS, MAX_NAME_CHARS, ModelsConfig, Name, PromptsConfig, RayConfig, RunConfig,
                           error_message)

SERVER_SIDE = "`clade serve --backends FILE` on the server"
BENCHMARK_FILES = (".json", ".jsonl", ".parquet")
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


class PostedConfigError(CladeError):
    """Fields of a posted configuration the server refuses (HTTP 422); each error is (loc, message)."""

    def __init__(self, errors: list[tuple[tuple[str, ...], str]]) -> None:
        super().__init__("; ".join(f"{'.'.join(loc)}: {message}" for loc, message in errors))
        self.errors = errors


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _name_only(value: Any) -> Any:
    """A backend posted as its name (or `{name: NAME}`); anything more is refused with what to do."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"name"}:
        return value["name"]
    if isinstance(value, dict):
        extra = sorted(str(k) for k in value if k != "name")
        shown = ", ".join(_shorten(k) for k in extra[:6]) + (", ..." if len(extra) > 6 else "")
        what = f"its {shown} {'is' if len(extra) == 1 else 'are'}"
    else:
        what = "everything else about it is"
    raise ValueError(f"a run posted to the API names a backend only by its name (\"backends\": [\"local\"]), or "
                     f"leaves backends out to use the server's; {what} set by whoever runs the server "
                     f"({SERVER_SIDE})")


BackendName = Annotated[str, BeforeValidator(_name_only), Field(min_length=1, max_length=MAX_NAME_CHARS)]


class PostedModelsConfig(ModelsConfig):
    """`models` of a posted run: backends by name, from the server's registry."""

    backends: list[BackendName] | None = Field(  # type: ignore[assignment]
        None, min_length=1, max_length=MAX_BACKENDS,
        description="names of backends this server offers (its registry); leave out to use the ones the roles name")
    solve: Name | None = Field(  # type: ignore[assignment]
        None, description="backend agents use on tasks (default: the server's first)")
    self_improve: Name | None = Field(  # type: ignore[assignment]
        None, description="backend the parent agent uses on its own code (default: the server's first)")
    diagnosis: Name | None = Field(  # type: ignore[assignment]
        None, description="backend that turns a failure into a proposal (default: the server's first)")

    @model_validator(mode="after")
    def _roles_name_backends(self) -> "PostedModelsConfig":  # replaces ModelsConfig's: checked against the registry
        return self


class PostedPromptsConfig(PromptsConfig):
    @field_validator("folder", mode="before")
    @classmethod
    def _no_server_folder(cls, folder: Any) -> Any:
        if folder is not None:
            raise ValueError("prompts.folder names a folder on the server, which a run posted to the API may not "
                             "read: leave it out (the built-in prompts are used), or start the run on the server "
                             "with `clade run start FILE`")
        return folder


class PostedRayConfig(RayConfig):
    @field_validator("address", "gateway_host", mode="before")
    @classmethod
    def _the_servers_cluster(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError("the Ray cluster (and the address its workers reach the gateway at) is the server's "
                             "choice (RAY_ADDRESS in its environment): leave ray.address and ray.gateway_host out")
        return value


class PostedRunConfig(RunConfig):
    """A run configuration as `POST /api/runs` takes it (see api/posted.py)."""

    models: PostedModelsConfig = Field(default_factory=PostedModelsConfig)  # type: ignore[assignment]
    prompts: PostedPromptsConfig = Field(default_factory=PostedPromptsConfig)  # type: ignore[assignment]
    ray: PostedRayConfig = Field(default_factory=PostedRayConfig)  # type: ignore[assignment]


def _inside(path: Path, roots: list[Path]) -> bool:
    try:
        resolved = path.expanduser().resolve()
    except (OSError, ValueError, RuntimeError):
        return False
    return any(resolved == root or resolved.is_relative_to(root) for root in roots)


def benchmark_path_error(name: str, roots: list[Path]) -> str | None:
    """Why the server may not read what `benchmark.name` names (None: it may).

    The loaders read `polyglot:PATH` as a folder and `swebench:ARG` as a file
    whenever something is there (after `~` expansion, relative to the
    server's working folder): a posted path must be absolute and inside an
    allowed folder, after resolving `..` and symbolic links."""
    kind, _, arg = name.partition(":")
    if kind.strip().lower() not in {"polyglot", "swebench"} or not arg:
        return None  # builtin, or a name the loader refuses by itself
    shown = ", ".join(str(r) for r in roots)
    allow = "start `clade serve --allow-dir DIR` to allow another folder"
    if arg != arg.strip() or "\x00" in arg:
        return f"benchmark {_shorten(name, 200)!r}: write the path without spaces around it or NUL characters"
    if kind.strip().lower() == "swebench" and DATASET_NAME.match(arg) and Path(arg).suffix not in BENCHMARK_FILES:
        # a dataset name (lite, SWE-bench/SWE-bench_Lite): read from the hub unless a path by that name exists
        try:
            local = Path.cwd() / arg
            present = local.exists()
        except (OSError, ValueError):
            return f"benchmark {_shorten(name, 200)!r} is neither a dataset name nor a path this server may read"
        if not present or _inside(local, roots):
            return None
        return (f"benchmark {_shorten(name, 200)!r} names {local}, outside the folders this server may read ({shown}); "
                f"{allow}")
    if not Path(arg).is_absolute():
        return (f"benchmark {_shorten(name, 200)!r}: a benchmark path posted to the API must be absolute (no ~, no "
                f"relative path) and lie inside the folders this server may read ({shown})")
    if not _inside(Path(arg), roots):
        return (f"benchmark {_shorten(name, 200)!r} names a path outside the folders this server may read ({shown}); "
                f"{allow}")
    return None


def resolve_posted(posted: PostedRunConfig, registry: BackendRegistry, roots: list[Path]) -> RunConfig:
    """The RunConfig to store for a posted one: registry backends filled in,
    paths checked. Raises PostedConfigError naming every refused field."""
    errors: list[tuple[tuple[str, ...], str]] = []
    offered = registry.names
    models = posted.models
    listed = models.backends
    if listed is not None:
        seen: set[str] = set()
        for i, name in enumerate(listed):
            if name not in registry:
                errors.append((("models", "backends", str(i)),
                               f"backend {_shorten(name)!r} is not one this server offers: name one of {offered} "
                               f"(or leave backends out); other backends are added by whoever runs the server "
                               f"({SERVER_SIDE})"))
            elif name in seen:
                errors.append((("models", "backends", str(i)), f"backend {name!r} is listed twice"))
            seen.add(name)
    roles: dict[str, str] = {}
    for role in ("solve", "self_improve", "diagnosis"):
        name = getattr(models, role) or registry.default_name
        roles[role] = name
        if name not in registry:
            errors.append((("models", role), f"{role} names backend {_shorten(name)!r}, which this server does not "
                                             f"offer: name one of {offered}"))
        elif listed is not None and name not in listed:
            errors.append((("models", role), f"{role} names backend {name!r}, but models.backends lists only "
                                             f"{listed}: add it there, or leave backends out"))
    problem = benchmark_path_error(posted.benchmark.name, roots)
    if problem:
        errors.append((("benchmark", "name"), problem))
    if errors:
        raise PostedConfigError(errors)

    chosen = list(dict.fromkeys(listed)) if listed is not None else [n for n in offered if n in roles.values()]
    data = posted.model_dump(mode="json")
    data["models"] = {**models.model_dump(mode="json", exclude={"backends", *roles}), **roles,
                      "backends": [registry[name].model_dump(mode="json") for name in chosen]}
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:  # not expected: the posted model has RunConfig's rules
        raise PostedConfigError([(tuple(str(p) for p in e["loc"]), error_message(e))  # type: ignore[arg-type]
                                 for e in error.errors()]) from None


def as_posted(config: RunConfig) -> dict[str, Any]:
    """A RunConfig (from a YAML file) as a body for `POST /api/runs`: its
    backends by name (the server must offer them: `clade serve --backends`)."""
    body = config.model_dump(mode="json")
    body["models"]["backends"] = [backend.name for backend in config.models.backends]
    if config.prompts.folder is None:
        del body["prompts"]
    if config.ray.address is None and config.ray.gateway_host is None:
        del body["ray"]["address"], body["ray"]["gateway_host"]
    return body
