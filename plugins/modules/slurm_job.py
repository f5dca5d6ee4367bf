#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slurm_job
short_description: Submit, wait for and cancel one named Slurm batch job
version_added: 0.1.0
description:
  - Submits a batch script as a Slurm job known by its O(name) for the calling user, waits
    until it is running (optionally until it writes a O(ready_file)) or has completed, or
    cancels it.
  - Idempotent. A fingerprint of the script and of the sbatch options that matter is kept
    in the job's comment (C(ulhpc:sha256:<16 hex>)); when an active job of that name carries
    the same fingerprint it is returned with C(changed=false). When its fingerprint differs,
    O(replace) decides between a clear failure and cancel-and-resubmit.
  - Waiting polls fast at first (0.2 s) and backs off to O(poll_interval); each poll is one
    scheduler query whatever the number of jobs (array tasks included). C(squeue --json) is used
    where the installed Slurm has it (21.08 and later), fixed-format text otherwise. A job
    squeue no longer lists is looked up with C(sacct) when accounting exists, else with
    C(scontrol show job), else reported as finished with state C(UNKNOWN).
  - Errors reaching the controller (slurmctld down, timeouts, refused connections) are
    retried until O(timeout) and then reported as an unreachable scheduler, never as a
    vanished job.
  - Failures report the Slurm state, exit code, reason and the last lines of the job's
    output and error files; sbatch errors report sbatch's own message.
author:
  - ULHPC workspace developers (@ULHPC)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reports whether it would submit or cancel (C(changed)), and does neither.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Shows the script of the job that would be replaced (when Slurm still has it) and the new one.
options:
  name:
    description:
      - Job name (C(sbatch --job-name)); the job is known by it for the calling user.
      - Only letters, digits, C(_), C(.) and C(-).
    type: str
    required: true
  script:
    description:
      - Path of the batch script on the target. Mutually exclusive with O(content).
      - One of O(script) and O(content) is required unless O(state=absent).
    type: path
  content:
    description:
      - The batch script itself (for example from a template), given to sbatch on its
        standard input (no temporary file).
    type: str
  state:
    description:
      - V(present) submits the job unless an active job of that name has the same fingerprint.
      - V(running) does the same and waits until the job runs and, with O(ready_file), until
        the file appears.
      - V(completed) waits until the job ends, and fails unless it ended C(COMPLETED) with exit
        code 0 (see O(allow_failure)). A completed job with the same fingerprint that the
        scheduler still remembers counts as done.
      - V(absent) cancels the active jobs of that name (sending O(cancel_signal) first when set)
        and waits until they are gone.
    type: str
    default: present
    choices: [present, running, completed, absent]
  replace:
    description:
      - What to do when an active job of that name runs a different script or different options.
      - V(false) fails with a message naming the job. V(true) cancels it and submits the new one.
    type: bool
    default: false
  partition:
    description: C(sbatch --partition).
    type: str
  account:
    description: C(sbatch --account).
    type: str
  qos:
    description: C(sbatch --qos).
    type: str
  reservation:
    description: C(sbatch --reservation), for example a training session's reservation.
    type: str
    version_added: 0.2.0
  time:
    description:
      - Time limit (C(sbatch --time)) in a Slurm format - C(MM), C(MM:SS), C(HH:MM:SS), C(D-HH),
        C(D-HH:MM), C(D-HH:MM:SS), C(UNLIMITED) or C(INFINITE).
    type: str
  nodes:
    description: C(sbatch --nodes), for example C(1) or C(2-4).
    type: str
  ntasks:
    description: C(sbatch --ntasks).
    type: int
  cpus_per_task:
    description: C(sbatch --cpus-per-task).
    type: int
  mem:
    description: C(sbatch --mem), for example C(4G).
    type: str
  gres:
    description: C(sbatch --gres), for example C(gpu:1).
    type: str
  gpus:
    description: C(sbatch --gpus), for example C(1) or C(volta:2).
    type: str
    version_added: 0.2.0
  constraint:
    description: C(sbatch --constraint).
    type: str
  exclusive:
    description: C(sbatch --exclusive).
    type: bool
    default: false
  output:
    description:
      - C(sbatch --output); filename patterns such as C(%j) are allowed.
      - Defaults to Slurm's C(slurm-%j.out) in O(chdir).
    type: str
  error:
    description: C(sbatch --error); defaults to the output file.
    type: str
  chdir:
    description: C(sbatch --chdir); defaults to the user's home directory.
    type: path
  signal:
    description: C(sbatch --signal), for example C(B:TERM@60).
    type: str
  dependency:
    description: C(sbatch --dependency), for example C(afterok:123).
    type: str
  array:
    description: C(sbatch --array), for example C(1-10%2).
    type: str
  comment:
    description: Your part of the job comment, kept after the fingerprint.
    type: str
  environment:
    description:
      - Variables exported into the job. They are given to sbatch through its environment
        with C(--export=ALL), never on the command line. Not for secrets (Slurm keeps the
        environment of a job readable by its owner and the administrators).
    type: dict
    default: {}
  extra_args:
    description:
      - More sbatch arguments, one per item (for example C(--begin=now+1hour)). They are part of
        the fingerprint. C(--job-name), C(--comment) and C(--parsable) are managed by the module.
    type: list
    elements: str
    default: []
  ready_file:
    description:
      - A file the job writes once its service answers (for example a connection JSON).
      - With O(state=running), wait until it exists too and return its content in RV(ready)
        (parsed JSON, else the raw text). A JSON object naming another C(job_id) is stale and
        ignored; a stale file is removed before a new job is submitted.
    type: path
  timeout:
    description:
      - Seconds to wait for O(state=running), O(state=completed) or O(state=absent). V(0) checks once.
      - While it waits, a job that stays pending past it fails with the pending reason.
    type: int
    default: 300
  on_timeout:
    description:
      - What a wait for O(state=running) does when O(timeout) passes while the job is still
        active (pending, or running without its O(ready_file)).
      - V(fail) fails the task with the reason. V(return) returns with RV(waiting=true) and the
        job left as it is, so a play can report progress and call the module again (the job
        is found again by its name and fingerprint, not resubmitted).
    type: str
    choices: [fail, return]
    default: fail
  poll_interval:
    description: The longest pause in seconds between two scheduler queries while waiting.
    type: float
    default: 5
  cancel_signal:
    description:
      - With O(state=absent), send this signal (C(scancel --signal --full)) first, wait up to
        O(cancel_grace) seconds for the jobs to end, then C(scancel) the rest.
    type: str
  cancel_grace:
    description: Seconds to wait after O(cancel_signal) before cancelling.
    type: int
    default: 10
  allow_failure:
    description: With O(state=completed), return a job that failed instead of failing the task.
    type: bool
    default: false
