#!/usr/bin/env bash
# Lets `ansible-test sanity --venv` run without reaching ansible's CI file host: it reads the
# pip bootstrap script from its cache, so put the offline stand-in there under every name
# the installed ansible-test may ask for.
set -euo pipefail
venv=${1:?usage: prepare-offline.sh VENV}
cache=${HOME}/.ansible/test/cache
mkdir -p "$cache"
version=$("$venv/bin/python" - <<'PY'
import re, pathlib, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
m = re.search(r"pip=['\"]([0-9.]+)['\"]", src.read_text())
print(m.group(1) if m else "")
PY
)
[ -n "$version" ] || { echo "error: cannot tell which pip version ansible-test bootstraps" >&2; exit 1; }
install -m 0644 "$(dirname "$0")/get_pip_standin.py" "$cache/get_pip_${version//./_}.py"
echo "pip bootstrap stand-in: $cache/get_pip_${version//./_}.py"
