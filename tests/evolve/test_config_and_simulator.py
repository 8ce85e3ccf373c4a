"""The run configuration model (the simulator's tests: tests/evolve/test_simulator.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolve.config import ConfigError, load_config


def test_yaml_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("name: mine\npolicy:\n  name: hgm\n  params: {alpha: 0.5}\nbudget:\n  task_evaluations: 40\nsandbox:\n  memory: 1g\n")
    config = load_config(path, ["budget.task_evaluations=60", "workers=3", "benchmark.tasks=[a, b]"])
    assert (config.name, config.workers, config.budget.task_evaluations) == ("mine", 3, 60)
    assert config.policy.params == {"alpha": 0.5} and config.benchmark.tasks == ["a", "b"]
    assert config.sandbox.memory == 1024**3
    assert config.models.diagnosis == config.models.backends[0].name == "local"


@pytest.mark.parametrize(
    "content, overrides, message",
    [
        ("budget: {task_evaluations: -3}\n", [], "budget.task_evaluations: Input should be greater than 0"),
        ("wrokers: 2\n", [], "wrokers: Extra inputs are not permitted"),
        ("policy: {name: hgm, params: {alpah: 1}}\n", [], "parameters of hgm: alpha, cooldown, cooldown_beta, invalid_children"),
        ("policy: {name: best}\n", [], "policy.name: Input should be 'hgm', 'dgm'"),
        ("- a list\n", [], "must hold a mapping"),
        ("budget: [\n", [], "is not valid YAML"),
        ("", ["budget"], "is not KEY=VALUE"),
        ("models: {solve: gpt}\n", [], "solve names backend 'gpt', but the backends are ['local']"),
    ],
)
def test_bad_configs_name_the_field(tmp_path: Path, content: str, overrides: list[str], message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(path, overrides)
