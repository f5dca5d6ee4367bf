# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""deprecated_alias: an old variable name still works for one release, with a warning."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.utils.display import Display


def is_set(value):
    return value is not None and value != "" and value != [] and value != {}


def deprecated_alias(value, old, new):
    """Return value; when it is set, warn that ``old`` is deprecated in favour of ``new``."""
    if is_set(value):
        # The release that drops the aliases kept by 0.2.0.
        Display().deprecated(
            "The variable %s is deprecated, set %s instead (same values)" % (old, new),
            version="0.3.0", collection_name="ulhpc.workspace")
    return value


class FilterModule(object):
    def filters(self):
        return {"deprecated_alias": deprecated_alias}
