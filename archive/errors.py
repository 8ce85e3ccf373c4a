"""Errors the archive raises for bad input; each message names the fix.

The CLI and the API show these messages as they are (one line, exit 2 or an
HTTP 4xx), so every message must say what went wrong *and* what to do.
"""

from __future__ import annotations


class CladeError(Exception):
    """Base class for errors a user can act on."""


class NotFound(CladeError):
    """A run, node or evaluation id that the archive does not hold."""


class DatabaseError(CladeError):
    """The archive database cannot be opened, read or upgraded."""


class HomeNotWritable(CladeError):
    """CLADE_HOME cannot be created or written."""


class PatchDoesNotApply(CladeError):
    """A proposed patch does not apply to its parent's code."""


class CodeStoreError(CladeError):
    """The git code store is missing or inconsistent."""
