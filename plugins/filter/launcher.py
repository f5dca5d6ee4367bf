# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The launcher's filters (each documented in its own <name>.yml): launcher_errors (what is
wrong with a call), launcher_plan (each service's names, paths, placement and timeouts),
launcher_results (what the call did to each service) and launcher_replicas (one entry under
several names). They are Python, not Jinja in the
launcher's tasks, so that each rule is unit-tested and a call costs one templating pass."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible_collections.ulhpc.workspace.plugins.module_utils import _connection
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm_options as options_table

SERVICE = re.compile(r"[a-z0-9_-]{1,40}")
# A name the preamble can export: a shell variable name.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MODULE_NAME = re.compile(r"\S+")
STATES = ("started", "stopped", "restarted")
# What an entry of launcher_services may hold, and the value of a key it leaves out.
DEFAULTS = {"state": "started", "script": "", "config_files": [], "private_files": {}, "env": {}, "modules": [],
            "slurm": {}, "secret_files": [], "timeout": 0, "stop_timeout": 0}
# The keys of private_files (the private_files module's options), and what each item needs.
PRIVATE_KEYS = {"directories": (), "files": ("path", "content"), "links": ("path", "src")}


def _as_int(value):
    """Jinja's ``int`` filter: 0 for what is not a whole number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return 0


def _entries(services):
    if not isinstance(services, (list, tuple)):
        raise AnsibleFilterError("launcher_services must be a list of services, got %s" % type(services).__name__)
    return list(services)


def service_errors(entry):
    """The messages for one entry of launcher_services; [] when it is valid."""
    if not isinstance(entry, dict):
        return ["launcher_services: %r is not a dict" % (entry,)]
    service = to_text(entry.get("service", ""))
    errors = []
    if not SERVICE.fullmatch(service):
        errors.append('service name "%s" must be 1-40 characters of [a-z0-9_-]' % service)
    unknown = sorted(to_text(key) for key in entry if key != "service" and key not in DEFAULTS)
    if unknown:
        errors.append("service %s: unknown keys %s" % (service, ", ".join(unknown)))
    state = entry.get("state", "started")
    if state not in STATES:
        errors.append("service %s: state %s is not one of %s" % (service, state, ", ".join(STATES)))
    if state != "stopped" and not to_text(entry.get("script") or "").strip():
        errors.append("service %s: the script (the service body) is empty" % service)
    env = entry.get("env") or {}
    bad_names = [to_text(name) for name in env if not ENV_NAME.fullmatch(to_text(name))]
    if bad_names:
        errors.append("service %s: env keys must be shell variable names: %s" % (service, ", ".join(bad_names)))
    if any(to_text(name).startswith("WS_") for name in env):
        errors.append("service %s: env must not set WS_* variables (the preamble owns them)" % service)
    files = [item for item in entry.get("config_files") or [] if isinstance(item, dict)]
    if any("path" not in item or "content" not in item for item in files):
        errors.append("service %s: a dict item of config_files needs path and content" % service)
    errors.extend(_private_errors(service, entry.get("private_files") or {}))
    for key in ("timeout", "stop_timeout"):
        if _as_int(entry.get(key, 0)) < 0:
            errors.append("service %s: %s must be 0 (the workspace's) or more seconds" % (service, key))
    if not all(MODULE_NAME.fullmatch(to_text(name)) for name in entry.get("modules") or []):
        errors.append("service %s: environment module names must not contain spaces" % service)
    return errors + options_table.placement_errors(entry.get("slurm") or {}, "slurm of service %s" % service)


def _private_errors(service, private):
    """The messages for an entry's private_files: {directories, files, links}, as the
    private_files module takes them, with absolute paths."""
    if not isinstance(private, dict):
        return ["service %s: private_files must be a dict of directories, files and links" % service]
    errors = []
    unknown = sorted(to_text(key) for key in private if key not in PRIVATE_KEYS)
    if unknown:
        errors.append("service %s: private_files has unknown keys %s" % (service, ", ".join(unknown)))
    for key, needed in sorted(PRIVATE_KEYS.items()):
        items = private.get(key) or []
        if not isinstance(items, (list, tuple)):
            errors.append("service %s: private_files.%s must be a list" % (service, key))
            continue
        for item in items:
            path = item if not needed else (item.get("path") if isinstance(item, dict) else None)
            if needed and (not isinstance(item, dict) or any(name not in item for name in needed)):
                errors.append("service %s: an item of private_files.%s needs %s" % (service, key, " and ".join(needed)))
            elif not to_text(path or "").startswith("/"):
                errors.append("service %s: private_files.%s: %s is not an absolute path" % (service, key, path))
    return errors


def launcher_errors(services):
    """Every message for a launcher call (its launcher_services list) at once; [] when valid."""
    entries = _entries(services)
    errors = []
    for entry in entries:
        errors.extend(service_errors(entry))
    names = [to_text(entry.get("service", "")) for entry in entries if isinstance(entry, dict)]
    twice = sorted(set(name for name in names if names.count(name) > 1))
    if twice:
        errors.append("launcher_services names a service more than once: %s" % ", ".join(twice))
    return errors


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def launcher_plan(services, settings, run_dir, logs_dir):
    """``{errors, services, scripts, private}``: every message of launcher_errors, and when
    there is none, each service with every default filled in and what the launcher derives
    from it (its job name, its files, its Slurm options over the workspace's, its modules after
    the workspace's, its timeouts, 0 meaning the workspace's, and its configuration's digests),
    and by service name its script and its private files (what the module that starts it
    writes). One pass reads launcher_services, whose scripts the roles render from templates,
    once."""
    errors = launcher_errors(services)
    if not isinstance(settings, dict) or not run_dir or not logs_dir:
        errors.append("the workspace is not set up: include the role ulhpc.workspace.workspace with "
                      "tasks_from: ensure before the launcher")
    if errors:
        return {"errors": errors, "services": [], "scripts": {}, "private": {}}
    plan, scripts, private = [], {}, {}
    for entry in services:
        item = dict(DEFAULTS)
        item.update(entry)
        name = to_text(item["service"])
        timeout, stop_timeout = _as_int(item["timeout"]), _as_int(item["stop_timeout"])
        given = item.pop("private_files") or {}
        private[name] = {
            "directories": [to_text(path) for path in given.get("directories") or []],
            "files": [{"path": to_text(one["path"]), "content": to_text(one["content"]),
                       "mode": to_text(one.get("mode") or "0600")} for one in given.get("files") or []],
            "links": [{"path": to_text(one["path"]), "src": to_text(one["src"])} for one in given.get("links") or []],
        } if item["state"] != "stopped" else {"directories": [], "files": [], "links": []}
        # The private files' text is configuration too: fingerprinted like config_files.
        config_files = list(item.pop("config_files") or []) + private[name]["files"]
        scripts[name] = to_text(item.pop("script") or "")
        # Neither the scripts nor the configuration's text go in the items: the items are the
        # launcher's loop variables, which a verbose run prints, and a configuration may hold
        # a password. The text is fingerprinted here, so --check sees the change a run makes.
        item.update(
            service=name,
            config_paths=[to_text(path) for path in config_files if not isinstance(path, dict)],
            config_digests=[{"path": to_text(given["path"]),
                             "sha256": hashlib.sha256(to_bytes(given["content"])).hexdigest()}
                            for given in config_files if isinstance(given, dict)],
            env=dict(item["env"] or {}),
            modules=_unique(list(settings.get("env_modules") or []) + list(item["modules"] or [])),
            slurm=options_table.merge_placement([settings.get("slurm") or {}, item["slurm"] or {}]),
            secret_files=list(item["secret_files"] or []),
            timeout=timeout if timeout > 0 else _as_int(settings.get("timeout")),
            stop_timeout=stop_timeout if stop_timeout > 0 else _as_int(settings.get("stop_timeout")),
            job_name="ws-%s-%s" % (settings.get("name"), name),
            script_path="%s/%s.sh" % (run_dir, name),
            conn_path="%s/%s.json" % (run_dir, name),
            pid_path="%s/%s.pid" % (run_dir, name),
            # Held by a run while it looks for the service and starts it, so two runs at once
            # start one instance. local_service derives this same name from its pid file.
            lock_path="%s/%s.pid.lock" % (run_dir, name),
            # The sbatch command line a job submits its successor with (workspace_continuation).
            argv_path="%s/%s.sbatch" % (run_dir, name),
            log_path="%s/%s.log" % (logs_dir, name),
        )
        plan.append(item)
    return {"errors": [], "services": plan, "scripts": scripts, "private": private}


def _by_service(results, key):
    """{service: result} of a looped task's registered results, whose loop variable (``key``)
    is a plan item; skipped items are left out."""
    found = {}
    for result in results or []:
        if isinstance(result, dict) and not result.get("skipped") and isinstance(result.get(key), dict):
            found[result[key].get("service")] = result
    return found


def launcher_results(plan, launcher, login, local=None, jobs=None, stops=None, job_changed=None,
                     loop_var="__launcher_item"):
    """launcher_results: for each planned service, in order, what the call did - its state,
    job id or pid, whether it changed, and the connection it wrote, with the service's secret
    files, the ssh tunnel to it and when its walltime ends. ``local``, ``jobs`` and ``stops``
    are the registered results of the launcher's looped local_service, slurm_job (last round)
    and cancel tasks, ``job_changed`` the services whose job an earlier round changed."""
    local, jobs, stops = (_by_service(found, loop_var) for found in (local, jobs, stops))
    job_changed = set(job_changed or [])
    results = []
    for item in plan:
        name = item["service"]
        running = item["state"] != "stopped"
        job = jobs.get(name, {}) if launcher == "slurm" and running else {}
        proc = local.get(name, {}) if launcher == "local" else {}
        ready = (proc.get("ready") if launcher == "local" else job.get("ready")) if running else None
        ready = ready or {}
        changed = bool(proc.get("changed")) \
            or (launcher == "slurm" and running and (name in job_changed or bool(job.get("changed")))) \
            or (launcher == "slurm" and item["state"] in ("stopped", "restarted")
                and bool(stops.get(name, {}).get("changed")))
        connection = {}
        if ready:
            connection = dict(ready)
            connection.update(secret_files=item["secret_files"],
                              tunnel=_connection.ssh_tunnel(ready, login),
                              walltime_end=ready.get("walltime_end") or job.get("end_time") or None)
        results.append({
            "service": name,
            "state": "stopped" if not running else "running",
            "launcher": launcher,
            "job_id": (ready.get("job_id") or job.get("job_id")) if job else None,
            "pid": ready.get("pid") or proc.get("pid"),
            "changed": changed,
            "connection": connection,
        })
    return results


def launcher_replicas(entry, names):
    """One launcher_services entry under each of ``names`` (the workers of a role, say): the
    same settings and script, each its own job and files."""
    if not isinstance(entry, dict):
        raise AnsibleFilterError("launcher_replicas: expected a dict (a launcher_services entry), got %s"
                                 % type(entry).__name__)
    if not isinstance(names, (list, tuple)):
        raise AnsibleFilterError("launcher_replicas: expected a list of service names, got %s" % type(names).__name__)
    return [dict(entry, service=name) for name in names]


class FilterModule(object):
    def filters(self):
        return {"launcher_errors": launcher_errors, "launcher_plan": launcher_plan,
                "launcher_results": launcher_results, "launcher_replicas": launcher_replicas}
