"""python -m agent --problem FILE --repo DIR --out DIR [--self-improve]

The one entry point the platform calls. Model access comes only from the
environment: CLADE_LLM_BASE_URL, CLADE_MODEL, CLADE_LLM_TOKEN.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from agent.llm import ModelClient
from agent.loop import Agent, Limits


def main(argv: list[str] | None = None) -> int:
    defaults = Limits()
    parser = argparse.ArgumentParser(prog="python -m agent", description="A small coding agent.")
    parser.add_argument("--problem", type=Path, required=True, help="file with the problem statement")
    parser.add_argument("--repo", type=Path, required=True, help="git repository to work on")
    parser.add_argument("--out", type=Path, required=True, help="folder for patch.diff, trajectory.jsonl, summary.json")
    parser.add_argument("--self-improve", action="store_true", help="the repository is this agent's own code")
    parser.add_argument("--max-steps", type=int, default=int(os.environ.get("CLADE_AGENT_MAX_STEPS", defaults.max_steps)))
    parser.add_argument("--max-tokens", type=int, default=int(os.environ.get("CLADE_AGENT_MAX_TOKENS", defaults.max_tokens)))
    parser.add_argument("--max-seconds", type=float, default=float(os.environ.get("CLADE_AGENT_MAX_SECONDS", defaults.max_seconds)))
    parser.add_argument("--command-timeout", type=float, default=defaults.command_timeout)
    parser.add_argument("--max-answer-tokens", type=int,
                        default=int(os.environ.get("CLADE_AGENT_MAX_ANSWER_TOKENS", defaults.max_answer_tokens)))
    args = parser.parse_args(argv)

    base_url, model = os.environ.get("CLADE_LLM_BASE_URL", ""), os.environ.get("CLADE_MODEL", "")
    problems = [f"{name} is not set" for name, value in (("CLADE_LLM_BASE_URL", base_url), ("CLADE_MODEL", model)) if not value]
    if not args.problem.is_file():
        problems.append(f"problem file {args.problem} does not exist")
    if not (args.repo / ".git").exists():
        problems.append(f"{args.repo} is not a git repository")
    if problems:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "summary.json").write_text(json.dumps({"status": "error", "error": "; ".join(problems)}))
        print("agent: " + "; ".join(problems), file=sys.stderr)
        return 2

    client = ModelClient(base_url, model, os.environ.get("CLADE_LLM_TOKEN", ""))
    limits = Limits(args.max_steps, args.max_tokens, args.max_seconds, args.command_timeout, args.max_answer_tokens)
    summary = Agent(client, args.repo, args.out, limits, args.self_improve).run(args.problem.read_text())
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
