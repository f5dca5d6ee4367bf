# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An exclusive lock on a file, taken with a time limit, for the launch of one service.

Two runs of the same workspace (two terminals, two login nodes sharing $HOME) must not both
decide that a service is missing and both start it. The modules hold this lock from the
moment they look for the service until it is started. fcntl.lockf gives POSIX record locks,
which NFS clients forward to the server, so every login node sees them (flock-style locks are
local to a node on some NFS setups). The lock file keeps the holder's host and pid, for the
error message of a run that waited too long.

Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import socket
import time


class LockTimeout(Exception):
    """The lock stayed held by someone else for the whole wait."""

    def __init__(self, path, waited, holder):
        super(LockTimeout, self).__init__(
            "another run holds the lock %s (%s) and kept it for %d s: wait for it to finish, or "
            "remove the file if no such process runs any more" % (path, holder or "holder unknown", waited))
        self.path = path
        self.waited = waited
        self.holder = holder


def describe_holder(text):
    """The holder line written by FileLock, or '' for an empty or foreign file."""
    line = (text or "").strip().splitlines()
    return line[0][:200] if line else ""


class FileLock(object):
    """``with FileLock(path, timeout):`` holds an exclusive lock on path, created 0600.

    ``clock`` and ``sleep`` are injectable for the unit tests. Waiting polls every
    ``interval`` seconds: a blocking lockf cannot be given a time limit.
    """

    def __init__(self, path, timeout, interval=0.2, clock=time.monotonic, sleep=time.sleep):
        self.path = path
        self.timeout = max(0, timeout)
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self.fd = None
        self.waited = 0.0

    def __enter__(self):
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        start = self.clock()
        try:
            while True:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except (IOError, OSError) as exc:
                    if exc.errno not in (errno.EACCES, errno.EAGAIN):
                        raise
                self.waited = self.clock() - start
                if self.waited >= self.timeout:
                    raise LockTimeout(self.path, self.waited, describe_holder(_read(fd)))
                self.sleep(self.interval)
            os.ftruncate(fd, 0)
            os.write(fd, ("%s pid %d\n" % (socket.gethostname(), os.getpid())).encode("utf-8"))
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self

    def __exit__(self, *exc):
        # Closing the descriptor drops the lock; the file stays (removing it would let a
        # waiter lock an unlinked inode while a newcomer locks a new one).
        os.close(self.fd)
        self.fd = None
        return False


def _read(fd):
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 512).decode("utf-8", "replace")
    except OSError:
        return ""
