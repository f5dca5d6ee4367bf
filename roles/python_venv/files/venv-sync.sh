# shellcheck shell=bash
# venv-sync.sh VENV INTERPRETER STATE WRAPPER [MODULE...] -- [PIP_ARG...]
# Makes VENV match STATE (a pip requirements file whose header records the interpreter):
# creates (or re-creates, when the interpreter changed) the virtualenv, installs the list,
# uninstalls the packages that left the list, writes the module-loading wrapper, and
# records STATE last, so that a failure is retried by the next run.
__venv=$1
__interp=$2
__state=$3
__wrapper=$4
shift 4
__mods=()
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  __mods+=("$1")
  shift
done
[ "$#" -gt 0 ] && shift
ws_load_modules "${__mods[@]}" || exit 3
# shellcheck disable=SC2088  # a literal "~/" given by the user is matched here, not expanded
case $__venv in
  "~") __venv=$HOME ;;
  "~/"*) __venv=$HOME/${__venv#"~/"} ;;
esac
__parent=$(dirname -- "$__venv")
mkdir -p -- "$__parent" || exit 1
# One writer per venv at a time (parallel playbooks sharing a venv).
exec 9<"$__parent"
flock 9
__req=$__venv/ulhpc-requirements.txt
__old=""
[ -r "$__req" ] && __old=$(cat -- "$__req")
__header() { sed -n 's/^# interpreter: //p'; }
if [ -e "$__venv" ] && [ ! -f "$__venv/pyvenv.cfg" ] && [ -n "$(ls -A -- "$__venv")" ]; then
  echo "error: $__venv exists and is not a virtualenv (no pyvenv.cfg); refusing to touch it: choose another python_venv_path" >&2
  exit 6
fi
__created=false
if [ -f "$__venv/pyvenv.cfg" ]; then
  if { [ -n "$__old" ] && [ "$(printf '%s\n' "$__old" | __header)" != "$(printf '%s\n' "$__state" | __header)" ]; } ||
     ! "$__venv/bin/python" -c '' 2>/dev/null; then
    echo "re-creating $__venv (interpreter changed or venv broken)"
    rm -rf -- "$__venv"
    __old=""
  fi
fi
if [ ! -f "$__venv/pyvenv.cfg" ]; then
  if ! "$__interp" -m venv -- "$__venv"; then
    echo "error: '$__interp -m venv $__venv' failed" >&2
    exit 7
  fi
  __created=true
fi
printf '%s\n' "$__state" > "$__req.new" || exit 1
if ! "$__venv/bin/python" -m pip install --disable-pip-version-check "$@" -r "$__req.new"; then
  rm -f -- "$__req.new"
  echo "error: pip install into $__venv failed (see above); with no internet on this node, set python_venv_pip_args (e.g. --no-index --find-links <wheelhouse>)" >&2
  exit 8
fi
__names() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' -e 's/^[[:space:]]*\([A-Za-z0-9][A-Za-z0-9._-]*\).*/\1/' | tr '[:upper:]' '[:lower:]' | sed -E 's/[-_.]+/-/g' | sort -u; }
mapfile -t __removed < <(comm -23 <(printf '%s\n' "$__old" | __names) <(printf '%s\n' "$__state" | __names))
if [ "${#__removed[@]}" -gt 0 ]; then
  "$__venv/bin/python" -m pip uninstall --disable-pip-version-check -y "${__removed[@]}" || exit 9
fi
printf '%s\n' "$__wrapper" > "$__venv/bin/ulhpc-python.new" &&
  chmod 0755 "$__venv/bin/ulhpc-python.new" &&
  mv -f -- "$__venv/bin/ulhpc-python.new" "$__venv/bin/ulhpc-python" || exit 1
mv -f -- "$__req.new" "$__req" || exit 1
echo "ulhpc-python-venv: created=$__created removed=${__removed[*]}"
