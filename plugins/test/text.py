# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fullmatch test (documented in fullmatch.yml): the fullmatch filter as a test, for
select() and reject() over lists of inputs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ulhpc.workspace.plugins.filter.text import fullmatch


class TestModule(object):
    def tests(self):
        return {"fullmatch": fullmatch}
