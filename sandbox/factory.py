"""The one way other rooms get a sandbox.

Callers type against `sandbox.base.Sandbox` and ask here for one, so that
whatever every sandbox must get (today: a hardened Docker container under
Clade's seccomp profile; another backend tomorrow) is decided in one place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from sandbox import cleanup
from sandbox.base import Sandbox
from sandbox.limits import SandboxLimits


def open_sandbox(
    image: str | None = None,
    limits: SandboxLimits | None = None,
    *,
    model_socket: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    workspace_owner: str = "sandbox",
) -> Sandbox:
    """A started sandbox (use it as a context manager so it is closed on every path).

    `image`: None for the current recipe's image. `model_socket`: the host
    socket of the LLM gateway, mounted at `LLM_SOCKET_PATH`; None gives no
    way out at all. `env`: the whole environment commands see besides PATH,
    HOME, USER and LANG. `workspace_owner`: "grader" for a grading sandbox,
    whose repository the code under test must not be able to write.
    """
    from sandbox.docker_sandbox import DockerSandbox  # the Docker SDK only when a sandbox is wanted

    return DockerSandbox(image, limits, llm_socket=model_socket, env=env, workspace_owner=workspace_owner)


# Sandboxes are owned by the process: on the main thread, which imports this
# module, install the handlers that close them on SIGTERM/SIGINT/SIGHUP and exit.
cleanup.install()
