# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers of what Slurm's commands print: sbatch's answer and errors, the version, and the
jobs of squeue (JSON of 20.11 to 24.x, or fixed-format text), scontrol show job and sacct,
each as normalised jobs (_slurm_jobs.JOB_KEYS).

The three text sources are read through one table each (which field gives which key, through
which converter) and one builder, so a key is filled the same way from every source. Nothing
here runs a command: every parser is unit tested on recorded outputs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
from collections import namedtuple

from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_jobs import (
    blank_job, finish_paths, set_pending_times, with_elapsed)
from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_values import (
    ACTIVE_STATES, FINISHED_STATES, SlurmParseError, SlurmReportedError, epoch_to_iso, exit_from_json,
    expand_hostlist, format_duration, normalize_state, parse_duration, parse_exit_code_text, slurm_num,
    slurm_str, slurm_time, time_limit_text)

# stderr fragments of a scheduler that cannot be reached right now (retry).
TRANSIENT_ERRORS = (
    "unable to contact slurm controller",
    "socket timed out",
    "connection refused",
    "connect failure",
    "zero bytes were transmitted",
    "communication connection failure",
    "transport endpoint is not connected",
    "slurm backup controller in standby mode",
    "resource temporarily unavailable",
    "slurmctld not responding",
    "unable to establish connection",
    "connection reset by peer",
    "timed out",
)
INVALID_JOB_ERRORS = ("invalid job id specified", "invalid job id")
NO_ACCOUNTING_ERRORS = (
    "accounting storage is disabled",
    "accounting_storage/none",
    "problem talking to the database",
)


# --------------------------------------------------------------------------
# sbatch
# --------------------------------------------------------------------------

def parse_sbatch_output(stdout):
    """The job id (str) and cluster (str or None) printed by sbatch.

    Handles ``Submitted batch job 123`` (optionally ``on cluster x``) and the
    ``--parsable`` forms ``123`` and ``123;cluster``.
    """
    text = (stdout or "").strip()
    match = re.search(r"Submitted batch job (\d+)(?: on cluster (\S+))?", text)
    if match:
        return match.group(1), match.group(2)
    for line in reversed(text.splitlines()):
        match = re.match(r"^\s*(\d+)(?:;(\S+))?\s*$", line)
        if match:
            return match.group(1), match.group(2)
    raise SlurmParseError("sbatch printed no job id: %r" % text[-500:])


def sbatch_error_message(stderr):
    """sbatch's own error message, without the ``sbatch: error:`` prefixes."""
    lines = []
    for line in (stderr or "").splitlines():
        line = line.strip()
        if not line:
            continue
        line = re.sub(r"^sbatch:\s*(error:\s*)?", "", line)
        lines.append(line)
    return "; ".join(lines)


def is_transient_error(text):
    """True when a command's stderr says the controller cannot be reached now."""
    low = (text or "").lower()
    return any(fragment in low for fragment in TRANSIENT_ERRORS)


def is_invalid_job_error(text):
    low = (text or "").lower()
    return any(fragment in low for fragment in INVALID_JOB_ERRORS)


def is_no_accounting_error(text):
    low = (text or "").lower()
    return any(fragment in low for fragment in NO_ACCOUNTING_ERRORS)


