"""From the harness's report to per-test statuses, and the cross-checks that catch forgery.

The report lists what the tests really did (see evaluator/harness/runner.py).
Before any of it counts, it must be consistent with itself and with the
canaries: a must-fail canary that passed, a canary that vanished from a
suite that ran, one test reported twice with different results, or a suite
that exited 0 although tests failed means the code under test reached into
its grade. That is the outcome `tampered`, with the rule and what it saw.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from evaluator.languages import python
from evaluator.languages.base import Rewrite

PASSING = ("PASSED", "XFAIL")


@dataclass
class Verdict:
    statuses: dict[str, str] = field(default_factory=dict)  # original test id -> PASSED/FAILED/...
    tampering: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)  # why tests did not pass, for the reason

    def tamper(self, rule: str, detail: str) -> None:
        if self.tampering is None:
            self.tampering = {"rule": rule, "detail": detail[:500]}


def _canaries(verdict: Verdict, rewrite: Rewrite, seen: dict[str, str], ran: set[str]) -> None:
    """`seen`: canary name -> status; `ran`: files whose tests ran (a canary may only vanish with its file)."""
    for name in rewrite.must_fail:
        status = seen.get(name)
        twin = rewrite.template.get(name)
        if status in PASSING and (twin is None or verdict.statuses.get(twin) in PASSING):
            # its real twin passed with the very values the canary rejects: only forcing makes both pass
            verdict.tamper("canary-passed", f"the must-fail canary {name} in {rewrite.where.get(name, '?')} passed "
                                            f"beside its real twin {twin}: something forces test results")
        elif status is None and rewrite.where.get(name) in ran:
            verdict.tamper("canary-missing", f"the canary {name} was not reported although its file ran")
    for name in rewrite.must_pass:
        if seen.get(name) is None and rewrite.where.get(name) in ran:
            verdict.tamper("canary-missing", f"the canary {name} was not reported although its file ran")


def from_suite(report: dict[str, Any], rewrite: Rewrite) -> Verdict:
    """A pytest run with Clade's plugin: its records, the exit status the runner saw."""
    verdict = Verdict()
    phases: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    collect_failed: list[str] = []
    ended = None
    for record in report.get("records", []):
        parts = record.split()
        if len(parts) != 5:
            verdict.tamper("bad-record", f"a malformed plugin record: {record[:200]}")
            continue
        kind, hex_id, when, outcome, flag = parts
        try:
            node = bytes.fromhex(hex_id).decode("utf-8", "surrogateescape")
        except ValueError:
            verdict.tamper("bad-record", f"a malformed plugin record: {record[:200]}")
            continue
        if kind == "collect":
            collect_failed.append(node)
        elif kind == "end":
            ended = outcome
        elif kind == "test":
            before = phases[node].get(when)
            if before is not None and before != (outcome, flag):
                verdict.tamper("reported-twice", f"{node} was reported twice for its {when} phase: "
                                                 f"{before[0]} and {outcome}")
            phases[node][when] = (outcome, flag)
    statuses = {node: _pytest_status(p) for node, p in phases.items()}
    ran = {node.split("::", 1)[0] for node in statuses}
    seen: dict[str, str] = {}
    for node, status in statuses.items():
        kind, original = python.original_id(node, rewrite)
        if kind in ("real", "other") and original is not None:  # other: a test not renamed (a visible file)
            verdict.statuses[original] = status
        elif kind == "canary" and original is not None:
            # a parametrized canary has several instances: the worst one counts for must-fail
            previous = seen.get(original)
            seen[original] = status if previous is None or previous in PASSING else previous
    _canaries(verdict, rewrite, seen, ran)
    exit_code = report.get("exit_code")
    failures = any(s not in PASSING for s in statuses.values())
    if exit_code == 0 and (failures or not statuses):
        verdict.tamper("exit-status", "the test process exited 0 although tests failed (the must-fail canaries "
                                      "always do): it was ended from inside")
    if ended is not None and exit_code is not None and str(exit_code) != ended:
        verdict.tamper("exit-status", f"pytest finished with status {ended} but the process exited {exit_code}")
    if collect_failed:
        verdict.notes.append("collection errors in " + ", ".join(sorted(collect_failed)[:3]))
    if ended is None and not report.get("timed_out"):
        verdict.notes.append(f"the test process ended (status {exit_code}) before pytest finished")
    return verdict


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)|[A-Z]\w*Warning)\b(:.*)?$")


def crash_line(output: str) -> str:
    """The first line of what crashed a test run: pytest's `E   ...` line, else a raised exception's
    line (`ImportError: ...`), else the output's last line."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("E   "):
            return line[4:].strip()[:300]
    for line in lines:
        if _EXCEPTION_LINE.match(line.strip()):
            return line.strip()[:300]
    return lines[-1].strip()[:300] if lines else "no output"


def _pytest_status(phases: dict[str, tuple[str, str]]) -> str:
    if any(outcome == "failed" for outcome, _ in phases.values()):
        return "FAILED"
    call = phases.get("call")
    if call is not None:
        outcome, flag = call
        if outcome == "passed":
            return "PASSED"
        return "XFAIL" if flag == "xfail" else "SKIPPED"
    setup = phases.get("setup")
    if setup is not None and setup[0] == "skipped":
        return "XFAIL" if setup[1] == "xfail" else "SKIPPED"
    return "ERROR"


def from_each(report: dict[str, Any], rewrite: Rewrite, status_of: Any) -> Verdict:
    """One process per test: `status_of(name, exit_code, output)` reads each one's result."""
    verdict = Verdict()
    seen: dict[str, str] = {}
    counts: dict[str, int] = defaultdict(int)
    for test in report.get("tests", []):
        name = str(test.get("id"))
        counts[name] += 1
        status = status_of(name, test.get("exit_code"), str(test.get("output", "")))
        if name in rewrite.real:
            verdict.statuses[rewrite.real[name]] = "FAILED" if status in ("MISSING", "TIMEOUT") else status
            if status == "MISSING":
                verdict.notes.append(f"{rewrite.real[name]} was not in the test binary")
            elif status == "TIMEOUT":
                verdict.notes.append(f"{rewrite.real[name]} ran out of time")
        elif status != "MISSING":
            seen[name] = status
    for name, count in counts.items():
        if count > 1:
            verdict.tamper("reported-twice", f"{name} was reported {count} times")
    _canaries(verdict, rewrite, seen, set(rewrite.where.values()))
    return verdict


def pytest_log(statuses: dict[str, str]) -> str:
    """The results as pytest's `-rA` summary lines, for swebench's parser (ids hold no spaces)."""
    return "".join(f"{status} {test_id}\n" for test_id, status in statuses.items())
