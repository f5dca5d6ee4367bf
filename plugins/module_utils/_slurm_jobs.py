# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The normalised job: the record every parser fills (JOB_KEYS, whatever the command and the
Slurm version), its fingerprint in the job comment, its output paths, its elapsed and left
time, and the merge of an array job's tasks into one job. Pure and standard library only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re
import time

from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_values import (
    ACTIVE_STATES, is_active, iso_to_epoch, parse_duration, slurm_str)

JOB_KEYS = (
    "job_id", "array_job_id", "array_task_id", "name", "user", "state", "reason",
    "nodes", "exit_code", "signal", "stdout_path", "stderr_path", "submit_time",
    "start_time", "end_time", "time_limit", "elapsed", "comment", "partition",
    "work_dir", "expected_start",
)

JOB_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
FINGERPRINT_PREFIX = "ulhpc:sha256:"
_FINGERPRINT_RE = re.compile(r"^ulhpc:sha256:([0-9a-f]{16})(?:\s+(.*))?$", re.S)


# --------------------------------------------------------------------------
# fingerprints kept in the job comment
# --------------------------------------------------------------------------

def fingerprint(script, options):
    """``ulhpc:sha256:<16 hex>`` of a script and the sbatch options that matter."""
    if isinstance(script, str):
        script = script.encode("utf-8")
    digest = hashlib.sha256()
    digest.update(script)
    digest.update(b"\0")
    digest.update(json.dumps(options, sort_keys=True, default=str).encode("utf-8"))
    return FINGERPRINT_PREFIX + digest.hexdigest()[:16]


def make_comment(fp, user_comment=None):
    if user_comment:
        return "%s %s" % (fp, user_comment)
    return fp


def split_comment(comment):
    """(fingerprint or None, user comment or None) of a job comment."""
    text = slurm_str(comment)
    if text is None:
        return None, None
    match = _FINGERPRINT_RE.match(text)
    if not match:
        return None, text
    return FINGERPRINT_PREFIX + match.group(1), (match.group(2) or None)


# --------------------------------------------------------------------------
# output file patterns
# --------------------------------------------------------------------------

def expand_output_pattern(pattern, job):
    """Replace sbatch's filename patterns (%j %A %a %x %u %N %%) for one job."""
    if not pattern:
        return pattern
    nodes = job.get("nodes") or []
    array_id = job.get("array_job_id") or job.get("job_id")
    task = job.get("array_task_id")
    values = {
        "j": str(job.get("job_id_raw") or job.get("job_id") or ""),
        "J": str(job.get("job_id") or ""),
        "A": str(array_id or ""),
        "a": str(task) if task is not None else "4294967294",
        "x": job.get("name") or "",
        "u": job.get("user") or "",
        "N": nodes[0] if nodes else "",
        "n": "0",
        "t": "0",
        "s": "batch",
        "%": "%",
    }

    def repl(match):
        width, key = match.group(1), match.group(2)
        value = values.get(key)
        if value is None:
            return match.group(0)
        if width and value.isdigit():
            value = value.zfill(int(width))
        return value

    return re.sub(r"%(\d*)([jJAaxuNnts%])", repl, pattern)


def default_output_path(work_dir, array=False):
    base = "slurm-%A_%a.out" if array else "slurm-%j.out"
    if work_dir:
        return work_dir.rstrip("/") + "/" + base
    return base


def finish_paths(job, defaults=False):
    """Expand the output patterns; with ``defaults`` fill in sbatch's default paths
    (``squeue --json`` prints empty strings for them)."""
    work_dir = job.get("work_dir")
    if defaults and not job.get("stdout_path"):
        job["stdout_path"] = default_output_path(work_dir, job.get("array_job_id") is not None)
    if defaults and not job.get("stderr_path"):
        job["stderr_path"] = job.get("stdout_path")
    for key in ("stdout_path", "stderr_path"):
        path = job.get(key)
        if path and "%" in path:
            path = expand_output_pattern(path, job)
        if path and not path.startswith("/") and work_dir:
            path = work_dir.rstrip("/") + "/" + path
        job[key] = path
    return job


# --------------------------------------------------------------------------
# the record, its times
# --------------------------------------------------------------------------

def set_pending_times(job):
    """A pending job has not started: the start time Slurm reports for it is the scheduler's
    estimate (what ``squeue --start`` prints; unset until the backfill scheduler computes one),
    kept as expected_start."""
    if job["state"] == "PENDING":
        job["expected_start"] = job["start_time"]
        job["start_time"] = None
        job["end_time"] = None


def blank_job():
    return dict((key, None) for key in JOB_KEYS)


