"""A `tampered` evaluation (the grader caught the code under test forging
its grade) through the search, on real SQLite and PostgreSQL archives: a
failure for HGM, DGM's staged evaluation and the final-agent rule; the entry
an expansion learns from; and shown, with its evidence, to the diagnosis."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from archive import Archive, NodeStatus, Outcome
from evolve.diagnosis import EntryMaterial, build_messages
from evolve.entry import Entry, TaskRecord, choose_entry
from evolve.final import best_belief
from evolve.grades import GradeEvidence, resolved, success_counts, tree_state
from evolve.lesson import parent_entry
from evolve.policies import Budget, Evaluate, Expand, make_policy

TASKS = [f"t{i}" for i in range(60)]
CODES = {"R": Outcome.RESOLVED, "U": Outcome.UNRESOLVED, "T": Outcome.TAMPERED, "E": Outcome.ERROR,
         "O": Outcome.TIMEOUT}
EVIDENCE = {"rule": "canary", "detail": "canary test_canary_must_fail passed: the report was forged"}
SET_ASIDE = ["tests/test_lru.py", "pytest.ini"]


def evaluate(archive: Archive, node_id: int, codes: str, tasks: list[str] = TASKS) -> None:
    for task, code in zip(tasks, codes):
        evaluation = archive.repo.start_evaluation(node_id, task)
        tampered = code == "T"
        archive.repo.finish_evaluation(
            evaluation.id, CODES[code], reason="the grade was forged" if tampered else None,
            details={"tampering": EVIDENCE if tampered else None, "set_aside": SET_ASIDE if tampered else []})


def search_state(archive: Archive, run_id: int, tasks: list[str] = TASKS):  # type: ignore[no-untyped-def]
    """The engine's own way of rebuilding the search's counts from the archive."""
    nodes = [(n.id, n.parent_id, n.status == NodeStatus.VALID) for n in archive.repo.list_nodes(run_id)]
    return tree_state(tasks, nodes, archive.repo.run_evaluations(run_id))


@pytest.mark.parametrize("outcome", list(Outcome))
def test_only_resolved_is_a_success(outcome: Outcome) -> None:
    assert resolved(outcome) is (outcome is Outcome.RESOLVED)
    assert resolved(outcome.value) is (outcome is Outcome.RESOLVED)
    assert resolved(None) is None
    assert success_counts([outcome, Outcome.TAMPERED, None]) == (int(outcome is Outcome.RESOLVED), 2)


def test_hgm_reads_tampered_rows_as_failures(archive: Archive, seed_agent) -> None:
    run, root = archive.create_run("hgm-tampered", {}, seed_agent)
    cheat = archive.repo.add_node(run.id, root.id, commit=root.commit, status=NodeStatus.VALID)
    honest = archive.repo.add_node(run.id, root.id, commit=root.commit, status=NodeStatus.VALID)
    evaluate(archive, root.id, "UU")
    evaluate(archive, cheat.id, "T" * 10)
    evaluate(archive, honest.id, "RRRRUUUUUU")
    evaluate(archive, cheat.id, "R", tasks=["held-out"])  # not a search task: never counted
    state = search_state(archive, run.id)
    assert state.counts(cheat.id) == (0, 10, 0, 10)
    assert state.counts(root.id) == (0, 2, 4, 18)

    hgm = make_policy("hgm", alpha=1.0, initial_expansions=0, root_evaluations=0)
    rng = np.random.default_rng(0)
    expanded = Counter(hgm.next_action(state, rng, Budget(1000)).parent_id for _ in range(300))
    assert cheat.id not in expanded and set(expanded) <= {root.id, honest.id}  # no success in its clade
    evaluated = Counter(hgm.evaluate_only(state, rng, Budget(1000)).node_id for _ in range(600))
    assert evaluated[cheat.id] < evaluated[honest.id] / 5  # drawn on Beta(1, 11), not Beta(11, 1)


def test_dgm_staged_evaluation_holds_back_a_node_whose_passes_were_forged(archive: Archive, seed_agent) -> None:
    run, root = archive.create_run("dgm-tampered", {}, seed_agent)
    cheat = archive.repo.add_node(run.id, root.id, commit=root.commit, status=NodeStatus.VALID)
    honest = archive.repo.add_node(run.id, root.id, commit=root.commit, status=NodeStatus.VALID)
    evaluate(archive, root.id, "U" * 10)
    evaluate(archive, cheat.id, "RRRTTTTTTT")  # 3/10: below the 40 % that opens stage 2
    evaluate(archive, honest.id, "RRRRUEOUUU")  # 4/10
    state = search_state(archive, run.id)
    dgm = make_policy("dgm", stage_sizes=[(10, 0.0), (50, 0.4)], generation_size=None)
    rng = np.random.default_rng(1)
    owed = []
    while isinstance(action := dgm.next_action(state, rng, Budget(1000)), Evaluate):
        owed.append(action)
        state.start(action.node_id, action.task_id)
    assert owed == [Evaluate(honest.id, t) for t in TASKS[10:]]  # stage 2 for 4/10, none for the forged 3 + 7
    # The honest node is busy now; of the two finished ones, a 0.3 weighs more than a 0.
    picks = Counter(dgm.next_action(state, rng, Budget(1000)) for _ in range(400))
    assert set(picks) == {Expand(cheat.id), Expand(root.id)} and picks[Expand(cheat.id)] > picks[Expand(root.id)]


def test_the_final_agent_is_never_a_node_that_forged_its_passes(archive: Archive, seed_agent) -> None:
    run, root = archive.create_run("final-tampered", {}, seed_agent)
    cheat = archive.repo.add_node(run.id, root.id, commit=root.commit, status=NodeStatus.VALID)
    honest = archive.repo.add_node(run.id, root.id, commit=root.commit, status=NodeStatus.VALID)
    evaluate(archive, cheat.id, "RRRRRRTTTT")  # 6/10; 6/6 if refused grades were left out, 10/10 if counted as passes
    evaluate(archive, honest.id, "RRRRRRRUUU")  # 7/10
    best = best_belief(search_state(archive, run.id), 0.05, 5)
    assert best is not None and (best.node_id, best.resolved, best.total) == (honest.id, 7, 10)


def test_a_tampered_evaluation_is_always_the_entry() -> None:
    records = [TaskRecord(1, "empty", False, True, False), TaskRecord(2, "overflow", False, False, True),
               TaskRecord(3, "failed", False, False, False), TaskRecord(4, "solved", True, False, False),
               TaskRecord(5, "forged", False, False, False, tampered=True)]
    rng = random.Random(0)
    assert {choose_entry(records, rng) for _ in range(500)} == {Entry("task", records[4])}
    honest = records[:4]  # no refused grade: DGM's choice as before, the same random draws
    assert [choose_entry(honest, random.Random(7)) for _ in range(5)] == \
        [choose_entry(list(honest), random.Random(7)) for _ in range(5)]


def _tampered_parent(archive: Archive, seed_agent, tmp_path: Path):  # type: ignore[no-untyped-def]
    run, root = archive.create_run("entry-tampered", {}, seed_agent)
    evaluate(archive, root.id, "U", tasks=["cachekit__lru"])
    first = archive.repo.start_evaluation(root.id, "cachekit__memoize")  # an earlier, honest attempt of the task
    archive.repo.finish_evaluation(first.id, Outcome.UNRESOLVED, reason="FAIL_TO_PASS tests fail")
    logs = tmp_path / "evaluation-logs"
    logs.mkdir()
    (logs / "trajectory.jsonl").write_text(json.dumps({"type": "message", "role": "assistant",
                                                       "content": "I will just edit the test"}) + "\n")
    (logs / "patch.diff").write_text("--- a/tests/test_memo.py\n+++ b/tests/test_memo.py\n@@ -1 +1 @@\n-x\n+y\n")
    (logs / "test_output.txt").write_text("1 passed\n")
    forged = archive.repo.start_evaluation(root.id, "cachekit__memoize", attempt=1)
    archive.repo.finish_evaluation(forged.id, Outcome.TAMPERED, reason="a canary that must fail passed",
                                   log_path=str(logs), details={"tampering": EVIDENCE, "set_aside": SET_ASIDE,
                                                                "empty_patch": False})
    child = archive.repo.add_node(run.id, root.id, status=NodeStatus.BUILDING)
    return root, child, forged


def test_the_diagnosis_is_told_why_the_grade_was_refused(archive: Archive, seed_agent, seed_code: Path,
                                                         tmp_path: Path) -> None:
    root, child, forged = _tampered_parent(archive, seed_agent, tmp_path)
    for seed in range(20):  # whatever the draw: the refused grade is the lesson
        entry, material = parent_entry(archive.repo, child, {}, random.Random(seed))
        assert (entry.kind, entry.task.evaluation_id, entry.task.tampered) == ("task", forged.id, True)
    assert material.tampering == EVIDENCE and material.set_aside == SET_ASIDE
    assert material.outcome == "tampered: a canary that must fail passed"

    system, user = (m["content"] for m in build_messages(entry, material, seed_code, max_chars=40_000))
    assert "tampered" in system
    graded = user[user.index("# How it was graded"):]
    assert "Outcome: tampered: a canary that must fail passed" in graded
    assert "THE GRADE WAS NOT ACCEPTED" in graded and "Check that caught it: canary" in graded
    assert EVIDENCE["detail"] in graded
    assert "were set aside" in graded and "- tests/test_lru.py\n- pytest.ini" in graded
    assert "I will just edit the test" in user and "+++ b/tests/test_memo.py" in user

    # Resumed: the same task's refused grade again, not its earlier honest attempt.
    archive.repo.update_node(child.id, entry_task=entry.label)
    again, _ = parent_entry(archive.repo, archive.repo.get_node(child.id), {}, random.Random(99))
    assert again.task.evaluation_id == forged.id


def test_integrity_notes_are_bounded_and_reach_an_older_custom_prompt(seed_code: Path, tmp_path: Path) -> None:
    material = EntryMaterial("t", "statement", "", "", "tampered: forged", "",
                             tampering={"rule": "exit-status", "detail": "x" * 100_000 + "TAIL"},
                             set_aside=[f"tests/test_{i}.py" for i in range(100)])
    entry = Entry("task", TaskRecord(1, "t", False, False, False, tampered=True))
    user = build_messages(entry, material, seed_code, max_chars=16_000)[1]["content"]
    assert "Check that caught it: exit-status" in user and "TAIL" not in user and "characters cut" in user
    assert "tests/test_29.py" in user and "tests/test_30.py" not in user and "and 70 more" in user
    older = tmp_path / "prompts"
    older.mkdir()
    (older / "diagnosis_user.md").write_text("Outcome: $outcome\n$test_output\n")  # written before $integrity
    user = build_messages(entry, material, seed_code, 16_000, prompts_dir=older)[1]["content"]
    assert user.startswith("Outcome: tampered: forged") and "THE GRADE WAS NOT ACCEPTED" in user

    honest = EntryMaterial("t", "s", "", "", "resolved: all tests pass", "", set_aside=["conftest.py"])
    user = build_messages(Entry("task", TaskRecord(1, "t", True, False, False)), honest, seed_code, 16_000)[1]["content"]
    assert "were set aside" in user and "- conftest.py" in user and "NOT ACCEPTED" not in user


def test_evidence_from_details_is_read_defensively() -> None:
    assert GradeEvidence.from_details(None) == GradeEvidence()
    assert GradeEvidence.from_details({"tampering": None, "set_aside": []}).tampering is None
    odd = GradeEvidence.from_details({"tampering": "forged", "set_aside": ["a", 3, None, "b"]})
    assert odd.tampering == {"rule": "unnamed check", "detail": "forged"} and odd.set_aside == ("a", "b")
    many = GradeEvidence.from_details({"tampering": {"rule": "r" * 500, "detail": 7}, "set_aside": ["f"] * 250})
    assert len(many.rule) < 300 and many.detail == "7" and len(many.set_aside) == 200 and many.set_aside_more == 50
