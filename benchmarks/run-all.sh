#!/usr/bin/env bash
# `make bench`: run every benchmarks/bench_*.py; each writes benchmarks/results/<name>.md
# with the machine and the date. Needs the test cluster (make testbed) and runs as root,
# which runs the measured playbooks as the unprivileged test user.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
venv=${VENV:-.venv}
rc=0
for bench in benchmarks/bench_*.py; do
  [ -e "$bench" ] || continue
  echo "=== $bench"
  "$venv/bin/python" "$bench" || { echo "=== $bench FAILED"; rc=1; }
done
exit $rc
