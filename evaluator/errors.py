"""Errors the evaluator raises for input a user can fix.

They derive from `archive.errors.CladeError`, so the CLI prints the message
as one line (exit 2). Every message says what went wrong and what to do.

What an agent or a test run does wrong is *not* an error here: it is an
outcome (unresolved, error, timeout) with a reason, recorded like any other.
"""

from __future__ import annotations

from archive.errors import CladeError


class EvaluatorError(CladeError):
    """Base class of the evaluator's user-facing errors."""


class UnknownBenchmark(EvaluatorError):
    """A --benchmark value that names no benchmark Clade knows."""


class UnknownTask(EvaluatorError):
    """A task id or subset name the benchmark does not have."""


class BadTask(EvaluatorError):
    """A task's files are malformed (missing file, base commit mismatch, ...)."""


class DatasetUnavailable(EvaluatorError):
    """A dataset that cannot be read here (no network, missing file, bad columns)."""


class ImageUnavailable(EvaluatorError):
    """The Docker image a task runs in is not in the local engine."""


class AgentNotFound(EvaluatorError):
    """An --agent value that is neither a reference agent nor a node with code."""
