"""Finished work, written down before it is recorded.

Recording a result takes several writes (the code store, then the node's
row; the logs, then the evaluation's row and its spend). A driver killed
between them would leave the row pending, and resume would pay for the
same expansion or evaluation again. So the driver first writes the whole
result beside its logs (`result.json`, in the run's own folder, which no
agent can reach); resume records a pending row from its journal when there
is one, and runs it again only when there is none.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from archive.models import Outcome
from evolve.units import EvaluateResult, ExpandResult

FILE = "result.json"


def write(folder: Path, result: ExpandResult | EvaluateResult) -> None:
    """Write atomically (a temporary file renamed), so a kill leaves the old journal or the new one."""
    data: dict[str, Any] = dataclasses.asdict(result)
    data.pop("logs")  # written beside it already
    if isinstance(result, EvaluateResult):
        data["outcome"] = result.outcome.value
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{FILE}.partial"
    partial.write_text(json.dumps(data))
    os.replace(partial, folder / FILE)


def read_expansion(folder: Path) -> ExpandResult | None:
    try:
        return ExpandResult(**json.loads((folder / FILE).read_text()), logs=_logs(folder))
    except (OSError, ValueError, TypeError):  # none, or unreadable: the work runs again
        return None


def read_evaluation(folder: Path) -> EvaluateResult | None:
    try:
        data = json.loads((folder / FILE).read_text())
        return EvaluateResult(**{**data, "outcome": Outcome(data["outcome"])}, logs=_logs(folder))
    except (OSError, ValueError, TypeError):
        return None


def _logs(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace") for p in folder.iterdir()
            if p.is_file() and p.name != FILE and not p.name.startswith(".")}
