"""A tiny OpenAI-compatible server for the agent's own tests (standard library
only: the agent may not import the platform). Replies come from a script."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def text(content: str, tokens: int = 10) -> dict[str, Any]:
    return {"message": {"role": "assistant", "content": content}, "tokens": tokens}


def tool_call(name: str, arguments: Any, tokens: int = 10) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    call = {"id": f"call_{name}", "type": "function", "function": {"name": name, "arguments": args}}
    return {"message": {"role": "assistant", "content": "", "tool_calls": [call]}, "tokens": tokens}


def error(status: int, message: str, code: str = "server_error") -> dict[str, Any]:
    return {"status": status, "body": {"error": {"message": message, "type": "invalid_request_error", "code": code}}}


class FakeModel:
    """Serves `script` in order (the last entry repeats); records each request."""

    def __init__(self, script: list[dict[str, Any]]) -> None:
        self.script, self.requests = list(script), []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"body": body, "auth": self.headers.get("Authorization")})
                step = fake.script.pop(0) if len(fake.script) > 1 else fake.script[0]
                status, payload = step.get("status", 200), step.get("body")
                if payload is None:
                    usage = {"prompt_tokens": step["tokens"], "completion_tokens": 1, "total_tokens": step["tokens"] + 1}
                    payload = {"id": "x", "object": "chat.completion", "model": body.get("model"),
                               "choices": [{"index": 0, "message": step["message"], "finish_reason": "stop"}], "usage": usage}
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "FakeModel":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
