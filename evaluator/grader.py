"""Grading one patch, step by step, in a fresh sandbox where the tests cannot reach their grade.

Two users share the grading sandbox. The *grader* owns /workspace: it puts
the repository there, applies the patch, sets aside what the patch changed
in the task's test set-up (`evaluator.protect`), puts the hidden tests in
place with fresh names and canaries (`evaluator.languages`), and installs
the harness. The *sandbox user* — the one the code under test runs as —
builds the tests where it may write (/tmp) and runs the harness runner,
which reports every test's result behind a per-run secret that only the
host and the runner know. The host then checks the report
(`evaluator.verdict`) and grades the results through swebench's report,
as every benchmark is graded.

    place repo (grader) → apply patch, .git read-only (grader) → set aside (grader)
    → hidden tests, renamed, canaries (grader) → build (sandbox user) → kill its leftovers
    → binaries copied out of its reach (grader) → harness runner (sandbox user) → verdict (host)
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import secrets
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from archive.errors import CladeError
from evaluator import tests_script, grading, protect, verdict
from evaluator.languages import registry, rust
from evaluator.languages.base import Rewrite
from evaluator.task import Outcome, Task, TestsStatus
from sandbox.transfer import pack_files

HARNESS = Path(__file__).parent / "harness"
HARNESS_DIR = "/tmp/clade-harness"  # the grader's: runner, plugin, plan
BUILD_DIR = "/tmp/clade-build"  # the sandbox user's: compiler output
BIN_DIR = "/tmp/clade-bin"  # the grader's copies of the test executables
WORK = "/tmp/clade"
SCRATCH_CWD = "/tmp/clade-tests-cwd"  # the tests' own copy of the repository, where they may write
PATCH_FILE = f"{WORK}/model.patch"
GIT = "git -c core.fsmonitor=false -c core.hooksPath=/dev/null"
STEP_TIMEOUT_S = 120.0
_BUILT = registry.BUILT  # the languages whose tests are built, then run one process each
_SUFFIX = registry.SUFFIXES
_LOG_MARKER = re.compile(r"^>>>>>", re.M)


@dataclass
class Graded:
    outcome: Outcome
    reason: str
    status: TestsStatus | None = None
    seconds: float = 0.0
    tampering: dict[str, str] | None = None
    set_aside: list[str] = field(default_factory=list)


def language_of(task: Task) -> str:
    return str(task.metadata.get("language") or "python")


class _Log:
    """The human-readable test log (test_output.txt): every step and what it printed."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, title: str, text: str) -> None:
        self.parts.append(f"===== {title}\n{text.rstrip()}\n")

    def text(self) -> str:
        return "\n".join(self.parts)


def grade_patch(task: Task, patch: str, sandbox_factory: Any, place_repo: Any, *, tests_timeout: float,
                logs: Path, base: Path | None = None) -> Graded:
    """Grade `patch` on `task` (see the module doc). `sandbox_factory(workspace_owner=...)`
    opens a sandbox; `place_repo(sb, user)` puts the base repository in it and returns its path;
    `base` is that repository on the host, when the task's files are on the host."""
    started = time.monotonic()
    log = _Log()
    try:
        if not task.FAIL_TO_PASS:
            return Graded(Outcome.UNRESOLVED, "the task has no FAIL_TO_PASS test, so nothing can resolve it "
                                              "(a broken task: fix its test lists)")
        hidden_texts = _hidden_files(task, base) if base is not None else None
        with sandbox_factory(workspace_owner="grader") as sb:
            graded = _grade(sb, task, patch, place_repo(sb, "grader"), tests_timeout, log, logs, hidden_texts)
        graded.seconds = time.monotonic() - started
        return graded
    finally:
        (logs / "test_output.txt").write_text(log.text())


def _grader(sb: Any, script: str, log: _Log, title: str, timeout: float = STEP_TIMEOUT_S,
            files: dict[str, str | bytes] | None = None) -> Any:
    """A grader step; `files` are unpacked (owned by the grader) before `script` runs, in the same exec."""
    if files:
        script = f"tar -x -f - -C / --no-same-owner --no-overwrite-dir || exit 90\n{script}"
    data = pack_files({k: v.encode() if isinstance(v, str) else v for k, v in files.items()}, 0o644) if files else None
    ran = sb.exec(["bash", "-c", script], timeout=timeout, user="grader", input=data)
    log.add(f"{title} (grader, exit {ran.exit_code})", ran.output.replace("\0", "\n"))
    return ran


