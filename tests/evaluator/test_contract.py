"""The agent contract is one set of names and defaults (evaluator.contract),
and everything that calls an agent or checks a child reads it from there."""

from __future__ import annotations

import inspect

from agent.loop import Limits
from evaluator import agent_run
from evaluator.contract import (OUTPUTS, SANDBOX_BASE_URL, WRAP_UP_SECONDS, AgentLimits, ModelAccess, agent_argv)
from evolve import validation
from evolve.config import RunConfig
from llm.uds import unix_base_url
from sandbox.recipe import LLM_SOCKET_PATH


def test_the_run_config_defaults_are_the_contracts() -> None:
    config = RunConfig()
    assert config.agent.limits(config.timeouts.agent_seconds) == AgentLimits()


def test_the_seed_agents_own_defaults_match_the_contracts() -> None:
    """An agent run by hand behaves as one the platform starts with default limits."""
    mine, contract = Limits(), AgentLimits()
    assert (mine.max_steps, mine.max_tokens, mine.max_answer_tokens) == (
        contract.max_steps, contract.max_tokens, contract.max_answer_tokens)
    assert mine.max_seconds == contract.agent_seconds == contract.seconds - WRAP_UP_SECONDS


def test_limits_travel_as_the_variables_the_seed_agent_reads() -> None:
    env = AgentLimits(max_steps=7, max_tokens=99, seconds=100, max_answer_tokens=5).env()
    assert env == {"CLADE_AGENT_MAX_STEPS": "7", "CLADE_AGENT_MAX_TOKENS": "99", "CLADE_AGENT_MAX_SECONDS": "70",
                   "CLADE_AGENT_MAX_ANSWER_TOKENS": "5"}
    main_source = inspect.getsource(__import__("agent.__main__", fromlist=["main"]))
    assert all(name in main_source for name in env)


def test_the_sandbox_base_url_is_the_gateway_clients_scheme() -> None:
    assert SANDBOX_BASE_URL == unix_base_url(LLM_SOCKET_PATH)
    access = ModelAccess("/host/gw.sock", "local", "clade-t")
    assert access.sandbox_env() == {"CLADE_LLM_BASE_URL": SANDBOX_BASE_URL, "CLADE_MODEL": "local",
                                    "CLADE_LLM_TOKEN": "clade-t", "OPENAI_API_KEY": "clade-t",
                                    "OPENAI_BASE_URL": "http://127.0.0.1:41041/v1",
                                    "OPENAI_API_BASE": "http://127.0.0.1:41041/v1"}
    assert access.at("/relay.sock") == ModelAccess("/relay.sock", "local", "clade-t")


def test_the_command_line_and_outputs_are_the_contracts_everywhere() -> None:
    assert agent_argv(self_improve=True)[-1] == "--self-improve"
    assert "--self-improve" not in agent_argv()
    # The validation's contract check starts the agent with the contract's argv and reads its outputs.
    assert " ".join(agent_argv(*(f"{validation.CONTRACT_DIR}/{p}" for p in ("problem.md", "repo", "out")))) \
        in validation.CONTRACT_SCRIPT
    assert validation.OUTPUTS is OUTPUTS
    assert not hasattr(agent_run, "OUTPUTS") or agent_run.OUTPUTS is OUTPUTS
