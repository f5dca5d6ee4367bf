# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workspace filters (each documented in its own <name>.yml): workspace_services,
workspace_status and service_summary, over plugins/module_utils/_service_status.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.ulhpc.workspace.plugins.module_utils import _service_status


def _connections(value):
    if not isinstance(value, (list, tuple)) or not all(isinstance(c, dict) for c in value):
        raise AnsibleFilterError("expected a list of connection dicts, got %r" % (value,))
    return [c for c in value if "service" in c]


def workspace_services(connections, login, workspace="default"):
    """{service: connection info} of the workspace's connection files."""
    return _service_status.published(_connections(connections), login, workspace)


def workspace_status(connections, names, jobs, local_results, login, workspace="default"):
    """{service: status}; local_results are local_service's loop results (loop_var workspace_item)."""
    locals_ = dict((r.get("workspace_item"), r) for r in (local_results or []) if isinstance(r, dict))
    return _service_status.workspace_status(list(names or []), _connections(connections), dict(jobs or {}),
                                            locals_, login, workspace)


def service_summary(svc):
    """Where a service is, in a few words."""
    if not isinstance(svc, dict):
        raise AnsibleFilterError("service_summary: expected a service dict, got %r" % (svc,))
    return _service_status.summary(svc)


class FilterModule(object):
    def filters(self):
        return {
            "workspace_services": workspace_services,
            "workspace_status": workspace_status,
            "service_summary": service_summary,
        }