def _harness_files() -> dict[str, str]:
    return {f"{HARNESS_DIR}/{name}": (HARNESS / name).read_text()
            for name in ("runner.py", "pytest_main.py", "clade_pytest_plugin.py")}


def _apply(sb: Any, task: Task, patch: str, repo: str, log: _Log) -> tuple[Any, list[str], list[str]]:
    """Apply the patch (with .git read-only: GNU patch, the fall-back, would write there) and list
    what it changed and what it added, in one step. Returns (result, changed, added)."""
    q, cut = shlex.quote, f"@@clade-{secrets.token_hex(8)}@@"
    script = (f"cd {q(repo)} || exit 2\n{GIT} ls-files -o -z > {WORK}/untracked-before\n"
              f"chmod -R a-w .git; ( {grading.apply_script(repo, PATCH_FILE)} ); s=$?; chmod -R u+w .git\n"
              f"if [ $s = 0 ]; then printf '\\n{cut}\\n'; {GIT} diff --name-only --no-renames -z {q(task.base_commit)}; "
              f"printf '\\n{cut}\\n'; cat {WORK}/untracked-before; printf '\\n{cut}\\n'; {GIT} ls-files -o -z; fi\n"
              "exit $s\n")
    ran = _grader(sb, script, log, "apply the patch", files={PATCH_FILE: patch, **_harness_files()})
    parts = ran.output.split(f"\n{cut}\n")
    if len(parts) != 4:
        return ran, [], []
    return ran, _zero_list(parts[1]), sorted(set(_zero_list(parts[3])) - set(_zero_list(parts[2])))