def parse_slurm_version(text):
    """``(22, 5, 8)`` from ``slurm 22.05.8`` (or ``slurm-wlm 22.05.8``); None if absent."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not match:
        return None
    return tuple(int(g or 0) for g in match.groups())


def squeue_has_json(version):
    """squeue --json exists since Slurm 21.08."""
    return bool(version) and tuple(version[:2]) >= (21, 8)


# --------------------------------------------------------------------------
# squeue --json
# --------------------------------------------------------------------------

# The plain fields of a squeue --json job: (job key, JSON field, converter).
JSON_COLUMNS = (
    ("name", "name", slurm_str), ("partition", "partition", slurm_str),
    ("stdout_path", "standard_output", slurm_str), ("stderr_path", "standard_error", slurm_str),
    ("work_dir", "current_working_directory", slurm_str), ("submit_time", "submit_time", epoch_to_iso),
    ("start_time", "start_time", epoch_to_iso), ("end_time", "end_time", epoch_to_iso),
)


def _json_job(raw, now=None):
    job = blank_job()
    job_id = slurm_num(raw.get("job_id"))
    array_job_id = slurm_num(raw.get("array_job_id"))
    array_task_id = slurm_num(raw.get("array_task_id"))
    array_task_string = slurm_str(raw.get("array_task_string"))
    if isinstance(raw.get("array"), dict):  # sacct/slurmdbd-like layout
        array_job_id = slurm_num(raw["array"].get("job_id"))
        array_task_id = slurm_num(raw["array"].get("task_id"))
    if not isinstance(array_job_id, int) or array_job_id == 0:
        array_job_id = None
        array_task_id = None
    if array_task_id == "INFINITE":
        array_task_id = None
    if array_job_id is not None:
        if isinstance(array_task_id, int):
            job["job_id"] = "%s_%s" % (array_job_id, array_task_id)
        elif array_task_string:
            job["job_id"] = "%s_[%s]" % (array_job_id, array_task_string)
        else:
            job["job_id"] = str(array_job_id)
        job["array_job_id"] = str(array_job_id)
        job["array_task_id"] = array_task_id if isinstance(array_task_id, int) else array_task_string
    else:
        job["job_id"] = str(job_id)
    job["job_id_raw"] = str(job_id)
    job["user"] = slurm_str(raw.get("user_name")) or slurm_str(raw.get("user"))
    state = raw.get("job_state")
    if state is None and isinstance(raw.get("state"), dict):
        state = raw["state"].get("current")
    job["state"] = normalize_state(state)
    reason = slurm_str(raw.get("state_reason"))
    if reason is None and isinstance(raw.get("state"), dict):
        reason = slurm_str(raw["state"].get("reason"))
    job["reason"] = reason
    job["nodes"] = expand_hostlist(slurm_str(raw.get("nodes")))
    exit_code, signal = exit_from_json(raw.get("exit_code"))
    if job["state"] in ACTIVE_STATES and job["state"] != "COMPLETING":
        exit_code, signal = None, None
    job["exit_code"], job["signal"] = exit_code, signal
    for key, field, convert in JSON_COLUMNS:
        job[key] = convert(raw.get(field))
    set_pending_times(job)
    limit = slurm_num(raw.get("time_limit"))
    if limit == "INFINITE":
        job["time_limit"] = "UNLIMITED"
    elif isinstance(limit, int):
        job["time_limit"] = format_duration(limit * 60)
    comment = raw.get("comment")
    if isinstance(comment, dict):  # slurmdbd layout {"job": ..., "administrator": ...}
        comment = comment.get("job")
    job["comment"] = slurm_str(comment)
    finish_paths(job, defaults=True)
    return with_elapsed(job, now=now)


def parse_squeue_json(text, now=None):
    """Normalised jobs of ``squeue --json`` output (Slurm 20.11 to 24.x layouts).

    Raises SlurmParseError on text that is not squeue JSON, and when the JSON
    carries errors and no jobs.
    """
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise SlurmParseError("squeue --json printed no JSON: %s" % exc)
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
        raise SlurmParseError("squeue --json output has no 'jobs' list")
    errors = data.get("errors") or []
    if errors and not data["jobs"]:
        messages = []
        for err in errors:
            if isinstance(err, dict):
                messages.append(str(err.get("description") or err.get("error") or err))
            else:
                messages.append(str(err))
        raise SlurmReportedError("squeue --json reported errors: %s" % "; ".join(messages))
    return [_json_job(raw, now=now) for raw in data["jobs"] if isinstance(raw, dict)]


# --------------------------------------------------------------------------
# the text sources: squeue -o, scontrol show job, sacct --parsable2
# --------------------------------------------------------------------------

def _hosts(value):
    return expand_hostlist(slurm_str(value))


def _user(value):
    """``alice(1000)`` (scontrol's UserId) or ``alice`` -> ``alice``."""
    user = slurm_str(value)
    return user.partition("(")[0] if user else None


# How a text source becomes a job: columns = (job key, source field, converter); exit_field and
# exit_when = where the exit code is and in which states it means something; pending = whether
# the start time of a pending job is Slurm's estimate; paths = whether output paths need their
# patterns expanded; elapsed = the field holding the run time.
Source = namedtuple("Source", "columns exit_field exit_when pending paths elapsed")

SOURCES = {
    "squeue": Source(
        columns=(("name", "name", slurm_str), ("user", "user", slurm_str), ("state", "state", normalize_state),
                 ("reason", "reason", slurm_str), ("nodes", "nodes", _hosts),
                 ("submit_time", "submit_time", slurm_time), ("start_time", "start_time", slurm_time),
                 ("end_time", "end_time", slurm_time), ("time_limit", "time_limit", time_limit_text),
                 ("partition", "partition", slurm_str), ("work_dir", "work_dir", slurm_str),
                 ("comment", "comment", slurm_str)),
        exit_field=None, exit_when=None, pending=True, paths=False, elapsed="elapsed"),
    "scontrol": Source(
        columns=(("name", "JobName", slurm_str), ("user", "UserId", _user), ("state", "JobState", normalize_state),
                 ("reason", "Reason", slurm_str), ("nodes", "NodeList", _hosts),
                 ("stdout_path", "StdOut", slurm_str), ("stderr_path", "StdErr", slurm_str),
                 ("work_dir", "WorkDir", slurm_str), ("submit_time", "SubmitTime", slurm_time),
                 ("start_time", "StartTime", slurm_time), ("end_time", "EndTime", slurm_time),
                 ("time_limit", "TimeLimit", time_limit_text), ("comment", "Comment", slurm_str),
                 ("partition", "Partition", slurm_str)),
        exit_field="ExitCode", exit_when=lambda state: state in FINISHED_STATES or state == "COMPLETING",
        pending=True, paths=True, elapsed="RunTime"),
    "sacct": Source(
        columns=(("name", "JobName", slurm_str), ("user", "User", slurm_str), ("state", "State", normalize_state),
                 ("reason", "Reason", slurm_str), ("nodes", "NodeList", _hosts),
                 ("submit_time", "Submit", slurm_time), ("start_time", "Start", slurm_time),
                 ("end_time", "End", slurm_time), ("time_limit", "Timelimit", time_limit_text),
                 ("partition", "Partition", slurm_str), ("work_dir", "WorkDir", slurm_str),
                 ("comment", "Comment", slurm_str)),
        exit_field="ExitCode", exit_when=lambda state: state not in ACTIVE_STATES,
        pending=False, paths=False, elapsed="Elapsed"),
}


def _text_job(source, fields, ids, now=None):
    """One normalised job from a text source's fields and its ids (job_id, job_id_raw and, for
    an array task, array_job_id and array_task_id)."""
    job = blank_job()
    job.update(ids)
    for key, field, convert in source.columns:
        job[key] = convert(fields.get(field))
    if source.exit_field and source.exit_when(job["state"]):
        job["exit_code"], job["signal"] = parse_exit_code_text(fields.get(source.exit_field))
    if source.pending:
        set_pending_times(job)
    if source.paths:
        finish_paths(job)
    return with_elapsed(job, run_seconds=parse_duration(fields.get(source.elapsed)), now=now)


def _task(task):
    return int(task) if task.isdigit() else task


# squeue -o fields (kept in one place so that the argv and the parser agree).
# Reason and comment may hold spaces, so fields are joined with a separator that
# cannot appear in them, and the comment comes last.
SQUEUE_TEXT_SEP = "\x1f"
SQUEUE_TEXT_FIELDS = (
    ("job_id", "%i"), ("array_job_id", "%F"), ("array_task_id", "%K"), ("name", "%j"),
    ("user", "%u"), ("state", "%T"), ("reason", "%r"), ("nodes", "%N"),
    ("submit_time", "%V"), ("start_time", "%S"), ("end_time", "%e"),
    ("time_limit", "%l"), ("elapsed", "%M"), ("partition", "%P"), ("work_dir", "%Z"),
    ("comment", "%k"),
)
SQUEUE_TEXT_FORMAT = SQUEUE_TEXT_SEP.join(code for _key, code in SQUEUE_TEXT_FIELDS)


def parse_squeue_text(text, now=None):
    """Normalised jobs of ``squeue -h -o SQUEUE_TEXT_FORMAT`` output."""
    jobs = []
    keys = [key for key, _code in SQUEUE_TEXT_FIELDS]
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        values = line.split(SQUEUE_TEXT_SEP, len(keys) - 1)
        if len(values) != len(keys):
            raise SlurmParseError("unexpected squeue line (expected %d fields): %r" % (len(keys), line))
        row = dict(zip(keys, (v.strip() for v in values)))
        ids = {"job_id": row["job_id"], "job_id_raw": row["job_id"]}
        array_job_id, task = slurm_str(row["array_job_id"]), slurm_str(row["array_task_id"])
        if task is not None and array_job_id is not None:
            ids.update(array_job_id=array_job_id, array_task_id=_task(task))
        jobs.append(_text_job(SOURCES["squeue"], row, ids, now=now))
    return jobs


# Keys of `scontrol show job` that always fill the rest of their line.
_SCONTROL_LINE_KEYS = ("Comment", "Command", "WorkDir", "StdErr", "StdIn", "StdOut",
                       "AdminComment", "SystemComment", "Reason", "Power", "TresPerNode",
                       "MailUser", "Container", "ContainerID")
_SCONTROL_KEY_RE = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_:/]*)=")


