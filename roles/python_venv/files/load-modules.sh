# ulhpc_load_modules MODULE...: load environment modules (Lmod or Environment Modules)
# in the current shell; returns non-zero with a clear message when one cannot be loaded.
ulhpc_load_modules() {
  [ "$#" -gt 0 ] || return 0
  if ! type module >/dev/null 2>&1; then
    for __ulhpc_init in "${LMOD_PKG:+$LMOD_PKG/init/bash}" /etc/profile.d/lmod.sh \
        /usr/share/lmod/lmod/init/bash /etc/profile.d/modules.sh \
        /usr/share/Modules/init/bash /usr/share/modules/init/bash; do
      if [ -n "$__ulhpc_init" ] && [ -r "$__ulhpc_init" ]; then
        . "$__ulhpc_init"
        if type module >/dev/null 2>&1; then break; fi
      fi
    done
  fi
  if ! type module >/dev/null 2>&1; then
    echo "error: environment modules requested ($*) but no 'module' command is available (no Lmod or Environment Modules init script found)" >&2
    return 3
  fi
  for __ulhpc_mod in "$@"; do
    if ! module load "$__ulhpc_mod"; then
      echo "error: environment module '$__ulhpc_mod' cannot be loaded (check the name with 'module avail')" >&2
      return 3
    fi
  done
  return 0
}
