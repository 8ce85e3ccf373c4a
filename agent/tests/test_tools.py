from __future__ import annotations

from pathlib import Path

from agent.tools import MAX_OUTPUT_CHARS, BashSession, Editor


def test_bash_keeps_state_between_commands(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    bash = BashSession(tmp_path)
    try:
        assert bash.run("cd sub && export GREETING=hi").endswith("[exit code 0]")
        out = bash.run("pwd; echo $GREETING")
        assert f"{tmp_path}/sub" in out and "hi" in out
        assert bash.run("false").endswith("[exit code 1]")
        assert "[exit code 0]" in bash.run("cat")  # reads /dev/null, does not hang or eat the next command
        assert "syntax error" in bash.run("echo 'unclosed")
        assert "ok" in bash.run("echo ok")
    finally:
        bash.close()


def test_bash_timeout_restarts_the_shell(tmp_path: Path) -> None:
    bash = BashSession(tmp_path, timeout=1)
    try:
        assert "timed out after 1 s" in bash.run("echo start; sleep 30")
        assert "again" in bash.run("echo again")
    finally:
        bash.close()


def test_bash_output_is_truncated(tmp_path: Path) -> None:
    bash = BashSession(tmp_path)
    try:
        out = bash.run("seq 1 100000")
        assert len(out) < MAX_OUTPUT_CHARS + 200 and "characters cut" in out
        assert out.splitlines()[0] == "1" and "100000" in out
    finally:
        bash.close()


def test_editor_round_trip(tmp_path: Path) -> None:
    editor = Editor(tmp_path)
    assert editor.run("create", "pkg/a.py", content="x = 1\ny = 2\n").startswith("created")
    assert "     2\ty = 2" in editor.run("view", "pkg/a.py")
    assert editor.run("view", "pkg/a.py", start=2, end=2).strip() == "2\ty = 2"
    assert "exactly once" in editor.run("str_replace", "pkg/a.py", old="= ", new="== ")
    assert editor.run("str_replace", "pkg/a.py", old="y = 2", new="y = 3") == "replaced in pkg/a.py"
    assert editor.run("insert", "pkg/a.py", line=0, text="# top").startswith("inserted")
    assert (tmp_path / "pkg/a.py").read_text() == "# top\nx = 1\ny = 3\n"
    editor.run("undo", "pkg/a.py")
    editor.run("undo", "pkg/a.py")
    assert (tmp_path / "pkg/a.py").read_text() == "x = 1\ny = 2\n"
    editor.run("undo", "pkg/a.py")
    assert not (tmp_path / "pkg/a.py").exists()
    assert "no edit" in editor.run("undo", "pkg/a.py")


def test_editor_refuses_bad_calls(tmp_path: Path) -> None:
    editor = Editor(tmp_path)
    assert "outside the repository" in editor.run("create", "../escape.py", content="x")
    assert not (tmp_path.parent / "escape.py").exists()
    assert "unknown editor command" in editor.run("delete", "a.py")
    assert editor.run("view", "missing.py").startswith("error:")
    assert editor.run("view", ".", bogus=1).startswith("error:")
