# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: tree_digest
author: ULHPC workspace developers (@ULHPC)
version_added: 0.2.0
short_description: A SHA-256 digest of a directory tree on the controller
description:
  - Returns one digest per directory, over each file's path relative to the directory, whether it is
    executable, and its content.
  - Caches and build output (C(__pycache__), C(*.pyc), C(*.egg-info), C(build), C(dist), C(.git)) do not count.
  - The python_venv role compares it with the digest stored in the venv, so that an unchanged local
    package costs no remote call per file.
options:
  _terms:
    description: Directories on the controller.
    type: list
    elements: path
    required: true
"""

EXAMPLES = r"""
- name: Fingerprint a local Python project
  ansible.builtin.debug:
    msg: "{{ lookup('ulhpc.workspace.tree_digest', playbook_dir ~ '/../roles/celery/files/ulhpccelery') }}"
"""

RETURN = r"""
_raw:
  description: One hexadecimal SHA-256 digest per directory, in the order given.
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.ulhpc.workspace.plugins.module_utils._tree_digest import tree_digest


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        digests = []
        for term in terms:
            try:
                digests.append(tree_digest(term))
            except (OSError, ValueError) as exc:
                raise AnsibleLookupError("tree_digest: cannot read %s: %s" % (term, exc))
        return digests
