# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""slurm_job's option jobs: several named jobs in one call.

A module run costs about 0.2 s before it does anything, so the launcher gives all of a call's
services to one run. Every job is checked first (nothing changes when one is wrong), then each
is found or submitted in turn, and only then is each waited for: the jobs start together (a
cold start of N services waits about as long as the slowest, not the sum). The private files
(the module's own directories, files and links, never a job's: their contents are secrets,
which only the module's own options keep out of every log) are written once, by the first job
that gets that far, before any submission.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm_options as options_table
from ansible_collections.ulhpc.workspace.plugins.module_utils._private_files import PlannedFiles
from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_client import (
    SlurmClient, SlurmCommandError, SlurmUnreachable)
from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_job import SlurmJob, SlurmJobError

# What a job of the option jobs may set over the module's own options: what differs between
# the services of a launcher call. Never a secret.
JOB_KEYS = ("name", "script", "content", "script_file", "ready_file", "lock", "argv_file", "timeout",
            "comment", "chdir", "environment") + tuple(option.key for option in options_table.OPTIONS)


def missing_script(params):
    """Ansible's required_if message when a job to run has neither script nor content; None if it has."""
    if params["state"] != "absent" and params["script"] is None and params["content"] is None:
        return "state is %s but any of the following are missing: script, content" % params["state"]
    return None


def job_params(module, spec):
    """Each job's parameters: the module's own, with the job's keys over them, checked and
    converted as the module's options are. A wrong job fails the module, naming it, before
    any command runs."""
    job_spec = {}
    for key in JOB_KEYS:
        option = dict(spec[key])
        option.pop("default", None)  # a key the job leaves out keeps the module's value
        option.pop("required", None)
        job_spec[key] = option
    validator = ArgumentSpecValidator(job_spec)
    base = dict(module.params)
    base.pop("jobs")
    found = []
    for index, item in enumerate(module.params["jobs"]):
        where = "jobs[%d]" % index
        unknown = sorted(str(key) for key in item if key not in job_spec)
        if unknown:
            module.fail_json(msg="%s: unknown keys %s (a job may set %s)" % (where, ", ".join(unknown), ", ".join(JOB_KEYS)))
        checked = validator.validate(dict(item))
        if checked.error_messages:
            module.fail_json(msg="%s: %s" % (where, "; ".join(checked.error_messages)))
        params = dict(base)
        params.update((key, checked.validated_parameters[key]) for key in item)
        problem = None
        if not params["name"]:
            problem = "a job needs a name"
        elif params["script"] is not None and params["content"] is not None:
            problem = "parameters are mutually exclusive: script|content"
        else:
            problem = missing_script(params)
        if problem:
            module.fail_json(msg="%s: %s" % (where, problem))
        found.append(params)
    names = [params["name"] for params in found]
    twice = sorted(set(name for name in names if names.count(name) > 1))
    if twice:
        module.fail_json(msg="jobs: a job name is given more than once: %s" % ", ".join(twice))
    return found


def run_jobs(module, spec, client=None):
    """(result, error message or None) of the option jobs: ``jobs``, each job's result in the
    order given; ``changed_paths``, the private files written; ``changed`` when any changed."""
    client = client or SlurmClient(module)
    files = PlannedFiles(module, "slurm_job")
    jobs = [SlurmJob(module, client=client, params=params, files=files) for params in job_params(module, spec)]
    error, current = None, None
    try:
        for current in jobs:
            current.validate()
        begun = []
        for current in jobs:
            if current.p["state"] == "absent":
                current.absent()
                begun.append((None, None))
            else:
                begun.append(current.start())
        for current, (job_id, first) in zip(jobs, begun):
            if job_id is not None:
                current.wait(job_id, first)
    except SlurmJobError as exc:
        current.result.update(exc.facts)
        error = "job %s: %s" % (current.p["name"], exc.msg)
    except SlurmUnreachable as exc:
        error = "job %s: scheduler unreachable: %s" % (current.p["name"], exc)
    except SlurmCommandError as exc:
        error = "job %s: %s failed: %s" % (current.p["name"], exc.argv[0].rsplit("/", 1)[-1], exc)
    for job in jobs:
        job.result["queries"] = client.queries
        job.result["waited"] = round(job.result["waited"], 3)
    changed_paths = files.changed_paths or []
    result = {
        "changed": any(job.result["changed"] for job in jobs) or bool(changed_paths),
        "changed_paths": changed_paths,
        "jobs": [job.result for job in jobs],
        "queries": client.queries,
        "waited": round(sum(job.result["waited"] for job in jobs), 3),
    }
    return result, error
