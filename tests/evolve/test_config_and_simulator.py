"""The run configuration model and the policy simulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evolve.config import ConfigError, load_config
from evolve.policies import make_policy
from evolve.simulator import GroundTruth, World, compare, simulate

CLADE = str(Path(sys.executable).with_name("clade"))


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


def test_the_same_world_gives_every_policy_the_same_children_and_luck() -> None:
    one, two = GroundTruth(World(seed=5)), GroundTruth(World(seed=5))
    two.child(two.child((), 3), 1)  # grown in another order
    assert one.child(one.child((), 3), 1) == (3, 1)
    assert one.rate[(3, 1)] == two.rate[(3, 1)] and one.valid[(3,)] == two.valid[(3,)]
    assert [one.resolves((3,), t) for t in range(30)] == [two.resolves((3,), t) for t in range(30)]
    assert GroundTruth(World(seed=6)).child((), 3) == (3,) and GroundTruth(World(seed=6)).rate != one.rate


def test_simulation_spends_its_budget_and_exports_a_real_node() -> None:
    outcome = simulate(make_policy("hgm"), World(seed=1), budget=120)
    assert outcome.evaluations <= 120 and outcome.nodes > 5
    assert 0.0 < outcome.exported_rate <= outcome.best_rate_in_tree <= 0.95


def test_cmp_beats_random_search_on_average() -> None:
    """The point of the simulator: with promise independent of own score,
    HGM's clade estimate should export better agents than random expansion."""
    rows = compare([make_policy("hgm"), make_policy("random")], trees=12, budgets=[400], seed=3)
    by_policy = {r["policy"]: r["exported_mean"] for r in rows}
    assert by_policy["hgm"] > by_policy["random"]


def test_simulate_cli_json() -> None:
    result = subprocess.run([CLADE, "simulate", "--policies", "hgm,dgm", "--trees", "2", "--budget", "50,80", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [(r["budget"], r["policy"]) for r in report["results"]] == [(50, "hgm"), (50, "dgm"), (80, "hgm"), (80, "dgm")]
    assert all(0 < r["exported_mean"] < 1 for r in report["results"])
    bad = subprocess.run([CLADE, "simulate", "--budget", "x"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--budget must be whole numbers" in bad.stderr