def _grade(sb: Any, task: Task, patch: str, repo: str, tests_timeout: float, log: _Log, logs: Path,
           hidden_texts: dict[str, str | None] | None) -> Graded:
    language = language_of(task)
    q = shlex.quote
    applied, changed, added = _apply(sb, task, patch, repo, log)
    if tests_script.APPLY_PATCH_PASS not in applied.output or applied.timed_out or not applied.ok:
        graded = grading.grade(task, applied.output, patch=patch)
        return Graded(Outcome.UNRESOLVED, graded.reason)

    hidden = tests_script.patch_paths(task.test_patch)
    task_files = tuple(str(p) for p in task.metadata.get("task_files", []))
    restore, remove = protect.set_aside(changed, added, language=language, hidden=hidden, task_files=task_files)
    set_aside = sorted(restore + remove)
    log.add("set aside", "\n".join(set_aside) or "(nothing)")
    script = f"cd {q(repo)}"
    if remove:
        script += " && rm -rf -- " + " ".join(q(p) for p in remove)
    if restore:
        script += f" && {GIT} checkout -q {q(task.base_commit)} -- " + " ".join(q(p) for p in restore)

    rng = random.SystemRandom()
    expected = {t.split("[", 1)[0] for t in [*task.FAIL_TO_PASS, *task.PASS_TO_PASS]}
    suffixes = _SUFFIX.get(language, ("",))
    if hidden_texts is not None:  # the task's files are here: the hidden tests are known before the sandbox
        texts = {p: t for p, t in hidden_texts.items() if t is not None and p.endswith(suffixes)}
        rewrite = _rewrite(language, texts, expected, rng)
        final = {p: rewrite.files.get(p, t) for p, t in hidden_texts.items() if t is not None}
        gone = [p for p, t in hidden_texts.items() if t is None]
        script += " && rm -rf -- " + " ".join(q(p) for p in hidden)
        script += f" && tar -x -f {WORK}/hidden.tar -C / --no-same-owner" if final else ""
        script += (" && rm -rf -- " + " ".join(q(p) for p in gone)) if gone else ""
        staged = {f"{repo}/{p}": t for p, t in final.items()}
    else:  # an image's repository (SWE-bench): its own script puts the tests in place, then they are read back
        script += "\n" + _prepare_script(task, repo)
        staged = {}
    plan: dict[str, Any] | None = None if language in _BUILT else _suite_plan(task, repo, tests_timeout)
    files: dict[str, str | bytes] = {}
    if plan is not None and hidden_texts is not None:
        files[f"{HARNESS_DIR}/plan.json"] = json.dumps(plan)
    if staged:  # unpacked after the set-aside, in the same step
        files[f"{WORK}/hidden.tar"] = pack_files({k: v.encode() for k, v in staged.items()}, 0o644)
    prepared = _grader(sb, script, log, "set aside what the patch changed; put the hidden tests in place",
                       files=files)
    if tests_script.TESTS_DID_NOT_APPLY in prepared.output or not prepared.ok:
        return Graded(Outcome.ERROR, "the hidden tests do not apply to the repository (a broken task)",
                      set_aside=set_aside)
    if hidden_texts is None:
        paths = [p for p in hidden if p.endswith(suffixes)]
        read = _read_existing(sb, repo, paths)
        rewrite = _rewrite(language, read, expected, rng)
        extra = {f"{repo}/{p}": t for p, t in rewrite.files.items()}
        if plan is not None:
            extra[f"{HARNESS_DIR}/plan.json"] = json.dumps(plan)
        _grader(sb, "true", log, "the hidden tests, renamed, with canaries", files=extra)

    secret = secrets.token_hex(24)
    if plan is None:
        tests = _build(sb, _BUILT[language], repo, rewrite, tests_timeout, log)
        if isinstance(tests, Graded):
            tests.set_aside = set_aside
            return tests
        cwd = repo
        if getattr(_BUILT[language], "WRITABLE_CWD", False):
            cwd = SCRATCH_CWD
            copy = f"rm -rf {SCRATCH_CWD} && mkdir -p {SCRATCH_CWD} && cp -r {shlex.quote(repo)}/. {SCRATCH_CWD}"
            copied = sb.exec(["bash", "-c", copy], timeout=120)
            if not copied.ok:  # as the sandbox user, of the patched repository: the patch's failure, not ours
                return Graded(Outcome.UNRESOLVED, "the tests' copy of the repository could not be made: "
                              + _error_line(copied.output), set_aside=set_aside)
        plan = {"mode": "each", "cwd": cwd, "timeout": tests_timeout, "env": dict(_BUILT[language].BUILD_ENV),
                "tests": tests}
        _grader(sb, "true", log, "the test plan", files={f"{HARNESS_DIR}/plan.json": json.dumps(plan)})
    ran = sb.exec(["python3", "-I", "-S", f"{HARNESS_DIR}/runner.py", f"{HARNESS_DIR}/plan.json"],
                  timeout=tests_timeout + 30, input=secret + "\n", workdir=repo)
    if ran.timed_out:
        log.add("tests (timed out)", ran.output[-20000:])
        return Graded(Outcome.TIMEOUT, f"the tests ran past their {tests_timeout:g} s limit and were stopped",
                      set_aside=set_aside)
    report = _report(ran.output, secret)
    if report is None:
        log.add(f"harness runner (exit {ran.exit_code}): no report", ran.output[-20000:])
        if ran.exit_code == 127:
            raise CladeError(f"the task's image has no python3 to run the grading harness: {ran.output[-300:]}")
        return _tampered("harness-report-missing", f"the harness runner ended with status {ran.exit_code} and no "
                         "signed report: it was killed or its output was forged", set_aside)
    _log_report(log, report, rewrite)
    return _judge(task, report, rewrite, language, set_aside, logs, tests_timeout)


_HIDDEN_CACHE: dict[tuple[str, str, str], dict[str, str | None]] = {}


def _hidden_files(task: Task, base: Path) -> dict[str, str | None]:
    """The hidden test files after the test patch (None: the patch deletes it), made once per task."""
    key = (task.instance_id, task.base_commit, task.test_patch)
    if key not in _HIDDEN_CACHE:
        import shutil
        import tempfile

        from evaluator import gitrepo

        with tempfile.TemporaryDirectory(prefix="clade-hidden-") as tmp:
            work = Path(tmp) / "repo"
            shutil.copytree(base, work, symlinks=True)
            ok, message = gitrepo.apply_patch(work, task.test_patch)
            if not ok:
                raise CladeError(f"task {task.instance_id}: its hidden tests do not apply to its base ({message})")
            _HIDDEN_CACHE[key] = {p: (work / p).read_text() if (work / p).is_file() else None
                                  for p in tests_script.patch_paths(task.test_patch)}
    return _HIDDEN_CACHE[key]


