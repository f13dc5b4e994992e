# guidec — two commands: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    := out
SEED   := examples/imr-seed-pt-cervical.yaml
PM     := guidelines/mtus/chronic_pain/physical_medicine.gl

.PHONY: demo test venv system-deps graphviz chromium java bench bench-sql clean lint fuzz
FUZZ_MINUTES ?= 30

# Debian packages: installed when running as root, otherwise named with the command to run.
define need_pkg
	@if ! command -v $(1) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(2) (apt-get) ..."; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; \
	  else \
	    echo "missing '$(1)': install it with:  sudo apt-get install $(2)   (macOS: brew install $(3))"; \
	  fi; \
	fi
endef

graphviz:
	$(call need_pkg,dot,graphviz,graphviz)

chromium:
	$(call need_pkg,chromium,chromium,--cask chromium)

# The Spark engine's tests run PySpark, which needs a Java runtime.
java:
	$(call need_pkg,java,default-jre-headless,openjdk)

system-deps: graphviz

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,spark]'
	@touch $@

# guidec's own modules compiled to bytecode, as an installed wheel has them: an editable
# install leaves that to the first import, which never keeps it where PYTHONDONTWRITEBYTECODE
# is set (each process would compile them again). Only changed modules are compiled.
venv: $(BIN)/.installed
	@$(BIN)/python -m compileall -q guidec dsl compiler > /dev/null

demo: system-deps venv
	@mkdir -p $(OUT)
	$(BIN)/guidec check guidelines/
	$(BIN)/guidec review $(SEED) --library guidelines --html $(OUT)/seed.html
	$(BIN)/guidec viz $(PM) --case $(SEED) -o $(OUT)/seed.png
	@echo ""
	@echo "Decision path picture: $(OUT)/seed.png"
	@echo "HTML report:           $(OUT)/seed.html"

# The installed package is `guidec` with `guidec.dsl` and `guidec.compiler` mapped from the
# top-level folders; mypy reads a staging tree laid out the way the package installs.
lint: venv
	$(BIN)/ruff check --select F,E9 guidec dsl compiler benchmarks tests
	@rm -rf build/typecheck && mkdir -p build/typecheck/guidec
	@cp guidec/*.py build/typecheck/guidec/
	@ln -s ../../../dsl build/typecheck/guidec/dsl
	@ln -s ../../../compiler build/typecheck/guidec/compiler
	cd build/typecheck && ../../$(BIN)/mypy --config-file ../../pyproject.toml -p guidec

test: system-deps chromium java venv lint
	$(BIN)/python -m pytest -q

# The long fuzzing campaign: every core for FUZZ_MINUTES; failing inputs go to fuzz-findings/.
fuzz: venv
	$(BIN)/python tests/fuzz/run.py --minutes $(FUZZ_MINUTES) --out fuzz-findings

bench: venv
	$(BIN)/python benchmarks/run.py

# The SQL engines against the Python engine and the hand-written script (1M and 10M cases).
bench-sql: venv java
	$(BIN)/python benchmarks/sql.py

clean:
	rm -rf $(VENV) $(OUT) *.egg-info .pytest_cache fuzz-findings
