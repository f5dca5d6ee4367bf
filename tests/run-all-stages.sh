#!/usr/bin/env bash
# `make test`: every stage of the test suite, with a summary of each and its duration.
# Usage: tests/run-all-stages.sh [stage...]   (stages: testbed lint sanity unit integration molecule)
#
# Runs as root: the testbed stage turns this machine into a one-node Slurm cluster, then the
# suite is run from a staged copy under /var/tmp/ulhpc-ci/workspace, because the unprivileged
# test user must be able to read the checkout and its venv wherever the checkout itself lives
# (e.g. under a 0700 home). ansible-test gets its own copy at the path shape it needs,
# .../ansible_collections/ulhpc/workspace (playbooks must not run from such a path while
# ansible.cfg's .collections link also points at it: ansible-core would load each role twice).
# shellcheck disable=SC2329  # the stage_* functions are called as "stage_$stage"
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
ALL_STAGES=(testbed lint sanity unit integration molecule)
STAGES=("$@")
[ ${#STAGES[@]} -gt 0 ] || STAGES=("${ALL_STAGES[@]}")
TEST_USER=${WS_TEST_USER:-wsuser}
CI_ROOT=${WS_CI_ROOT:-/var/tmp/ulhpc-ci}
STAGE_DIR=$CI_ROOT/workspace
SANITY_DIR=$CI_ROOT/sanity/ansible_collections/ulhpc/workspace
CI_VENV=$CI_ROOT/venv

if [ "$(id -u)" != 0 ]; then
  echo "error: make test must run as root (it installs and starts the test cluster); use sudo." >&2
  exit 2
fi

# Copies the checkout into $1: tracked files plus untracked, not-ignored ones (work in progress).
copy_checkout() {
  (cd "$SRC" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -xf - -C "$1" &&
    cp -a "$SRC/.git" "$1/.git"
}

stage_checkout() {
  rm -rf "$STAGE_DIR" "$CI_ROOT/ansible_collections"
  mkdir -p "$STAGE_DIR"
  chmod 0755 "$CI_ROOT"
  copy_checkout "$STAGE_DIR" || return 1
  make -C "$STAGE_DIR" --no-print-directory .collections/ansible_collections/ulhpc/workspace >/dev/null || return 1
  chmod -R a+rX "$STAGE_DIR"
  if [ ! -x "$CI_VENV/bin/pytest" ] || ! cat "$SRC"/requirements/*.txt | cmp -s - "$CI_VENV/requirements.txt"; then
    make -C "$STAGE_DIR" --no-print-directory setup-dev VENV="$CI_VENV" || return 1
    cat "$SRC"/requirements/*.txt >"$CI_VENV/requirements.txt"
  fi
  chmod -R a+rX "$CI_VENV"
}

declare -A RESULT DURATION
TOTAL_PASSED=0
TOTAL_FAILED=0
# Skipped tests count as neither: the summary names them so that nobody reads them as passed.
TOTAL_SKIPPED=0
OUT=$STAGE_DIR/tests/output

# Adds the pass/fail counts of a JUnit XML file to the totals.
count_junit() {
  local counts passed failed skipped
  counts=$("$CI_VENV/bin/python" - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f, sk)
PY
) || return 0
  read -r passed failed skipped <<<"$counts"
  TOTAL_PASSED=$((TOTAL_PASSED + passed))
  TOTAL_FAILED=$((TOTAL_FAILED + failed))
  TOTAL_SKIPPED=$((TOTAL_SKIPPED + skipped))
}

as_test_user() {
  runuser -u "$TEST_USER" -- env -i HOME="$(getent passwd "$TEST_USER" | cut -d: -f6)" \
    USER="$TEST_USER" LOGNAME="$TEST_USER" LANG=C.UTF-8 \
    PATH="$CI_VENV/bin:/usr/local/bin:/usr/bin:/bin" "$@"
}

# pytest exits 5 when it collected nothing: an empty suite is reported, not failed.
pytest_stage() {
  local name=$1; shift
  "$CI_VENV/bin/pytest" -p no:cacheprovider --junitxml="$OUT/junit-$name.xml" -ra "$@"
  local rc=$?
  [ -f "$OUT/junit-$name.xml" ] && count_junit "$OUT/junit-$name.xml"
  if [ "$rc" = 5 ]; then echo "($name: no tests collected)"; return 0; fi
  return "$rc"
}

stage_testbed() {
  "$CI_VENV/bin/ansible-playbook" -i inventory/testbed --limit testbed_nodes playbooks/testbed.yml
}

stage_lint() {
  PATH="$CI_VENV/bin:$PATH" "$CI_VENV/bin/ansible-lint" --profile production --strict
  local rc=$?
  # ansible-lint leaves a copy of the collection in .ansible/; later stages must use the checkout.
  rm -rf .ansible
  return "$rc"
}

stage_sanity() {
  tests/sanity/prepare-offline.sh "$CI_VENV" || return 1
  rm -rf "$SANITY_DIR" && mkdir -p "$SANITY_DIR" || return 1
  copy_checkout "$SANITY_DIR" || return 1
  (cd "$SANITY_DIR" && PATH="$CI_VENV/bin:$PATH" "$CI_VENV/bin/ansible-test" sanity --venv --python 3.11 --color no)
}

stage_unit() {
  pytest_stage unit tests/unit
}

stage_integration() {
  pytest_stage integration tests/integration -v --durations=15
}

stage_molecule() {
  local scenario rc=0 failed=0 passed=0
  for scenario in molecule/*/; do
    scenario=$(basename "$scenario")
    [ -f "molecule/$scenario/molecule.yml" ] || continue
    echo "--- molecule test -s $scenario (as $TEST_USER)"
    # --base-config: the staged copy is no git checkout, where molecule would find it alone.
    if as_test_user bash -c "cd '$STAGE_DIR' && molecule --base-config .config/molecule/config.yml test -s '$scenario'"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1)); rc=1
    fi
  done
  echo "molecule: $passed scenarios passed, $failed failed"
  TOTAL_PASSED=$((TOTAL_PASSED + passed))
  TOTAL_FAILED=$((TOTAL_FAILED + failed))
  return "$rc"
}

stage_checkout || { echo "error: could not stage the checkout into $STAGE_DIR" >&2; exit 1; }
cd "$STAGE_DIR" || exit 1
mkdir -p "$OUT"
export ANSIBLE_CONFIG=$STAGE_DIR/ansible.cfg

overall=0
for stage in "${STAGES[@]}"; do
  case " ${ALL_STAGES[*]} " in *" $stage "*) ;; *) echo "error: unknown stage '$stage' (${ALL_STAGES[*]})" >&2; exit 2;; esac
  echo "=== stage $stage"
  start=$(date +%s)
  if "stage_$stage"; then RESULT[$stage]=passed; else RESULT[$stage]=FAILED; overall=1; fi
  DURATION[$stage]=$(( $(date +%s) - start ))
  echo "=== stage $stage: ${RESULT[$stage]} in ${DURATION[$stage]} s"
  case $stage in lint|sanity|testbed)
    if [ "${RESULT[$stage]}" = passed ]; then TOTAL_PASSED=$((TOTAL_PASSED + 1)); else TOTAL_FAILED=$((TOTAL_FAILED + 1)); fi;;
  esac
done

echo
echo "Summary (staged at $STAGE_DIR):"
for stage in "${STAGES[@]}"; do
  printf '  %-12s %-7s %5s s\n' "$stage" "${RESULT[$stage]}" "${DURATION[$stage]}"
done
echo "tests: $TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped (each with its reason in its stage's output, pytest -ra)"
exit $overall
