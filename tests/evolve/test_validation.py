"""Child validation in a real sandbox: compile, own tests, contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolve.validation import validate_agent


def test_the_seed_agent_is_valid(sandbox_image: str, seed_code: Path) -> None:
    result = validate_agent(seed_code)
    assert result.ok and result.stage == "passed", result.log[-2000:]
    assert "passed" in result.log


@pytest.mark.parametrize(
    "file, old, new, stage, reason",
    [
        ("loop.py", 'return "finished"', 'return "finished" +', "compile", "SyntaxError"),
        ("tools.py", "return f\"replaced in {path}\"", "return f\"replaced {path}\"", "tests", "failed"),
        ("__main__.py", "", "", "contract", "did not write"),
    ],
    ids=["does-not-compile", "own-tests-fail", "breaks-contract"],
)
def test_broken_children_are_rejected_with_the_reason(
    sandbox_image: str, seed_code: Path, file: str, old: str, new: str, stage: str, reason: str
) -> None:
    path = seed_code / "agent" / file
    text = path.read_text()
    if stage == "contract":  # exits before writing anything, and deleted the tests that would say so
        text = text.replace("    client = ModelClient(", "    return 0\n    client = ModelClient(", 1)
        (seed_code / "agent" / "tests" / "test_contract.py").unlink()
    else:
        assert old in text
        text = text.replace(old, new, 1)
    path.write_text(text)
    result = validate_agent(seed_code)
    assert not result.ok and result.stage == stage
    assert reason in result.reason, result.reason


def test_a_childs_tests_cannot_fake_its_contract_check(sandbox_image: str, seed_code: Path) -> None:
    """The child's tests leave a process behind that writes the outputs the
    contract check reads, and its entry point writes nothing: the check runs
    in a fresh sandbox, so the planted outputs are not there to be read."""
    main = seed_code / "agent" / "__main__.py"
    main.write_text(main.read_text().replace("    client = ModelClient(", "    return 0\n    client = ModelClient(", 1))
    (seed_code / "agent" / "tests" / "test_contract.py").unlink()
    (seed_code / "agent" / "tests" / "test_plant.py").write_text(
        "import subprocess\n\n\n"
        "def test_plants_outputs() -> None:\n"
        "    script = ('while true; do mkdir -p /tmp/contract/out; for f in patch.diff trajectory.jsonl; do '\n"
        "              ': > /tmp/contract/out/$f; done; echo {} > /tmp/contract/out/summary.json; sleep 0.1; done')\n"
        "    subprocess.Popen(['env', '-i', 'setsid', 'sh', '-c', script], start_new_session=True)\n"
    )
    result = validate_agent(seed_code)
    assert not result.ok and result.stage == "contract", result.log[-2000:]
    assert "did not write" in result.reason
