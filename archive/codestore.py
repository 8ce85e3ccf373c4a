"""The git-backed code store: one bare repository per run, one commit per node.

The root commit holds the seed agent; a child is a commit whose parent
commit is its parent node's. Patches are applied with `git apply --cached`
to a private, temporary index built from the parent's tree, so no working
tree is involved, concurrent threads never share an index, and a patch that
does not apply leaves the repository exactly as it was. Every node's commit
is kept reachable by a branch `node-<id>`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import git

from archive.code_limits import CodeLimits, Entry, UnsafeCode, problem
from archive.errors import CodeStoreError, PatchDoesNotApply
from archive.git import GitError, run_git

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
IGNORED_NAMES = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")
_IDENTITY = {
    "GIT_AUTHOR_NAME": "Clade",
    "GIT_AUTHOR_EMAIL": "clade@localhost",
    "GIT_COMMITTER_NAME": "Clade",
    "GIT_COMMITTER_EMAIL": "clade@localhost",
}


def node_ref(node_id: int) -> str:
    return f"refs/heads/node-{node_id}"


def _first_line(error: GitError) -> str:
    lines = [line.strip() for line in (error.stderr or "").splitlines() if line.strip()]
    return lines[0] if lines else str(error)


class CodeStore:
    def __init__(self, path: Path) -> None:
        if not (path / "HEAD").is_file():
            raise CodeStoreError(
                f"no code store at {path}: the run's repository is missing; "
                "restore CLADE_HOME from a backup or start a new run"
            )
        self.path = path
        self.repo = git.Repo(path)

    @classmethod
    def create(cls, path: Path) -> "CodeStore":
        """A new, empty bare repository (idempotent)."""
        if not (path / "HEAD").is_file():
            path.mkdir(parents=True, exist_ok=True)
            git.Repo.init(path, bare=True, initial_branch="main")
        return cls(path)

    # -- writing ------------------------------------------------------------
    def commit_folder(self, folder: Path, *, prefix: str, message: str) -> str:
        """A parentless commit holding `folder` under `prefix/` (the root node).

        Caches and bytecode are left out: they are not the agent's code.
        """
        with tempfile.TemporaryDirectory(prefix="clade-seed-") as tmp:
            shutil.copytree(folder, Path(tmp) / prefix, ignore=IGNORED_NAMES, symlinks=True)
            with self._private_index() as env:
                self._git(env, "--work-tree", tmp, "add", "--all", "--force", ".")
                tree = self._git(env, "write-tree")
        return self._git(_IDENTITY, "commit-tree", tree, "-m", message)

    def apply_patch(self, parent_commit: str, patch: str, *, message: str, limits: CodeLimits | None = None) -> str:
        """A new commit = `parent_commit` + `patch`. Raises PatchDoesNotApply
        (having written nothing) when git cannot apply it, and UnsafeCode when
        the tree it makes breaks `limits` (archive.code_limits)."""
        if not patch.strip():
            raise PatchDoesNotApply("the patch is empty: a child must change its parent's code")
        if not patch.endswith("\n"):
            patch += "\n"  # git calls a patch without its final newline corrupt
        self._resolve(parent_commit)
        with tempfile.NamedTemporaryFile("w", suffix=".diff", delete=False) as handle:
            handle.write(patch)
        try:
            with self._private_index() as env:
                self._git(env, "read-tree", parent_commit)
                try:
                    self._git(env, "apply", "--cached", "--check", handle.name)
                except GitError as error:
                    raise PatchDoesNotApply(
                        f"the patch does not apply to commit {parent_commit[:12]} ({_first_line(error)}): "
                        "make the patch against that node's code (`clade node diff` shows its last change)"
                    ) from None
                self._git(env, "apply", "--cached", "--whitespace=nowarn", handle.name)
                tree = self._git(env, "write-tree")
                found = problem(self._entries(env, tree, parent_commit), limits or CodeLimits())
                if found is not None:
                    raise UnsafeCode(f"the child's code is refused: {found}")
        finally:
            os.unlink(handle.name)
        return self._git(_IDENTITY, "commit-tree", tree, "-p", parent_commit, "-m", message)

    def set_ref(self, node_id: int, commit: str) -> None:
        self._git({}, "update-ref", node_ref(node_id), commit)

    def _entries(self, env: dict[str, str], tree: str, parent_commit: str) -> Iterator[Entry]:
        """The tree's paths with sizes; link targets read from git; binary as git
        tells it (numstat "-") for the files that differ from the parent."""
        binary = {
            record.split("\t", 2)[2]
            for record in self._git(env, "diff-index", "--cached", "--numstat", "-z", parent_commit).split("\0")
            if record.startswith("-\t-\t")
        }
        for line in filter(None, self._git(env, "ls-tree", "-r", "-l", "-z", "--full-tree", tree).split("\0")):
            info, path = line.split("\t", 1)
            mode, kind, obj, size = info.split()
            if mode == "120000":
                yield Entry(path, "link", link_target=self._git(env, "cat-file", "blob", obj))
            elif kind == "blob":
                yield Entry(path, "file", int(size), binary=path in binary)
            else:
                yield Entry(path, "other")

    # -- reading ------------------------------------------------------------
    def materialize(self, commit: str, dest: Path) -> Path:
        """Write the commit's files into `dest` (created if missing), streamed
        from `git archive` (never the whole tree in memory)."""
        self._resolve(commit)
        dest.mkdir(parents=True, exist_ok=True)
        with subprocess.Popen(["git", "--git-dir", str(self.path), "archive", "--format=tar", commit],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            assert proc.stdout is not None
            try:
                with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
                    archive.extractall(dest, filter="data")
            except (tarfile.TarError, OSError) as exc:
                proc.kill()
                raise CodeStoreError(
                    f"commit {commit[:12]} cannot be unpacked ({type(exc).__name__}: {exc}): it was stored before "
                    "Clade checked code at the door; export another node, or re-run the expansion"
                ) from None
            error = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.returncode != 0:
            raise CodeStoreError(f"git archive of {commit[:12]} failed: {error.strip()[:300]}")
        return dest

    def diff(self, old: str | None, new: str) -> str:
        """`git diff --binary` from `old` (None: the empty tree) to `new`."""
        base = old if old is not None else EMPTY_TREE
        self._resolve(new)
        return self._git({}, "diff", "--binary", base, new, strip=False)

    def lineage(self, commit: str) -> list[str]:
        """Commits from the root to `commit`."""
        self._resolve(commit)
        return self._git({}, "rev-list", "--reverse", "--topo-order", commit).split()

    def commits(self) -> set[str]:
        """Every commit reachable from a node branch."""
        return set(self._git({}, "rev-list", "--all").split())

    def bundle(self, dest: Path, node_ids: list[int] | None = None) -> None:
        """A git bundle of the given nodes' branches (all branches if None)."""
        refs = [node_ref(n) for n in node_ids] if node_ids is not None else ["--all"]
        self._git({}, "bundle", "create", str(dest), *refs)

    # -- helpers ------------------------------------------------------------
    def _resolve(self, commit: str) -> None:
        if run_git(self.path, "cat-file", "-e", f"{commit}^{{commit}}", env={"GIT_DIR": str(self.path)},
                   check=False).returncode != 0:
            raise CodeStoreError(f"commit {commit} is not in the code store at {self.path}: the archive's code "
                                 "store is damaged or was replaced; restore CLADE_HOME from a backup") from None

    def _git(self, env: dict[str, str], *args: str, strip: bool = True) -> str:
        """git's output, less its final newline (unless `strip` is False). LC_ALL=C:
        git's messages in English. A failure is a GitError: one line for the CLI, a 409 for the API."""
        out = run_git(self.path, *args, env={"LANGUAGE": "C", "LC_ALL": "C", "GIT_DIR": str(self.path), **env}).stdout
        return out[:-1] if strip and out.endswith("\n") else out

    @contextmanager
    def _private_index(self) -> Iterator[dict[str, str]]:
        with tempfile.TemporaryDirectory(prefix="clade-index-") as tmp:
            yield {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **_IDENTITY}