def _scontrol_record(text):
    fields = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        key = stripped.split("=", 1)[0]
        if "=" in stripped and key in _SCONTROL_LINE_KEYS and key != "Reason":
            fields.setdefault(key, stripped.split("=", 1)[1])
            continue
        matches = list(_SCONTROL_KEY_RE.finditer(stripped))
        for index, match in enumerate(matches):
            end = matches[index + 1].start() if index + 1 < len(matches) else len(stripped)
            value = stripped[match.end():end].strip()
            fields.setdefault(match.group(1), value)
    return fields


def parse_scontrol_job(text, now=None):
    """Normalised jobs of ``scontrol show job [id]`` text (one or several records)."""
    jobs = []
    for record in re.split(r"\n\s*\n", (text or "").strip()):
        if "JobId=" not in record:
            continue
        fields = _scontrol_record(record)
        job_id = fields.get("JobId")
        ids = {"job_id": job_id, "job_id_raw": job_id}
        array_job_id, task = slurm_str(fields.get("ArrayJobId")), slurm_str(fields.get("ArrayTaskId"))
        if array_job_id is not None and task is not None:
            ids.update(array_job_id=array_job_id, array_task_id=_task(task),
                       job_id=("%s_%s" if task.isdigit() else "%s_[%s]") % (array_job_id, task))
        jobs.append(_text_job(SOURCES["scontrol"], fields, ids, now=now))
    return jobs


