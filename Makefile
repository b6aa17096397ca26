# Two entry points; each installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo test check-code docs fast realworld clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	touch $@

# the package alone: what the demo needs
$(VENV)/.installed: $(VENV)/.created pyproject.toml
	$(PY) -m pip install --quiet -e .
	touch $@

# the package and everything the tests use
$(VENV)/.installed-test: $(VENV)/.created pyproject.toml
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# mkdocs and mkdocstrings: the documentation site with the API reference generated from the docstrings
$(VENV)/.installed-docs: $(VENV)/.created pyproject.toml
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/demo.py

# The lowest Alembic safemigrate supports (projects pin old versions), beside the newest in the venv.
ALEMBIC_LOWEST := 1.13.3
LOWEST_TESTS   := tests/harness/test_alembic_versions.py tests/checks/test_check.py tests/harness/test_real_shapes.py tests/harness/test_projects.py \
                  tests/checks/test_lint.py tests/runner/test_migrate.py tests/ci/test_ci.py tests/startup/test_startup.py tests/checks/test_live.py \
                  tests/checks/test_review.py tests/guard/test_guard.py tests/checks/test_review_batch_fold.py \
                  tests/cli/test_progress.py tests/cli/test_alembic_plugin.py

$(VENV)/alembic-lowest/.installed: $(VENV)/.created
	$(PY) -m pip install --quiet --no-deps --target $(VENV)/alembic-lowest alembic==$(ALEMBIC_LOWEST)
	touch $@

# ruff, mypy and the layer contracts (import-linter): they fail the build like a failing test
check-code: $(VENV)/.installed-test
	$(VENV)/bin/ruff check src tests benchmarks examples/demo.py
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# docs/ and the API reference (mkdocs.yml, strict: a warning fails it), built into .venv/site; part of `make test`
docs: $(VENV)/.installed-docs
	$(VENV)/bin/mkdocs build --quiet

# the fast loop for contributors: no database servers, under two minutes
fast: $(VENV)/.installed-test
	$(PY) -m pytest -n 2 -m "not postgres and not mysql and not slow" -q

test: check-code docs $(VENV)/.installed-test $(VENV)/alembic-lowest/.installed
	$(PY) -m pytest -n 2 --dist loadfile --durations=20
	PYTHONPATH=$(CURDIR)/$(VENV)/alembic-lowest SAFEMIGRATE_EXPECT_ALEMBIC=$(ALEMBIC_LOWEST) \
		$(PY) -m pytest -n 2 --dist loadfile $(LOWEST_TESTS)

# Not part of `make test`: installs real PyPI projects (one venv each, cached under
# $SAFEMIGRATE_REALWORLD_CACHE) and drives safemigrate over them. PROJECTS="buildbot nova" for a few;
# ARGS="--report" (or "--report --markdown", "-v", "--timeout 900") is passed to run.py.
realworld: $(VENV)/.installed
	$(PY) benchmarks/realworld/run.py $(ARGS) $(PROJECTS)

clean:
	rm -rf $(VENV) build *.egg-info
