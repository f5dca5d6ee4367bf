# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The launcher's input check (documented in launcher_errors.yml), in Python so that each of
its messages is unit-tested; it was a Jinja expression in the launcher's validate.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm_options as options_table

SERVICE = re.compile(r"[a-z0-9_-]{1,40}")
# A name the preamble can export: a shell variable name.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MODULE_NAME = re.compile(r"\S+")


def _as_int(value):
    """Jinja's ``int`` filter: 0 for what is not a whole number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return 0


def launcher_errors(call):
    """The messages for one launcher call (a dict of the launcher_* values, modules merged);
    [] when it is valid."""
    if not isinstance(call, dict):
        raise AnsibleFilterError("launcher_errors: expected a dict of launcher values, got %s" % type(call).__name__)
    service = to_text(call.get("service", ""))
    errors = []
    if not SERVICE.fullmatch(service):
        errors.append('launcher_service "%s" must be 1-40 characters of [a-z0-9_-]' % service)
    if call.get("state") != "stopped" and not to_text(call.get("script") or "").strip():
        errors.append("launcher_script (the service body) is empty for service %s" % service)
    env = call.get("env") or {}
    bad_names = [to_text(name) for name in env if not ENV_NAME.fullmatch(to_text(name))]
    if bad_names:
        errors.append("launcher_env keys must be shell variable names: %s" % ", ".join(bad_names))
    if any(to_text(name).startswith("WS_") for name in env):
        errors.append("launcher_env must not set WS_* variables (the preamble owns them)")
    entries = [entry for entry in call.get("config_files") or [] if isinstance(entry, dict)]
    if any("path" not in entry or "content" not in entry for entry in entries):
        errors.append("launcher_config_files: a dict item needs path and content (of service %s)" % service)
    if _as_int(call.get("timeout", 0)) < 0:
        errors.append("launcher_timeout must be 0 (workspace_timeout) or more seconds")
    if not all(MODULE_NAME.fullmatch(to_text(name)) for name in call.get("modules") or []):
        errors.append("environment module names must not contain spaces")
    return errors + options_table.placement_errors(call.get("slurm") or {}, "launcher_slurm of service %s" % service)


class FilterModule(object):
    def filters(self):
        return {"launcher_errors": launcher_errors}
