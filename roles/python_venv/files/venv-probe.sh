# shellcheck shell=bash
# venv-probe.sh VENV INTERPRETER [MODULE...]: read-only. Loads the modules, resolves the
# interpreter and prints, as JSON, what python_venv needs to decide whether to act.
__venv=$1
__interp=$2
shift 2
ws_load_modules "$@" || exit 3
# shellcheck disable=SC2088  # a literal "~/" given by the user is matched here, not expanded
case $__venv in
  "~") __venv=$HOME ;;
  "~/"*) __venv=$HOME/${__venv#"~/"} ;;
esac
# shellcheck disable=SC2088  # a literal "~/" given by the user is matched here, not expanded
case $__venv in
  /*) ;;
  *) echo "error: python_venv_path must be an absolute path (or start with ~/), got '$__venv'" >&2; exit 2 ;;
esac
if ! __resolved=$(command -v -- "$__interp"); then
  echo "error: python interpreter '$__interp' not found or not executable${1:+ after loading modules: $*}; set python_venv_interpreter to an existing python (e.g. /usr/bin/python3) or load the module that provides it with python_venv_modules" >&2
  exit 4
fi
if ! __out=$("$__resolved" -c 'import sys, venv, ensurepip; print(sys.version.split()[0])' 2>&1); then
  echo "error: python interpreter '$__resolved' cannot create virtualenvs (it does not run, or lacks the venv/ensurepip modules: on Debian install python3-venv): $__out" >&2
  exit 5
fi
exec "$__resolved" - "$__venv" "$__resolved" "$__out" <<'PYEOF'
import hashlib, json, os, subprocess, sys
venv, interp, version = sys.argv[1:4]
venv = os.path.normpath(venv)
def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None
py = os.path.join(venv, "bin", "python")
works = False
if os.access(py, os.X_OK):
    works = subprocess.call([py, "-c", ""], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0
state = read(os.path.join(venv, "ulhpc-requirements.txt"))
wrapper = read(os.path.join(venv, "bin", "ulhpc-python"))
print(json.dumps({
    "venv": venv,
    "exists": os.path.isdir(venv),
    "is_venv": os.path.isfile(os.path.join(venv, "pyvenv.cfg")),
    "python_works": works,
    "interpreter": interp,
    "interpreter_real": os.path.realpath(interp),
    "version": version,
    "state": state.decode("utf-8", "replace") if state is not None else None,
    "wrapper_sha1": hashlib.sha1(wrapper).hexdigest() if wrapper is not None else None,
}))
PYEOF
