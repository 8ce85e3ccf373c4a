"""What the task owns: everything that builds, finds, configures, feeds or runs its tests.

The patch may change anything else. What it changed here is set aside
before the tests run — restored from the base commit, or removed if the
patch added it — and recorded on the evaluation, so a grade always comes
from the task's own test set-up.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from evaluator.languages import cpp, go, python, rust
from evaluator.languages.base import matches

# Languages the evaluator cannot run yet still have their set-up guarded.
_OTHER_OWNED = {
    "javascript": ("package.json", "package-lock.json", "yarn.lock", "*.spec.js", "*.test.js", "babel.config.*",
                   ".babelrc*", "jest.config.*", "node_modules", ".npmrc", ".eslintrc*"),
    "java": ("build.gradle*", "settings.gradle*", "gradle/", "gradlew*", "src/test/", "pom.xml", ".gradle"),
}
_LANGUAGES = {m.NAME: m for m in (python, go, rust, cpp)}


def test_folders(hidden: list[str]) -> set[str]:
    """Folders that hold hidden test files (the repository root excepted): the task's, whole."""
    return {str(PurePosixPath(p).parent) for p in hidden if str(PurePosixPath(p).parent) != "."}


def owned(path: str, *, language: str, hidden: list[str], new: bool) -> bool:
    """True when `path` belongs to the task's test set-up, whatever the patch did to it."""
    if path in hidden or any(path == d or path.startswith(d + "/") for d in test_folders(hidden)):
        return True
    if path == ".git" or path.startswith(".git/"):
        return True
    module = _LANGUAGES.get(language)
    if module is not None:
        return module.owns(path, new)
    return matches(path, _OTHER_OWNED.get(language, ()))


def set_aside(changed: list[str], added: list[str], *, language: str, hidden: list[str]) -> tuple[list[str], list[str]]:
    """(paths to restore from the base commit, paths to remove) among what the patch touched."""
    restore = sorted(p for p in changed if owned(p, language=language, hidden=hidden, new=False))
    remove = sorted(p for p in added if owned(p, language=language, hidden=hidden, new=True))
    return restore, remove
