"""Where Clade keeps its state: the CLADE_HOME folder.

Everything a run leaves behind — the SQLite archive, one git code store per
run, evaluation logs — lives under one folder so that a user can back it up,
move it, or point a test at a throw-away one with a single variable.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from archive.errors import HomeNotWritable

HOME_ENV = "CLADE_HOME"
DATABASE_URL_ENV = "CLADE_DATABASE_URL"


class CladeHome:
    """Paths inside CLADE_HOME; creating it is explicit (`ensure_writable`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def from_env(cls) -> "CladeHome":
        raw = os.environ.get(HOME_ENV) or str(Path.home() / ".clade")
        return cls(Path(raw).expanduser().absolute())

    @property
    def database_url(self) -> str:
        return os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{self.root / 'clade.db'}"

    def run_dir(self, run_id: int) -> Path:
        return self.root / "runs" / str(run_id)

    def code_store_path(self, run_id: int) -> Path:
        return self.run_dir(run_id) / "code.git"

    def logs_dir(self, run_id: int) -> Path:
        return self.run_dir(run_id) / "logs"

    def ensure_writable(self) -> None:
        """Create the folder if needed and prove that a file can be written there.

        `os.access` is no proof (root passes it on read-only mounts), so a
        throw-away file is created and removed.
        """
        fix = f"set {HOME_ENV} to a folder you can write, or fix the permissions of {self.root}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".write-test-"):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise HomeNotWritable(f"{HOME_ENV}={self.root} is not writable ({reason}): {fix}") from None
