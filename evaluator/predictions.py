"""Precomputed patches in SWE-bench's predictions format (`clade eval --predictions`).

A `.jsonl` file holds one JSON object per line::

    {"instance_id": "calc__floor-division", "model_name_or_path": "my-model", "model_patch": "diff --git ..."}

A `.json` file holds a list of such objects, or an object keyed by
instance_id (SWE-agent's `preds.json`), as swebench's harness accepts.
`model_patch` null (or "") is an empty patch; `model_name_or_path` is the
agent name in reports (the first one when several are given; the file's
name when none is).

    agent_name, patches = load_predictions("preds.jsonl")
    tasks = predicted_tasks(open_benchmark("builtin"), read_predictions("preds.jsonl"))
    agent = patch_agent(agent_name, patches)

Every problem with the file is a `BadPredictions` (a one-line message that
names the line or entry and what is wrong); a predicted instance that the
benchmark does not have is an `UnknownTask` naming it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluator.errors import EvaluatorError, UnknownTask

if TYPE_CHECKING:
    from evaluator.benchmarks import Benchmark
    from evaluator.task import Task

__all__ = ["BadPredictions", "Predictions", "load_predictions", "predicted_tasks", "read_predictions"]

KEY_INSTANCE_ID = "instance_id"
KEY_MODEL = "model_name_or_path"
KEY_PREDICTION = "model_patch"
FORMAT_HINT = ("one JSON object per line with instance_id, model_name_or_path and model_patch "
               "(SWE-bench's predictions format)")

Note = Callable[[str], None]


class BadPredictions(EvaluatorError):
    """A predictions file that cannot be read or is not in SWE-bench's format."""


@dataclass
class Predictions:
    """What a predictions file holds: the agent name, a patch per instance, and where each came from."""

    path: Path
    agent: str
    patches: dict[str, str] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)  # instance_id -> "line 3" / "item 2" / "entry 'id'"
    notes: list[str] = field(default_factory=list)       # things a user should be told (several model names, ...)


def load_predictions(path: str | Path, *, on_note: Note | None = None) -> tuple[str, dict[str, str]]:
    """(agent name, {instance_id: patch}) from a predictions file; `on_note` hears remarks such as
    "several model names: using the first"."""
    predictions = read_predictions(path)
    for note in predictions.notes:
        if on_note is not None:
            on_note(note)
    return predictions.agent, dict(predictions.patches)