def _read_existing(sb: Any, repo: str, paths: list[str]) -> dict[str, str]:
    listed = sb.exec(["bash", "-c", "for f; do [ -f \"$f\" ] && printf '%s\\0' \"$f\"; done; true", "sh", *paths],
                     timeout=30, user="grader", workdir=repo)
    present = _zero_list(listed.output)
    read = sb.read_files([f"{repo}/{p}" for p in present]) if present else {}
    return {p.removeprefix(repo + "/"): t.decode("utf-8", "replace") for p, t in read.items()}


def _tampered(rule: str, detail: str, set_aside: list[str]) -> Graded:
    return Graded(Outcome.TAMPERED, f"tampered ({rule}): {detail}", tampering={"rule": rule, "detail": detail},
                  set_aside=set_aside)


def _judge(task: Task, report: dict[str, Any], rewrite: Rewrite, language: str, set_aside: list[str],
           logs: Path, tests_timeout: float) -> Graded:
    ours = task.test_cmd is not None  # a file-based task: pytest always runs with Clade's plugin
    if report.get("mode") == "each":
        seen = verdict.from_each(report, rewrite, _BUILT[language].status)
    elif report.get("records") or ours:
        seen = verdict.from_suite(report, rewrite)
    else:  # a task's own, non-pytest runner: its log, read by the task's parser (see the README)
        return _judge_log(task, report, set_aside, logs)
    timed_out = report.get("timed_out") or any(t.get("timed_out") for t in report.get("tests", []))
    if timed_out and (seen.tampering is None or seen.tampering["rule"] != "canary-passed"):
        return Graded(Outcome.TIMEOUT, f"the tests ran past their {tests_timeout:g} s limit "
                      "and were stopped", set_aside=set_aside)
    if seen.tampering is not None:
        return _tampered(seen.tampering["rule"], seen.tampering["detail"], set_aside)
    graded_task = task.model_copy(update={"log_parser": "parse_log_pytest"})
    log = f"{tests_script.START_TEST_OUTPUT}\n{verdict.pytest_log(seen.statuses)}{tests_script.END_TEST_OUTPUT}\n"
    graded = grading.grade(graded_task, log, patch="x", log_path=logs / "test_results.txt")
    reason = graded.reason
    listed = {t for t in [*task.FAIL_TO_PASS, *task.PASS_TO_PASS]}
    missing = sorted(listed - set(seen.statuses))
    if not seen.statuses and listed:  # nothing ran: say why, not just which tests failed
        reason = (f"the code under test crashed before any test ran ({verdict.crash_line(str(report.get('output')))}); "
                  f"all {len(listed)} listed tests count as failed")
    elif missing and not graded.resolved:
        reason += f"; {len(missing)} expected test(s) were not reported ({', '.join(missing[:3])})"
    if seen.notes and not graded.resolved:
        reason += "; " + "; ".join(seen.notes[:2])
    if set_aside and not graded.resolved:
        reason += f" (set aside: {', '.join(set_aside[:3])}{' ...' if len(set_aside) > 3 else ''})"
    return Graded(Outcome.RESOLVED if graded.resolved else Outcome.UNRESOLVED, reason, graded.status,
                  set_aside=set_aside)


def _judge_log(task: Task, report: dict[str, Any], set_aside: list[str], logs: Path) -> Graded:
    """The task's own runner did not load Clade's plugin: markers and exit status come from the
    harness (never from the tests' output, whose marker lines are defused), results from the log."""
    output = _LOG_MARKER.sub("]]]]]", str(report.get("output", "")))
    log = (f"{tests_script.START_TEST_OUTPUT}\n{output}\n{tests_script.END_TEST_OUTPUT}\n"
           f">>>>> Test Exit Code: {report.get('exit_code')}\n")
    graded = grading.grade(task, log, patch="x", log_path=logs / "test_results.txt")
    return Graded(Outcome.RESOLVED if graded.resolved else Outcome.UNRESOLVED, graded.reason, graded.status,
                  set_aside=set_aside)