notes:
  - The job is identified by name and user; a different user's job of the same name is ignored.
  - A job that ended is remembered by C(squeue) only for C(MinJobAge) seconds (300 by default);
    after that the module asks C(sacct) or C(scontrol).
seealso:
  - module: ulhpc.workspace.slurm_job_info
"""

EXAMPLES = r"""
- name: Run Redis as a Slurm job and wait for its connection file
  ulhpc.workspace.slurm_job:
    name: ws-default-redis
    content: "{{ lookup('ansible.builtin.template', 'redis-service.sh.j2') }}"
    state: running
    time: "02:00:00"
    cpus_per_task: 1
    mem: 1G
    output: "{{ ansible_facts.env.HOME }}/logs/redis.log"
    ready_file: "{{ ansible_facts.env.HOME }}/run/redis.json"
    replace: true
    timeout: 300
  register: redis_job

- name: Run a computation and fail with its log tail unless it succeeds
  ulhpc.workspace.slurm_job:
    name: compute-pi
    script: /home/user/jobs/pi.sh
    state: completed
    time: "00:10:00"
    environment:
      PI_DIGITS: "1000"

- name: Stop the service, giving it 30 s to clean up after SIGTERM
  ulhpc.workspace.slurm_job:
    name: ws-default-redis
    state: absent
    cancel_signal: TERM
    cancel_grace: 30
"""

RETURN = r"""
job_id:
  description: The job id (the array job id for an array job); null when there is no job.
  returned: always
  type: str
  sample: "1234"
name:
  description: The job name.
  returned: always
  type: str
  sample: ws-default-redis
state:
  description: >-
    The Slurm state last seen (PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, CANCELLED,
    OUT_OF_MEMORY, NODE_FAIL, UNKNOWN...); null when there is no job.
  returned: always
  type: str
  sample: RUNNING
