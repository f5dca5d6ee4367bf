# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Source filters: source_pick (documented in source_pick.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ulhpc.workspace.plugins.module_utils._sources import pick_source


def source_pick(known, version, url="", sha256=""):
    """The tarball URL and checksum to build `version` from (see module_utils/_sources.py)."""
    return pick_source(known, version, url, sha256)


class FilterModule(object):
    def filters(self):
        return {"source_pick": source_pick}
