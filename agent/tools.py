"""The agent's two tools: a persistent bash shell and a file editor.

Tool results are always text for the model; a tool never raises into the
loop, because a weak model will call tools wrongly and must be told so.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
import uuid
from pathlib import Path

MAX_OUTPUT_CHARS = 10_000


def truncate(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """Keep the head and the tail, where errors and summaries usually are."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters cut; narrow the command (head, grep) ...]\n{text[-half:]}"


class BashSession:
    """One bash process kept alive between commands, so `cd` and variables persist."""

    def __init__(self, cwd: Path, timeout: float = 120.0) -> None:
        self.cwd, self.timeout = cwd, timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=self.cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a timeout kills children too
            env={**os.environ, "PAGER": "cat", "GIT_PAGER": "cat", "TERM": "dumb"},
        )

    def run(self, command: str, timeout: float | None = None) -> str:
        if not command.strip():
            return "error: empty command"
        syntax = subprocess.run(["bash", "-n", "-c", command], capture_output=True, text=True)
        if syntax.returncode != 0:  # an unclosed quote would otherwise hang the shell until the timeout
            return f"error: bash syntax error, nothing was run:\n{syntax.stderr.strip()}"
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        marker = f"__CLADE_DONE_{uuid.uuid4().hex}__"
        # stdin of the command is /dev/null: it must not eat the next command.
        script = f"{{\n{command}\n}} < /dev/null 2>&1\nprintf '\\n%s %s\\n' {marker} $?\n"
        assert self.proc.stdin and self.proc.stdout
        try:
            self.proc.stdin.write(script.encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.close()
            return "error: the shell died; it will be restarted on the next command"
        limit = timeout or self.timeout
        deadline = time.monotonic() + limit
        out = bytearray()
        fd = self.proc.stdout.fileno()
        while marker.encode() not in out:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                return truncate(out.decode(errors="replace")) + f"\n[timed out after {limit:.0f} s; the shell was restarted]"
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.close()
                    return truncate(out.decode(errors="replace")) + "\n[the shell exited; it will be restarted]"
                out += chunk
            if len(out) > 50 * MAX_OUTPUT_CHARS:  # a flood: keep only the tail while waiting
                out = out[:MAX_OUTPUT_CHARS] + out[-10 * MAX_OUTPUT_CHARS :]
        text = out.decode(errors="replace")
        body, _, tail = text.rpartition(marker)
        code = tail.strip().split()[0] if tail.strip() else "?"
        return truncate(body.rstrip("\n")) + f"\n[exit code {code}]"

    def close(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            self.proc = None


class Editor:
    """View, create, replace, insert and undo, on files inside the repository."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.history: dict[Path, list[str | None]] = {}

    def _path(self, path: str) -> Path:
        full = (self.root / path).resolve()
        if full != self.root and self.root not in full.parents:
            raise ValueError(f"{path} is outside the repository")
        return full

    def _remember(self, full: Path) -> None:
        self.history.setdefault(full, []).append(full.read_text() if full.exists() else None)

    def run(self, command: str = "", path: str = "", **args: object) -> str:
        try:
            full = self._path(path)
            handler = getattr(self, f"_{command}", None)
            if handler is None:
                return f"error: unknown editor command {command!r}; use view, create, str_replace, insert or undo"
            return handler(full, path, **args)
        except (OSError, ValueError, TypeError, UnicodeDecodeError) as exc:
            return f"error: {exc}"

    def _view(self, full: Path, path: str, start: int = 1, end: int = -1) -> str:
        if full.is_dir():
            return "\n".join(sorted(p.name + ("/" if p.is_dir() else "") for p in full.iterdir()))
        lines = full.read_text().splitlines()
        end = len(lines) if int(end) < 0 else int(end)
        shown = [f"{n:6}\t{line}" for n, line in enumerate(lines[int(start) - 1 : end], start=int(start))]
        return truncate("\n".join(shown) or "(empty file)")

    def _create(self, full: Path, path: str, content: str = "") -> str:
        self._remember(full)
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(content)
        return f"created {path} ({len(content.splitlines())} lines)"

    def _str_replace(self, full: Path, path: str, old: str = "", new: str = "") -> str:
        text = full.read_text()
        count = text.count(old) if old else 0
        if count != 1:
            return f"error: `old` must occur exactly once in {path}, found {count} times; include more context"
        self._remember(full)
        full.write_text(text.replace(old, new, 1))
        return f"replaced in {path}"

    def _insert(self, full: Path, path: str, line: int = 0, text: str = "") -> str:
        lines = full.read_text().splitlines(keepends=True)
        if not 0 <= int(line) <= len(lines):
            return f"error: line must be between 0 and {len(lines)}"
        self._remember(full)
        insert = text if text.endswith("\n") else text + "\n"
        full.write_text("".join(lines[: int(line)]) + insert + "".join(lines[int(line) :]))
        return f"inserted {len(insert.splitlines())} lines after line {line} of {path}"

    def _undo(self, full: Path, path: str) -> str:
        stack = self.history.get(full)
        if not stack:
            return f"error: no edit of {path} to undo"
        previous = stack.pop()
        if previous is None:
            full.unlink()
        else:
            full.write_text(previous)
        return f"undid the last edit of {path}"
