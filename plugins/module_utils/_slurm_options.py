# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one table of sbatch options.

slurm_job's argument spec, its sbatch argv and its fingerprint are built from OPTIONS, and so
are the keys a workspace or a service may set in its ``*_slurm`` dict (the placement filter and
the launcher). tests/unit/plugins/module_utils/test_slurm_options.py ties them together.
Standard library only: it runs on the target inside slurm_job.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple

# key: the module option and the *_slurm key; kind: Ansible type; flag: the sbatch flag (None:
# extra_args, given as they are); placement: a workspace or service may set it (the rest is the
# launcher's own: output files, signal...); pattern/expected: the value check and its wording;
# since: 0 for the options of 0.1.0, which stay in every fingerprint even when unset, so that
# adding an option never changes the fingerprint of a job started before (and never replaces it).
Option = namedtuple("Option", "key kind flag placement pattern expected since")

_TIME = r"^(?:\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2}|UNLIMITED|INFINITE)$"
_NAME = r"^[A-Za-z0-9_.+-]+$"
_NAMES = r"^[A-Za-z0-9_.+-]+(?:,[A-Za-z0-9_.+-]+)*$"

OPTIONS = (
    Option("partition", "str", "--partition", True, _NAMES, "partition names such as batch or gpu,batch", 0),
    Option("account", "str", "--account", True, _NAME, "an account name such as project_x", 0),
    Option("qos", "str", "--qos", True, _NAME, "a QOS name such as normal", 0),
    Option("reservation", "str", "--reservation", True, _NAMES, "a reservation name", 1),
    Option("time", "str", "--time", True, _TIME, "a time limit such as 30, 2:00:00 or 1-12:00:00", 0),
    Option("nodes", "str", "--nodes", True, r"^\d+(?:-\d+)?$", "a count or a range such as 1 or 2-4", 0),
    Option("ntasks", "int", "--ntasks", True, r"^[1-9]\d*$", "a count of at least 1", 0),
    Option("cpus_per_task", "int", "--cpus-per-task", True, r"^[1-9]\d*$", "a count of at least 1", 0),
    Option("mem", "str", "--mem", True, r"^\d+[KMGT]?B?$", "a size such as 4G or 4000M", 0),
    Option("gres", "str", "--gres", True, r"^[A-Za-z0-9_.:,=+-]+$", "generic resources such as gpu:1", 0),
    Option("gpus", "str", "--gpus", True, r"^(?:[A-Za-z0-9_.-]+:)?\d+$", "a GPU count such as 1 or volta:2", 1),
    Option("nodelist", "str", "--nodelist", True, r"^[A-Za-z0-9_.+\[\],-]+$",
           "node names such as node1 or node[1-3],gpu7", 1),
    Option("exclude", "str", "--exclude", True, r"^[A-Za-z0-9_.+\[\],-]+$",
           "node names such as node1 or node[1-3],gpu7", 1),
    Option("constraint", "str", "--constraint", True, r"^[A-Za-z0-9_.&|,*\[\]()!:-]+$",
           "node features such as skylake or skylake|broadwell", 0),
    Option("output", "str", "--output", False, None, None, 0),
    Option("error", "str", "--error", False, None, None, 0),
    Option("signal", "str", "--signal", False, r"^(?:[RB]{1,2}:)?(?:SIG)?[A-Z0-9]+(?:@\d+)?$",
           "[{R|B}:]SIG[@seconds], e.g. B:TERM@60", 0),
    Option("dependency", "str", "--dependency", False, None, None, 0),
    Option("array", "str", "--array", False, r"^[0-9][0-9,:%-]*$", "indexes such as 1-10, 1,3,5 or 0-15%4", 0),
    Option("exclusive", "bool", "--exclusive", True, None, None, 0),
    Option("extra_args", "list", None, True, None, None, 0),
)

