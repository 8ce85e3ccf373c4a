"""Is a child fit to enter the archive? Checked in a sandbox, in three stages:

1. it compiles (`python -m compileall agent`);
2. its own tests pass (`python -m pytest agent/tests`);
3. it still honours the contract: given a problem file, a git repository and
   an output folder, and a model at CLADE_LLM_BASE_URL, `python -m agent`
   exits and writes patch.diff, trajectory.jsonl and summary.json. The model
   here is a tiny stand-in started inside the same sandbox (loopback only)
   that answers every request by asking to finish.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from evaluator.contract import BASE_URL_ENV, MODEL_ENV, OUTPUTS, TOKEN_ENV, agent_argv, read_outputs
from sandbox.base import ExecResult, Sandbox
from sandbox.factory import open_sandbox
from sandbox.limits import SandboxLimits
from sandbox.output import last_line

CODE_DIR = "/workspace/code"
CONTRACT_DIR = "/tmp/contract"

# A stand-in model for the contract check: standard library only, loopback.
STAND_IN_MODEL = r'''
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        call = {"id": "c1", "type": "function", "function": {"name": "finish", "arguments": "{\"summary\": \"done\"}"}}
        message = {"role": "assistant", "content": "```finish\ndone\n```", "tool_calls": [call]}
        body = json.dumps({"id": "x", "object": "chat.completion", "model": "stand-in",
                           "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)

HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''

CONTRACT_SCRIPT = """
set -u
python3 /tmp/stand_in_model.py 18765 & model=$!
mkdir -p /tmp/contract/repo && cd /tmp/contract/repo && git init -q && echo 'x = 1' > x.py \
  && git add . && git -c user.name=c -c user.email=c@c commit -qm init
echo 'Make x equal 2.' > /tmp/contract/problem.md
cd {code}
for i in 1 2 3 4 5 6 7 8 9 10; do python3 -c 'import socket; socket.create_connection(("127.0.0.1", 18765))' 2>/dev/null && break; sleep 0.2; done
{base_url}=http://127.0.0.1:18765/v1 OPENAI_BASE_URL=http://127.0.0.1:18765/v1 {model}=stand-in {token}=check \
  OPENAI_API_KEY=check {argv}
status=$?
kill $model 2>/dev/null
exit $status
""".format(code=CODE_DIR, base_url=BASE_URL_ENV, model=MODEL_ENV, token=TOKEN_ENV,
           argv=" ".join(agent_argv(CONTRACT_DIR + "/problem.md", CONTRACT_DIR + "/repo", CONTRACT_DIR + "/out")))


@dataclass(frozen=True)
class ValidationResult:
    ok: bool
    stage: str  # "compile", "tests", "contract" (where it failed) or "passed"
    reason: str
    log: str


def validate_agent(code_root: Path, limits: SandboxLimits | None = None, timeout: float = 300.0, *,
                   image: str | None = None, env: dict[str, str] | None = None) -> ValidationResult:
    """Run the three checks on the agent in `code_root/agent`, in fresh sandboxes of `image` (the
    sandbox image when None) with `env` beside the sandbox's own variables."""
    logs: list[str] = []

    def step(sb: Sandbox, command: str, seconds: float) -> ExecResult:
        result = sb.exec(["bash", "-c", command], timeout=seconds, workdir=CODE_DIR)
        logs.append(f"$ {command}\n{result.output}\n[exit {result.exit_code}{', timed out' if result.timed_out else ''}]")
        return result

    # Compiling runs none of the child's code; its tests do, so the contract check
    # gets a fresh sandbox: nothing the tests left running can fake the outputs it reads.
    with open_sandbox(image, limits, env=env) as sb:
        sb.copy_in(code_root / "agent", f"{CODE_DIR}/agent")
        compiled = step(sb, "python -m compileall -q agent", 60)
        if not compiled.ok:
            return ValidationResult(False, "compile", _failed("does not compile", compiled), "\n".join(logs))
        tests = step(sb, "python -m pytest -q -p no:cacheprovider agent/tests", timeout)
        if tests.timed_out:
            return ValidationResult(False, "tests", f"its own tests did not finish in {timeout:.0f} s", "\n".join(logs))
        if not tests.ok:
            return ValidationResult(False, "tests", _failed("its own tests fail", tests), "\n".join(logs))
    with open_sandbox(image, limits, env=env) as sb:
        sb.copy_in(code_root / "agent", f"{CODE_DIR}/agent")
        sb.write_file("/tmp/stand_in_model.py", STAND_IN_MODEL)
        contract = step(sb, CONTRACT_SCRIPT, 120)
        written, refused = read_outputs(sb, f"{CONTRACT_DIR}/out")
    missing = [n for n in OUTPUTS if n not in written]
    if contract.timed_out or missing:
        why = "did not exit in 120 s" if contract.timed_out else f"did not write {', '.join(missing)}"
        why += "".join(f" ({name}: {reason})" for name, reason in refused.items())
        return ValidationResult(False, "contract", f"breaks the contract: `python -m agent` {why}", "\n".join(logs))
    try:
        json.loads(written["summary.json"])
    except ValueError:
        return ValidationResult(False, "contract", "breaks the contract: summary.json is not JSON", "\n".join(logs))
    return ValidationResult(True, "passed", "compiles, its tests pass, contract kept", "\n".join(logs))


def _failed(what: str, result: ExecResult) -> str:
    line = last_line(result.output)
    return f"{what}: {line}" if line else what
