"""Agent-written text reaches a person's terminal shown, never obeyed; and
the error paths of the hostile-agents issue end as one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from api.auth import ensure_token, read_token, token_path
from api.cli.text import terminal_safe
from archive import Archive, CladeHome
from archive.models import NodeStatus

CLADE = str(Path(sys.executable).with_name("clade"))
HOSTILE = "done\x1b[2J\x1b]0;owned\x07\rrewritten\x9b31m"


def test_control_characters_are_shown_as_escapes() -> None:
    shown = terminal_safe(HOSTILE + "\tkept\nkept")
    assert shown == "done\\x1b[2J\\x1b]0;owned\\x07\\x0drewritten\\x9b31m\tkept\nkept"
    assert not any(ord(c) < 32 and c not in "\t\n" for c in shown)


def test_node_show_prints_agent_text_without_escape_codes(archive: Archive, seed_agent: Path,
                                                          clade_home: CladeHome) -> None:
    run, root = archive.create_run("hostile", {}, seed_agent)
    node = archive.repo.add_node(run.id, root.id, status=NodeStatus.INVALID)
    archive.repo.update_node(node.id, failure_reason=f"tests: {HOSTILE}", entry_task=HOSTILE)
    shown = subprocess.run([CLADE, "node", "show", str(node.id)], capture_output=True, text=True,
                           env={**os.environ, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout and "\r" not in shown.stdout
    assert "\\x1b[2J" in shown.stdout and "rewritten" in shown.stdout


def test_a_missing_git_object_is_one_line_not_a_traceback(archive: Archive, seed_agent: Path,
                                                         clade_home: CladeHome) -> None:
    run, root = archive.create_run("damaged", {}, seed_agent)
    archive.repo.update_node(root.id, commit="0" * 40)
    shown = subprocess.run([CLADE, "node", "diff", str(root.id)], capture_output=True, text=True)
    assert shown.returncode == 2, shown.stderr
    assert "Traceback" not in shown.stderr and len(shown.stderr.strip().splitlines()) == 1
    assert "not in the code store" in shown.stderr and "restore CLADE_HOME" in shown.stderr


def test_a_token_that_cannot_be_written_leaves_no_empty_file(clade_home: CladeHome) -> None:
    """A disk that takes no more bytes (a file-size limit of 0 in a child process,
    which fails the write as a full disk does) must not leave an empty api_token behind."""
    clade_home.ensure_writable()
    child = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))\n"
        "from api.auth import ensure_token\n"
        "from archive import CladeHome\n"
        "from archive.errors import CladeError\n"
        "try:\n"
        "    ensure_token(CladeHome.from_env())\n"
        "except CladeError as exc:\n"
        "    print(exc); sys.exit(2)\n"
    )
    failed = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "cannot write the API token" in failed.stdout and "free space" in failed.stdout
    assert not token_path(clade_home).exists()
    assert list(clade_home.root.glob(".api_token*")) == []
    token, created = ensure_token(clade_home)  # the next start makes it as if nothing happened
    assert created and read_token(clade_home) == token
