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
options:
  directories:
    description: Absolute paths of directories to make, or to set to mode C(0700).
    type: list
    elements: path
    default: []
  files:
    description: Files to write when missing or different.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the file. Missing parents are made with mode C(0700).
        type: path
        required: true
      content:
        description: The file's whole text (UTF-8).
        type: str
        required: true
      mode:
        description: Octal mode of the file, as a string.
        type: str
        default: "0600"
  links:
    description: Symbolic links to make, or to point again when they point elsewhere.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the link. What is there (a file or a link) is replaced.
        type: path
        required: true
      src:
        description: What the link points to, written as given.
        type: str
        required: true
extends_documentation_fragment:
  - ulhpc.workspace.attributes
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

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ulhpc.workspace.plugins.module_utils._private_files import make, parse_mode


def _absolute(module, path, what):
    if not os.path.isabs(path):
        module.fail_json(msg="private_files: %s %s is not an absolute path; nothing was changed" % (what, path))
    return os.path.normpath(path)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type="list", elements="path", default=[]),
            files=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                content=dict(type="str", required=True, no_log=True),
                mode=dict(type="str", default="0600"),
            )),
            links=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                src=dict(type="str", required=True),
            )),
        ),
        supports_check_mode=True,
    )
    p = module.params
    directories = [_absolute(module, path, "directory") for path in p["directories"]]
    files = []
    for item in p["files"]:
        try:
            mode = parse_mode(item["mode"])
        except ValueError:
            module.fail_json(msg="private_files: mode %r of %s is not an octal mode such as 0600; nothing was changed"
                             % (item["mode"], item["path"]))
        files.append(dict(path=_absolute(module, item["path"], "file"), content=item["content"], mode=mode))
    links = [dict(path=_absolute(module, item["path"], "link"), src=item["src"]) for item in p["links"]]
    changed = make(module, "private_files", directories, files, links)
    module.exit_json(changed=bool(changed), changed_paths=changed)


if __name__ == "__main__":
    main()
