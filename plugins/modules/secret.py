#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ulhpc.workspace contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: secret
short_description: Generate a secret once and keep it in a private file
version_added: "0.1.0"
description:
  - Creates a file holding a random secret (from the operating system's CSPRNG) the first
    time, with mode C(0600) in a directory of mode C(0700), and returns its content.
  - An existing non-empty secret file is never regenerated; only its mode (and its parent
    directory's mode) is corrected.
  - The secret is returned as RV(value). B(Callers must set C(no_log=true)) on the task and
    on every task that uses the registered value.
  - The file is written under a temporary name and linked into place, so two concurrent
    first runs both return the one secret that the file holds.
author:
  - ULHPC workspace developers (@ULHPC)
options:
  path:
    description:
      - Path of the secret file. Its parent directory is created (mode C(0700)) when missing.
      - One of O(path), O(paths) and O(existing_paths) is required.
    type: path
  paths:
    description:
      - Several secret files, each handled as O(path) is, in one call (one remote call instead
        of one per file). Their values are returned as RV(values), in the same order.
    type: list
    elements: path
    version_added: "0.1.0"
  existing_paths:
    description:
      - Secret files another step made, read in the same call as those of O(path) or O(paths)
        (one remote call instead of two), as with O(state=existing) whatever O(state) is. Their
        values are returned as RV(existing_values), in the same order.
      - When one is missing or empty, the call fails naming it before it creates anything.
    type: list
    elements: path
    version_added: "0.2.0"
  bytes:
    description:
      - Bytes of entropy of a new secret (the default 32 is 256 bits). At least 16.
    type: int
    default: 32
  format:
    description:
      - Encoding of a new secret. V(hex) gives 2 characters per byte, V(urlsafe) base64url
        without padding (about 1.34 characters per byte).
    type: str
    choices: [hex, urlsafe]
    default: hex
  state:
    description:
      - V(present) creates a missing secret once.
      - V(existing) only reads secrets that another task made (a Redis password that the redis
        role generated, say), and fails naming the first missing or empty one, without creating
        anything. Modes are corrected as with V(present).
    type: str
    choices: [present, existing]
    default: present
extends_documentation_fragment:
  - ulhpc.workspace.attributes
attributes:
  check_mode:
    support: full
    details: Reports whether the secret would be created or its modes fixed; writes nothing.
  diff_mode:
    support: none
notes:
  - The secret never appears on a command line. It ends with no newline.
"""

EXAMPLES = r"""
- name: Generate the Redis password once
  ulhpc.workspace.secret:
    path: "{{ __workspace_secrets_dir }}/redis.password"
    bytes: 32
  register: __redis_password
  no_log: true

- name: Generate the passwords of two Redis users once, in one call
  ulhpc.workspace.secret:
    paths:
      - "{{ __workspace_secrets_dir }}/redis-admin.password"
      - "{{ __workspace_secrets_dir }}/redis-flower.password"
  register: __redis_user_secrets  # values[0], values[1]
  no_log: true

- name: Read the two Redis passwords the redis role made, and make Flower's own, in one call
  ulhpc.workspace.secret:
    existing_paths:
      - "{{ __workspace_secrets_dir }}/redis.password"
      - "{{ __workspace_secrets_dir }}/redis-flower.password"
    paths:
      - "{{ __workspace_secrets_dir }}/flower.password"
    bytes: 24
  register: __celery_secrets  # existing_values[0], existing_values[1], values[0]
  no_log: true

- name: Generate a URL-safe token
  ulhpc.workspace.secret:
    path: ~/.ulhpc/workspaces/default/secrets/jupyter.token
    format: urlsafe
  no_log: true
"""

RETURN = r"""
value:
  description:
    - The secret (content of the file, without a trailing newline). Empty in check mode when
      the file would be created. Use C(no_log=true).
  returned: when O(path) is given
  type: str
  sample: 5f0c...e1
values:
  description: The secrets of O(paths), in their order, each as RV(value). Use C(no_log=true).
  returned: when O(paths) is given
  type: list
  elements: str
  sample: [5f0c...e1, 9a7b...04]
existing_values:
  description: The secrets of O(existing_paths), in their order, each as RV(value). Use C(no_log=true).
  returned: when O(existing_paths) is given
  type: list
  elements: str
  sample: [5f0c...e1]
path:
  description: Absolute path of the secret file.
  returned: when O(path) is given
  type: str
  sample: /home/user/.ulhpc/workspaces/default/secrets/redis.password
created:
  description:
    - Whether the secret was (or, in check mode, would be) generated by this run; with O(paths),
      whether any was.
  returned: always
  type: bool
  sample: true
fixed_modes:
  description: Paths whose mode was (or would be) corrected to C(0600)/C(0700).
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ulhpc.workspace.plugins.module_utils._secret import Secret


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path"),
            paths=dict(type="list", elements="path"),
            existing_paths=dict(type="list", elements="path"),
            bytes=dict(type="int", default=32),
            format=dict(type="str", default="hex", choices=["hex", "urlsafe"]),
            state=dict(type="str", default="present", choices=["present", "existing"]),
        ),
        supports_check_mode=True,
        mutually_exclusive=[("path", "paths")],
        required_one_of=[("path", "paths", "existing_paths")],
    )
    params = module.params
    if params["bytes"] < 16:
        module.fail_json(msg="bytes must be at least 16 (128 bits of entropy), got %d" % params["bytes"])
    read_only = [Secret(module, path, existing=True) for path in params["existing_paths"] or []]
    made = [Secret(module, path) for path in ([params["path"]] if params["path"] is not None else params["paths"] or [])]
    for secret in read_only + [s for s in made if s.existing]:  # all there, or nothing changes
        secret.require()
    results = [secret.run() for secret in read_only + made]
    read, results = results[:len(read_only)], results[len(read_only):]
    out = dict(changed=any(r["changed"] for r in read + results), created=any(r["created"] for r in results),
               fixed_modes=[p for r in read + results for p in r["fixed_modes"]])
    if read_only:
        out["existing_values"] = [r["value"] for r in read]
    if params["path"] is not None:
        out.update(value=results[0]["value"], path=results[0]["path"])
    elif params["paths"] is not None:
        out["values"] = [r["value"] for r in results]
    module.exit_json(**out)


if __name__ == "__main__":
    main()
