"""Resource limits of one sandbox, as a pydantic model the run config embeds.

Sizes accept Docker's notation (``"512m"``, ``"2g"``, plain bytes) so that
what a user writes in a run config means what it means to `docker run`:
the units are binary (``1k == 1024``). They are stored as integers of bytes.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1024**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")


def parse_size(value: int | float | str) -> int:
    """Turn ``"512m"`` / ``"2g"`` / ``1048576`` into bytes (binary units, like Docker)."""
    if isinstance(value, bool):
        raise ValueError("a size must be a number of bytes or a string like '512m'")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"size {value!r} is negative")
        return int(value)
    if not isinstance(value, str):
        raise ValueError(f"size {value!r} must be a number of bytes or a string like '512m'")
    match = _SIZE.match(value.lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"size {value!r} is not understood; write it like 512m, 2g or 1048576")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def format_size(n: int) -> str:
    """Inverse of `parse_size` for messages and tmpfs options (exact when possible)."""
    for unit in ("g", "m", "k"):
        if n and n % _UNITS[unit] == 0:
            return f"{n // _UNITS[unit]}{unit}"
    return str(n)


Size = Annotated[int, BeforeValidator(parse_size), Field(gt=0)]


class SandboxLimits(BaseModel):
    """Everything that bounds what code in one sandbox can consume.

    Defaults fit one agent run or one test suite on a small machine; the run
    config overrides them per benchmark. The tmpfs sizes are also charged to
    the memory limit (tmpfs pages are memory), so ``memory`` bounds the sum.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    memory: Size = Field(2 * 1024**3, le=64 * 1024**3, description="RAM and swap together, e.g. '2g'.")
    cpus: float = Field(1.0, gt=0, le=64, description="CPU cores (fractional allowed).")
    pids: int = Field(512, ge=16, le=65536, description="Processes and threads at once.")
    nofile: int = Field(1024, ge=64, le=1024**2, description="Open files per process.")
    workspace_size: Size = Field(1024**3, le=64 * 1024**3, description="Writable /workspace (tmpfs).")
    tmp_size: Size = Field(512 * 1024**2, le=64 * 1024**3, description="Writable /tmp (tmpfs).")
    home_size: Size = Field(128 * 1024**2, le=64 * 1024**3, description="Writable home of the sandbox user (tmpfs).")
    shm_size: Size = Field(64 * 1024**2, le=64 * 1024**3, description="/dev/shm.")
    exec_timeout: float = Field(600.0, gt=0, le=86400, description="Default wall-clock seconds per exec.")
    lifetime: float = Field(3600.0, gt=0, le=86400, description="Wall-clock seconds the sandbox may live.")
    max_output_bytes: int = Field(1024**2, ge=1024, le=64 * 1024**2, description="Output kept per exec (head and tail).")
    max_transfer_bytes: Size = Field(512 * 1024**2, le=16 * 1024**3, description="Largest tar stream copied out.")
    transfer_timeout: float = Field(300.0, gt=0, le=86400, description="Wall-clock seconds per file copy.")
