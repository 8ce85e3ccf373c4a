from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def buggy_repo(tmp_path: Path) -> Path:
    """A git repository with a planted bug: add() subtracts."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    return repo
