#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ulhpc.workspace contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: tls_ca
short_description: Create the user's private certificate authority once
version_added: "0.2.0"
description:
  - Creates, the first time, a private certificate authority for the user's workspaces, in
    a directory of mode C(0700) with its key C(ca.key) (mode C(0600), never returned) and its
    certificate C(ca.crt).
  - Each workspace service's job issues its own server certificate from it for its node's
    names and address; clients verify against C(ca.crt), so a listener that is not the
    service (another user on the node, a stale address) cannot receive a password.
  - An existing CA is never replaced. A key readable by others, or a half-present CA, is an
    error that says what to do.
  - Concurrent first runs create one CA (a lock file in the directory).
author:
  - ULHPC workspace developers (@ULHPC)
requirements:
  - the C(openssl) command (1.1.1 or later) on the target
options:
  path:
    description: Directory of the CA (created with mode C(0700)).
    type: path
    required: true
  common_name:
    description: Common name of the CA certificate (shown by browsers when you trust it).
    type: str
    default: ulhpc.workspace CA
  days:
    description: Validity of the CA certificate in days.
    type: int
    default: 3650
  directories:
    description:
      - Other private directories to make (with missing parents) or set to mode C(0700) in the
        same call, before the CA (one remote call instead of two; the workspace's directories).
      - Absolute paths. A file in the way fails the task before anything changes.
    type: list
    elements: path
    default: []
    version_added: "0.2.0"
extends_documentation_fragment:
  - ulhpc.workspace.attributes
attributes:
  check_mode:
    support: full
    details: Reports whether the CA would be created; writes nothing.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Create the user's CA once
  ulhpc.workspace.tls_ca:
    path: ~/.ulhpc/tls
  register: __ca

- name: Create a workspace's private directories and the user's CA, in one call
  ulhpc.workspace.tls_ca:
    path: ~/.ulhpc/tls
    directories:
      - /home/user/.ulhpc/workspaces/default/secrets
      - /home/user/.ulhpc/workspaces/default/run

- name: Show how to trust it
  ansible.builtin.debug:
    msg: "{{ __ca.trust_hint }}"
"""

RETURN = r"""
path:
  description: Absolute path of the CA directory.
  returned: always
  type: str
  sample: /home/user/.ulhpc/tls
cert:
  description: Path of the CA certificate (PEM), the file clients verify against.
  returned: always
  type: str
  sample: /home/user/.ulhpc/tls/ca.crt
key:
  description: Path of the CA private key (mode 0600). Its content is never returned.
  returned: always
  type: str
  sample: /home/user/.ulhpc/tls/ca.key
created:
  description: Whether the CA was (or in check mode would be) created by this run.
  returned: always
  type: bool
  sample: false
changed_paths:
  description: The paths of O(directories) that were (in check mode, would be) made or set to their mode.
  returned: always
  type: list
  elements: str
  sample: [/home/user/.ulhpc/workspaces/default/run]
fingerprint_sha256:
  description: SHA-256 fingerprint of the CA certificate; null in check mode before it exists.
  returned: always
  type: str
  sample: "3A:5F:...:C2"
trust_hint:
  description: One line telling how to trust the CA; null in check mode before it exists.
  returned: always
  type: str
  sample: "services use TLS from your workspace CA /home/user/.ulhpc/tls/ca.crt (SHA-256 3A:5F:...)"
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ulhpc.workspace.plugins.module_utils._private_files import make
from ansible_collections.ulhpc.workspace.plugins.module_utils._tls import TlsCa


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            common_name=dict(type="str", default="ulhpc.workspace CA"),
            days=dict(type="int", default=3650),
            directories=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )
    if module.params["days"] < 1:
        module.fail_json(msg="days must be at least 1, got %d" % module.params["days"])
    relative = [path for path in module.params["directories"] if not os.path.isabs(path)]
    if relative:
        module.fail_json(msg="tls_ca: directory %s is not an absolute path; nothing was changed" % relative[0])
    changed_paths = make(module, "tls_ca", [os.path.normpath(path) for path in module.params["directories"]])
    result = TlsCa(module).run()
    result.update(changed_paths=changed_paths, changed=bool(result["changed"] or changed_paths))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
