# The two commands a newcomer needs are `make demo` and `make test`;
# both go through `make install`, which is quick when nothing changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-packages
# Debian packages the project needs on the host: PostgreSQL for the archive
# tests, debootstrap to build sandbox images with no container registry,
# Chromium and its driver for the browser test of the web UI.
SYSTEM_PACKAGES := git postgresql debootstrap chromium chromium-driver fonts-dejavu-core

.PHONY: install images test demo clean lock

install: $(STAMP) install-vllm

$(SYSTEM_STAMP):
	@mkdir -p $(VENV)
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

# Every Python package at the version the tests passed with (requirements.lock,
# resolved by uv from pyproject.toml); Clade itself on top, editable.
LOCK := requirements.lock

$(STAMP): pyproject.toml $(LOCK) $(SYSTEM_STAMP)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r $(LOCK)
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

# After changing pyproject.toml's dependencies, or to take newer releases:
# `make lock` (needs PyPI), then `make test`, then commit requirements.lock.
lock: $(STAMP)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra test --extra ray --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --upgrade -o $(LOCK)

# The sandbox image and the Polyglot toolchain image (Go, Rust, C++, JavaScript, Java), each
# built offline once and cached by the hash of its recipe.
images: install
	$(BIN)/clade sandbox build
	$(BIN)/python -m evaluator.polyglot_image build --languages cpp,go,java,javascript,rust

# A second pytest runs beside the rest: the compiler-bound grading suites and
# the engine's crash suites (kill -9, interrupted runs),
# which mostly wait on whole runs; the rest mostly waits on containers,
# servers and the model. The two take about as long (here, on a clean
# clone: 33 and 37 minutes before the expansion-failure suite moved to the rest); the second's report is
# printed after the rest's. PYTEST_ARGS runs just what it names, in one pytest.
HEAVY_TESTS := tests/evaluator/test_redteam.py tests/evaluator/test_polyglot.py tests/evaluator/test_polyglot_crates.py \
	tests/evolve/test_resume.py tests/evolve/test_interrupted.py
test: install images
ifeq ($(strip $(PYTEST_ARGS)),)
	@$(BIN)/python -m pytest $(HEAVY_TESTS) > .test-heavy.log 2>&1 & heavy=$$!; \
	$(BIN)/python -m pytest $(addprefix --ignore=,$(HEAVY_TESTS)); rest=$$?; \
	wait $$heavy; heavy_rc=$$?; \
	echo "===== $(HEAVY_TESTS) (run beside the rest)"; cat .test-heavy.log; \
	test $$rest -eq 0 -a $$heavy_rc -eq 0
else
	$(BIN)/python -m pytest $(PYTEST_ARGS)
endif

demo: install
	$(BIN)/python -m api.demo

clean:
	rm -rf $(VENV) build *.egg-info

# The local model server (vLLM, the default backbone) in an environment of
# its own: torch and friends are several GB, so they stay out of .venv.
# llm/install_vllm.py says why it is installed the way it is.
VLLM_VENV  := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.clade-installed.json

.PHONY: install-vllm

install-vllm: $(VLLM_STAMP)

$(VLLM_STAMP): llm/install_vllm.py
	$(PYTHON) llm/install_vllm.py --venv $(VLLM_VENV)