SACCT_FIELDS = ("JobID", "JobIDRaw", "JobName", "User", "State", "ExitCode", "Reason",
                "NodeList", "Submit", "Start", "End", "Timelimit", "Elapsed", "Partition",
                "WorkDir", "Comment")
SACCT_FORMAT = ",".join(SACCT_FIELDS)


def parse_sacct(text, now=None):
    """Normalised jobs of ``sacct -X --parsable2 --noheader --format=SACCT_FORMAT``.

    Job steps (``123.batch``) are skipped when present (without ``-X``).
    """
    jobs = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        values = line.split("|", len(SACCT_FIELDS) - 1)
        if len(values) != len(SACCT_FIELDS):
            raise SlurmParseError("unexpected sacct line (expected %d fields): %r"
                                  % (len(SACCT_FIELDS), line))
        row = dict(zip(SACCT_FIELDS, values))
        if "." in row["JobID"]:
            continue
        ids = {"job_id": row["JobID"], "job_id_raw": row["JobIDRaw"]}
        match = re.match(r"^(\d+)_(\d+|\[.*\])$", row["JobID"])
        if match:
            ids.update(array_job_id=match.group(1), array_task_id=_task(match.group(2).strip("[]")))
        jobs.append(_text_job(SOURCES["sacct"], row, ids, now=now))
    return jobs
