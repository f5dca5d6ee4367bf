# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input checks on text (documented in fullmatch.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError


def fullmatch(value, pattern):
    """True when the whole of ``value`` matches ``pattern``.

    Ansible's ``match`` test anchors only the start, and a pattern ending in ``$`` still
    accepts a trailing newline ("demo\\n" passes ``^[a-z]+$``), which would then reach job
    names, scripts and configuration files. Non-strings (numbers) are checked as their text.
    """
    try:
        return re.fullmatch(pattern, "%s" % (value,)) is not None
    except re.error as exc:
        raise AnsibleFilterError("fullmatch: bad pattern %r: %s" % (pattern, exc))


class FilterModule(object):
    def filters(self):
        return {"fullmatch": fullmatch}
