"""Errors the sandbox raises that a user (or a calling room) can act on.

`sandbox/` imports nothing from the platform, so this base class does not
derive from `archive.errors.CladeError`; the CLI lists `SandboxError` among
its user errors on its own. Every message says what went wrong *and* what to
do about it, because the CLI prints it as one line and nothing else.
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base class for sandbox errors whose message names the fix."""


class DockerUnavailable(SandboxError):
    """The Docker daemon cannot be reached (down, wrong DOCKER_HOST, no permission)."""


class ImageMissing(SandboxError):
    """The sandbox image is not in the local Docker engine."""


class ImageBuildError(SandboxError):
    """Building the base or the runtime image failed."""


class SandboxClosed(SandboxError):
    """A method was called on a sandbox that has been closed."""


class SandboxExpired(SandboxError):
    """The sandbox outlived its wall-clock lifetime; its container is gone."""


class UnsafePath(SandboxError, ValueError):
    """A file name that would escape its destination (``..``, NUL, empty)."""


class SandboxFileNotFound(SandboxError, FileNotFoundError):
    """A file asked for does not exist in the sandbox.

    Also a `FileNotFoundError`, so callers can catch it the ordinary way.
    """


class NotARegularFile(SandboxError):
    """A read asked for a directory, symlink, device or FIFO instead of a file."""


class TransferTooLarge(SandboxError):
    """Copying files out of the sandbox exceeded the transfer cap."""


class TransferFailed(SandboxError):
    """tar inside the sandbox failed (disk full, permission denied, ...)."""


class SocketMountError(SandboxError):
    """The Unix socket asked to be mounted into the sandbox is not usable."""


class SparseFile(TransferTooLarge):
    """A file to copy out is sparse: far bigger than what it really holds.

    Its holes cost the sandbox nothing and the host their full size, so it
    is refused like a file over the cap (and is a `TransferTooLarge`).
    """
