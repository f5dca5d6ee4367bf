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
  - The service's private files (O(directories), O(files), O(links), its configuration say) are
    checked before anything changes, and written when they differ, after a restarted service
    stopped and before it starts, so the launcher needs no separate call for them. They are ignored
    with O(state=stopped) and O(state=status). The files' contents are never logged or returned.
  - With O(ready_file), a stale ready file is removed before the start and the module waits
    until the service writes it (a JSON object), returning its content as RV(ready).
  - Stopping sends SIGTERM to the service's process group, waits up to O(stop_timeout)
    seconds, then sends SIGKILL; the pid file and the ready file are removed.
  - Two runs at once (two terminals, two login nodes sharing C($HOME)) never start the service
    twice. Outside check mode the module holds a lock on C(<pid_file>.lock) (a POSIX record
    lock, which NFS forwards to the server) from the look at the pid file to the ready file.
    The second run waits up to O(timeout) + O(stop_timeout) + 60 seconds, then finds the
    first run's service.
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
extends_documentation_fragment:
  - ulhpc.workspace.attributes
  - ulhpc.workspace.private_files
attributes:
  check_mode:
    support: full
    details: Reports whether it would start, restart or stop the service, and does none of it.
  diff_mode:
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
changed_paths:
  description: The service's private paths made, written or linked before it started (in check mode, those a run would change).
  returned: always
  type: list
  elements: str
  sample: [/home/user/.ulhpc/workspaces/default/config/redis.conf]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ulhpc.workspace.plugins.module_utils import _private_files
from ansible_collections.ulhpc.workspace.plugins.module_utils._local_service import LocalService
from ansible_collections.ulhpc.workspace.plugins.module_utils._lock import FileLock, LockTimeout


def main():
    spec = _private_files.argument_spec()
    spec.update(
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
    )
    module = AnsibleModule(
        argument_spec=spec,
        required_if=[
            ("state", "started", ["content"]),
            ("state", "restarted", ["content"]),
        ],
        supports_check_mode=True,
    )
    for key in ("timeout", "stop_timeout"):
        if module.params[key] < 0:
            module.fail_json(msg="%s must be 0 or more seconds, got %d" % (key, module.params[key]))
    service = LocalService(module)
    if module.check_mode or module.params["state"] == "status":
        result = service.run()
    else:
        wait = module.params["timeout"] + module.params["stop_timeout"] + 60
        try:
            with FileLock(service.pid_file + ".lock", wait):
                result = service.run()
        except LockTimeout as exc:
            module.fail_json(msg="%s: %s" % (service.name, exc), **service.result)
        except (IOError, OSError) as exc:
            module.fail_json(msg="%s: cannot lock %s.lock: %s" % (service.name, service.pid_file, exc), **service.result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