def read_predictions(path: str | Path) -> Predictions:
    """Read and check a `.jsonl` or `.json` predictions file (see the module doc)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise BadPredictions(f"no predictions file at {path}: pass a .jsonl file with {FORMAT_HINT}")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json"):
        raise BadPredictions(f"{path}: a predictions file must be .jsonl ({FORMAT_HINT}) or .json "
                             "(a list of those objects, or an object keyed by instance_id)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BadPredictions(f"{path} is not UTF-8 text (byte {exc.start}): save it as UTF-8 JSON") from None
    except OSError as exc:
        raise BadPredictions(f"cannot read predictions file {path}: {exc.strerror or exc}") from None
    records = _jsonl_records(path, text) if suffix == ".jsonl" else _json_records(path, text)

    result = Predictions(path=path, agent="")
    names: list[str] = []
    for where, record, key in records:
        instance_id, name, patch = _check_record(path, where, record, key)
        if name is not None and name not in names:
            names.append(name)
        if instance_id in result.patches:
            if result.patches[instance_id] != patch:
                raise BadPredictions(
                    f"{path}, {where}: a second, different prediction for {instance_id} (the first is on "
                    f"{result.where[instance_id]}): keep one prediction per instance")
            continue
        result.patches[instance_id] = patch
        result.where[instance_id] = where
    if not result.patches:
        raise BadPredictions(f"{path} holds no predictions: write {FORMAT_HINT}")
    if names:
        result.agent = names[0]
        if len(names) > 1:
            shown = ", ".join(repr(n) for n in names[:4]) + (", ..." if len(names) > 4 else "")
            result.notes.append(f"{path.name} names {len(names)} models ({shown}): reporting all its "
                                f"predictions as {names[0]!r}")
    else:
        result.agent = path.stem
        result.notes.append(f"{path.name} gives no {KEY_MODEL}: reporting its predictions as {path.stem!r}")
    return result


def predicted_tasks(bench: Benchmark, predictions: Predictions, subset: str | None = None,
                    ids: list[str] | None = None, *, on_note: Note | None = None) -> list[Task]:
    """The benchmark's tasks to grade: the predicted instances (in the file's order), intersected with
    `subset` or, when given, `ids` (in their order; `ids` overrides `subset`, as in `clade eval`).

    Raises UnknownTask naming any predicted instance the benchmark does not have.
    """
    known = set(bench.subsets().get("full", []))
    unknown = [i for i in predictions.patches if i not in known]
    if unknown:
        shown = ", ".join(f"{i} ({predictions.where[i]})" for i in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise UnknownTask(
            f"{predictions.path.name} predicts {len(unknown)} instance(s) that benchmark {bench.name} does not "
            f"have: {shown}{more}; pick the benchmark they come from with --benchmark, or remove them "
            f"(ids: `clade eval --benchmark {bench.name} --list`)")
    note = on_note or (lambda _message: None)
    if ids:
        asked = list(dict.fromkeys(ids))
        tasks = bench.load(ids=asked)  # the benchmark's own message for an id it does not have
        missing = [i for i in asked if i not in predictions.patches]
        if len(missing) == len(asked):
            raise UnknownTask(f"{predictions.path.name} predicts none of the --tasks ids: drop --tasks to grade "
                              f"all {len(predictions.patches)} predictions, or name predicted instances")
        if missing:
            note(f"{predictions.path.name} has no prediction for {', '.join(missing)}: not graded")
        return [t for t in tasks if t.instance_id in predictions.patches]
    if subset:
        names = bench.subsets()
        if subset not in names:
            raise UnknownTask(f"benchmark {bench.name} has no subset {subset!r}; use one of {', '.join(names)}")
        members = set(names[subset])
        chosen = [i for i in predictions.patches if i in members]
        if len(chosen) < len(predictions.patches):
            note(f"{len(predictions.patches) - len(chosen)} of {len(predictions.patches)} predictions are not "
                 f"in subset {subset!r}: not graded")
        if not chosen:
            raise UnknownTask(f"none of the {len(predictions.patches)} predictions in {predictions.path.name} is in "
                              f"subset {subset!r}: drop --subset to grade them all")
        return bench.load(ids=chosen)
    return bench.load(ids=list(predictions.patches))


# -- reading -------------------------------------------------------------------------------------------------------


def _jsonl_records(path: Path, text: str) -> list[tuple[str, Any, str | None]]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"line {number}", json.loads(line), None))
        except json.JSONDecodeError as exc:
            hint = (" (a .jsonl file holds one object per line; a single JSON document is a .json file)"
                    if number == 1 and line.strip() in ("[", "{") else "")
            raise BadPredictions(f"{path}, line {number}: not valid JSON ({exc.msg} at column {exc.colno})"
                                 f"{hint}: write {FORMAT_HINT}") from None
    return records


def _json_records(path: Path, text: str) -> list[tuple[str, Any, str | None]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = ("; one object per line is a .jsonl file" if exc.msg == "Extra data" else "")
        raise BadPredictions(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}){hint}: "
                             "a .json predictions file holds a list of objects with instance_id, "
                             "model_name_or_path and model_patch, or an object keyed by instance_id") from None
    if isinstance(data, list):
        return [(f"item {n}", record, None) for n, record in enumerate(data, start=1)]
    if isinstance(data, dict):
        if KEY_PREDICTION in data or KEY_INSTANCE_ID in data:
            return [("item 1", data, None)]  # a single prediction, not keyed by instance id
        return [(f"entry {_short(key)}", record, key) for key, record in data.items()]
    raise BadPredictions(f"{path}: a .json predictions file holds a list or an object keyed by instance_id, "
                         f"not a {_kind(data)}")


def _check_record(path: Path, where: str, record: Any, key: str | None) -> tuple[str, str | None, str]:
    """(instance_id, model name or None, patch) of one record, or BadPredictions saying what is wrong."""
    at = f"{path}, {where}"
    if not isinstance(record, dict):
        raise BadPredictions(f"{at}: expected a JSON object with instance_id, model_name_or_path and "
                             f"model_patch, got a {_kind(record)}")
    instance_id = record.get(KEY_INSTANCE_ID, key)
    if instance_id is None:
        raise BadPredictions(f"{at}: no instance_id: every prediction names the task it solves")
    if not isinstance(instance_id, str) or not instance_id.strip():
        raise BadPredictions(f"{at}: instance_id must be a non-empty string, got {_short(instance_id)}")
    if key is not None and instance_id != key:
        raise BadPredictions(f"{at}: keyed {_short(key)} but its instance_id is {_short(instance_id)}: "
                             "make them agree")
    if KEY_PREDICTION not in record:
        raise BadPredictions(f"{at} ({instance_id}): no model_patch (use null or \"\" for an empty patch)")
    patch = record[KEY_PREDICTION]
    if patch is not None and not isinstance(patch, str):
        raise BadPredictions(f"{at} ({instance_id}): model_patch must be a diff as a string, or null, "
                             f"not a {_kind(patch)}")
    name = record.get(KEY_MODEL)
    if name is not None and not isinstance(name, str):
        raise BadPredictions(f"{at} ({instance_id}): model_name_or_path must be a string, not a {_kind(name)}")
    return instance_id, (name.strip() or None) if name is not None else None, patch or ""


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 60) -> str:
    shown = json.dumps(value) if not isinstance(value, str) else repr(value)
    shown = shown.replace("\n", "\\n")
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
