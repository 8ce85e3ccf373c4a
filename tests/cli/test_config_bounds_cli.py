"""The command line and the run config's bounds and backends: `clade run
start` (the operator's own machine) keeps taking full backends but not
unbounded resources; `clade serve --backends FILE` says clearly what is
wrong with a backends file."""

from __future__ import annotations

from pathlib import Path

import yaml

from archive import CladeHome
from tests.cli.test_cli import assert_user_error, clade

FULL_BACKENDS = {"backends": [{"name": "claude", "model": "anthropic/claude-sonnet-4-5", "api_base": None,
                               "api_key_env": "ANTHROPIC_API_KEY", "litellm_kwargs": {"temperature": 0.1}}],
                 "solve": "claude", "self_improve": "claude", "diagnosis": "claude"}


def _config(tmp_path: Path, **sections: object) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"name": "cli-bounds", "models": FULL_BACKENDS, **sections}))
    return path


def test_run_start_refuses_an_unbounded_sandbox_with_the_allowed_range(clade_home: CladeHome, tmp_path: Path) -> None:
    result = clade("run", "start", str(_config(tmp_path)), "--set", "sandbox.memory=100t")
    assert_user_error(result, "sandbox.memory", "at most 64g")
    result = clade("run", "start", str(_config(tmp_path)), "--set", "sandbox.pids=1000000000", "--set", "name=" + "n" * 300)
    assert_user_error(result, "sandbox.pids", "65536", "name", "200 characters")


def test_run_start_keeps_taking_full_backends(clade_home: CladeHome, tmp_path: Path) -> None:
    """Keys, URLs and litellm arguments are the operator's to set on their own
    machine: the only error is the one planted elsewhere, none about models."""
    result = clade("run", "start", str(_config(tmp_path, budget={"task_evaluations": 0})))
    assert_user_error(result, "budget.task_evaluations")
    assert "models" not in result.stderr


def test_serve_names_what_is_wrong_with_a_backends_file(clade_home: CladeHome, tmp_path: Path) -> None:
    assert_user_error(clade("serve", "--backends", str(tmp_path / "missing.yaml")),
                      "cannot read the backends file", "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("backends:\n  - name: x\n    api_key: sk-not-here\n")
    assert_user_error(clade("serve", "--backends", str(bad)), "backend 0 is not valid", "api_key")
    twice = tmp_path / "twice.yaml"
    twice.write_text("- name: x\n- name: x\n")
    assert_user_error(clade("serve", "--backends", str(twice)), "listed twice")
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    assert_user_error(clade("serve", "--backends", str(scalar)), "backends:")
