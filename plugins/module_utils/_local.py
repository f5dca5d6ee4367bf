# -*- coding: utf-8 -*-
# Copyright: ulhpc.workspace contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the local_service module (pid files, process liveness, log tails), and the one
atomic private-file writer of the collection's modules.

Standard library only; Linux /proc is used when present (zombies count as dead,
pid reuse is detected through the process start time), os.kill otherwise.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import hashlib
import json
import os


def content_hash(content, environment=None, chdir=None):
    """sha256 of what defines a service run: the script, its environment and directory."""
    digest = hashlib.sha256()
    digest.update(content.encode("utf-8"))
    digest.update(b"\0")
    digest.update(json.dumps(environment or {}, sort_keys=True).encode("utf-8"))
    digest.update(b"\0")
    digest.update((chdir or "").encode("utf-8"))
    return digest.hexdigest()


def read_proc_stat(pid, proc="/proc"):
    """(state, pgrp, starttime) of a process from /proc/<pid>/stat, or None when gone."""
    try:
        with open(os.path.join(proc, str(pid), "stat"), "r") as handle:
            data = handle.read()
    except (IOError, OSError):
        return None
    # the command name is in parentheses and may hold spaces: split after the last ')'
    rest = data[data.rfind(")") + 2:].split()
    if len(rest) < 20:
        return None
    return rest[0], int(rest[2]), int(rest[19])


def pid_alive(pid, start_time=None, proc="/proc"):
    """Whether pid runs (not a zombie) and, when start_time is given, is the same process."""
    if not pid or pid <= 0:
        return False
    if os.path.isdir(proc):
        info = read_proc_stat(pid, proc)
        if info is None or info[0] in ("Z", "X", "x"):
            return False
        return start_time is None or info[2] == start_time
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def group_members(pgid, proc="/proc"):
    """Live (non-zombie) pids of a process group."""
    if not os.path.isdir(proc):
        try:
            os.killpg(pgid, 0)
        except OSError as exc:
            return [pgid] if exc.errno == errno.EPERM else []
        return [pgid]
    members = []
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        info = read_proc_stat(int(entry), proc)
        if info and info[1] == pgid and info[0] not in ("Z", "X", "x"):
            members.append(int(entry))
    return members


def read_pid_file(path):
    """The pid file's JSON ({pid, start_time, hash, ...}), {} when absent, None when unreadable."""
    try:
        with open(path, "r") as handle:
            text = handle.read()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return {}
        return None
    try:
        data = json.loads(text)
    except ValueError:
        # a plain "1234" pid file
        text = text.strip()
        return {"pid": int(text)} if text.isdigit() else None
    if isinstance(data, int) and not isinstance(data, bool):
        data = {"pid": data}
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    return data


def write_private_file(path, data, mode=0o600):
    """Write data (text, as UTF-8, or bytes) atomically: a temporary file created with the mode
    (no reader ever sees it wider or half written), then renamed over path. A failed write leaves
    no temporary file behind."""
    if not isinstance(data, bytes):
        data = data.encode("utf-8")
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.fchmod(fd, mode)  # the umask may have taken bits that the mode asks for
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_json_file(path):
    """Parsed JSON object of a file, or None when missing or not (yet) valid JSON."""
    try:
        with open(path, "r") as handle:
            data = json.load(handle)
    except (IOError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def tail(path, lines=20, max_bytes=65536):
    """The last lines of a text file (empty list when missing)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except (IOError, OSError):
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]
