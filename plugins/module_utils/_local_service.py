# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local_service module's work: a detached process with a pid file, started, checked,
stopped and restarted (the launcher's mode where there is no Slurm)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import errno
import signal
import time

from ansible_collections.ulhpc.workspace.plugins.module_utils import _private_files
from ansible_collections.ulhpc.workspace.plugins.module_utils._local import (
    content_hash,
    group_members,
    pid_alive,
    read_json_file,
    read_pid_file,
    read_proc_stat,
    tail,
    write_private_file,
)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


class DetachedChild(object):
    """A child started in its own session; poll() reaps it without blocking."""

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except OSError as exc:
                if exc.errno != errno.ECHILD:
                    raise
                self.returncode = -1
                return self.returncode
            if pid == self.pid:
                if os.WIFEXITED(status):
                    self.returncode = os.WEXITSTATUS(status)
                else:
                    self.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1
        return self.returncode


def spawn_detached(argv, env, log_file, chdir=None):
    """fork + setsid + exec: stdin /dev/null, stdout/stderr to log_file (truncated, 0600), no other fds.

    The module does not wait for the child; a failure before exec exits with 127.
    """
    log_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    try:
        os.fchmod(log_fd, 0o600)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child execs or exits
            try:
                os.setsid()
                os.dup2(null_fd, 0)
                os.dup2(log_fd, 1)
                os.dup2(log_fd, 2)
                os.closerange(3, 65536)
                if chdir:
                    os.chdir(chdir)
                os.execve(argv[0], argv, env)
            except Exception:
                os.write(2, b"local_service: cannot start the service\n")
            os._exit(127)
    finally:
        os.close(log_fd)
        os.close(null_fd)
    return DetachedChild(pid)


class LocalService(object):
    def __init__(self, module):
        self.module = module
        params = module.params
        self.name = params["name"]
        self.pid_file = os.path.abspath(params["pid_file"])
        base = os.path.dirname(self.pid_file)
        self.script = os.path.abspath(params["script"] or os.path.join(base, self.name + ".sh"))
        self.log_file = os.path.abspath(params["log_file"] or os.path.join(base, self.name + ".log"))
        self.ready_file = params["ready_file"] and os.path.abspath(params["ready_file"])
        self.chdir = params["chdir"] and os.path.abspath(params["chdir"])
        self.environment = dict((str(k), str(v)) for k, v in (params["environment"] or {}).items())
        self.proc = None
        self.result = dict(changed=False, name=self.name, state="absent", pid=None, started=None,
                           ready=None, action="none", pid_file=self.pid_file,
                           log_file=self.log_file, script=self.script, changed_paths=[])

    # --- observation -------------------------------------------------------------------
    def current(self):
        """(state, pid file data) of the service as found."""
        data = read_pid_file(self.pid_file)
        if data is None:
            self.fail("The pid file %s is not a pid file of this module; remove it if no %s service runs"
                      % (self.pid_file, self.name))
        if not data:
            return "absent", data
        if pid_alive(data["pid"], data.get("start_time")):
            return "running", data
        return "dead", data

    def fail(self, msg, **extra):
        self.result.update(extra)
        self.module.fail_json(msg=msg, **self.result)

    # --- actions -----------------------------------------------------------------------
    def start(self, digest):
        os.umask(0o077)
        if self.ready_file and os.path.lexists(self.ready_file):
            os.unlink(self.ready_file)
        if not os.path.isdir(os.path.dirname(self.pid_file)):
            self.fail("The directory of the pid file %s does not exist" % self.pid_file)
        if self.chdir and not os.path.isdir(self.chdir):
            self.fail("chdir %s is not a directory" % self.chdir)
        write_private_file(self.script, self.module.params["content"], mode=0o700)
        env = dict(os.environ)
        env.update(self.environment)
        bash = self.module.get_bin_path("bash", required=True)
        try:
            self.proc = spawn_detached([bash, self.script], env, self.log_file, self.chdir)
        except OSError as exc:
            self.fail("Cannot start %s: %s" % (self.name, exc))
        pid = self.proc.pid
        info = read_proc_stat(pid)
        data = dict(pid=pid, start_time=info[2] if info else None, hash=digest, started=_now(),
                    name=self.name, script=self.script, log_file=self.log_file)
        write_private_file(self.pid_file, json.dumps(data, sort_keys=True) + "\n")
        self.result.update(state="running", pid=pid, started=data["started"])
        return data

    def stop(self, data):
        pid = data["pid"]
        timeout = self.module.params["stop_timeout"]
        self._signal_group(pid, signal.SIGTERM)
        if not self._wait_group_gone(pid, timeout):
            self._signal_group(pid, signal.SIGKILL)
            if not self._wait_group_gone(pid, 10):
                self.fail("The process group %d of %s survived SIGKILL" % (pid, self.name), state="running", pid=pid)
        self.cleanup()

    def cleanup(self):
        for path in (self.pid_file, self.ready_file):
            if path and os.path.lexists(path):
                os.unlink(path)
        self.result.update(state="absent", pid=None)

    def _signal_group(self, pgid, signum):
        try:
            os.killpg(pgid, signum)
        except OSError:
            pass

    def _wait_group_gone(self, pgid, timeout):
        deadline = time.time() + timeout
        delay = 0.05
        while True:
            if self.proc is not None:
                self.proc.poll()
            if not group_members(pgid):
                return True
            if time.time() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def wait_ready(self, data):
        """Wait for the ready file; fail with the log tail if the service dies or times out."""
        timeout = self.module.params["timeout"]
        deadline = time.time() + timeout
        delay = 0.05
        while True:
            ready = read_json_file(self.ready_file)
            if ready is not None:
                self.result["ready"] = ready
                return
            if self.proc is not None:
                code = self.proc.poll()
                alive = code is None
            else:
                code = None
                alive = pid_alive(data["pid"], data.get("start_time"))
            if not alive:
                extra = dict(state="dead", log_tail=tail(self.log_file))
                if code is not None:
                    extra["exit_code"] = code
                self.fail("%s exited before writing its ready file %s; see log_tail and %s"
                          % (self.name, self.ready_file, self.log_file), **extra)
            if time.time() >= deadline:
                self.fail("%s (pid %d) still runs but did not write its ready file %s within %d s;"
                          " it was left running: see log_tail and %s, raise the timeout or stop it"
                          % (self.name, data["pid"], self.ready_file, timeout, self.log_file),
                          state="running", log_tail=tail(self.log_file))
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    # --- states ------------------------------------------------------------------------
    def run(self):
        params = self.module.params
        state = params["state"]
        found, data = self.current()
        self.result.update(state=found, pid=data.get("pid"), started=data.get("started"))
        if found == "dead":
            self.result["log_tail"] = tail(self.log_file)
        if state == "status":
            if found == "running" and self.ready_file:
                self.result["ready"] = read_json_file(self.ready_file)
            return self.result
        if state == "stopped":
            if found == "absent":
                return self.result
            self.result.update(changed=True, action="stopped" if found == "running" else "cleaned")
            if not self.module.check_mode:
                if found == "running":
                    self.stop(data)
                else:
                    self.cleanup()
            return self.result

        # The service's private files (its configuration): checked before anything changes,
        # written when they differ, once a restarted service is stopped and before it starts.
        files = _private_files.PlannedFiles(self.module, "local_service %s" % self.name)
        digest = content_hash(params["content"], self.environment, self.chdir)
        if state == "started" and found == "running" and data.get("hash") == digest:
            self.result["changed_paths"] = files.keep()
            self.result["changed"] = bool(self.result["changed_paths"])
            if self.ready_file and not self.module.check_mode:
                self.wait_ready(data)
            elif self.ready_file:
                self.result["ready"] = read_json_file(self.ready_file)
            return self.result
        action = "restarted" if found == "running" else "started"
        self.result.update(changed=True, action=action)
        if self.module.check_mode:
            self.result["changed_paths"] = files.keep()
            return self.result
        if found == "running":
            self.stop(data)
        self.result.pop("log_tail", None)
        self.result["changed_paths"] = files.keep()
        data = self.start(digest)
        if self.ready_file:
            self.wait_ready(data)
        return self.result
