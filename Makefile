# The two ways in: `make demo` and `make test`. Each sets itself up from a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The demo and the notebooks run offline unless ANTHROPIC_API_KEY is set.

.PHONY: demo test lint bench ripgrep chromium bubblewrap clean

# $(call ensure,COMMAND,DEBIAN_PACKAGE,WHAT_HAPPENS_WITHOUT): install a Debian package where we can.
ensure = command -v $(1) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(2) (apt-get)"; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; \
	  else \
	    echo "note: $(1) not found and not installable here: $(3)"; \
	  fi; }

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "loom-nb needs Python >= 3.11: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# content_search uses ripgrep when an `rg` binary is on PATH (Debian's package; PyPI's `ripgrep` is an
# sdist that needs crates from the network). Without it, the pure-Python search gives the same matches.
ripgrep:
	@$(call ensure,rg,ripgrep,content_search falls back to pure Python)

# Tests look at what a browser shows with Debian's chromium, driven by Playwright (which must not
# download a browser of its own: the machines reach no browser CDN).
chromium:
	@$(call ensure,chromium,chromium,the browser tests will fail)

# The shell tool runs commands inside bubblewrap (network off, only the worktree writable) where it works;
# without it the policy is the only guard, and the sandbox tests fail saying so.
bubblewrap:
	@$(call ensure,bwrap,bubblewrap,shell commands run without an OS sandbox)

demo: $(STAMP) ripgrep
	$(PY) notebooks/demo.py demo-output

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: $(STAMP) ripgrep chromium bubblewrap lint
	$(PY) -m pytest

bench: $(STAMP) ripgrep chromium bubblewrap
	$(PY) benchmarks/bench_agents.py
	$(PY) benchmarks/bench_messages.py
	$(PY) benchmarks/bench_plan.py
	$(PY) benchmarks/bench_swarm.py
	$(PY) benchmarks/bench_search.py
	$(PY) benchmarks/bench_graph.py
	$(PY) benchmarks/bench_view.py
	$(PY) benchmarks/bench_kernel.py
	$(PY) benchmarks/bench_permissions.py
	$(PY) benchmarks/bench_workspace.py
	$(PY) benchmarks/bench_approval_click.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
