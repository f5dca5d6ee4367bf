# The two commands of the README are `make demo` (as a normal user) and `make test` (as root).
SHELL := /bin/bash
PYTHON ?= /usr/bin/python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where `make demo` gets the Redis (Valkey) source (scripts/redis_source.py):
#   REDIS_SOURCE   a tarball (URL or path) to use instead; REDIS_SHA256 its SHA-256 when the role's
#                  table does not know its file name; REDIS_VERSION when its name does not say it;
#   REDIS_FROM     auto (the cache, then upstream, then the distribution's archive), upstream or archive;
#   DEBIAN_MIRROR  the archive's URL (default: the system's own deb entry).
REDIS_SOURCE ?=
REDIS_SHA256 ?=
REDIS_VERSION ?=
REDIS_FROM ?= auto
DEBIAN_MIRROR ?=
DEMO_PLAYBOOK ?= playbooks/celery.yml
DEMO_INVENTORY ?= inventory/localhost

.PHONY: help setup setup-dev demo test lint sanity unit integration molecule testbed testbed-teardown bench build clean

help:
	@echo "make setup      create $(VENV) with what runs the playbooks (requirements/controller.txt)"
	@echo "make setup-dev  add the test and lint tooling (requirements/dev.txt)"
	@echo "make demo       provision a workspace on this host as the current user ($(DEMO_PLAYBOOK))"
	@echo "make test       as root: test cluster + lint + sanity + unit + integration + molecule"
	@echo "make lint | sanity | unit | integration | molecule   one stage of make test"
	@echo "make testbed | testbed-teardown   the one-node Slurm test cluster (root)"
	@echo "make bench      run the benchmarks (results in benchmarks/results/)"
	@echo "make build      build the collection tarball"

# pip's own output is kept short; each step says what it does and how long it took.
define venv_install
	@if ! $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv; \
	  else echo "error: $(PYTHON) cannot create virtualenvs: ask for the python3-venv package" >&2; exit 1; fi; fi
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	@echo "pip: installing $(1) into $(VENV) ..."; start=$$SECONDS; \
	  $(BIN)/pip install -q --upgrade pip && $(BIN)/pip install -q -r $(1) && \
	  echo "pip: $(1) installed in $$((SECONDS - start)) s"
endef

$(BIN)/ansible-playbook: requirements/controller.txt
	$(call venv_install,requirements/controller.txt)
	touch $@

$(BIN)/pytest: requirements/dev.txt requirements/controller.txt
	$(call venv_install,requirements/dev.txt)
	touch $@

# ansible.cfg's collections_path points here, so `ulhpc.workspace.*` resolves to this checkout
# without installing anything (ansible-test forbids the directory symlink inside the repo's
# tracked files, so setup makes it).
# A checkout that already lives at .../ansible_collections/ulhpc/workspace needs no link (and
# must not have one: ansible-core would then see each role under two paths).
.collections/ansible_collections/ulhpc/workspace:
	@case "$(CURDIR)" in */ansible_collections/ulhpc/workspace) exit 0;; esac; \
	mkdir -p .collections/ansible_collections/ulhpc && ln -sfn ../../.. $@

setup: $(BIN)/ansible-playbook .collections/ansible_collections/ulhpc/workspace

setup-dev: setup $(BIN)/pytest

# Runs as whoever calls it (a normal user): services are Slurm jobs when sbatch is on PATH.
# The source script checks a given local tarball before anything starts, and prints JSON
# extra-vars (paths with spaces survive).
demo: setup
	@vars=$$(DEBIAN_MIRROR='$(DEBIAN_MIRROR)' $(BIN)/python scripts/redis_source.py --from '$(REDIS_FROM)' \
	    --url '$(REDIS_SOURCE)' --sha256 '$(REDIS_SHA256)' --version '$(REDIS_VERSION)') || exit 1; \
	  echo "Redis source: $$vars"; set -x; \
	  $(BIN)/ansible-playbook -i $(DEMO_INVENTORY) $(DEMO_PLAYBOOK) -e "$$vars"

test:
	VENV=$(VENV) tests/run-all-stages.sh

lint unit integration molecule sanity testbed:
	VENV=$(VENV) tests/run-all-stages.sh $@

testbed-teardown: setup
	$(BIN)/ansible-playbook -i inventory/testbed playbooks/testbed_teardown.yml

$(VENV)/.bench-installed: requirements/bench.txt requirements/dev.txt requirements/controller.txt
	$(call venv_install,requirements/bench.txt)
	touch $@

bench: setup-dev $(VENV)/.bench-installed
	VENV=$(VENV) benchmarks/run-all.sh

build: setup
	$(BIN)/ansible-galaxy collection build --force .

clean:
	rm -rf $(VENV) tests/output ulhpc-workspace-*.tar.gz
