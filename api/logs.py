"""Reading log files without letting a request choose a path.

A log folder is never taken from a request: it is the evaluation's
`log_path` from the archive (accepted only if it lies inside the run's own
logs folder, `CLADE_HOME/runs/RUN/logs`), or a node's folder built from
its integer id. A file name from a request is only ever *looked up* in a
listing of that folder's regular files (no symbolic links, no
sub-folders), so no spelling of `..` or `/` can reach anything else.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from archive import Archive
from archive.errors import NotFound
from archive.models import Evaluation

NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
MAX_LOG_BYTES = 5 * 1024 * 1024
# The order in which a page shows the files it knows.
KNOWN_ORDER = [
    "trajectory.jsonl", "patch.diff", "test_output.txt", "agent_output.txt", "summary.json",
    "diagnosis_prompt.json", "diagnosis_answers.json", "proposal.json", "validation.log",
    "self_improve_output.txt", "self_improve_patch.diff",
    "self_improve_trajectory.jsonl", "self_improve_summary.json",
]


def evaluation_log_dir(archive: Archive, evaluation: Evaluation) -> Path | None:
    """The evaluation's own log folder, if the archive names one inside its run's logs."""
    if not evaluation.log_path:
        return None
    root = archive.home.logs_dir(evaluation.run_id).resolve()
    folder = Path(evaluation.log_path).resolve()
    if folder == root or not folder.is_relative_to(root) or not folder.is_dir():
        return None
    return folder


def node_log_dir(archive: Archive, run_id: int, node_id: int) -> Path | None:
    root = archive.home.logs_dir(run_id).resolve()
    folder = (root / f"node-{int(node_id)}").resolve()
    return folder if folder.is_relative_to(root) and folder.is_dir() else None


def list_logs(folder: Path | None) -> dict[str, int]:
    """Regular files directly in `folder` (name -> size), known names first."""
    if folder is None:
        return {}
    found: dict[str, int] = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if NAME.match(entry.name) and entry.is_file(follow_symlinks=False):
                    found[entry.name] = entry.stat(follow_symlinks=False).st_size
    except OSError:
        return {}
    rank = {name: i for i, name in enumerate(KNOWN_ORDER)}
    return dict(sorted(found.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def read_log(folder: Path | None, name: str, max_bytes: int = MAX_LOG_BYTES) -> tuple[str, bool]:
    """The file's text (its last `max_bytes` if longer) and whether it was cut."""
    listing = list_logs(folder)
    if folder is None or name not in listing:
        available = ", ".join(listing) or "none"
        raise NotFound(f"no log file {name!r} here; available: {available}")
    fd = os.open(folder / name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise NotFound(f"{name} is not a regular file")
        size = os.fstat(handle.fileno()).st_size
        truncated = size > max_bytes
        if truncated:
            handle.seek(size - max_bytes)
        data = handle.read(max_bytes)
    return data.decode("utf-8", "replace"), truncated
