"""The model endpoint on a sandbox's loopback: where it listens, and how it is started.

A sandbox that mounts the gateway's socket also gets a plain-HTTP
OpenAI endpoint at `LOOPBACK_BASE_URL` (`loopback_relay.py`, run as the
keeper's user). It adds no way out: it forwards only to that socket, which
the agent could reach anyway.
"""

from __future__ import annotations

from pathlib import Path

from sandbox.recipe import LLM_SOCKET_PATH

LOOPBACK_HOST = "127.0.0.1"
LOOPBACK_PORT = 41041  # far from the ports a repository's own tests tend to open (8000, 5000, 3000 ...)
LOOPBACK_BASE_URL = f"http://{LOOPBACK_HOST}:{LOOPBACK_PORT}/v1"

_SCRIPT = Path(__file__).with_name("loopback_relay.py")


def relay_argv() -> list[str]:
    """The command that starts the relay: the script's text on the command line, so that it needs
    nothing in the image but python3 (and no file the agent could edit)."""
    return ["python3", "-I", "-S", "-c", _SCRIPT.read_text(), LOOPBACK_HOST, str(LOOPBACK_PORT), LLM_SOCKET_PATH]
