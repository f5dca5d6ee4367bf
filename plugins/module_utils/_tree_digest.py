# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A digest of a source tree: what decides whether a local package must be copied and installed
again (python_venv_local_packages), without one remote stat per file on every run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

# Build output and caches: they change without the sources changing.
SKIPPED_DIRS = frozenset(("__pycache__", ".git", "build", "dist", ".eggs", ".tox", ".pytest_cache"))
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".egg-info")


def _skipped(name):
    return name in SKIPPED_DIRS or name.endswith(SKIPPED_SUFFIXES)


def tree_files(root):
    """The files under ``root`` that count, as sorted paths relative to it ('/'-separated)."""
    found = []
    for top, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not _skipped(d)]
        for name in files:
            if not _skipped(name):
                found.append(os.path.relpath(os.path.join(top, name), root).replace(os.sep, "/"))
    return sorted(found)


def tree_digest(root):
    """SHA-256 over each counted file's relative path, mode (executable or not) and content.

    Raises ValueError when ``root`` is not a directory."""
    if not os.path.isdir(root):
        raise ValueError("%s is not a directory" % root)
    digest = hashlib.sha256()
    for rel in tree_files(root):
        path = os.path.join(root, rel)
        with open(path, "rb") as handle:
            content = handle.read()
        executable = b"x" if os.access(path, os.X_OK) else b"-"
        digest.update(rel.encode("utf-8") + b"\0" + executable + b"\0")
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()
