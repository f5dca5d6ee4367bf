# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers for Slurm: parsers of command outputs, host lists, time limits.

Nothing here runs a command, so every function can be unit tested on recorded
outputs.  Every parser returns jobs as "normalised job" dicts with the keys of
``JOB_KEYS`` whatever the source (squeue --json of any Slurm version, squeue
text, scontrol show job, sacct --parsable2).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re
import time

JOB_KEYS = (
    "job_id", "array_job_id", "array_task_id", "name", "user", "state", "reason",
    "nodes", "exit_code", "signal", "stdout_path", "stderr_path", "submit_time",
    "start_time", "end_time", "time_limit", "elapsed", "comment", "partition",
    "work_dir", "expected_start",
)

# Base job states (squeue/scontrol/sacct long names).
ACTIVE_STATES = frozenset((
    "PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "REQUEUED",
    "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
    "RESV_DEL_HOLD", "POWER_UP_NODE", "LAUNCH_FAILED", "UPDATE_DB",
))
FINISHED_STATES = frozenset((
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
    "BOOT_FAIL", "DEADLINE", "PREEMPTED", "SPECIAL_EXIT", "REVOKED", "UNKNOWN",
))
# Flags that may appear next to the base state in the list form of Slurm >= 23.02.
# When a job is RUNNING+COMPLETING the useful answer is COMPLETING.
_STATE_FLAG_PRIORITY = ("COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING", "RESIZING",
                        "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "STOPPED")
STATE_CODES = {
    "BF": "BOOT_FAIL", "CA": "CANCELLED", "CD": "COMPLETED", "CF": "CONFIGURING",
    "CG": "COMPLETING", "DL": "DEADLINE", "F": "FAILED", "NF": "NODE_FAIL",
    "OOM": "OUT_OF_MEMORY", "PD": "PENDING", "PR": "PREEMPTED", "R": "RUNNING",
    "RD": "RESV_DEL_HOLD", "RF": "REQUEUE_FED", "RH": "REQUEUE_HOLD", "RQ": "REQUEUED",
    "RS": "RESIZING", "RV": "REVOKED", "SI": "SIGNALING", "SE": "SPECIAL_EXIT",
    "SO": "STAGE_OUT", "ST": "STOPPED", "S": "SUSPENDED", "TO": "TIMEOUT",
}

JOB_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
FINGERPRINT_PREFIX = "ulhpc:sha256:"
_FINGERPRINT_RE = re.compile(r"^ulhpc:sha256:([0-9a-f]{16})(?:\s+(.*))?$", re.S)

# Slurm's "no value" and "infinite" sentinels for 32 and 64 bit fields.
_NO_VAL = (0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFE, 0xFFFFFFFFFFFFFFFF, 0xFFFE, 0xFFFF)

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


class SlurmParseError(ValueError):
    """An output that does not look like what the command prints."""


class SlurmReportedError(SlurmParseError):
    """Well-formed JSON output whose ``errors`` say the query failed (e.g. squeue
    --json of Slurm 22.05 prints ``Failed while looking for jobs`` with exit code 0
    when slurmctld is down)."""


# --------------------------------------------------------------------------
# small value helpers
# --------------------------------------------------------------------------

def _num(value):
    """An integer from the value forms of every Slurm JSON version, or None.

    20.11-22.05 print plain integers (with NO_VAL/INFINITE sentinels); 23.02+ print
    ``{"set": bool, "infinite": bool, "number": int}``.  Returns the string
    ``"INFINITE"`` for infinite values.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dict):
        if value.get("infinite"):
            return "INFINITE"
        if not value.get("set", True):
            return None
        return _num(value.get("number"))
    if isinstance(value, float):
        value = int(value)
    if isinstance(value, int):
        if value == 0xFFFFFFFF or value == 0xFFFFFFFFFFFFFFFF:
            return "INFINITE"
        if value in _NO_VAL:
            return None
        return value
    if isinstance(value, str) and re.match(r"^-?\d+$", value.strip()):
        return _num(int(value.strip()))
    return None


def _str(value):
    """A string field of Slurm JSON (None, "", "(null)" become None)."""
    if value is None:
        return None
    if isinstance(value, dict):  # 23.02+ comment/flags objects are not strings
        return None
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    value = str(value).strip()
    if value in ("", "(null)", "None", "N/A", "n/a"):
        return None
    return value


def normalize_state(value):
    """The base job state (``RUNNING``...) from any form Slurm prints.

    Accepts a string (``"CANCELLED by 1000"``, ``"R"``, ``"RUNNING+"``), or the list
    of state flags of Slurm >= 23.02 (``["RUNNING", "COMPLETING"]``).
    """
    if value is None:
        return "UNKNOWN"
    if isinstance(value, (list, tuple)):
        states = [normalize_state(v) for v in value if v]
        if not states:
            return "UNKNOWN"
        for flag in _STATE_FLAG_PRIORITY:
            if flag in states:
                return flag
        for state in states:
            if state in ACTIVE_STATES or state in FINISHED_STATES:
                return state
        return states[0]
    text = str(value).strip().upper()
    if not text:
        return "UNKNOWN"
    text = text.split()[0].rstrip("+")
    return STATE_CODES.get(text, text)


def is_active(state):
    return normalize_state(state) in ACTIVE_STATES


def is_finished(state):
    return not is_active(state)


def _epoch_to_iso(value):
    value = _num(value)
    if not isinstance(value, int) or value <= 0:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(value))


def _iso(value):
    """A time string as Slurm prints it (``2026-11-24T10:00:00``) or None."""
    value = _str(value)
    if value is None or value in ("Unknown", "NONE", "N/A"):
        return None
    if re.match(r"^\d+$", value):
        return _epoch_to_iso(int(value))
    return value


def iso_to_epoch(value):
    """Seconds since the epoch of a local ``YYYY-MM-DDTHH:MM:SS`` or None."""
    if not value:
        return None
    try:
        return int(time.mktime(time.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")))
    except (ValueError, OverflowError):
        return None


# --------------------------------------------------------------------------
# time limits and durations
# --------------------------------------------------------------------------

_TIME_FORMATS = (
    # (regex, (days, hours, minutes, seconds) group roles)
    (re.compile(r"^(\d+)$"), ("m",)),
    (re.compile(r"^(\d+):(\d+)$"), ("m", "s")),
    (re.compile(r"^(\d+):(\d+):(\d+)$"), ("h", "m", "s")),
    (re.compile(r"^(\d+)-(\d+)$"), ("d", "h")),
    (re.compile(r"^(\d+)-(\d+):(\d+)$"), ("d", "h", "m")),
    (re.compile(r"^(\d+)-(\d+):(\d+):(\d+)$"), ("d", "h", "m", "s")),
)
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
UNLIMITED_WORDS = ("UNLIMITED", "INFINITE")


def parse_time_limit(value):
    """Seconds of a Slurm time limit, ``None`` for UNLIMITED/INFINITE.

    Accepts exactly the formats of ``sbatch --time``: ``MM``, ``MM:SS``, ``HH:MM:SS``,
    ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS`` and ``UNLIMITED``/``INFINITE``.  Raises
    ValueError with a message naming the accepted formats otherwise.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value * 60
    text = str(value).strip()
    if text.upper() in UNLIMITED_WORDS:
        return None
    for regex, roles in _TIME_FORMATS:
        match = regex.match(text)
        if match:
            return sum(int(g) * _UNITS[r] for g, r in zip(match.groups(), roles))
    raise ValueError(
        "invalid Slurm time limit %r: use MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, "
        "D-HH:MM:SS or UNLIMITED" % (value,))


def parse_duration(value):
    """Seconds of a duration as squeue/scontrol/sacct print it (elapsed, run time).

    ``1-02:03:04``, ``02:03:04``, ``3:04`` (minutes:seconds), ``INVALID`` -> None.
    """
    text = _str(value)
    if text is None:
        return None
    match = re.match(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)(?:\.\d+)?$", text)
    if not match:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def format_duration(seconds):
    """``[D-]HH:MM:SS`` of a number of seconds; ``UNLIMITED`` for None."""
    if seconds is None:
        return "UNLIMITED"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return "%d-%02d:%02d:%02d" % (days, hours, minutes, secs)
    return "%02d:%02d:%02d" % (hours, minutes, secs)


def _time_limit_text(value):
    """Normalised text of a time limit printed by squeue/scontrol/sacct."""
    text = _str(value)
    if text is None:
        return None
    if text.upper() in UNLIMITED_WORDS or text.upper() == "PARTITION_LIMIT":
        return "UNLIMITED" if text.upper() != "PARTITION_LIMIT" else None
    seconds = parse_duration(text)
    return format_duration(seconds) if seconds is not None else text


# --------------------------------------------------------------------------
# host lists
# --------------------------------------------------------------------------

def _split_top(text, sep=","):
    """Split on ``sep`` outside brackets."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced ']' in host list %r" % text)
        if char == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise ValueError("unbalanced '[' in host list %r" % text)
    parts.append("".join(current))
    return parts


def _expand_range(body, hostlist):
    values = []
    for item in body.split(","):
        item = item.strip()
        if not item:
            continue
        if "-" in item:
            low, high = item.split("-", 1)
            if not (low.isdigit() and high.isdigit()) or int(high) < int(low):
                raise ValueError("invalid range %r in host list %r" % (item, hostlist))
            width = len(low)
            for number in range(int(low), int(high) + 1):
                values.append(str(number).zfill(width))
        elif item.isdigit() or re.match(r"^[A-Za-z0-9_.]+$", item):
            values.append(item)
        else:
            raise ValueError("invalid item %r in host list %r" % (item, hostlist))
    return values


def _expand_one(pattern, hostlist):
    """Expand one host pattern that may hold several bracket groups."""
    match = re.search(r"\[([^\[\]]*)\]", pattern)
    if not match:
        return [pattern]
    head, tail = pattern[:match.start()], pattern[match.end():]
    result = []
    for value in _expand_range(match.group(1), hostlist):
        for rest in _expand_one(tail, hostlist):
            result.append(head + value + rest)
    return result


def expand_hostlist(hostlist):
    """Expand a Slurm host list: ``node[01-03,07]``, ``a[1-2],b3``, ``r[1-2]n[1-2]``.

    Empty values and Slurm's placeholders (``(null)``, ``None assigned``) give ``[]``.
    Duplicates are removed, order is kept.
    """
    if hostlist is None:
        return []
    if isinstance(hostlist, (list, tuple)):
        result = []
        for item in hostlist:
            for host in expand_hostlist(item):
                if host not in result:
                    result.append(host)
        return result
    text = str(hostlist).strip()
    if text in ("", "(null)", "None assigned", "None", "N/A"):
        return []
    result = []
    for pattern in _split_top(text):
        pattern = pattern.strip()
        if not pattern:
            continue
        for host in _expand_one(pattern, text):
            if host not in result:
                result.append(host)
    return result


def job_port(job_id, base=64000, span=1000):
    """The tutorial's port rule: ``base + job_id % span``.

    ``job_id`` may be an array id (``123_4``: the array job id counts).
    """
    try:
        number = int(str(job_id).partition("_")[0].partition(".")[0])
        base = int(base)
        span = int(span)
    except (TypeError, ValueError):
        raise ValueError("job_port needs an integer job id, base and span, got %r, %r, %r"
                         % (job_id, base, span))
    if span <= 0:
        raise ValueError("job_port: span must be > 0, got %r" % span)
    if base < 1 or base + span - 1 > 65535:
        raise ValueError("job_port: ports %d-%d are outside 1-65535" % (base, base + span - 1))
    return base + number % span


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
    text = _str(comment)
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


def _finish_paths(job, defaults=False):
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
# exit codes
# --------------------------------------------------------------------------

def parse_exit_code_text(text):
    """(exit code, signal) of ``1:0`` (scontrol/sacct), None for unknown."""
    text = _str(text)
    if text is None:
        return None, None
    match = re.match(r"^(\d+)(?::(\d+))?$", text)
    if not match:
        return None, None
    return int(match.group(1)), int(match.group(2) or 0)


def _exit_from_json(value):
    """(exit code, signal) of the exit_code field of every squeue --json version.

    Up to 22.05 it is the raw wait status (``256`` for ``exit 1``, ``9`` for SIGKILL);
    23.02+ gives ``{"status": ..., "return_code": n, "signal": {"signal_id": n}}``.
    """
    if value is None:
        return None, None
    if isinstance(value, dict):
        code = _num(value.get("return_code"))
        sig = value.get("signal")
        if isinstance(sig, dict):
            sig = sig.get("signal_id", sig.get("id"))
        sig = _num(sig)
        status = value.get("status")
        if isinstance(status, list):
            status = status[0] if status else None
        if code == "INFINITE":
            code = None
        if sig == "INFINITE":
            sig = None
        if code is None and sig is None and status in (None, "PENDING"):
            return None, None
        return code, (sig or 0)
    number = _num(value)
    if not isinstance(number, int):
        return None, None
    if number & 0x7F and not number & 0xFF00:
        return 0, number & 0x7F
    return (number >> 8) & 0xFF, number & 0x7F


# --------------------------------------------------------------------------
# normalised job construction
# --------------------------------------------------------------------------

def _pending_times(job):
    """A pending job has not started: the start time Slurm reports for it is the scheduler's
    estimate (what ``squeue --start`` prints; unset until the backfill scheduler computes one),
    kept as expected_start."""
    if job["state"] == "PENDING":
        job["expected_start"] = job["start_time"]
        job["start_time"] = None
        job["end_time"] = None


def _blank_job():
    return dict((key, None) for key in JOB_KEYS)


def _with_elapsed(job, run_seconds=None, now=None):
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


def _json_job(raw, now=None):
    job = _blank_job()
    job_id = _num(raw.get("job_id"))
    array_job_id = _num(raw.get("array_job_id"))
    array_task_id = _num(raw.get("array_task_id"))
    array_task_string = _str(raw.get("array_task_string"))
    if isinstance(raw.get("array"), dict):  # sacct/slurmdbd-like layout
        array_job_id = _num(raw["array"].get("job_id"))
        array_task_id = _num(raw["array"].get("task_id"))
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
    job["name"] = _str(raw.get("name"))
    job["user"] = _str(raw.get("user_name")) or _str(raw.get("user"))
    state = raw.get("job_state")
    if state is None and isinstance(raw.get("state"), dict):
        state = raw["state"].get("current")
    job["state"] = normalize_state(state)
    reason = _str(raw.get("state_reason"))
    if reason is None and isinstance(raw.get("state"), dict):
        reason = _str(raw["state"].get("reason"))
    job["reason"] = reason
    job["nodes"] = expand_hostlist(_str(raw.get("nodes")))
    exit_code, signal = _exit_from_json(raw.get("exit_code"))
    if job["state"] in ACTIVE_STATES and job["state"] != "COMPLETING":
        exit_code, signal = None, None
    job["exit_code"], job["signal"] = exit_code, signal
    job["stdout_path"] = _str(raw.get("standard_output"))
    job["stderr_path"] = _str(raw.get("standard_error"))
    job["work_dir"] = _str(raw.get("current_working_directory"))
    job["submit_time"] = _epoch_to_iso(raw.get("submit_time"))
    job["start_time"] = _epoch_to_iso(raw.get("start_time"))
    job["end_time"] = _epoch_to_iso(raw.get("end_time"))
    _pending_times(job)
    limit = _num(raw.get("time_limit"))
    if limit == "INFINITE":
        job["time_limit"] = "UNLIMITED"
    elif isinstance(limit, int):
        job["time_limit"] = format_duration(limit * 60)
    comment = raw.get("comment")
    if isinstance(comment, dict):  # slurmdbd layout {"job": ..., "administrator": ...}
        comment = comment.get("job")
    job["comment"] = _str(comment)
    job["partition"] = _str(raw.get("partition"))
    _finish_paths(job, defaults=True)
    return _with_elapsed(job, now=now)


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
        job = _blank_job()
        job["job_id"] = row["job_id"]
        array_job_id, task = _str(row["array_job_id"]), _str(row["array_task_id"])
        if task is not None and array_job_id is not None:
            job["array_job_id"] = array_job_id
            job["array_task_id"] = int(task) if task.isdigit() else task
        job["job_id_raw"] = row["job_id"]
        job["name"] = _str(row["name"])
        job["user"] = _str(row["user"])
        job["state"] = normalize_state(row["state"])
        job["reason"] = _str(row["reason"])
        job["nodes"] = expand_hostlist(_str(row["nodes"]))
        for key in ("submit_time", "start_time", "end_time"):
            job[key] = _iso(row[key])
        _pending_times(job)
        job["time_limit"] = _time_limit_text(row["time_limit"])
        job["partition"] = _str(row["partition"])
        job["work_dir"] = _str(row["work_dir"])
        job["comment"] = _str(row["comment"])
        _with_elapsed(job, run_seconds=parse_duration(row["elapsed"]), now=now)
        jobs.append(job)
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
    records = re.split(r"\n\s*\n", (text or "").strip())
    for record in records:
        if "JobId=" not in record:
            continue
        fields = _scontrol_record(record)
        job = _blank_job()
        job_id = fields.get("JobId")
        array_job_id = _str(fields.get("ArrayJobId"))
        task = _str(fields.get("ArrayTaskId"))
        if array_job_id is not None and task is not None:
            job["array_job_id"] = array_job_id
            if task.isdigit():
                job["array_task_id"] = int(task)
                job["job_id"] = "%s_%s" % (array_job_id, task)
            else:
                job["array_task_id"] = task
                job["job_id"] = "%s_[%s]" % (array_job_id, task)
        else:
            job["job_id"] = job_id
        job["job_id_raw"] = job_id
        job["name"] = _str(fields.get("JobName"))
        user = _str(fields.get("UserId"))
        job["user"] = user.partition("(")[0] if user else None
        job["state"] = normalize_state(fields.get("JobState"))
        job["reason"] = _str(fields.get("Reason"))
        job["nodes"] = expand_hostlist(_str(fields.get("NodeList")))
        if job["state"] in FINISHED_STATES or job["state"] == "COMPLETING":
            job["exit_code"], job["signal"] = parse_exit_code_text(fields.get("ExitCode"))
        job["stdout_path"] = _str(fields.get("StdOut"))
        job["stderr_path"] = _str(fields.get("StdErr"))
        job["work_dir"] = _str(fields.get("WorkDir"))
        job["submit_time"] = _iso(fields.get("SubmitTime"))
        job["start_time"] = _iso(fields.get("StartTime"))
        job["end_time"] = _iso(fields.get("EndTime"))
        _pending_times(job)
        job["time_limit"] = _time_limit_text(fields.get("TimeLimit"))
        job["comment"] = _str(fields.get("Comment"))
        job["partition"] = _str(fields.get("Partition"))
        _finish_paths(job)
        _with_elapsed(job, run_seconds=parse_duration(fields.get("RunTime")), now=now)
        jobs.append(job)
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
        job = _blank_job()
        job["job_id"] = row["JobID"]
        match = re.match(r"^(\d+)_(\d+|\[.*\])$", row["JobID"])
        if match:
            job["array_job_id"] = match.group(1)
            task = match.group(2)
            job["array_task_id"] = int(task) if task.isdigit() else task.strip("[]")
        job["job_id_raw"] = row["JobIDRaw"]
        job["name"] = _str(row["JobName"])
        job["user"] = _str(row["User"])
        job["state"] = normalize_state(row["State"])
        job["reason"] = _str(row["Reason"])
        job["nodes"] = expand_hostlist(_str(row["NodeList"]))
        if job["state"] not in ACTIVE_STATES:
            job["exit_code"], job["signal"] = parse_exit_code_text(row["ExitCode"])
        job["submit_time"] = _iso(row["Submit"])
        job["start_time"] = _iso(row["Start"])
        job["end_time"] = _iso(row["End"])
        job["time_limit"] = _time_limit_text(row["Timelimit"])
        job["partition"] = _str(row["Partition"])
        job["work_dir"] = _str(row["WorkDir"])
        job["comment"] = _str(row["Comment"])
        _with_elapsed(job, run_seconds=parse_duration(row["Elapsed"]), now=now)
        jobs.append(job)
    return jobs


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
