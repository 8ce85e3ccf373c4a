"""Clade's pytest plugin: every test's result, reported behind a secret.

Loaded before any module of the repository (by pytest_main.py, or with
`-p clade_pytest_plugin` from PYTEST_ADDOPTS for a task's own pytest
command). At import it reads its secret from the pipe the harness runner
passed (the pipe is then empty and closed: code imported later cannot read
it) and keeps a private copy of the real standard output, so that pytest's
output capture does not swallow the records. It imports nothing but `os`,
which the interpreter has loaded before any path of the repository could
matter.

Record lines: `@@clade <secret> <kind> <hex nodeid> <when> <outcome> [<flag>]`.
"""

import os

_TAG = None
_OUT = None
_fd = os.environ.pop("CLADE_PLUGIN_FD", None)
if _fd is not None:
    try:
        _TAG = "@@clade " + os.read(int(_fd), 256).decode().strip() + " "
        os.close(int(_fd))
        _OUT = os.dup(1)
    except (OSError, ValueError):
        _TAG = None


def _emit(*fields):
    if _TAG is None or _OUT is None:
        return
    line = "\n" + _TAG + " ".join(fields) + "\n"
    data = line.encode("utf-8", "replace")
    while data:
        written = os.write(_OUT, data)
        data = data[written:]


def _hex(text):
    return text.encode("utf-8", "surrogateescape").hex()


def pytest_runtest_logreport(report):
    flag = "xfail" if hasattr(report, "wasxfail") else "-"
    _emit("test", _hex(report.nodeid), report.when, report.outcome, flag)


def pytest_collectreport(report):
    if report.failed:
        _emit("collect", _hex(report.nodeid or "."), "collect", "failed", "-")


def pytest_sessionfinish(session, exitstatus):
    _emit("end", _hex("."), "session", str(int(exitstatus)), "-")

