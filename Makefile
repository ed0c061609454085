# `make run` and `make test` create .venv on first use (one-time install), then do their job.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA ?= synthetic
SPEED ?= fast
N_VIDEOS ?= 1500
NOTEBOOK := Video_Performance_Prediction.ipynb
OUT_DIR := outputs

.PHONY: run test lint clean

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name videoperf --display-name "Python (videoperf)" >/dev/null
	touch $(STAMP)

run: $(STAMP)
	mkdir -p $(OUT_DIR)
	$(PY) -m papermill $(NOTEBOOK) $(OUT_DIR)/$(basename $(NOTEBOOK))-$(SPEED).ipynb -k videoperf \
		-p SPEED $(SPEED) -p DATA_SOURCE $(DATA) -p N_SYNTHETIC_VIDEOS $(N_VIDEOS) -p ARTIFACTS_DIR artifacts
	$(PY) predict.py --title "Amazing makeup tutorial for beginners" --tags makeup,tutorial,beauty,beginner \
		--categories "Howto & Style" --duration 600 --channel-avg-views 50000 --channel-video-count 25

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(OUT_DIR) .cache .pytest_cache