nodes:
  description: The nodes of the job, expanded.
  returned: always
  type: list
  elements: str
  sample: [node01, node02]
exit_code:
  description: The exit code once the job has ended (the highest of the tasks of an array), else null.
  returned: always
  type: int
  sample: 0
signal:
  description: The signal that ended the job (0 for none) once it has ended, else null.
  returned: always
  type: int
  sample: 0
reason:
  description: Slurm's reason (the pending reason while it waits, for example C(Resources) or C(BeginTime)).
  returned: always
  type: str
  sample: None
stdout_path:
  description: The job's output file.
  returned: always
  type: str
  sample: /home/user/slurm-1234.out
stderr_path:
  description: The job's error file (the output file unless O(error) was given).
  returned: always
  type: str
  sample: /home/user/slurm-1234.out
stdout_tail:
  description: The last lines of the output file, when the job failed or did not become ready.
  returned: always
  type: list
  elements: str
  sample: ["starting", "error: port in use"]
stderr_tail:
  description: The last lines of the error file when it is not the output file, on failure.
  returned: always
  type: list
  elements: str
  sample: []
submit_time:
  description: Submission time (local time of the cluster).
  returned: always
  type: str
  sample: "2026-11-24T10:00:00"
start_time:
  description: Start time, null while pending.
  returned: always
  type: str
  sample: "2026-11-24T10:00:01"
end_time:
  description: End time (the expected end while it runs), null while pending.
  returned: always
  type: str
  sample: "2026-11-24T12:00:01"
time_limit:
  description: The time limit as C([D-]HH:MM:SS), or C(UNLIMITED).
  returned: always
  type: str
  sample: "02:00:00"
elapsed:
  description: Seconds the job has run.
  returned: always
  type: int
  sample: 42
time_left:
  description: Seconds of walltime left while it runs; null otherwise or when unlimited.
  returned: always
  type: int
  sample: 7158
tasks:
  description: For an array job, one entry per task record (pending tasks grouped).
  returned: when the job is an array job
  type: list
  elements: dict
  sample: [{"job_id": "1234_1", "array_task_id": 1, "state": "COMPLETED", "exit_code": 0,
            "signal": 0, "reason": "None", "nodes": ["node01"],
            "stdout_path": "/home/user/slurm-1234_1.out", "stderr_path": "/home/user/slurm-1234_1.out"}]
ready:
  description: >-
    The content of O(ready_file) (parsed JSON, or the raw text): awaited with O(state=running), read
    when it exists for an active job already there (also in check mode); else null.
  returned: always
  type: raw
  sample: {"service": "redis", "host": "node01", "port": 64234}
submitted:
  description: Whether this run submitted a job (false in check mode).
  returned: always
  type: bool
  sample: true
cancelled:
  description: Ids of the jobs this run cancelled (or would cancel, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["1200"]
fingerprint:
  description: The fingerprint of the script and options (kept in the job comment).
  returned: unless O(state=absent)
  type: str
  sample: "ulhpc:sha256:0123456789abcdef"
queries:
  description: Number of commands this run sent to the scheduler (sbatch, squeue, scontrol, sacct, scancel).
  returned: always
  type: int
  sample: 9
expected_start:
  description: >-
    While the job is pending, the start Slurm's scheduler expects (what C(squeue --start)
    shows); null when it has not estimated one yet or once the job has started.
  returned: always
  type: str
  sample: "2026-11-24T10:30:00"
waiting:
  description: >-
    True when O(on_timeout=return) and O(timeout) passed with the job still active and not
    ready: call the module again to keep waiting.
  returned: always
  type: bool
  sample: false
waited:
  description: Seconds spent waiting.
  returned: always
  type: float
  sample: 3.2
