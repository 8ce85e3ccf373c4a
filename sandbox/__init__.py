"""Docker isolation for untrusted agent code: offline image build, hardened containers, clean-up.

The names other rooms use, importable from here (lazily, so that importing
`sandbox.limits` for a config does not pull in the Docker SDK):

* `open_sandbox()`: a started sandbox, typed as the `Sandbox` interface (the
  one way other rooms get one); `ExecResult` / `CopyReport`: what it answers;
  `DockerSandbox`: the implementation, for this room and its tests;
* `SandboxLimits`: the limits model a run config embeds;
* `runtime_image_tag()`: the image sandboxes run; `build_image()`: make it;
* `reap_orphans()`: remove containers of dead processes;
* `SandboxError` and its subclasses: errors whose message names the fix;
* `LLM_SOCKET_PATH`: where the gateway's socket appears inside.

This package imports nothing from the rest of Clade.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Sandbox": "sandbox.base",
    "ExecResult": "sandbox.base",
    "CopyReport": "sandbox.base",
    "DockerSandbox": "sandbox.docker_sandbox",
    "open_sandbox": "sandbox.factory",
    "LLM_SOCKET_PATH": "sandbox.recipe",
    "SandboxLimits": "sandbox.limits",
    "runtime_image_tag": "sandbox.recipe",
    "SandboxError": "sandbox.errors",
}
_RENAMED = {
    "build_image": ("sandbox.image", "build"),
    "reap_orphans": ("sandbox.reaper", "reap_orphans"),
}

__all__ = sorted([*_EXPORTS, *_RENAMED])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _RENAMED:
        module, attribute = _RENAMED[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