def with_elapsed(job, run_seconds=None, now=None):
    """Fill ``elapsed`` (seconds) from a run time or the start/end times."""
    if run_seconds is not None:
        job["elapsed"] = run_seconds
        return job
    start = iso_to_epoch(job.get("start_time"))
    state = job.get("state")
    if start is None or state == "PENDING":
        job["elapsed"] = 0 if state == "PENDING" else None
        return job
    if is_active(state):
        end = int(now if now is not None else time.time())
    else:
        end = iso_to_epoch(job.get("end_time")) or start
    job["elapsed"] = max(0, end - start)
    return job


def time_left(job, now=None):
    """Seconds of walltime left for a running job, None when unknown/unlimited."""
    if job.get("state") != "RUNNING" or not job.get("time_limit"):
        return None
    if job["time_limit"] == "UNLIMITED":
        return None
    limit = parse_duration(job["time_limit"])
    if limit is None or job.get("elapsed") is None:
        return None
    return max(0, limit - job["elapsed"])


# --------------------------------------------------------------------------
# grouping (array jobs) and summaries
# --------------------------------------------------------------------------

def base_job_id(job):
    """The id a job is known by: the array job id for array tasks."""
    return job.get("array_job_id") or str(job.get("job_id_raw") or job.get("job_id")).partition("_")[0]


_FAILURE_ORDER = ("OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "TIMEOUT", "DEADLINE", "FAILED",
                  "CANCELLED", "PREEMPTED", "SPECIAL_EXIT", "REVOKED", "UNKNOWN")
_ACTIVE_ORDER = ("RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "STAGE_OUT", "SIGNALING",
                 "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "STOPPED", "PENDING")


def merge_array(jobs):
    """One summary job of all the records (tasks) of an array job.

    Active while any task is active (RUNNING when any task runs); when all have
    finished: COMPLETED if all completed, else the worst failure.  The exit code
    is the highest of the tasks.  ``tasks`` lists the records.
    """
    if not jobs:
        return None
    if len(jobs) == 1 and jobs[0].get("array_job_id") is None:
        return dict(jobs[0])
    first = jobs[0]
    summary = dict(first)
    summary["job_id"] = base_job_id(first)
    summary["array_task_id"] = None
    states = [j["state"] for j in jobs]
    active = [s for s in states if s in ACTIVE_STATES]
    if active:
        summary["state"] = next(s for s in _ACTIVE_ORDER if s in active) if any(
            s in _ACTIVE_ORDER for s in active) else active[0]
        summary["exit_code"], summary["signal"] = None, None
    elif all(s == "COMPLETED" for s in states):
        summary["state"] = "COMPLETED"
    else:
        summary["state"] = next((s for s in _FAILURE_ORDER if s in states), states[0])
    codes = [j["exit_code"] for j in jobs if j.get("exit_code") is not None]
    if not active:
        summary["exit_code"] = max(codes) if codes else None
        signals = [j["signal"] for j in jobs if j.get("signal")]
        summary["signal"] = signals[0] if signals else (0 if codes else None)
    nodes = []
    for job in jobs:
        for node in job.get("nodes") or []:
            if node not in nodes:
                nodes.append(node)
    summary["nodes"] = nodes
    reasons = [j["reason"] for j in jobs if j.get("reason") and j["state"] == summary["state"]]
    summary["reason"] = reasons[0] if reasons else first.get("reason")
    starts = [j["start_time"] for j in jobs if j.get("start_time")]
    ends = [j["end_time"] for j in jobs if j.get("end_time")]
    summary["start_time"] = min(starts) if starts else None
    summary["end_time"] = None if active else (max(ends) if ends else None)
    elapsed = [j["elapsed"] for j in jobs if j.get("elapsed") is not None]
    summary["elapsed"] = max(elapsed) if elapsed else None
    task_keys = ("job_id", "array_task_id", "state", "exit_code", "signal", "reason", "nodes",
                 "stdout_path", "stderr_path")
    summary["tasks"] = [dict((k, j.get(k)) for k in task_keys) for j in jobs]
    return summary


def group_jobs(jobs):
    """Jobs grouped by base id (array tasks together), merged; in first-seen order."""
    order, groups = [], {}
    for job in jobs:
        key = base_job_id(job)
        if key not in groups:
            order.append(key)
            groups[key] = []
        groups[key].append(job)
    return [merge_array(groups[key]) for key in order]


def public_job(job, now=None):
    """The job as modules return it (only documented keys)."""
    result = dict((key, job.get(key)) for key in JOB_KEYS)
    result["time_left"] = time_left(job, now=now)
    if job.get("tasks") is not None:
        result["tasks"] = job["tasks"]
    return result
