#!/usr/bin/env bash
# Prints the path of a Redis 7.0.15 source tarball for `make demo`, without the internet
# beyond the distribution's package archive: a cached copy, the test cluster's copy, or
# `apt-get source --download-only redis` (needs a deb-src entry; no root needed).
# The role verifies the tarball's sha256 before unpacking it, whatever this finds.
set -euo pipefail
name=redis_7.0.15.orig.tar.gz
cache=${XDG_CACHE_HOME:-$HOME/.cache}/ulhpc-workspace
for candidate in "$cache/$name" "/var/cache/ulhpc-testbed/$name"; do
  if [ -r "$candidate" ]; then echo "$candidate"; exit 0; fi
done
mkdir -p "$cache"
if (cd "$cache" && apt-get source --download-only -qq redis >/dev/null 2>&1) && [ -r "$cache/$name" ]; then
  echo "$cache/$name"
  exit 0
fi
cat >&2 <<MSG
error: no Redis source tarball found. Either
  - run: make demo REDIS_SOURCE=/path/to/$name   (or a mirror URL), or
  - add a deb-src entry for your Debian release and re-run make demo (it runs
    'apt-get source --download-only redis' into $cache).
MSG
exit 1
