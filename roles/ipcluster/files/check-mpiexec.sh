# shellcheck shell=bash
# check-mpiexec.sh MPIEXEC [MODULE...]: read-only (run after load-modules.sh). Loads the
# environment modules the way the service script does and prints where MPIEXEC resolves;
# exits non-zero with a message if not.
__mpiexec=$1
shift
ws_load_modules "$@" || exit 3
if ! __path=$(command -v -- "$__mpiexec"); then
  echo "no '$__mpiexec' found${1:+ after loading the modules: $*}" >&2
  exit 4
fi
printf '%s\n' "$__path"
