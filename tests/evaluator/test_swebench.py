"""SWE-bench instances from a local file, run in Clade's sandbox on their instance image.

No real SWE-bench image can be pulled here, so the docker tests build a
small instance image the way SWE-bench's are laid out (a root-owned git
repository at /testbed on top of an image with Python and pytest) and a
dataset row in swebench 5's format, with a SWE-bench-style eval script.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import textwrap
from pathlib import Path

import pytest

from evaluator import GOLD, NOOP, EvalOptions, Outcome, code_agent, evaluate_task, open_benchmark, patch_agent
from evaluator.benchmarks import builtin
from evaluator.benchmarks.swe_bench import SWEBenchBenchmark
from evaluator.errors import BadTask, DatasetUnavailable, ImageUnavailable, UnknownTask
from evaluator.images import require_images

SOURCE_TASK = "calc__floor-division"


def swebench_row(image: str, base_commit: str) -> dict:
    task = builtin.load(ids=[SOURCE_TASK])[0]
    test_files = "tests/test_floor_division.py"
    eval_script = textwrap.dedent(f"""\
        #!/bin/bash
        set -uxo pipefail
        cd /testbed
        git status
        git checkout {base_commit} {test_files}
        git apply -v - <<'EOF_114329324912'
        {{patch}}
        EOF_114329324912
        : '>>>>> Start Test Output'
        python -m pytest -rA -p no:cacheprovider tests
        : '>>>>> End Test Output'
        git checkout {base_commit} {test_files}
        """).replace("{patch}\n", task.test_patch)
    return {
        "instance_id": "clade__calc-7",
        "repo": "clade/calc",
        "version": "1.4",
        "base_commit": base_commit,
        "patch": task.patch,
        "test_patch": task.test_patch,
        "problem_statement": task.problem_statement,
        "hints_text": "",
        "created_at": "2024-01-01T00:00:00Z",
        "FAIL_TO_PASS": json.dumps(task.FAIL_TO_PASS),
        "PASS_TO_PASS": json.dumps(task.PASS_TO_PASS),
        "environment_setup_commit": base_commit,
        "image": image,
        "eval_script": eval_script,
        "log_parser": "parse_log_pytest",
        "eval_type": "pass_and_fail",
    }


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_rows_from_jsonl_json_and_parquet(tmp_path: Path) -> None:
    row = swebench_row("example/instance:latest", "a" * 40)
    jsonl = write_jsonl(tmp_path / "d.jsonl", [row])
    (tmp_path / "d.json").write_text(json.dumps([row]))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([row]), tmp_path / "test.parquet")
    for source in (jsonl, tmp_path / "d.json", tmp_path / "test.parquet", tmp_path):
        [task] = open_benchmark(f"swebench:{source}").load()
        assert task.instance_id == "clade__calc-7" and task.image == "example/instance:latest"
        assert task.FAIL_TO_PASS[0].startswith("tests/test_floor_division.py::")
        assert task.source_dir is None and task.repo_dir == "/testbed"


def test_missing_columns_and_ids(tmp_path: Path) -> None:
    row = swebench_row("example/instance:latest", "a" * 40)
    del row["eval_script"]
    with pytest.raises(DatasetUnavailable, match="lacks eval_script"):
        SWEBenchBenchmark(str(write_jsonl(tmp_path / "old.jsonl", [row]))).load()
    bench = SWEBenchBenchmark(str(write_jsonl(tmp_path / "d.jsonl", [swebench_row("x:1", "a" * 40)])))
    with pytest.raises(UnknownTask):
        bench.load(ids=["django__django-1"])
    with pytest.raises(DatasetUnavailable, match="no dataset file"):
        SWEBenchBenchmark(str(tmp_path / "missing.jsonl"))


def test_hugging_face_name_says_how_to_pass_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLADE_HF_PROBE", "127.0.0.1:9")  # a port nothing listens on: the hub is unreachable
    with pytest.raises(DatasetUnavailable) as caught:
        open_benchmark("swebench:verified")
    message = str(caught.value)
    assert "SWE-bench/SWE-bench_Verified is a Hugging Face dataset" in message
    assert "unreachable" in message and "--benchmark swebench:/path/to/swebench.jsonl" in message


@pytest.fixture(scope="module")
def instance_image(sandbox_image: str) -> str:
    """A SWE-bench-shaped instance image: the calc project at /testbed, owned by root."""
    from sandbox.client import get_client

    task = builtin.load(ids=[SOURCE_TASK])[0]
    dockerfile = textwrap.dedent(f"""\
        FROM {sandbox_image}
        USER root
        COPY testbed /testbed
        RUN cd /testbed && git init -q && git add -A \\
            && git -c user.name=swe -c user.email=swe@example.org commit -qm base \\
            && chmod -R a+rX /testbed
        """)
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        tar.add(task.source_dir, arcname="testbed")
    context.seek(0)
    # One tag per pytest process: `make test` runs two side by side, and one's teardown must not
    # remove the image under the other's tests.
    tag = f"clade-test-swebench-instance:calc-{os.getpid()}"
    client = get_client()
    client.images.build(fileobj=context, custom_context=True, tag=tag, network_mode="none", rm=True)
    yield tag
    client.images.remove(tag, force=True)


def _base_commit(image: str) -> str:
    from sandbox.docker_sandbox import DockerSandbox

    with DockerSandbox(image) as sb:
        return sb.exec("git -c safe.directory='*' -C /testbed rev-parse HEAD", timeout=30).output.strip()


@pytest.mark.docker
def test_gold_and_noop_on_an_instance_image(instance_image: str, tmp_path: Path) -> None:
    rows = [swebench_row(instance_image, _base_commit(instance_image))]
    [task] = open_benchmark(f"swebench:{write_jsonl(tmp_path / 'd.jsonl', rows)}").load()
    require_images([task])
    options = EvalOptions(log_root=tmp_path / "logs")
    gold = evaluate_task(task, GOLD, options)
    assert gold.outcome == Outcome.RESOLVED, gold.reason
    noop = evaluate_task(task, NOOP, options)
    assert noop.outcome == Outcome.UNRESOLVED
    assert "FAIL_TO_PASS tests still fail" in noop.reason


@pytest.mark.docker
def test_code_that_crashes_before_any_test_runs_is_said_so(instance_image: str, tmp_path: Path) -> None:
    """A patch that makes the package raise on import: no test runs, and the reason names the crash."""
    rows = [swebench_row(instance_image, _base_commit(instance_image))]
    [task] = open_benchmark(f"swebench:{write_jsonl(tmp_path / 'd.jsonl', rows)}").load()
    crash = ("diff --git a/calc/__init__.py b/calc/__init__.py\n--- a/calc/__init__.py\n+++ b/calc/__init__.py\n"
             "@@ -1,2 +1,3 @@\n \"\"\"A safe arithmetic expression evaluator.\"\"\"\n+raise RuntimeError('calc is broken')\n \n")
    result = evaluate_task(task, patch_agent("crash", {task.instance_id: crash}), EvalOptions(log_root=tmp_path / "l"))
    assert result.outcome == Outcome.UNRESOLVED, result.reason
    listed = len(task.FAIL_TO_PASS) + len(task.PASS_TO_PASS)
    assert result.reason.startswith(f"the code under test crashed before any test ran (RuntimeError: calc is "
                                    f"broken); all {listed} listed tests count as failed; collection errors in ")


@pytest.mark.docker
def test_agent_works_on_the_image_repository(instance_image: str, scripted_model, tmp_path: Path) -> None:
    """A code agent gets a writable copy of /testbed; its patch is graded against the image's repo."""
    [task] = SWEBenchBenchmark(str(write_jsonl(tmp_path / "d.jsonl", [
        swebench_row(instance_image, _base_commit(instance_image))]))).load()
    package = tmp_path / "agent-code" / "agent"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(textwrap.dedent(f"""
        import argparse, pathlib, subprocess
        p = argparse.ArgumentParser(); p.add_argument("--problem"); p.add_argument("--repo"); p.add_argument("--out")
        a = p.parse_args(); out = pathlib.Path(a.out); out.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "apply", "-"], input={task.patch!r}, text=True, cwd=a.repo, check=True)
        diff = subprocess.run(["git", "diff"], cwd=a.repo, capture_output=True, text=True, check=True).stdout
        (out / "patch.diff").write_text(diff)
    """))
    _, access = scripted_model(["unused"])
    result = evaluate_task(task, code_agent(tmp_path / "agent-code"), EvalOptions(model=access))
    assert result.outcome == Outcome.RESOLVED, result.reason


