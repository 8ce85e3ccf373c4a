"""Reading SWE-bench predictions files, and choosing the tasks they predict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluator import load_predictions, open_benchmark
from evaluator.errors import UnknownTask
from evaluator.predictions import BadPredictions, predicted_tasks, read_predictions

A, B = "calc__floor-division", "textkit__slug-max-length-separator"


def write_jsonl(path: Path, *records: object) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def pred(instance_id: str, patch: str | None = "diff\n", model: str | None = "m1") -> dict[str, object]:
    record: dict[str, object] = {"instance_id": instance_id, "model_patch": patch}
    if model is not None:
        record["model_name_or_path"] = model
    return record


def test_jsonl_null_patch_is_empty_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "preds.jsonl", pred(A, "diff --git a/x b/x\n"), "", "  ", pred(B, None))
    notes: list[str] = []
    name, patches = load_predictions(path, on_note=notes.append)
    assert name == "m1" and notes == []
    assert patches == {A: "diff --git a/x b/x\n", B: ""}
    assert read_predictions(path).where == {A: "line 1", B: "line 4"}


def test_json_list_and_dict_keyed_by_instance_id(tmp_path: Path) -> None:
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([pred(A, "p1"), pred(B, "p2")]))
    assert load_predictions(listed) == ("m1", {A: "p1", B: "p2"})
    keyed = tmp_path / "keyed.json"  # SWE-agent's preds.json; instance_id may be left out of the value
    keyed.write_text(json.dumps({A: pred(A, "p1"), B: {"model_name_or_path": "m1", "model_patch": "p2"}}))
    assert load_predictions(keyed) == ("m1", {A: "p1", B: "p2"})
    single = tmp_path / "one.json"
    single.write_text(json.dumps(pred(A, "p1")))
    assert load_predictions(single) == ("m1", {A: "p1"})


def test_several_model_names_use_the_first_and_say_so(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", pred(A, model="first"), pred(B, model="second"))
    notes: list[str] = []
    assert load_predictions(path, on_note=notes.append)[0] == "first"
    assert len(notes) == 1 and "2 models" in notes[0] and "'first'" in notes[0] and "'second'" in notes[0]


def test_no_model_name_uses_the_file_name(tmp_path: Path) -> None:
    notes: list[str] = []
    path = write_jsonl(tmp_path / "my-run.jsonl", pred(A, model=None))
    assert load_predictions(path, on_note=notes.append) == ("my-run", {A: "diff\n"})
    assert "model_name_or_path" in notes[0]


def test_identical_duplicates_are_one_and_conflicting_ones_an_error(tmp_path: Path) -> None:
    same = write_jsonl(tmp_path / "same.jsonl", pred(A, "p"), pred(A, "p"))
    assert load_predictions(same)[1] == {A: "p"}
    clash = write_jsonl(tmp_path / "clash.jsonl", pred(A, "p"), pred(B), pred(A, "q"))
    with pytest.raises(BadPredictions, match=r"line 3: a second, different prediction for calc__floor-division "
                                             r"\(the first is on line 1\)"):
        load_predictions(clash)


@pytest.mark.parametrize(("line", "needle"), [
    ('{"instance_id": "x", "model_patch": ', "line 2: not valid JSON"),
    ('["instance_id"]', "line 2: expected a JSON object"),
    ('{"model_patch": "p"}', "line 2: no instance_id"),
    ('{"instance_id": 7, "model_patch": "p"}', "line 2: instance_id must be a non-empty string, got 7"),
    ('{"instance_id": "x"}', "line 2 (x): no model_patch"),
    ('{"instance_id": "x", "model_patch": ["a"]}', "line 2 (x): model_patch must be a diff as a string, or null"),
    ('{"instance_id": "x", "model_patch": "", "model_name_or_path": 3}', "model_name_or_path must be a string"),
])
def test_malformed_line_names_the_line_and_the_problem(tmp_path: Path, line: str, needle: str) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", pred(A), line)
    with pytest.raises(BadPredictions) as caught:
        load_predictions(path)
    message = str(caught.value)
    assert needle in message and "\n" not in message, message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(BadPredictions, match="no predictions file at"):
        load_predictions(tmp_path / "missing.jsonl")
    (tmp_path / "p.txt").write_text("{}")
    with pytest.raises(BadPredictions, match=r"must be \.jsonl"):
        load_predictions(tmp_path / "p.txt")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(BadPredictions, match="holds no predictions"):
        load_predictions(tmp_path / "empty.jsonl")
    jsonl_as_json = write_jsonl(tmp_path / "wrong.json", pred(A), pred(B))
    with pytest.raises(BadPredictions, match="one object per line is a .jsonl file"):
        load_predictions(jsonl_as_json)
    (tmp_path / "scalar.json").write_text("3")
    with pytest.raises(BadPredictions, match="not a number"):
        load_predictions(tmp_path / "scalar.json")
    keyed = tmp_path / "keyed.json"
    keyed.write_text(json.dumps({A: pred(B)}))
    with pytest.raises(BadPredictions, match="make them agree"):
        load_predictions(keyed)


def test_tasks_are_the_predicted_instances_in_file_order(tmp_path: Path) -> None:
    bench = open_benchmark("builtin")
    preds = read_predictions(write_jsonl(tmp_path / "p.jsonl", pred(B), pred(A)))
    assert [t.instance_id for t in predicted_tasks(bench, preds)] == [B, A]
    notes: list[str] = []
    assert [t.instance_id for t in predicted_tasks(bench, preds, ids=[A, B], on_note=notes.append)] == [A, B]
    assert notes == []


def test_tasks_intersect_with_tasks_and_subset(tmp_path: Path) -> None:
    bench = open_benchmark("builtin")
    small = bench.subsets()["small"]
    outside = next(i for i in bench.subsets()["full"] if i not in small)
    preds = read_predictions(write_jsonl(tmp_path / "p.jsonl", pred(outside), pred(small[0])))

    notes: list[str] = []
    assert [t.instance_id for t in predicted_tasks(bench, preds, "small", on_note=notes.append)] == [small[0]]
    assert notes == ["1 of 2 predictions are not in subset 'small': not graded"]

    notes.clear()
    chosen = predicted_tasks(bench, preds, ids=[small[1], small[0]], on_note=notes.append)
    assert [t.instance_id for t in chosen] == [small[0]]
    assert notes == [f"p.jsonl has no prediction for {small[1]}: not graded"]

    with pytest.raises(UnknownTask, match="predicts none of the --tasks ids"):
        predicted_tasks(bench, preds, ids=[small[1]])
    with pytest.raises(UnknownTask, match="has no task nope__x"):
        predicted_tasks(bench, preds, ids=["nope__x"])
    with pytest.raises(UnknownTask, match="no subset 'huge'"):
        predicted_tasks(bench, preds, "huge")
    only_outside = read_predictions(write_jsonl(tmp_path / "o.jsonl", pred(outside)))
    with pytest.raises(UnknownTask, match="none of the 1 predictions in o.jsonl is in subset 'small'"):
        predicted_tasks(bench, only_outside, "small")


def test_an_instance_the_benchmark_lacks_is_named_with_its_line(tmp_path: Path) -> None:
    preds = read_predictions(write_jsonl(tmp_path / "p.jsonl", pred(A), pred("django__django-11099")))
    with pytest.raises(UnknownTask) as caught:
        predicted_tasks(open_benchmark("builtin"), preds)
    message = str(caught.value)
    assert "django__django-11099 (line 2)" in message and "--benchmark" in message and A not in message
