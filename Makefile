# The two commands of the README are `make demo` (as a normal user) and `make test` (as root).
SHELL := /bin/bash
PYTHON ?= /usr/bin/python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where `make demo` gets the Redis (Valkey) source: a URL, a mirror or a local tarball path, and
# its SHA-256 when the role's table does not know the file. Empty: a local Debian tarball if one
# is found (scripts/redis-source.sh), else the role's default download.
REDIS_SOURCE ?=
REDIS_SHA256 ?=
REDIS_VERSION ?=
DEMO_PLAYBOOK ?= playbooks/celery.yml
DEMO_INVENTORY ?= inventory/localhost

.PHONY: help setup demo test lint sanity unit integration molecule testbed testbed-teardown bench build clean

help:
	@echo "make setup      create $(VENV) with the pinned tooling (requirements/dev.txt)"
	@echo "make demo       provision a workspace on this host as the current user ($(DEMO_PLAYBOOK))"
	@echo "make test       as root: test cluster + lint + sanity + unit + integration + molecule"
	@echo "make lint | sanity | unit | integration | molecule   one stage of make test"
	@echo "make testbed | testbed-teardown   the one-node Slurm test cluster (root)"
	@echo "make bench      run the benchmarks (results in benchmarks/results/)"
	@echo "make build      build the collection tarball"

$(BIN)/ansible-playbook: requirements/dev.txt
	@if ! $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv; \
	  else echo "error: $(PYTHON) cannot create virtualenvs: ask for the python3-venv package" >&2; exit 1; fi; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements/dev.txt
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

# Runs as whoever calls it (a normal user): services are Slurm jobs when sbatch is on PATH.
demo: setup
	@if [ -n '$(REDIS_SOURCE)' ]; then vars='redis_source_url=$(REDIS_SOURCE)'; \
	  [ -z '$(REDIS_SHA256)' ] || vars="$$vars redis_source_sha256=$(REDIS_SHA256)"; \
	  [ -z '$(REDIS_VERSION)' ] || vars="$$vars redis_version=$(REDIS_VERSION)"; \
	else vars=$$(scripts/redis-source.sh) || exit 1; fi; \
	echo "Redis source: $${vars:-the default download of the redis role}"; \
	set -x; $(BIN)/ansible-playbook -i $(DEMO_INVENTORY) $(DEMO_PLAYBOOK) $${vars:+-e "$$vars"}

test:
	VENV=$(VENV) tests/run-all-stages.sh

lint unit integration molecule sanity testbed:
	VENV=$(VENV) tests/run-all-stages.sh $@

testbed-teardown: setup
	$(BIN)/ansible-playbook -i inventory/testbed playbooks/testbed_teardown.yml

bench: setup
	VENV=$(VENV) benchmarks/run-all.sh

build: setup
	$(BIN)/ansible-galaxy collection build --force .

clean:
	rm -rf $(VENV) tests/output ulhpc-workspace-*.tar.gz
