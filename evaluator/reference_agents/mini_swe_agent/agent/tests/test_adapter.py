"""The adapter's own checks (run by Clade's validation of every child, in the agents image)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from agent import __main__ as entry


def test_the_contract_arguments_are_required() -> None:
    ran = subprocess.run([sys.executable, "-m", "agent"], capture_output=True, text=True,
                         cwd=Path(entry.__file__).parents[1])
    assert ran.returncode == 2 and "--problem" in ran.stderr


def test_mini_swe_agent_and_its_text_based_configuration_are_there() -> None:
    config = yaml.safe_load((Path(entry.package_dir) / "config" / "mini_textbased.yaml").read_text())
    assert "mswea_bash_command" in config["agent"]["system_template"]
    assert entry.LitellmTextbasedModel and entry.DefaultAgent


def test_a_trajectory_message_keeps_its_text_and_drops_the_raw_response() -> None:
    message = {"role": "assistant", "content": "ls", "extra": {"response": {"big": 1}, "actions": [{"command": "ls"}]}}
    assert entry._plain(message) == {"role": "assistant", "content": "ls", "extra": {"actions": [{"command": "ls"}]}}


def test_the_agents_commands_do_not_see_its_own_interpreter_first() -> None:
    assert str(Path(sys.executable).parent) not in entry._tool_path().split(":")