@pytest.mark.docker
def test_missing_instance_image_says_how_to_get_it(tmp_path: Path, sandbox_image: str) -> None:
    [task] = SWEBenchBenchmark(str(write_jsonl(tmp_path / "d.jsonl", [
        swebench_row("swebench/sweb.eval.x86_64.clade_1776_calc-7:latest", "a" * 40)]))).load()
    with pytest.raises(ImageUnavailable, match="docker load -i image.tar.gz"):
        require_images([task])
    result = evaluate_task(task, GOLD, EvalOptions(log_root=tmp_path))
    assert result.outcome == Outcome.ERROR
    assert result.reason.startswith("1 task image(s) are not in the local Docker engine")


def test_a_row_without_the_test_output_markers_is_refused_at_load(tmp_path: Path) -> None:
    """Never graded all-unresolved in silence: the row is refused, with what to do."""
    row = swebench_row("x:1", "a" * 40)
    row["eval_script"] = row["eval_script"].replace(": '>>>>> End Test Output'\n", "")
    bench = SWEBenchBenchmark(str(write_jsonl(tmp_path / "d.jsonl", [row])))
    with pytest.raises(BadTask, match="lacks swebench's test-output marker.*End Test Output"):
        bench.load()


def test_the_papers_subsets_are_selectable(tmp_path: Path) -> None:
    from evaluator.paper_subsets import paper_subsets, source

    small = paper_subsets("swebench")["dgm-small"]
    assert len(small) == 10 and len(paper_subsets("swebench")["dgm-medium"]) == 50
    assert len(paper_subsets("polyglot")["dgm-small"]) == 10 and "jennyzzt/dgm" in source()
    rows = [{**swebench_row("x:1", "a" * 40), "instance_id": i} for i in small]
    bench = SWEBenchBenchmark(str(write_jsonl(tmp_path / "verified.jsonl", rows)))
    assert "dgm-small" in bench.subsets()
    assert [t.instance_id for t in bench.load("dgm-small")] == small
    with pytest.raises(UnknownTask, match="lacks 50 of the 50 instances of dgm-medium.*SWE-bench_Verified"):
        bench.load("dgm-medium")
