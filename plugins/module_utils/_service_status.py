# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the workspace says about its services: the published connection info, the status
state machine and the one-line summary, from the services' connection files, their Slurm jobs
and their local processes. Pure functions; the workspace role calls them through filters.

Nothing here knows a particular service: a service that wants its own summary line publishes
it as ``summary`` in its connection file (``ws_write_connection summary=...``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ulhpc.workspace.plugins.module_utils._connection import laptop_access
from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_values import job_order

STATES = ("pending", "starting", "running", "dead", "stopped")


def published(connections, login, workspace="default"):
    """{service: its connection file, with tunnel, ssh_config, local_url, secret_files,
    walltime_end and job_id set}. login: {host, port, user, via} or a host name."""
    services = {}
    for conn in connections:
        item = dict(conn)
        item.update(laptop_access(conn, login, workspace))
        item.update(secret_files=conn.get("secret_files") or [],
                    walltime_end=conn.get("walltime_end"), job_id=conn.get("job_id"))
        services[conn["service"]] = item
    return services


def _slurm_state(job, conn):
    state = job.get("state")
    if state == "PENDING":
        return "pending"
    if state == "RUNNING":
        # Running but not yet published by this very job: the service is still starting.
        return "running" if str(conn.get("job_id", "")) == str(job.get("job_id")) else "starting"
    return (state or "unknown").lower()


def in_charge(jobs):
    """(job in charge, [successors]) of a service's active jobs: the running one, else the
    oldest; the others wait behind it (walltime continuity's --dependency=singleton). A single
    job dict is taken as it is."""
    if isinstance(jobs, dict):
        return jobs, []
    ordered = sorted(jobs or [], key=lambda j: (j.get("state") != "RUNNING", job_order(j.get("job_id", ""))))
    return (ordered[0] if ordered else None), ordered[1:]


def service_status(name, conn, job, local, login, workspace="default", successors=()):
    """One service's status from its connection file (or {}), its active Slurm job in charge
    (or None), its local process status (local_service's result, or {}) and the jobs queued
    behind its job (walltime continuity)."""
    conn, local = conn or {}, local or {}
    if job:
        launcher, state = "slurm", _slurm_state(job, conn)
        node = ",".join(job.get("nodes") or []) or conn.get("host")
        reason, job_id = job.get("reason"), str(job.get("job_id"))
        walltime_left = job.get("time_left")
        walltime_end = job.get("end_time") or conn.get("walltime_end")
    else:
        launcher = "local" if local else conn.get("launcher")
        process = local.get("state", "")
        if process == "running":
            state = "running" if conn else "starting"
        elif process == "dead" or conn:
            state = "dead"
        else:
            state = "stopped"
        node = conn.get("host") if state == "running" else None
        if process == "dead":
            reason = "the process ended; see %s" % local.get("log_file")
        elif conn and state == "dead":
            reason = "a stale connection file is left"
        else:
            reason = None
        job_id = walltime_left = walltime_end = None
    live = state in ("running", "starting")

    def when_live(key):
        return conn.get(key) if live else None

    access = laptop_access(conn, login, workspace) if live else {}
    return {
        "service": name, "state": state, "reason": reason, "launcher": launcher, "node": node,
        "host": when_live("host"), "address": when_live("address"), "port": when_live("port"),
        "url": when_live("url"), "summary": when_live("summary"),
        "tunnel": access.get("tunnel"), "ssh_config": access.get("ssh_config"), "ssh_alias": access.get("ssh_alias"),
        "local_url": access.get("local_url"),
        "job_id": job_id, "pid": (local.get("pid") or conn.get("pid")) if live else None,
        "walltime_end": walltime_end, "walltime_left": walltime_left,
        "secret_files": conn.get("secret_files") or [],
        "successors": [{"job_id": str(j.get("job_id")), "state": (j.get("state") or "").lower(), "reason": j.get("reason")}
                       for j in successors],
    }


def workspace_status(names, connections, jobs, locals_, login, workspace="default"):
    """{service: status} for every name, every connection file and every job of the workspace.
    jobs: {service: its active jobs (a list), or its one job (a dict)}."""
    by_name = dict((conn["service"], conn) for conn in connections if "service" in conn)
    every = sorted(set(names) | set(by_name) | set(jobs))
    result = {}
    for name in every:
        job, successors = in_charge(jobs.get(name))
        result[name] = service_status(name, by_name.get(name), job, locals_.get(name), login, workspace, successors)
    return result


def summary(svc):
    """Where a service is, in a few words: its own ``summary``, else its URL, else address:port."""
    if svc.get("summary"):
        return str(svc["summary"])
    if svc.get("url"):
        return str(svc["url"])
    if svc.get("port"):
        return "%s:%s" % (svc.get("address") or "?", svc["port"])
    return str(svc.get("address") or "?")
