"""The papers' task lists, shipped as data (`evaluator/subsets/papers.json`).

HGM and DGM report Polyglot and SWE-bench Verified results on a "small"
list of 10 tasks and a "medium" list of 50 more; the lists are public facts
of their code (the JSON names its source and commit). They are subsets
named `dgm-small` and `dgm-medium` wherever a subset is chosen.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

PAPERS_FILE = Path(__file__).with_name("subsets") / "papers.json"


@cache
def _papers() -> dict:
    return json.loads(PAPERS_FILE.read_text())


def paper_subsets(benchmark: str) -> dict[str, list[str]]:
    """Subset name -> task ids, for `polyglot` or `swebench` (empty for others)."""
    return {name: list(ids) for name, ids in _papers().get(benchmark, {}).items()}


def source() -> str:
    return _papers()["source"]
