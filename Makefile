# `make run` and `make test` create .venv on first use (one-time install), then do their job.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA ?= synthetic
SPEED ?= fast
N_VIDEOS ?= 1500
NOTEBOOK := Video_Performance_Prediction.ipynb
OUT_DIR := outputs
LAB_PORT ?= 8888
# JupyterLab refuses to run as root unless told; a container's root user is still a user.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
# Benchmarks wait for each other (timings on 2 cores mean nothing when two heavy jobs overlap).
LOCK := $(if $(shell command -v flock),flock /tmp/videoperf-heavy.lock,)

.PHONY: run lab test lint benchmark clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[all]"
	$(PY) -m ipykernel install --sys-prefix --name videoperf --display-name "Python (videoperf)" >/dev/null
	touch $(STAMP)

run: $(STAMP)
	mkdir -p $(OUT_DIR)
	$(PY) -m papermill $(NOTEBOOK) $(OUT_DIR)/$(basename $(NOTEBOOK))-$(SPEED).ipynb -k videoperf \
		-p SPEED $(SPEED) -p DATA_SOURCE $(DATA) -p N_SYNTHETIC_VIDEOS $(N_VIDEOS) -p ARTIFACTS_DIR artifacts
	$(VENV)/bin/videoperf predict --title "Amazing makeup tutorial for beginners" --tags makeup,tutorial,beauty,beginner \
		--categories "Howto & Style" --duration 600 --channel-avg-views 50000 --channel-video-count 25

# JupyterLab on this machine only (loopback), with the notebook open; `make lab LAB_FLAGS=--no-browser` on a server.
lab: $(STAMP)
	$(PY) -m jupyterlab $(NOTEBOOK) --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) $(LAB_ROOT) $(LAB_FLAGS)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

# Real-data benchmarks (need ../shared/data; minutes, not for CI): SPEED=fast|balanced|full, then the tables of
# docs/results.md and the README's headline table.
benchmark: $(STAMP)
	$(LOCK) $(PY) benchmarks/backtest.py --speed $(SPEED)
	$(LOCK) $(PY) benchmarks/accuracy.py --speed $(SPEED)
	$(LOCK) $(PY) benchmarks/speed.py
	$(PY) benchmarks/results_table.py --write

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(OUT_DIR) .cache .pytest_cache
