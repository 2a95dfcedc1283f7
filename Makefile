# spoca4staff: set-up, build, demo, tests and benchmark in one place.
# `make demo` and `make test` do all the set-up they need by themselves and can be run again at will.

PYTHON_FOR_VENV ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROGRAMS := ch_segmentation ar_segmentation get_STAFF_stats

.PHONY: all system browser venv bytecode build demo test lint bench bench-backfill clean

all: build

system:
	@scripts/ensure_system_packages.sh

# The tests also load the interactive plot pages in a headless browser (Debian's chromium).
browser:
	@scripts/ensure_system_packages.sh --browser

venv: $(VENV)/.installed

# A Debian Python without python3-venv fails to create the venv: install it, then try once more.
# The project itself is installed in editable mode: the tools and the tests import the pipeline from anywhere.
# The install builds the image statistics' Rice decoder (the SPoCA programs' one): a C++ compiler and Python's
# headers first, and again whenever the decoder changes.
$(VENV)/.installed: requirements.txt pyproject.toml setup.py spoca4staff/_kernels.cpp SPoCA/lib/core/rice_decoder.hpp
	@test -x $(PY) || $(PYTHON_FOR_VENV) -m venv $(VENV) || { rm -rf $(VENV) && \
	    scripts/ensure_system_packages.sh --venv $(PYTHON_FOR_VENV) && $(PYTHON_FOR_VENV) -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@scripts/ensure_system_packages.sh --headers $(PY)
	$(PY) -m pip install --quiet --no-deps --editable .
	@touch $@

# The pipeline's modules compiled to bytecode ahead: the editable install does not, and where Python cannot write it
# itself (a read-only checkout, PYTHONDONTWRITEBYTECODE) every start of a script would compile them again (40 ms).
bytecode: venv
	@$(PY) -m compileall -q get_image_stats.py get_staff_stats.py job.py sdo_data.py staff_jobs.py spoca4staff scripts

build: system
	@for program in $(PROGRAMS); do $(MAKE) --no-print-directory -C SPoCA -f $$program.mk || exit 1; done

demo: venv build bytecode
	$(PY) scripts/run_demo.py

test: venv build browser bytecode
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check .

bench: venv build bytecode
	$(PY) scripts/benchmark.py

# One synthetic day at 4096x4096, sequentially and with --workers 2 (Dask), and the cost model of a backfill.
bench-backfill: venv build
	$(PY) scripts/benchmark_backfill.py

clean:
	rm -rf SPoCA/bin SPoCA/objects demo bench
