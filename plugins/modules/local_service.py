#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ulhpc.workspace contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: local_service
short_description: Run a service script as a detached local process with a pid file, a log and a ready file
version_added: "0.1.0"
description:
  - The local counterpart of M(ulhpc.workspace.slurm_job) for services. It writes O(content) to
    O(script) and runs C(bash <script>) detached (a new session, stdin from C(/dev/null),
    stdout and stderr to O(log_file)); the module does not wait for it to end.
  - The pid file (JSON, mode C(0600)) keeps the pid, the process start time (so a reused pid
    is not mistaken for the service) and a hash of the script, environment and directory.
  - Idempotent. A running service with the same hash is left alone (C(changed=false)); a
    different hash restarts it.
  - With O(ready_file), a stale ready file is removed before the start and the module waits
    until the service writes it (a JSON object), returning its content as RV(ready).
  - Stopping sends SIGTERM to the service's process group, waits up to O(stop_timeout)
    seconds, then sends SIGKILL; the pid file and the ready file are removed.
author:
  - ULHPC workspace developers (@ULHPC)
options:
  name:
    description: Name of the service (used in messages).
    type: str
    required: true
  content:
    description:
      - The script run with C(bash). Required when O(state) is V(started) or V(restarted).
    type: str
  script:
    description:
      - Where O(content) is written (mode C(0700)) before a start.
      - Defaults to C(<name>.sh) in the directory of O(pid_file).
    type: path
  state:
    description:
      - V(started) ensures the service runs this content (starting or restarting it as needed).
      - V(restarted) always stops and starts it.
      - V(stopped) ensures it does not run.
      - V(status) only reports V(running), V(dead) (a pid file whose process is gone) or
        V(absent) (no pid file), and changes nothing.
    type: str
    choices: [started, stopped, restarted, status]
    default: started
  pid_file:
    description: The pid file (JSON). Its directory must exist.
    type: path
    required: true
  log_file:
    description:
      - File receiving the service's stdout and stderr (truncated at each start, mode C(0600)).
      - Defaults to C(<name>.log) in the directory of O(pid_file).
    type: path
  ready_file:
    description:
      - A JSON file the service writes once it answers (for example a connection file).
    type: path
  timeout:
    description: Seconds to wait for O(ready_file) after a start (or for a running service's).
    type: int
    default: 300
  stop_timeout:
    description: Seconds to wait after SIGTERM before SIGKILL.
    type: int
    default: 30
  environment:
    description:
      - Variables exported into the service's environment (never on its command line), added
        to the module's own environment. Part of the hash.
    type: dict
    default: {}
  chdir:
    description: Working directory of the service (default the module's). Part of the hash.
    type: path
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reports whether it would start, restart or stop the service, and does none of it.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - Linux C(/proc) is used to detect zombies and reused pids; elsewhere a signal 0 test is used.
"""

EXAMPLES = r"""
- name: Run a small HTTP server in the background
  ulhpc.workspace.local_service:
    name: web
    content: |
      python3 -m http.server 8000 --bind 127.0.0.1 &
      printf '{"port": 8000}' > ~/run/web.json
      wait
    pid_file: ~/run/web.pid
    log_file: ~/logs/web.log
    ready_file: ~/run/web.json
    timeout: 60

- name: Report whether it runs
  ulhpc.workspace.local_service:
    name: web
    pid_file: ~/run/web.pid
    state: status
  register: web_status

- name: Stop it
  ulhpc.workspace.local_service:
    name: web
    pid_file: ~/run/web.pid
    ready_file: ~/run/web.json
    state: stopped
"""

RETURN = r"""
name:
  description: The service name.
  returned: always
  type: str
  sample: redis
state:
  description:
    - State after the run (in check mode, the state found).
    - V(running), V(dead) (the pid file's process is gone) or V(absent) (no pid file).
  returned: always
  type: str
  sample: running
pid:
  description: Pid (and process group id) of the service, when there is one.
  returned: always
  type: int
  sample: 4242
started:
  description: When the running service was started (ISO 8601), when known.
  returned: always
  type: str
  sample: "2026-11-24T10:00:00+00:00"
ready:
  description: Parsed content of O(ready_file) once present; null otherwise.
  returned: always
  type: dict
  sample: {"port": 64123, "address": "127.0.0.1"}
action:
  description: What was (or in check mode would be) done.
  returned: always
  type: str
  sample: started
  choices: [none, started, restarted, stopped, cleaned]
exit_code:
  description: Exit status of a service that ended while the module waited for it.
  returned: when the service exited during the wait
  type: int
  sample: 1
log_tail:
  description: The last lines of O(log_file), on failure and when the service is dead.
  returned: on failure or when the service is dead
  type: list
  elements: str
  sample: ["redis-server: command not found"]
pid_file:
  description: Absolute path of the pid file.
  returned: always
  type: str
  sample: /home/user/.ulhpc/workspaces/default/run/redis.pid
log_file:
  description: Absolute path of the log file.
  returned: always
  type: str
  sample: /home/user/.ulhpc/workspaces/default/logs/redis.log
script:
  description: Absolute path of the script file.
  returned: always
  type: str
  sample: /home/user/.ulhpc/workspaces/default/run/redis.sh
"""

import datetime
import json
import os
import errno
import signal
import time

from ansible.module_utils.basic import AnsibleModule
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
                           log_file=self.log_file, script=self.script)

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

        digest = content_hash(params["content"], self.environment, self.chdir)
        if state == "started" and found == "running" and data.get("hash") == digest:
            if self.ready_file and not self.module.check_mode:
                self.wait_ready(data)
            elif self.ready_file:
                self.result["ready"] = read_json_file(self.ready_file)
            return self.result
        action = "restarted" if found == "running" else "started"
        self.result.update(changed=True, action=action)
        if self.module.check_mode:
            return self.result
        if found == "running":
            self.stop(data)
        self.result.pop("log_tail", None)
        data = self.start(digest)
        if self.ready_file:
            self.wait_ready(data)
        return self.result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            content=dict(type="str"),
            script=dict(type="path"),
            state=dict(type="str", default="started", choices=["started", "stopped", "restarted", "status"]),
            pid_file=dict(type="path", required=True),
            log_file=dict(type="path"),
            ready_file=dict(type="path"),
            timeout=dict(type="int", default=300),
            stop_timeout=dict(type="int", default=30),
            environment=dict(type="dict", default={}),
            chdir=dict(type="path"),
        ),
        required_if=[
            ("state", "started", ["content"]),
            ("state", "restarted", ["content"]),
        ],
        supports_check_mode=True,
    )
    for key in ("timeout", "stop_timeout"):
        if module.params[key] < 0:
            module.fail_json(msg="%s must be 0 or more seconds, got %d" % (key, module.params[key]))
    result = LocalService(module).run()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
