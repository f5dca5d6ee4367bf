# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Slurm's values as its commands print them: job states, numbers and their sentinels, times
and durations, host lists, exit codes, and the tutorial's port rule. Pure and standard library
only (it runs on the target inside the modules)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

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

# Slurm's "no value" and "infinite" sentinels for 32 and 64 bit fields.
_NO_VAL = (0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFE, 0xFFFFFFFFFFFFFFFF, 0xFFFE, 0xFFFF)


class SlurmParseError(ValueError):
    """An output that does not look like what the command prints."""


class SlurmReportedError(SlurmParseError):
    """Well-formed JSON output whose ``errors`` say the query failed (e.g. squeue
    --json of Slurm 22.05 prints ``Failed while looking for jobs`` with exit code 0
    when slurmctld is down)."""


# --------------------------------------------------------------------------
# small value helpers
# --------------------------------------------------------------------------

def slurm_num(value):
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
        return slurm_num(value.get("number"))
    if isinstance(value, float):
        value = int(value)
    if isinstance(value, int):
        if value == 0xFFFFFFFF or value == 0xFFFFFFFFFFFFFFFF:
            return "INFINITE"
        if value in _NO_VAL:
            return None
        return value
    if isinstance(value, str) and re.match(r"^-?\d+$", value.strip()):
        return slurm_num(int(value.strip()))
    return None


def slurm_str(value):
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


def job_order(job_id):
    """Submission order of a job id ("123", "123_4" for an array task, "123+1" for a component
    of a heterogeneous job); an id that is not a number goes last."""
    head = re.split(r"[_+]", str(job_id), maxsplit=1)[0]
    return (int(head), str(job_id)) if head.isdigit() else (float("inf"), str(job_id))


def is_active(state):
    return normalize_state(state) in ACTIVE_STATES


def is_finished(state):
    return not is_active(state)


def epoch_to_iso(value):
    value = slurm_num(value)
    if not isinstance(value, int) or value <= 0:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(value))


def slurm_time(value):
    """A time string as Slurm prints it (``2026-11-24T10:00:00``) or None."""
    value = slurm_str(value)
    if value is None or value in ("Unknown", "NONE", "N/A"):
        return None
    if re.match(r"^\d+$", value):
        return epoch_to_iso(int(value))
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
    text = slurm_str(value)
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


def time_limit_text(value):
    """Normalised text of a time limit printed by squeue/scontrol/sacct."""
    text = slurm_str(value)
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
# exit codes
# --------------------------------------------------------------------------

def parse_exit_code_text(text):
    """(exit code, signal) of ``1:0`` (scontrol/sacct), None for unknown."""
    text = slurm_str(text)
    if text is None:
        return None, None
    match = re.match(r"^(\d+)(?::(\d+))?$", text)
    if not match:
        return None, None
    return int(match.group(1)), int(match.group(2) or 0)


def exit_from_json(value):
    """(exit code, signal) of the exit_code field of every squeue --json version.

    Up to 22.05 it is the raw wait status (``256`` for ``exit 1``, ``9`` for SIGKILL);
    23.02+ gives ``{"status": ..., "return_code": n, "signal": {"signal_id": n}}``.
    """
    if value is None:
        return None, None
    if isinstance(value, dict):
        code = slurm_num(value.get("return_code"))
        sig = value.get("signal")
        if isinstance(sig, dict):
            sig = sig.get("signal_id", sig.get("id"))
        sig = slurm_num(sig)
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
    number = slurm_num(value)
    if not isinstance(number, int):
        return None, None
    if number & 0x7F and not number & 0xFF00:
        return 0, number & 0x7F
    return (number >> 8) & 0xFF, number & 0x7F
