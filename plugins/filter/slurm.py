# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Slurm filters (each documented in its own <name>.yml): hostlist_expand, job_port, and the
*_slurm dicts' slurm_placement, slurm_placement_errors and sbatch_args over the one option table."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm as slurm
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm_options as options_table


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


def slurm_placement(layers, keep_unset=False):
    """A list of ``*_slurm`` dicts, later over earlier, unset values dropped (kept as "" with
    keep_unset)."""
    if not isinstance(layers, (list, tuple)):
        raise AnsibleFilterError("slurm_placement: expected a list of dicts, got %s" % type(layers).__name__)
    for layer in layers:
        if layer is not None and not isinstance(layer, dict):
            raise AnsibleFilterError("slurm_placement: %r is not a dict of Slurm options" % (layer,))
    return options_table.merge_placement(layers, keep_unset=bool(keep_unset))


def slurm_placement_errors(settings, where):
    """The messages for a ``*_slurm`` dict named ``where``; [] when it is valid."""
    return options_table.placement_errors(settings, where)


def sbatch_args(settings):
    """The sbatch arguments of a ``*_slurm`` dict, in the option table's order."""
    errors = options_table.placement_errors(settings, "sbatch_args")
    if errors:
        raise AnsibleFilterError("; ".join(errors))
    return options_table.sbatch_args(settings)


class FilterModule(object):
    def filters(self):
        return {
            "hostlist_expand": hostlist_expand,
            "job_port": job_port,
            "slurm_placement": slurm_placement,
            "slurm_placement_errors": slurm_placement_errors,
            "sbatch_args": sbatch_args,
        }
