# shellcheck shell=bash
# ws_load_modules NAME...: load environment modules (Lmod or Environment Modules) in the
# current shell, sourcing their bash init first when `module` is not defined (batch jobs and
# non-login shells often lack it). Returns 3 with a message on stderr when one cannot be loaded.
# The one copy: the launcher's preamble, python_venv's scripts and kernel wrapper and the
# ipcluster checks all inline this file.
ws_load_modules() {
  local m
  [ "$#" -gt 0 ] || return 0
  if ! type module >/dev/null 2>&1; then
    ws_load_modules_init
  fi
  if ! type module >/dev/null 2>&1; then
    echo "error: environment modules ($*) are requested but no 'module' command is available on $(hostname) (no Lmod or Environment Modules init script found)" >&2
    return 3
  fi
  if [ -z "${MODULEPATH:-}" ] && [ -r /etc/lmod/modulespath ]; then
    MODULEPATH=$(grep -v '^#' /etc/lmod/modulespath | paste -sd:)
    export MODULEPATH
  fi
  for m in "$@"; do
    if ! module load "$m"; then
      echo "error: environment module '$m' cannot be loaded: 'module load $m' failed on $(hostname) (MODULEPATH=${MODULEPATH:-unset}); check the name with 'module avail'" >&2
      return 3
    fi
  done
  return 0
}

# ws_load_modules_init: define `module` from the first Lmod or Environment Modules init script.
ws_load_modules_init() {
  local init
  for init in ${LMOD_PKG:+"$LMOD_PKG/init/bash"} ${MODULESHOME:+"$MODULESHOME/init/bash"} \
        /usr/share/lmod/lmod/init/bash /usr/share/lmod/lmod/init/profile /opt/apps/lmod/lmod/init/bash \
        /usr/local/lmod/lmod/init/bash /usr/share/Modules/init/bash /usr/share/modules/init/bash \
        /etc/profile.d/lmod.sh /etc/profile.d/modules.sh /etc/profile.d/z00_lmod.sh; do
    if [ -r "$init" ]; then
      # shellcheck disable=SC1090
      . "$init" >/dev/null 2>&1
      if type module >/dev/null 2>&1; then
        return 0
      fi
    fi
  done
  return 0
}

# ws_module_purge: `module purge` (workspace_module_purge), so that modules loaded in the shell
# that ran sbatch, which the job inherits, do not reach the service. A site without modules
# has nothing to purge.
ws_module_purge() {
  if ! type module >/dev/null 2>&1; then
    ws_load_modules_init
  fi
  if type module >/dev/null 2>&1; then
    module purge
  fi
}
