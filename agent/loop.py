"""The agent loop: ask the model, run the action it chose, show it the result.

It speaks OpenAI tool calling when the model does, and falls back to fenced
text blocks when it doesn't (small local models rarely produce tool calls).
Every turn goes to trajectory.jsonl as it happens, so even a killed run can
be diagnosed; that log is what the self-improvement step reads.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent import prompts
from agent.llm import ContextTooLong, ModelClient, ModelError, Reply
from agent.tools import BashSession, Editor

TOOLS = [
    {"type": "function", "function": {
        "name": "bash", "description": "Run a shell command in the repository.",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}},
    {"type": "function", "function": {
        "name": "editor",
        "description": "Edit files. view(path, start?, end?), create(path, content), str_replace(path, old, new), "
                       "insert(path, line, text) inserts after line (0 = top), undo(path).",
        "parameters": {"type": "object", "properties": {
            "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo"]},
            "path": {"type": "string"}, "start": {"type": "integer"}, "end": {"type": "integer"},
            "content": {"type": "string"}, "old": {"type": "string"}, "new": {"type": "string"},
            "line": {"type": "integer"}, "text": {"type": "string"}},
            "required": ["command", "path"]}}},
    {"type": "function", "function": {
        "name": "finish", "description": "Stop: the task is done.",
        "parameters": {"type": "object", "properties": {"summary": {"type": "string"}}}}},
]
BLOCK = re.compile(r"```(bash|sh|editor|finish)[ \t]*\n(.*?)```", re.DOTALL)


@dataclass
class Limits:
    # The platform passes its own (CLADE_AGENT_*); these match them for a run by hand.
    max_steps: int = 30
    max_tokens: int = 200_000
    max_seconds: float = 570.0
    command_timeout: float = 120.0
    max_answer_tokens: int = 1024


@dataclass
class Action:
    tool: str
    args: dict[str, Any]
    call_id: str | None = None
    error: str | None = None  # set when the model's call could not be understood


class Trajectory:
    def __init__(self, path: Path) -> None:
        self.file = path.open("a", encoding="utf-8")

    def log(self, kind: str, **data: Any) -> None:
        self.file.write(json.dumps({"type": kind, "time": time.time(), **data}, default=str) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def parse_tool_calls(reply: Reply) -> list[Action]:
    actions = []
    for call in reply.tool_calls:
        function = call.get("function") or {}
        name, raw = function.get("name") or "", function.get("arguments") or "{}"
        try:
            args = json.loads(raw) if isinstance(raw, str) else dict(raw)
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
            error = None if name in {"bash", "editor", "finish"} else f"unknown tool {name!r}"
        except (ValueError, TypeError) as exc:
            args, error = {}, f"could not parse the arguments as JSON ({exc}); send a JSON object"
        actions.append(Action(name, args, call.get("id") or "call", error))
    return actions


def parse_text_action(content: str) -> Action | None:
    match = BLOCK.search(content)
    if not match:
        return None
    kind, body = match.group(1), match.group(2).strip()
    if kind in {"bash", "sh"}:
        return Action("bash", {"command": body})
    if kind == "finish":
        return Action("finish", {"summary": body})
    try:
        args = json.loads(body)
        return Action("editor", args) if isinstance(args, dict) else Action("editor", {}, error="editor JSON must be an object")
    except ValueError as exc:
        return Action("editor", {}, error=f"the editor block is not valid JSON ({exc})")


class Agent:
    def __init__(self, client: ModelClient, repo: Path, out: Path, limits: Limits, self_improve: bool = False) -> None:
        self.client, self.repo, self.out, self.limits = client, repo.resolve(), out, limits
        self.self_improve = self_improve
        self.bash = BashSession(self.repo, limits.command_timeout)
        self.editor = Editor(self.repo)
        self.use_tools = True
        self.tokens = {"prompt": 0, "completion": 0}

    def run(self, problem: str) -> dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        trajectory = Trajectory(self.out / "trajectory.jsonl")
        start_time, status, error = time.monotonic(), "error", None
        start_commit = self._git("rev-parse", "HEAD").strip()
        task = (prompts.SELF_IMPROVE if self.self_improve else prompts.SOLVE).format(repo=self.repo, problem=problem)
        messages = [{"role": "system", "content": prompts.SYSTEM.format(repo=self.repo)}, {"role": "user", "content": task}]
        for message in messages:
            trajectory.log("message", **message)
        try:
            status = self._loop(messages, trajectory, start_time)
        except Exception as exc:  # never crash: the patch so far and the log still count
            error = f"{type(exc).__name__}: {exc}"
            trajectory.log("crash", error=error)
        finally:
            self.bash.close()
        steps = sum(1 for m in messages if m["role"] == "assistant")
        patch = self._patch(start_commit)
        (self.out / "patch.diff").write_text(patch)
        summary = {
            "status": status, "error": error, "steps": steps, "mode": "self-improve" if self.self_improve else "solve",
            "model": self.client.model, "prompt_tokens": self.tokens["prompt"],
            "completion_tokens": self.tokens["completion"], "elapsed_s": round(time.monotonic() - start_time, 2),
            "patch_bytes": len(patch.encode()), "limits": asdict(self.limits),
        }
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
        trajectory.log("summary", **summary)
        trajectory.close()
        return summary

    def _loop(self, messages: list[dict[str, Any]], trajectory: Trajectory, start: float) -> str:
        steps, keep = 0, None
        while True:
            if steps >= self.limits.max_steps:
                return "step_limit"
            if self.tokens["prompt"] + self.tokens["completion"] >= self.limits.max_tokens:
                return "token_limit"
            if time.monotonic() - start >= self.limits.max_seconds:
                return "time_limit"
            # No single call may outlive the time limit: the loop must end cleanly, not be killed.
            self.client.timeout = max(5.0, min(300.0, self.limits.max_seconds - (time.monotonic() - start)))
            try:
                reply = self.client.complete(
                    _shorten(messages, keep), TOOLS if self.use_tools else None, self.limits.max_answer_tokens
                )
            except ContextTooLong as exc:
                if keep == 0:  # even the task alone is too long
                    trajectory.log("model_error", error=str(exc))
                    return "context_overflow"
                keep = (len(messages) - 2) // 2 if keep is None else keep // 2
                trajectory.log("model_error", error=str(exc), action=f"keeping the last {keep} messages")
                continue
            except ModelError as exc:
                trajectory.log("model_error", error=str(exc))
                if self.use_tools and "HTTP 400" in str(exc):
                    self.use_tools = False  # the server refuses tools: fall back to text actions
                    continue
                return "model_error"
            steps += 1
            self.tokens["prompt"] += reply.prompt_tokens
            self.tokens["completion"] += reply.completion_tokens
            assistant: dict[str, Any] = {"role": "assistant", "content": reply.content}
            if reply.tool_calls:
                assistant["tool_calls"] = reply.tool_calls
            messages.append(assistant)
            trajectory.log("message", **assistant)
            if reply.tool_calls:
                actions = parse_tool_calls(reply)
            else:
                text_action = parse_text_action(reply.content)
                actions = [text_action] if text_action else []
            if not actions:
                messages.append({"role": "user", "content": prompts.NO_ACTION})
                trajectory.log("message", **messages[-1])
                continue
            for action in actions:
                result = self._act(action)
                trajectory.log("tool", tool=action.tool, args=action.args, result=result)
                if action.call_id:
                    messages.append({"role": "tool", "tool_call_id": action.call_id, "content": result})
                else:
                    messages.append({"role": "user", "content": f"Output:\n{result}"})
                if action.tool == "finish" and not action.error:
                    return "finished"

    def _act(self, action: Action) -> str:
        if action.error:
            return f"error: {action.error}"
        if action.tool == "bash":
            return self.bash.run(str(action.args.get("command", "")))
        if action.tool == "editor":
            return self.editor.run(**{k: v for k, v in action.args.items() if isinstance(k, str)})
        return "finishing"

    def _git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.repo, capture_output=True, text=True, check=True).stdout

    def _patch(self, start_commit: str) -> str:
        """Every change since the start, new files included, as one git diff."""
        self._git("add", "--all")
        return self._git("diff", "--cached", "--binary", start_commit)


def _shorten(messages: list[dict[str, Any]], keep: int | None) -> list[dict[str, Any]]:
    """The system prompt and task, a note, and the last `keep` messages (tool
    results never lead, since they must follow the call they answer)."""
    if keep is None or len(messages) <= 2 + keep:
        return messages
    tail = messages[len(messages) - keep :] if keep else []
    while tail and tail[0]["role"] == "tool":
        tail = tail[1:]
    note = {"role": "user", "content": f"[{len(messages) - 2 - len(tail)} earlier messages were removed to fit the context window]"}
    return [*messages[:2], note, *tail]
