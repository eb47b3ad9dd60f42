# Polku: set-up, demo, tests and benchmarks. `make demo` and `make test` work on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench serve clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q uv 2>/dev/null || true
	@if test -x $(BIN)/uv; then \
		$(BIN)/uv pip install -q --python $(BIN)/python -e '.[test]'; \
	else \
		$(BIN)/pip install -q -e '.[test]'; \
	fi
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/polku --home polku-demo demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) polku-demo .pytest_cache
