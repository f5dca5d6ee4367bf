# shellcheck shell=bash
# venv-probe.sh VENV INTERPRETER LOCAL_NAMES [MODULE...]: read-only. Loads the modules, resolves
# the interpreter and prints, as JSON, what python_venv needs to decide whether to act.
# LOCAL_NAMES: the local packages (python_venv_local_packages' names, comma-separated, or empty),
# whose install state the venv's own Python reports in the same call ("local").
__venv=$1
__interp=$2
__local=$3
shift 3
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
exec "$__resolved" - "$__venv" "$__resolved" "$__out" "$__local" <<'PYEOF'
import hashlib, json, os, subprocess, sys
venv, interp, version, local = sys.argv[1:5]
local = [name for name in local.split(",") if name]
# Run by the venv's Python (>= 3.8): [[installed, stored source digest], ...] of the local
# packages, in order. Its running at all is what "python_works" means.
LOCAL_PROBE = """
import importlib.metadata as m, json, os, sys
out = []
for name in sys.argv[2:]:
    try:
        m.version(name)
        installed = True
    except m.PackageNotFoundError:
        installed = False
    try:
        with open(os.path.join(sys.argv[1], "." + name + ".source-digest")) as handle:
            stored = handle.read().strip()
    except OSError:
        stored = ""
    out.append([installed, stored])
print(json.dumps(out))
"""
venv = os.path.normpath(venv)
def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None
py = os.path.join(venv, "bin", "python")
works, local_state = False, None
if os.access(py, os.X_OK):
    proc = subprocess.run([py, "-c", LOCAL_PROBE, os.path.join(venv, "src")] + local,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    works = proc.returncode == 0
    try:
        local_state = json.loads(proc.stdout.decode("utf-8", "replace")) if works else None
    except ValueError:
        local_state = None
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
    "local": local_state,
}))
PYEOF
