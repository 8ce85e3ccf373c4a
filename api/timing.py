"""Where an evaluation's time and tokens went, step by step.

The seed agent's trajectory.jsonl stamps every entry with `time` (Unix
seconds, written when the entry is logged): a step's assistant message is
logged when the model's answer arrived, each tool entry when the tool had
finished. So a step's model time is its message's stamp minus the entry
before it, and its tool time is the last tool entry's stamp minus the
message's. The trajectory records no tokens per step (only the totals in its
summary entry); the gateway does, per call (`llm_calls`, with its latency),
so the i-th answered call of the evaluation is matched to the i-th step.
An evolved agent may log anything: entries without a usable `time` get no
timing, and when the gateway's calls and the steps do not pair up one to one
the page says so instead of guessing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from archive.models import LLMCall


@dataclass
class Step:
    number: int
    at_s: float | None  # since the trajectory's first entry
    model_s: float | None  # until the answer arrived (trajectory stamps)
    tools_s: float | None  # running its tool calls
    tools: list[str] = field(default_factory=list)
    latency_s: float | None = None  # the gateway's measure of the call
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class Timing:
    steps: list[Step]
    total_s: float | None
    calls: int  # answered model calls the gateway recorded for the evaluation
    matched: bool  # calls and steps paired one to one
    note: str | None


def _stamp(entry: dict[str, Any]) -> float | None:
    value = entry.get("time")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _entries(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


def step_timing(text: str, calls: list[LLMCall]) -> Timing:
    """The steps of a trajectory with their time and, from the gateway's calls, their tokens."""
    entries = _entries(text)
    stamps = [s for s in map(_stamp, entries) if s is not None]
    origin = stamps[0] if stamps else None
    steps: list[Step] = []
    previous: float | None = None
    for entry in entries:
        stamp = _stamp(entry)
        if entry.get("type") == "message" and entry.get("role") == "assistant":
            model = round(stamp - previous, 3) if stamp is not None and previous is not None else None
            at = round(stamp - origin, 3) if stamp is not None and origin is not None else None
            steps.append(Step(len(steps) + 1, at, model, None))
        elif entry.get("type") == "tool" and steps:
            steps[-1].tools.append(str(entry.get("tool") or "?"))
            start = steps[-1].at_s
            if stamp is not None and start is not None and origin is not None:
                steps[-1].tools_s = round(stamp - origin - start, 3)
        if stamp is not None:
            previous = stamp
    answered = [c for c in calls if not c.error]
    matched = bool(steps) and len(answered) == len(steps)
    if matched:
        for step, call in zip(steps, answered):
            step.latency_s = round(call.latency_s, 3) if call.latency_s is not None else None
            step.prompt_tokens, step.completion_tokens = call.prompt_tokens, call.completion_tokens
    note = None
    if not steps:
        note = "the trajectory has no assistant messages"
    elif not stamps:
        note = "the trajectory's entries carry no time"
    elif not matched:
        note = (f"the gateway recorded {len(answered)} answered model calls for {len(steps)} steps: tokens per "
                "step are not shown (the evaluation's totals are above)")
    total = round(stamps[-1] - stamps[0], 3) if len(stamps) > 1 else None
    return Timing(steps, total, len(answered), matched, note)
