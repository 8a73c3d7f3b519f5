# Two entry points: `make demo` and `make test`. Each builds .venv from nothing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast system-deps bench clean report-shot

$(STAMP): requirements.lock requirements-nodeps.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -c "from cdr.extract import warm_up; warm_up()"  # librosa's numba kernels, compiled once here
	touch $@

# espeak-ng speaks the synthetic interviews; it comes from the system's packages.
system-deps:
	@command -v espeak-ng >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null; \
	  else echo "espeak-ng is missing: install it (Debian/Ubuntu: sudo apt-get install espeak-ng)"; exit 1; fi; }

demo: $(STAMP) system-deps
	$(BIN)/python -m cdr.cli.demo -o demo-out

# One BLAS/OpenMP thread per process: the tests run many small fits, which threads only slow down.
TEST_ENV := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

test: $(STAMP) system-deps
	$(TEST_ENV) $(BIN)/python -m pytest -q -ra --durations=15

test-fast: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP) system-deps
	$(BIN)/python benchmarks/track_speed.py
	$(BIN)/python benchmarks/extract_speed.py
	$(BIN)/python benchmarks/visual_features_speed.py
	$(BIN)/python benchmarks/speech_speed.py
	$(BIN)/python benchmarks/train_speed.py

# The demo's report in headless Chromium at 1280 px: report-shot.png, and exit 1 if a table
# is wider than the page. Needs Debian's chromium (apt-get install chromium).
report-shot: $(STAMP)
	$(BIN)/python pipelines/report_shot.py demo-out/model/report.html -o report-shot.png

clean:
	rm -rf $(VENV) data/cache demo-out
