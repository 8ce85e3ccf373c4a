"""Errors of the LLM room that a user can act on; each message says what to do.

They subclass the archive's `CladeError`, so the CLI prints them as one line
with exit status 2.
"""

from __future__ import annotations

from archive.errors import CladeError


class LLMError(CladeError):
    """Base class of the LLM room's user-facing errors."""


class GatewayConfigError(LLMError):
    """The gateway cannot start with this configuration (socket path, backend...)."""


class GatewayUnreachable(LLMError):
    """A client (e.g. `clade llm chat`) cannot reach the gateway."""


class ModelServerError(LLMError):
    """The local model server (vLLM or llama.cpp) cannot be installed, started or reached."""


class ModelConversionError(LLMError):
    """The embedded GGUF model could not be turned into a Hugging Face folder."""
