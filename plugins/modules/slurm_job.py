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
  - The job's private files (O(directories), O(files), O(links), its configuration say) are
    checked before anything changes, and written when they differ, after a replaced job ended
    and before the new one is submitted, so the launcher needs no separate call for them. They are
    ignored with O(state=absent). The files' contents are never logged or returned.
author:
  - ULHPC workspace developers (@ULHPC)
extends_documentation_fragment:
  - ulhpc.workspace.attributes
  - ulhpc.workspace.private_files
attributes:
  check_mode:
    support: full
    details: Reports whether it would submit or cancel (C(changed)), and does neither.
  diff_mode:
    support: full
    details: Shows the script of the job that would be replaced (when Slurm still has it) and the new one.
options:
  name:
    description:
      - Job name (C(sbatch --job-name)); the job is known by it for the calling user.
      - Only letters, digits, C(_), C(.) and C(-).
      - Required unless O(jobs) is given; mutually exclusive with it.
    type: str
  jobs:
    description:
      - Several jobs in one call, each a dict of the options that differ between them, over the
        module's own values - C(name) (required), C(script) or C(content), C(script_file),
        C(ready_file), C(lock), C(argv_file), C(timeout), C(comment), C(chdir), C(environment), and
        the sbatch options (C(time), C(partition), C(account), ..., as the options of the same names),
        each checked as that option is. Every other option (O(state), O(replace), O(on_timeout), the
        private files...) is the call's.
      - Every job is checked before anything changes. Then each is found or submitted (cancelling
        a replaced one first) in the order given, and only then is each waited for, up to its own
        timeout, so the jobs start together. The first error stops the call, naming the job.
      - The private files (O(directories), O(files), O(links)) are the call's, written once before
        the first submission. A job holds no secret (the module does not keep a job's keys out of
        the logs).
      - The result is RV(jobs), one result per job in the order given, with RV(changed_paths).
    type: list
    elements: dict
    version_added: "0.2.0"
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
  nodelist:
    description: C(sbatch --nodelist), for example C(node1) or C(node[1-3]).
    type: str
    version_added: 0.2.0
  exclude:
    description: C(sbatch --exclude), nodes the job must not run on.
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
  lock:
    description:
      - A file (created 0600) to lock while the module looks for the job and submits it, so that
        two concurrent runs (two terminals, two login nodes sharing C($HOME)) never submit it twice.
        The second run waits, then finds the first one's job by name and fingerprint.
      - The lock is a POSIX record lock (C(fcntl.lockf)), which NFS clients forward to the server.
      - With a lock, the module also looks again after submitting. Where locks do not work, two
        jobs submitted at the same time are reduced to one, the one with the lowest id, and a run
        whose rival has other settings cancels its own job and fails.
    type: path
  lock_timeout:
    description: Seconds to wait for O(lock) before failing with the holder's host and pid.
    type: int
    default: 120
  argv_file:
    description:
      - Write the C(sbatch) command line (NUL-separated, without the script; mode C(0600)) to
        this file when the module submits or finds the job, so that the job can submit its own
        successor (the workspace's walltime continuity). Rewritten only when it changes.
    type: path
  script_file:
    description:
      - Write the job's script (O(content), or a copy of O(script)) to this file, mode C(0700), when
        the module submits or finds the job. A job submits its own successor with this script, and
        a user can read it there. Rewritten only when it changes, so a warm run needs no separate
        M(ansible.builtin.copy) task.
    type: path
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
  returned: always (with O(jobs), in each item of RV(jobs))
  type: str
  sample: "1234"
name:
  description: The job name.
  returned: always (with O(jobs), in each item of RV(jobs))
  type: str
  sample: ws-default-redis
state:
  description: >-
    The Slurm state last seen (PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, CANCELLED,
    OUT_OF_MEMORY, NODE_FAIL, UNKNOWN...); null when there is no job.
  returned: always (with O(jobs), in each item of RV(jobs))
  type: str
  sample: RUNNING
nodes:
  description: The nodes of the job, expanded.
  returned: always (with O(jobs), in each item of RV(jobs))
  type: list
  elements: str
  sample: [node01, node02]
exit_code:
  description: The exit code once the job has ended (the highest of the tasks of an array), else null.
  returned: always (with O(jobs), in each item of RV(jobs))
  type: int
  sample: 0
signal:
  description: The signal that ended the job (0 for none) once it has ended, else null.
  returned: always (with O(jobs), in each item of RV(jobs))
  type: int
  sample: 0
reason:
  description: Slurm's reason (the pending reason while it waits, for example C(Resources) or C(BeginTime)).
  returned: always (with O(jobs), in each item of RV(jobs))
  type: str
  sample: None
stdout_path:
  description: The job's output file.
  returned: always (with O(jobs), in each item of RV(jobs))
  type: str
  sample: /home/user/slurm-1234.out
stderr_path:
  description: The job's error file (the output file unless O(error) was given).
  returned: always (with O(jobs), in each item of RV(jobs))
  type: str
  sample: /home/user/slurm-1234.out
stdout_tail:
  description: The last lines of the output file, when the job failed or did not become ready.
  returned: always (with O(jobs), in each item of RV(jobs))
  type: list
  elements: str
  sample: ["starting", "error: port in use"]
stderr_tail:
  description: The last lines of the error file when it is not the output file, on failure.
  returned: always (with O(jobs), in each item of RV(jobs))
  type: list
  elements: str
  sample: []
submit_time:
  description: Submission time (local time of the cluster).
  returned: always (with O(jobs), in each item of RV(jobs))
  type: str
  sample: "2026-11-24T10:00:00"
start_time:
  description: Start time, null while pending.
  returned: always (with O(jobs), in each item of RV(jobs))
  type: str
  sample: "2026-11-24T10:00:01"
end_time:
  description: End time (the expected end while it runs), null while pending.
  returned: always (with O(jobs), in each item of RV(jobs))
  type: str
  sample: "2026-11-24T12:00:01"
time_limit:
  description: The time limit as C([D-]HH:MM:SS), or C(UNLIMITED).
  returned: always (with O(jobs), in each item of RV(jobs))
  type: str
  sample: "02:00:00"
elapsed:
  description: Seconds the job has run.
  returned: always (with O(jobs), in each item of RV(jobs))
  type: int
  sample: 42
time_left:
  description: Seconds of walltime left while it runs; null otherwise or when unlimited.
  returned: always (with O(jobs), in each item of RV(jobs))
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
  returned: always (with O(jobs), in each item of RV(jobs))
  type: raw
  sample: {"service": "redis", "host": "node01", "port": 64234}
submitted:
  description: Whether this run submitted a job (false in check mode).
  returned: always (with O(jobs), in each item of RV(jobs))
  type: bool
  sample: true
successors:
  description:
    - The other active jobs of this name and fingerprint, queued behind RV(job_id), which is the
      running one, else the oldest. These are the successors of walltime continuity.
  returned: always (with O(jobs), in each item of RV(jobs))
  type: list
  elements: str
  sample: ["1236"]
jobs:
  description:
    - With O(jobs), each job's result in the order given, with the keys this module returns for one
      job (RV(job_id), RV(name), RV(state), RV(ready), RV(waiting)...). The call's C(changed) is true when
      a job or a private file changed; RV(queries) and RV(waited) are the call's.
  returned: when O(jobs) is given
  type: list
  elements: dict
  sample: [{"job_id": "1234", "name": "ws-default-celery-worker-1", "state": "RUNNING", "changed": false}]
changed_paths:
  description:
    - The call's private paths (O(directories), O(files), O(links)) made, written or linked before the
      first submission; in check mode, those a run would change.
  returned: always
  type: list
  elements: str
  sample: [/home/user/.ulhpc/workspaces/default/config/celery.ini]
cancelled:
  description: Ids of the jobs this run cancelled (or would cancel, in check mode).
  returned: always (with O(jobs), in each item of RV(jobs))
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
  returned: always (with O(jobs), in each item of RV(jobs))
  type: str
  sample: "2026-11-24T10:30:00"
waiting:
  description: >-
    True when O(on_timeout=return) and O(timeout) passed with the job still active and not
    ready: call the module again to keep waiting.
  returned: always (with O(jobs), in each item of RV(jobs))
  type: bool
  sample: false
waited:
  description: Seconds spent waiting.
  returned: always
  type: float
  sample: 3.2
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ulhpc.workspace.plugins.module_utils import _private_files
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm_options as options_table
from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_client import SlurmCommandError, SlurmUnreachable
from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_job import SlurmJob, SlurmJobError
from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_job_batch import missing_script, run_jobs


def main():
    # The sbatch options come from the table; these are the module's own.
    spec = options_table.argument_spec()
    spec.update(
        name=dict(type="str"),
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
        lock=dict(type="path"),
        lock_timeout=dict(type="int", default=120),
        argv_file=dict(type="path"),
        script_file=dict(type="path"),
        jobs=dict(type="list", elements="dict"),
    )
    spec.update(_private_files.argument_spec())
    module = AnsibleModule(
        argument_spec=spec,
        mutually_exclusive=[("script", "content"), ("name", "jobs")],
        required_one_of=[("name", "jobs")],
        supports_check_mode=True,
    )
    if module.params["jobs"] is not None:
        result, error = run_jobs(module, spec)
        if error:
            module.fail_json(msg=error, **result)
        module.exit_json(**result)
    missing = missing_script(module.params)
    if missing:
        module.fail_json(msg=missing)
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
