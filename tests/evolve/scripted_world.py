"""A scripted model that makes evolution observable, for the engine tests.

It speaks the real OpenAI protocol (tests.support.scripted_server) and plays three
roles, told apart by the prompts the platform and the agent send:

- diagnosis: answers a valid JSON proposal ("tell the agent to be careful");
- the parent agent improving itself: appends `SYSTEM += "Be careful."` to
  its own agent/prompts.py with a bash tool call, then finishes;
- an agent solving a task: if its system prompt says "Be careful." (an
  improved child), it applies the task's gold patch and finishes; otherwise
  it finishes without changing anything.

So the seed resolves nothing, every valid child resolves what it tries, and
a correct engine must find that out and export a child.
"""

from __future__ import annotations

import json

from evaluator.task import Task
from tests.support.script import ChatRequest, Reply

CAREFUL = "Be careful."
PROPOSAL = {
    "log_summary": "The agent stopped without changing anything.",
    "potential_improvements": ["be careful", "check the work"],
    "improvement_proposal": "Tell the model to be careful.",
    "implementation_suggestion": "Append a sentence to SYSTEM in agent/prompts.py.",
    "problem_description": "Append the sentence 'Be careful.' to the system prompt in agent/prompts.py.",
}
IMPROVE = f"printf '\\nSYSTEM += \"\\\\n{CAREFUL}\"\\n' >> agent/prompts.py"


def make_responder(tasks: list[Task]):
    def responder(request: ChatRequest) -> Reply:
        messages = request.messages
        system = messages[0].get("content") or "" if messages else ""
        task_text = messages[1].get("content") or "" if len(messages) > 1 else ""
        acted = any(m.get("role") == "tool" for m in messages)
        if "improving a coding agent" in system or "improve ONE" in system:
            return Reply.text("```json\n" + json.dumps(PROPOSAL) + "\n```")
        if acted:
            return Reply.tool_call("finish", {"summary": "done"})
        if "YOUR OWN code" in task_text:
            return Reply.tool_call("bash", {"command": IMPROVE})
        if CAREFUL in system:
            for task in tasks:
                if task.problem_statement.strip()[:200] in task_text:
                    command = f"git apply --whitespace=nowarn - <<'CLADE_EOF'\n{task.patch}CLADE_EOF"
                    return Reply.tool_call("bash", {"command": command})
        return Reply.tool_call("finish", {"summary": "nothing to do"})

    return responder
