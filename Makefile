# sitewatch: `make demo` (offline run on the bundled sample) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= sitewatch-demo

.PHONY: demo test lint bench clean help browser

help:
	@echo "make demo   set up .venv and run the offline demo on the bundled sample (-> $(OUT)/)"
	@echo "make test   set up .venv with test dependencies and run the whole suite"
	@echo "make bench  run the benchmarks (needs ../shared/data) -> benchmarks/RESULTS.md"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Core install for the demo, with the MP4 encoder (imageio-ffmpeg, the `video` extra) so the
# demo writes its timelapse as MP4 too; the stamp is renewed when pyproject.toml changes.
$(VENV)/.core-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[video]'
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.core-installed

demo: $(VENV)/.core-installed
	$(BIN)/sitewatch demo --out $(OUT) --overwrite

# The HTML report is checked in a real headless browser: install Debian's chromium when it is
# missing and we can (root + apt-get); otherwise the browser test skips with a message.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      echo "installing Debian's chromium for the report's browser test"; \
	      (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	       (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	       >/dev/null 2>&1) || echo "could not install chromium: the browser test will be skipped"; \
	    else echo "chromium not found and not root: the report's browser test will be skipped"; fi; }

test: $(VENV)/.test-installed browser
	$(BIN)/ruff check sitewatch tests benchmarks scripts examples
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 -q

lint: $(VENV)/.test-installed
	$(BIN)/ruff check sitewatch tests benchmarks scripts examples
	$(BIN)/mypy

bench: $(VENV)/.test-installed
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache build *.egg-info
