"""Fixtures for the sandbox tests: real Docker, the real image, no mocks.

The image comes from the session fixture `sandbox_image` (tests/conftest.py),
which builds it offline when it is missing; debootstrap's result is cached
under ~/.clade (or $CLADE_HOME) so that only the first run on a machine
pays for it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.docker_sandbox import DockerSandbox
from sandbox.limits import SandboxLimits


@pytest.fixture
def sandbox(sandbox_image: str) -> Iterator[DockerSandbox]:
    """A fresh sandbox with default limits, removed after the test."""
    with DockerSandbox(sandbox_image, SandboxLimits(lifetime=300)) as sb:
        yield sb


@pytest.fixture
def docker_client(sandbox_image: str):  # noqa: ANN201 - docker.DockerClient
    from sandbox.client import get_client

    return get_client()