BY_KEY = dict((option.key, option) for option in OPTIONS)
PLACEMENT_KEYS = tuple(option.key for option in OPTIONS if option.placement)
# The job's other inputs that are part of its fingerprint.
FINGERPRINT_EXTRA = ("chdir", "comment", "environment")
# Arguments the module sets itself and extra_args must not override.
MANAGED_ARGS = ("-J", "--job-name", "--comment", "--parsable")


def argument_spec():
    """The options' part of slurm_job's argument spec."""
    spec = {}
    for option in OPTIONS:
        entry = {"type": option.kind}
        if option.kind == "bool":
            entry["default"] = False
        elif option.kind == "list":
            entry.update(elements="str", default=[])
        spec[option.key] = entry
    return spec


def is_set(value):
    return value is not None and value != "" and value is not False and value != []


def value_errors(params, keys=None):
    """Messages for the values of params (a dict over OPTIONS keys) that sbatch would refuse."""
    errors = []
    for option in OPTIONS:
        if keys is not None and option.key not in keys:
            continue
        value = params.get(option.key)
        if not is_set(value):
            continue
        if option.kind == "list":
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                errors.append("%s must be a list of strings (one sbatch argument each)" % option.key)
                continue
            for arg in value:
                head = arg.split("=", 1)[0]
                if head in MANAGED_ARGS:
                    errors.append("%s must not contain %s: the job name, comment and output format "
                                  "are managed" % (option.key, head))
                if "\n" in arg:
                    errors.append("%s: %r contains a newline" % (option.key, arg))
        elif option.pattern and not re.fullmatch(option.pattern, str(value)):
            errors.append("invalid %s %r: expected %s" % (option.key, value, option.expected))
    return errors


def sbatch_args(params):
    """The sbatch arguments for the options set in params, in table order."""
    argv = []
    for option in OPTIONS:
        value = params.get(option.key)
        if not is_set(value):
            continue
        if option.kind == "list":
            argv.extend(value)
        elif option.kind == "bool":
            argv.append(option.flag)
        else:
            argv.append("%s=%s" % (option.flag, value))
    return argv


def fingerprint_options(params):
    """The options that make a job's fingerprint (see ``since`` above)."""
    opts = {}
    for option in OPTIONS:
        value = params.get(option.key)
        if option.since == 0 or is_set(value):
            opts[option.key] = value
    for key in FINGERPRINT_EXTRA:
        opts[key] = params.get(key)
    return opts


def placement_errors(settings, where):
    """Messages for a ``*_slurm`` dict: unknown keys, wrong types, values sbatch would refuse."""
    if not isinstance(settings, dict):
        return ["%s must be a dict of Slurm options (known keys: %s)" % (where, ", ".join(PLACEMENT_KEYS))]
    errors = []
    unknown = sorted(str(key) for key in settings if key not in PLACEMENT_KEYS)
    if unknown:
        errors.append("%s: unknown Slurm option %s (known: %s)"
                      % (where, ", ".join(unknown), ", ".join(PLACEMENT_KEYS)))
    for key in PLACEMENT_KEYS:
        value = settings.get(key)
        if BY_KEY[key].kind == "int" and is_set(value):
            if isinstance(value, bool) or not re.match(r"^-?\d+$", str(value).strip()):
                errors.append("%s.%s must be a whole number, got %r" % (where, key, value))
    errors.extend("%s: %s" % (where, msg) for msg in value_errors(settings, PLACEMENT_KEYS))
    return errors


def merge_placement(layers, keep_unset=False):
    """Later dicts over earlier ones. An unset value ("", null, false, []) removes the key; with
    keep_unset it stays in the result as "", so that a role's merge of its own layers can hand a
    removal on to the launcher's merge over the workspace's options."""
    merged = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            merged[key] = value
    if keep_unset:
        return dict((key, value if is_set(value) else "") for key, value in merged.items())
    return dict((key, value) for key, value in merged.items() if is_set(value))
