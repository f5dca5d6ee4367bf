#!/usr/bin/env bash
# Prints the extra-vars of a local Valkey source tarball for `make demo`, or nothing, in which
# case the role downloads its default (upstream Valkey, checked against its upstream SHA-256).
# Looks for Debian's orig tarball: a cached copy, the test cluster's copy, or
# `apt-get source --download-only valkey` (needs a deb-src entry; no root needed).
# The role verifies the tarball's sha256 (from its table of known sources) before unpacking it.
set -euo pipefail
version=8.1.1
name=valkey_8.1.1+dfsg1.orig.tar.xz
cache=${XDG_CACHE_HOME:-$HOME/.cache}/ulhpc-workspace
for candidate in "$cache/$name" "/var/cache/ulhpc-testbed/$name"; do
  if [ -r "$candidate" ]; then echo "redis_version=$version redis_source_url=$candidate"; exit 0; fi
done
mkdir -p "$cache"
if (cd "$cache" && apt-get source --download-only -qq valkey >/dev/null 2>&1) && [ -r "$cache/$name" ]; then
  echo "redis_version=$version redis_source_url=$cache/$name"
fi
exit 0