"""

import os
import pwd
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm as slurm
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm_options as options_table
from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_client import (
    SlurmClient, SlurmCommandError, SlurmUnreachable, read_ready_file, read_tail)

CANCEL_SIGNAL_RE = re.compile(r"^(?:SIG)?[A-Z0-9]+$", re.I)
# The options' table (_slurm_options.OPTIONS) also gives the argv, the fingerprint and the spec.
FINGERPRINT_KEYS = tuple(option.key for option in options_table.OPTIONS) + options_table.FINGERPRINT_EXTRA


def all_gone(jobs):
    return all(not slurm.is_active(job["state"]) for job in jobs.values())


class SlurmJobError(Exception):
    def __init__(self, msg, **facts):
        super(SlurmJobError, self).__init__(msg)
        self.msg = msg
        self.facts = facts


class SlurmJob(object):
    """One named job: compare, submit, wait, cancel."""

    def __init__(self, module, client=None):
        self.module = module
        self.p = module.params
        self.client = client or SlurmClient(module)
        self.result = {
            "changed": False, "job_id": None, "name": self.p["name"], "state": None, "nodes": [],
            "exit_code": None, "signal": None, "reason": None, "stdout_path": None,
            "stderr_path": None, "stdout_tail": [], "stderr_tail": [], "submit_time": None,
            "start_time": None, "end_time": None, "time_limit": None, "elapsed": None,
            "time_left": None, "ready": None, "submitted": False, "cancelled": [],
            "queries": 0, "waited": 0.0, "expected_start": None, "waiting": False,
        }

    # ------------------------------------------------------------ validation
    def validate(self):
        p = self.p
        if not slurm.JOB_NAME_RE.match(p["name"] or ""):
            raise SlurmJobError("invalid job name %r: use only letters, digits, '_', '.' and '-'"
                                % p["name"])
        if p["timeout"] < 0:
            raise SlurmJobError("timeout must be >= 0 seconds, got %d" % p["timeout"])
        if p["poll_interval"] <= 0:
            raise SlurmJobError("poll_interval must be > 0 seconds, got %s" % p["poll_interval"])
        if p["cancel_grace"] < 0:
            raise SlurmJobError("cancel_grace must be >= 0 seconds, got %d" % p["cancel_grace"])
        if p["time"] is not None:
            try:
                slurm.parse_time_limit(p["time"])
            except ValueError as exc:
                raise SlurmJobError("time: %s" % exc)
        for key in ("ntasks", "cpus_per_task"):
            if p[key] is not None and p[key] < 1:
                raise SlurmJobError("%s must be >= 1, got %d" % (key, p[key]))
        if p["cancel_signal"] is not None and not CANCEL_SIGNAL_RE.match(p["cancel_signal"]):
            raise SlurmJobError("invalid cancel_signal %r: expected a signal name or number, e.g. TERM"
                                % p["cancel_signal"])
        checked = [key for key in options_table.PLACEMENT_KEYS + ("signal", "array")
                   if key not in ("time", "ntasks", "cpus_per_task")]
        errors = options_table.value_errors(p, checked)
        if errors:
            raise SlurmJobError(errors[0])
        for key, value in p["environment"].items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(key)):
                raise SlurmJobError("environment: invalid variable name %r" % key)
        if p["state"] != "absent":
            if p["script"] is not None:
                if not os.path.isfile(p["script"]) or not os.access(p["script"], os.R_OK):
                    raise SlurmJobError("script %s does not exist or is not a readable file"
                                        % p["script"])
            elif not p["content"]:
                raise SlurmJobError("content is empty: give the batch script's text")

    # --------------------------------------------------------------- helpers
    def chdir(self):
        return self.p["chdir"] or os.environ.get("HOME") or pwd.getpwuid(os.geteuid()).pw_dir

    def options(self):
        opts = dict((key, self.p[key]) for key in FINGERPRINT_KEYS)
        opts["chdir"] = self.chdir()
        opts["environment"] = dict((str(k), str(v)) for k, v in self.p["environment"].items())
        return options_table.fingerprint_options(opts)

    def script_text(self):
        if self.p["script"] is not None:
            with open(self.p["script"], "rb") as handle:
                return handle.read()
        return self.p["content"].encode("utf-8")

    def sbatch_argv(self, fp):
        p = self.p
        argv = [self.client.bin("sbatch"), "--parsable", "--job-name=" + p["name"],
                "--comment=" + slurm.make_comment(fp, p["comment"]), "--chdir=" + self.chdir(),
                "--export=ALL"]
        argv.extend(options_table.sbatch_args(p))
        if p["script"] is not None:
            argv.append(p["script"])
        return argv

    def set_job(self, job):
        public = slurm.public_job(job)
        for key, value in public.items():
            if key in ("comment", "partition", "work_dir", "array_job_id", "array_task_id", "user"):
                continue
            self.result[key] = value
        if not self.result["stdout_path"] and self.p["state"] != "absent":
            pattern = self.p["output"] or slurm.default_output_path(self.chdir(), bool(self.p["array"]))
            if not pattern.startswith("/"):
                pattern = os.path.join(self.chdir(), pattern)
            self.result["stdout_path"] = slurm.expand_output_pattern(pattern, job)
        if not self.result["stderr_path"]:
            if self.p["error"]:
                pattern = self.p["error"]
                if not pattern.startswith("/"):
                    pattern = os.path.join(self.chdir(), pattern)
                self.result["stderr_path"] = slurm.expand_output_pattern(pattern, job)
            else:
                self.result["stderr_path"] = self.result["stdout_path"]

    def add_tails(self, job=None):
        stdout, stderr = self.result["stdout_path"], self.result["stderr_path"]
        for task in (job or {}).get("tasks") or []:
            if task.get("state") != "COMPLETED" and task.get("stdout_path"):
                stdout, stderr = task["stdout_path"], task.get("stderr_path") or task["stdout_path"]
                break
        self.result["stdout_tail"] = read_tail(stdout)
        self.result["stderr_tail"] = read_tail(stderr) if stderr and stderr != stdout else []

    def describe(self):
        r = self.result
        text = "job %s (%s) is %s" % (r["name"], r["job_id"], r["state"])
        if r["exit_code"] is not None and r["state"] not in slurm.ACTIVE_STATES:
            text += " with exit code %s" % r["exit_code"]
            if r["signal"]:
                text += " (signal %s)" % r["signal"]
        if r["reason"] and r["reason"] != "None":
            text += ", reason: %s" % r["reason"]
        return text

    def fail(self, msg, with_tails=True, job=None):
        if with_tails:
            self.add_tails(job)
            tail = self.result["stderr_tail"] or self.result["stdout_tail"]
            if tail:
                msg += "; last lines of %s:\n%s" % (
                    self.result["stderr_path"] if self.result["stderr_tail"] else self.result["stdout_path"],
                    "\n".join(tail[-10:]))
        raise SlurmJobError(msg)

    def retrying(self, func, *args):
        """Call func, retrying while the scheduler is unreachable, up to the timeout."""
        deadline = self.client.clock() + self.p["timeout"]
        while True:
            try:
                return func(*args)
            except SlurmUnreachable as exc:
                if self.client.clock() >= deadline:
                    raise SlurmJobError("scheduler unreachable for %d s: %s" % (self.p["timeout"], exc))
                self.client.sleep(min(self.p["poll_interval"], 1.0))

    # ------------------------------------------------------------------ main
    def run(self):
        self.validate()
        if self.p["state"] == "absent":
            return self.absent()
        return self.present()

    def absent(self):
        p = self.p
        active = [j for j in self.retrying(self.client.jobs_named, p["name"]) if slurm.is_active(j["state"])]
        if not active:
            return self.result
        ids = [j["job_id"] for j in active]
        self.set_job(active[0])
        self.result["changed"] = True
        self.result["cancelled"] = ids
        if self.module.check_mode:
            return self.result
        gone = all_gone
        remaining = ids
        if p["cancel_signal"]:
            self.retrying(self.client.cancel, ids, p["cancel_signal"])
            res = self.client.wait(ids, gone, min(p["cancel_grace"], p["timeout"]), p["poll_interval"],
                                   user=self.client.user)
            self.result["waited"] += res.waited
            remaining = [i for i in ids if i not in res.jobs or slurm.is_active(res.jobs[i]["state"])]
        if remaining:
            self.retrying(self.client.cancel, remaining)
        res = self.client.wait(ids, gone, p["timeout"], p["poll_interval"], user=self.client.user)
        self.result["waited"] += res.waited
        if res.jobs.get(ids[0]):
            self.set_job(res.jobs[ids[0]])
        if not res.done:
            if res.unreachable:
                self.fail("scheduler unreachable while waiting for the cancelled jobs %s to end: %s"
                          % (", ".join(ids), res.unreachable), with_tails=False)
            still = [i for i in ids if slurm.is_active(res.jobs.get(i, {}).get("state"))]
            self.fail("jobs %s are still active %d s after scancel" % (", ".join(still), p["timeout"]),
                      with_tails=False)
        return self.result

    def present(self):
        p = self.p
        script = self.script_text()
        fp = slurm.fingerprint(script, self.options())
        self.result["fingerprint"] = fp
        jobs = self.retrying(self.client.jobs_named, p["name"])
        active = [j for j in jobs if slurm.is_active(j["state"])]
        same = [j for j in active if slurm.split_comment(j.get("comment"))[0] == fp]
        other = [j for j in active if j not in same]
        job = same[0] if same else None
        if job is None and p["state"] == "completed":
            done = [j for j in jobs if j["state"] == "COMPLETED" and j.get("exit_code") == 0
                    and slurm.split_comment(j.get("comment"))[0] == fp]
            job = done[0] if done else None
        to_cancel = []
        if other and (job is None or p["replace"]):
            if not p["replace"]:
                names = ", ".join("%s (%s, fingerprint %s)" % (
                    j["job_id"], j["state"], slurm.split_comment(j.get("comment"))[0] or "none")
                    for j in other)
                raise SlurmJobError(
                    "an active job named %s runs a different script or options: %s; this task's "
                    "fingerprint is %s. Set replace: true to cancel it and submit the new one, or "
                    "cancel it with state: absent" % (p["name"], names, fp))
            to_cancel = [j["job_id"] for j in other]
        if job is None and self.module._diff:
            before = ""
            if other:
                before = self.client.batch_script(other[0]["job_id"]) or ""
            self.result["diff"] = {
                "before": before, "after": script.decode("utf-8", "replace"),
                "before_header": "job %s" % (other[0]["job_id"] if other else "(none)"),
                "after_header": "new job %s" % p["name"]}
        self.result["cancelled"] = to_cancel
        if job is not None:
            self.set_job(job)
            if p["ready_file"] and slurm.is_active(job["state"]):
                found, content = read_ready_file(p["ready_file"], [job["job_id"]])
                self.result["ready"] = content if found else None
        if self.module.check_mode:
            self.result["changed"] = job is None or bool(to_cancel)
            return self.result
        if to_cancel:
            self.retrying(self.client.cancel, to_cancel)
            self.result["changed"] = True
            res = self.client.wait(to_cancel, all_gone, p["timeout"], p["poll_interval"],
                                   user=self.client.user)
            self.result["waited"] += res.waited
            if not res.done:
                self.fail("the replaced jobs %s did not end within %d s%s" % (
                    ", ".join(to_cancel), p["timeout"],
                    " (scheduler unreachable: %s)" % res.unreachable if res.unreachable else ""),
                    with_tails=False)
        first = None
        if job is None:
            job_id = self.submit(script, fp)
            self.result.update(changed=True, submitted=True, job_id=job_id, state="PENDING")
        else:
            job_id = job["job_id"]
            first = {job_id: job}
        return self.wait(job_id, first)

    def submit(self, script, fp):
        p = self.p
        if p["ready_file"] and os.path.lexists(p["ready_file"]):
            try:
                os.unlink(p["ready_file"])
            except OSError as exc:
                raise SlurmJobError("cannot remove the stale ready file %s: %s" % (p["ready_file"], exc))
        argv = self.sbatch_argv(fp)
        env = dict((str(k), str(v)) for k, v in p["environment"].items())
        data = None if p["script"] is not None else script
        deadline_polls = self.client.clock() + p["timeout"]
        while True:
            try:
                return self.client.submit(argv, data=data, env=env, cwd=self.chdir())
            except SlurmCommandError as exc:
                raise SlurmJobError("sbatch failed: %s" % exc, rc=exc.rc)
            except SlurmUnreachable as exc:
                # the submission may have gone through before the error: look before retrying
                if self.client.clock() >= deadline_polls:
                    raise SlurmJobError("scheduler unreachable: sbatch failed for %d s: %s"
                                        % (p["timeout"], exc))
                self.client.sleep(min(p["poll_interval"], 2.0))
                try:
                    for job in self.client.jobs_named(p["name"]):
                        if slurm.is_active(job["state"]) and slurm.split_comment(job.get("comment"))[0] == fp:
                            return job["job_id"]
                except SlurmUnreachable:
                    continue

    def wait(self, job_id, first=None):
        p = self.p
        state = p["state"]
        ready_file = p["ready_file"] if state == "running" else None
        if state == "present":
            if first is None:
                try:
                    first = self.client.query([job_id], user=self.client.user)
                except SlurmUnreachable as exc:
                    self.module.warn("submitted job %s, but the scheduler did not answer the "
                                     "following query: %s" % (job_id, exc))
                    return self.result
            self.set_job(first[job_id])
            return self.result
        if ready_file and first is not None and slurm.is_active(first[job_id]["state"]):
            first = None  # let the wait look at the file first

        if state == "running":
            def condition(jobs):
                job = jobs[job_id]
                if not slurm.is_active(job["state"]):
                    return True
                return not ready_file and job["state"] in ("RUNNING", "COMPLETING")
        else:
            def condition(jobs):
                return not slurm.is_active(jobs[job_id]["state"])

        res = self.client.wait([job_id], condition, p["timeout"], p["poll_interval"],
                               ready_file=ready_file, first=first, user=self.client.user)
        self.result["waited"] += res.waited
        job = res.jobs.get(job_id)
        if job is not None:
            self.set_job(job)
        if res.ready_found:
            self.result["ready"] = res.ready
            return self.result
        if not res.done:
            if res.unreachable:
                self.fail("scheduler unreachable for the last polls of a %d s wait (last error: %s); "
                          "job %s (%s) was last seen %s" % (p["timeout"], res.unreachable, p["name"],
                                                            job_id, self.result["state"] or "not at all"),
                          with_tails=False)
            if state == "running" and p["on_timeout"] == "return" and slurm.is_active(self.result["state"] or ""):
                self.result["waiting"] = True
                return self.result
            what = {"running": "ready" if ready_file else "running", "completed": "finished"}[state]
            msg = "%s after waiting %d s for it to be %s" % (self.describe(), p["timeout"], what)
            if ready_file and self.result["state"] == "RUNNING":
                msg += " (the ready file %s did not appear)" % ready_file
            self.fail(msg, with_tails=self.result["state"] != "PENDING", job=job)
        final = self.result["state"]
        if state == "running":
            if final in ("RUNNING", "COMPLETING") and not ready_file:
                return self.result
            if final == "COMPLETED" and self.result["exit_code"] == 0 and not ready_file:
                return self.result
            self.fail("%s: it ended before %s" % (
                self.describe(), "writing %s" % ready_file if ready_file else "it was seen running"),
                job=job)
        ok = final == "COMPLETED" and self.result["exit_code"] in (0, None)
        if not ok:
            self.add_tails(job)
            if not p["allow_failure"]:
                self.fail(self.describe(), job=job)
        return self.result


def main():
    # The sbatch options come from the table; these are the module's own.
    spec = options_table.argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        script=dict(type="path"),
        content=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "running", "completed", "absent"]),
        replace=dict(type="bool", default=False),
        chdir=dict(type="path"),
        comment=dict(type="str"),
        environment=dict(type="dict", default={}),
        ready_file=dict(type="path"),
        timeout=dict(type="int", default=300),
        poll_interval=dict(type="float", default=5),
        on_timeout=dict(type="str", default="fail", choices=["fail", "return"]),
        cancel_signal=dict(type="str"),
        cancel_grace=dict(type="int", default=10),
        allow_failure=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=spec,
        mutually_exclusive=[("script", "content")],
        required_if=[
            ("state", "present", ("script", "content"), True),
            ("state", "running", ("script", "content"), True),
            ("state", "completed", ("script", "content"), True),
        ],
        supports_check_mode=True,
    )
    job = SlurmJob(module)
    try:
        result = job.run()
    except SlurmJobError as exc:
        job.result["queries"] = job.client.queries
        facts = dict(job.result)
        facts.update(exc.facts)
        module.fail_json(msg=exc.msg, **facts)
    except SlurmUnreachable as exc:
        job.result["queries"] = job.client.queries
        module.fail_json(msg="scheduler unreachable: %s" % exc, **job.result)
    except SlurmCommandError as exc:
        job.result["queries"] = job.client.queries
        module.fail_json(msg="%s failed: %s" % (os.path.basename(exc.argv[0]), exc), **job.result)
    result["queries"] = job.client.queries
    result["waited"] = round(result["waited"], 3)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