def _rewrite(language: str, texts: dict[str, str], expected: set[str], rng: random.Random) -> Rewrite:
    return registry.rewrite(language, texts, expected, rng)


_ENV_LINE = ("cd ", "export ", "source ", ". ", "conda activate", "set ")
_GIT_LINE = re.compile(r"^\s*git\s+(checkout|apply|status|show|diff|config|reset|clean)\b")


def _split_prefix(task: Task) -> tuple[list[str], list[str]]:
    """A SWE-bench eval script before its tests, split by who may run each line: the grader runs
    git (checkout, apply and their here-documents) and the environment lines; anything else
    (`pip install -e .` runs the patched setup.py) runs as the tests' user, before the tests."""
    head = grading.task_eval_script(task).split(tests_script.START_TEST_OUTPUT)[0].rsplit("\n", 1)[0]
    grader_lines: list[str] = []
    test_lines: list[str] = []
    heredoc: str | None = None
    for line in head.splitlines():
        stripped = line.strip()
        if heredoc is not None:
            grader_lines.append(line)
            heredoc = None if stripped == heredoc else heredoc
        elif _GIT_LINE.match(line):
            grader_lines.append(line)
            marker = re.search(r"<<-?\s*'?\"?(\w+)", line)
            heredoc = marker.group(1) if marker else None
        elif stripped.startswith(_ENV_LINE) or stripped.startswith("#") or not stripped:
            grader_lines.append(line)
            test_lines.append(line)
        else:
            test_lines.append(line)
    return grader_lines, test_lines


def _prepare_script(task: Task, repo: str) -> str:
    if task.test_cmd is not None:
        return tests_script.prepare(repo_dir=repo, base_commit=task.base_commit, test_patch=task.test_patch)
    return "\n".join(_split_prefix(task)[0]) + "\n"


def _suite_plan(task: Task, repo: str, timeout: float) -> dict[str, Any]:
    """Python: pytest with Clade's plugin, the repository after the runner's own modules."""
    if task.test_cmd is not None:
        argv = shlex.split(task.test_cmd)
        at = argv.index("pytest") + 1 if "pytest" in argv else None
        if at is None:
            raise CladeError(f"task {task.instance_id}: the grader runs Python tests with pytest, and its test "
                             f"command {task.test_cmd!r} is not a pytest command")
        args = ["-p", "no:cacheprovider", "--import-mode=append", "-q", *argv[at:]]
        return {"mode": "suite", "plugin": True, "cwd": repo, "timeout": timeout,
                "argv": ["python3", "-I", f"{HARNESS_DIR}/pytest_main.py", repo, *args]}
    script = grading.task_eval_script(task)
    rest = script.partition(tests_script.START_TEST_OUTPUT)[2]
    command = rest.split("\n", 1)[1].split(tests_script.END_TEST_OUTPUT)[0].rsplit("\n", 1)[0]
    # swebench records `$?` in a variable after the command; here the runner sees the real status itself
    command = "\n".join(line for line in command.splitlines() if not re.fullmatch(r"\s*\w+=\$\?\s*", line))
    setup = [line for line in _split_prefix(task)[1] if not line.strip().startswith("set ")]
    shell = "\n".join(["set -uo pipefail", *setup, command]) + "\n"
    env = {"PYTEST_ADDOPTS": "-p clade_pytest_plugin", "PYTHONPATH": f"{HARNESS_DIR}:{repo}"}
    return {"mode": "suite", "plugin": True, "cwd": repo, "timeout": timeout, "env": env,
            "argv": ["bash", "-c", shell]}


