#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ulhpc.workspace contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: private_files
short_description: Keep a service's private directories, files and links in one call
version_added: "0.1.0"
description:
  - Makes the given directories (mode C(0700), with any missing parents also C(0700)), writes the
    given files when their content or mode differs, and points the given symbolic links at their
    source, all in one call on the target.
  - A file is written under a temporary name created with its final mode and renamed into place, so
    no reader sees it half written or with a wider mode than asked.
  - It does what several M(ansible.builtin.file) and M(ansible.builtin.template) tasks would do,
    at the price of one of them; render templates on the controller with
    C(lookup('ansible.builtin.template', ...)) and give their text as O(files[].content).
  - File contents may hold secrets, so they are never returned, and the module's arguments are not
    logged (set C(no_log=true) on the task too, since the rendered content is in its arguments).
author:
  - ULHPC workspace developers (@ULHPC)
extends_documentation_fragment:
  - ulhpc.workspace.attributes
  - ulhpc.workspace.private_files
attributes:
  check_mode:
    support: full
    details: Reports the paths that a run would change; writes nothing.
  diff_mode:
    support: none
    details: Contents may be secrets, so no diff is shown.
notes:
  - A path in the way (a file where a directory is asked, a directory where a file or link is
    asked) fails the task before anything is changed.
"""

EXAMPLES = r"""
- name: Write redis.conf and its data directory
  ulhpc.workspace.private_files:
    directories:
      - "{{ __workspace_data_dir }}/redis"
    files:
      - path: "{{ __workspace_config_dir }}/redis.conf"
        content: "{{ lookup('ansible.builtin.template', 'redis.conf.j2') }}"
  no_log: true
"""

RETURN = r"""
changed_paths:
  description: The paths that were (in check mode, would be) made, written, set to their mode or linked.
  returned: always
  type: list
  elements: str
  sample: [/home/user/.ulhpc/workspaces/default/config/redis.conf]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ulhpc.workspace.plugins.module_utils import _private_files


def main():
    module = AnsibleModule(argument_spec=_private_files.argument_spec(), supports_check_mode=True)
    changed = _private_files.apply_actions(module, "private_files", _private_files.plan_params(module, "private_files"))
    module.exit_json(changed=bool(changed), changed_paths=changed)


if __name__ == "__main__":
    main()
