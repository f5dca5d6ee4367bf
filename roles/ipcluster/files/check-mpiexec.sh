# check-mpiexec.sh MPIEXEC [MODULE...]: read-only. Loads the environment modules the way the
# service script does and prints where MPIEXEC resolves; exits non-zero with a message if not.
__mpiexec=$1
shift
if [ "$#" -gt 0 ]; then
  if ! type module >/dev/null 2>&1; then
    for __init in "${LMOD_PKG:+$LMOD_PKG/init/bash}" /etc/profile.d/lmod.sh \
        /usr/share/lmod/lmod/init/bash /etc/profile.d/modules.sh \
        /usr/share/Modules/init/bash /usr/share/modules/init/bash; do
      if [ -n "$__init" ] && [ -r "$__init" ]; then
        . "$__init"
        if type module >/dev/null 2>&1; then break; fi
      fi
    done
  fi
  if ! type module >/dev/null 2>&1; then
    echo "environment modules requested ($*) but no 'module' command is available" >&2
    exit 3
  fi
  for __mod in "$@"; do
    if ! module load "$__mod" >/dev/null 2>&1; then
      echo "environment module '$__mod' cannot be loaded (check the name with 'module avail')" >&2
      exit 3
    fi
  done
fi
if ! __path=$(command -v -- "$__mpiexec"); then
  echo "no '$__mpiexec' found${1:+ after loading the modules: $*}" >&2
  exit 4
fi
printf '%s\n' "$__path"