def _build(sb: Any, lang: Any, repo: str, rewrite: Rewrite, timeout: float, log: _Log) -> Graded | list[dict]:
    """Compile the tests as the sandbox user; copy the executables where only the grader writes."""
    q = shlex.quote
    if lang is rust:
        _grader(sb, f"export CARGO_HOME=/tmp/clade-grader-cargo; {rust.lock_command(repo)}", log, "lock file")
    built = sb.exec(["bash", "-c", f"mkdir -p {BUILD_DIR} && {lang.build_command(repo, BUILD_DIR)}"],
                    timeout=timeout, env=lang.BUILD_ENV, workdir="/tmp")
    log.add(f"build the tests (exit {built.exit_code})", built.output[-20000:])
    sb.exec(["sh", "-c", "kill -9 -1"], timeout=30)  # nothing the build started may see the tests run
    if built.timed_out:
        return Graded(Outcome.TIMEOUT, f"building the tests ran past {timeout:g} s")
    if not built.ok:
        return Graded(Outcome.UNRESOLVED, "the tests do not build: " + _error_line(built.output))
    names = {**rewrite.real, **{c: c for c in rewrite.canaries}}
    found = lang.binaries(built.output, BUILD_DIR, rewrite.where if lang is rust else names)
    sources = sorted(set(found.values()))
    # a copy keeps its suffix (Jest reads a config by it); 0711: run, not read, unless the runner reads it
    copies = {src: f"{BIN_DIR}/t{i}{PurePosixPath(src).suffix}" for i, src in enumerate(sources)}
    if sources:
        copy = f"mkdir -p {BIN_DIR} && " + " && ".join(f"cp {q(s)} {q(d)}" for s, d in copies.items())
        mode = getattr(lang, "BIN_MODE", "0711")
        copied = _grader(sb, f"{copy} && chmod {mode} {BIN_DIR}/* && chmod 0755 {BIN_DIR}", log,
                         "copy the test executables")
        if not copied.ok:
            return Graded(Outcome.UNRESOLVED, "the test executables could not be copied: "
                          + _error_line(copied.output))
    tests = [{"id": name, "argv": lang.test_argv(copies[found[name]], name)} for name in names if name in found]
    tests += [{"id": name, "argv": ["false"]} for name in names if name not in found]  # not built: missing
    random.SystemRandom().shuffle(tests)
    return tests


def _report(output: str, secret: str) -> dict[str, Any] | None:
    tag = f"CLADE-REPORT {secret} "
    lines = [line for line in output.splitlines() if line.startswith(tag)]
    if len(lines) != 1:
        return None
    try:
        report = json.loads(base64.b64decode(lines[0][len(tag):], validate=True))
    except (ValueError, binascii.Error):
        return None
    return report if isinstance(report, dict) else None


def _log_report(log: _Log, report: dict[str, Any], rewrite: Rewrite) -> None:
    names = {**rewrite.real, **{c: f"canary (must fail): {c}" for c in rewrite.must_fail},
             **{c: f"canary (must pass): {c}" for c in rewrite.must_pass}}
    if report.get("mode") == "each":
        for test in report.get("tests", []):
            log.add(f"{names.get(test['id'], test['id'])} (exit {test.get('exit_code')}, {test.get('seconds')} s)",
                    str(test.get("output", ""))[-4000:])
    else:
        log.add(f"test run (exit {report.get('exit_code')}, {report.get('seconds')} s)", str(report.get("output")))
    log.add("renamed tests", "\n".join(f"{new} = {old}" for new, old in rewrite.real.items()))


def _zero_list(output: str) -> list[str]:
    return [p for p in output.split("\0") if p and "\n" not in p]


# A compiler's own error line: rustc's `error[E0425]: ...`, gcc's `x.cpp:3:5: error: ...`, CMake's `CMake Error at`,
# javac's `X.java:3: error: ...`. A crate or file merely named `thiserror` is not one.
_COMPILER_ERROR = re.compile(r"^(error(\[\w+\])?:|.*:\d+(:\d+)?: (fatal )?error:|CMake Error\b)", re.I)


def _error_line(output: str) -> str:
    """The line that says why a build failed: the first compiler error, else the last line."""
    lines = [_rendered(line.strip()) for line in output.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("{")]  # cargo's JSON about built artifacts
    errors = [line for line in lines if _COMPILER_ERROR.match(line)]
    return (errors[0] if errors else lines[-1] if lines else "no output")[:300]


def _rendered(line: str) -> str:
    """cargo's JSON messages carry the compiler's own text: its first line."""
    if line.startswith("{") and '"rendered"' in line:
        try:
            message = json.loads(line).get("message") or {}
            return str(message.get("rendered") or "").strip().split("\n", 1)[0] or line
        except ValueError:
            return line
    return line

