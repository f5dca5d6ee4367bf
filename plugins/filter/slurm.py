# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Slurm filters: hostlist_expand and job_port (documented in hostlist_expand.yml and job_port.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm as slurm


def hostlist_expand(hostlist):
    """``node[01-03,07]`` -> ``[node01, node02, node03, node07]``."""
    try:
        return slurm.expand_hostlist(hostlist)
    except ValueError as exc:
        raise AnsibleFilterError("hostlist_expand: %s" % exc)


def job_port(job_id, base=64000, span=1000):
    """``base + job_id % span`` (the tutorial's port rule)."""
    try:
        return slurm.job_port(job_id, base=base, span=span)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {
            "hostlist_expand": hostlist_expand,
            "job_port": job_port,
        }
