"""The model backends a server offers: the only ones a run posted to the API
may use, and only by name.

A backend's key (the name of an environment variable of the server), its
URL and its litellm arguments are the server operator's, never a client's:
a run config that could name them could send any of the server's
environment variables to any URL. So whoever runs `clade serve` lists the
backends once, in a YAML file,

    # backends.yaml  (clade serve --backends backends.yaml)
    backends:
      - name: local                       # what run configs name
        model: hosted_vllm/smollm2-135m-instruct
        api_base: http://127.0.0.1:8000/v1
      - name: claude
        model: anthropic/claude-sonnet-4-5
        api_base: null
        api_key_env: ANTHROPIC_API_KEY    # the server's environment holds the key

(each entry is an `llm.config.BackendConfig`; a bare list works too), and
a posted run chooses among them by name. Without a file the server offers
the one default backend, `local` (the model `clade llm serve` serves). The
first backend is the default of every role a posted config leaves out.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml
from pydantic import ValidationError

from archive.errors import CladeError
from evolve.config import MAX_BACKENDS, describe_errors
from llm.config import BackendConfig


class BackendRegistryError(CladeError):
    """A backends file that cannot be read or does not validate."""


class BackendRegistry:
    """Backends by name, in the order the operator listed them."""

    def __init__(self, backends: Iterable[BackendConfig]) -> None:
        listed = list(backends)
        if not listed:
            raise BackendRegistryError("a server needs at least one backend")
        if len(listed) > MAX_BACKENDS:
            raise BackendRegistryError(f"a server offers at most {MAX_BACKENDS} backends, not {len(listed)}")
        self._by_name: dict[str, BackendConfig] = {}
        for backend in listed:
            if backend.name in self._by_name:
                raise BackendRegistryError(f"backend {backend.name!r} is listed twice: give each a name of its own")
            self._by_name[backend.name] = backend

    @classmethod
    def default(cls) -> "BackendRegistry":
        return cls([BackendConfig()])

    @property
    def names(self) -> list[str]:
        return list(self._by_name)

    @property
    def default_name(self) -> str:
        return next(iter(self._by_name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._by_name

    def __getitem__(self, name: str) -> BackendConfig:
        return self._by_name[name]

    def __len__(self) -> int:
        return len(self._by_name)


def load_backends(path: Path) -> BackendRegistry:
    """The registry in a YAML file: `backends: [BackendConfig, ...]`, or the list alone."""
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise BackendRegistryError(f"cannot read the backends file {path} ({exc.strerror}): give the path of a "
                                   "YAML file listing the backends this server offers") from None
    except yaml.YAMLError as exc:
        raise BackendRegistryError(f"{path} is not valid YAML ({str(exc).splitlines()[0]}): fix the file") from None
    if isinstance(loaded, dict) and set(loaded) == {"backends"}:
        loaded = loaded["backends"]
    if not isinstance(loaded, list):
        raise BackendRegistryError(f"{path} must hold `backends:` followed by a list of backends (name, model, "
                                   "api_base, api_key_env, ...), or that list alone")
    backends = []
    for i, entry in enumerate(loaded):
        try:
            backends.append(BackendConfig.model_validate(entry))
        except ValidationError as error:
            raise BackendRegistryError(f"{path}: backend {i} is not valid: {describe_errors(error)}") from None
    return BackendRegistry(backends)
