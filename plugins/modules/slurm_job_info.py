#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slurm_job_info
short_description: List Slurm jobs by id, name, user or state
version_added: 0.1.0
description:
  - Read-only query of Slurm jobs with one C(squeue) call (C(--json) where the installed
    Slurm has it), plus one C(sacct) or C(scontrol show job) lookup per requested O(job_id)
    that squeue no longer lists.
  - Array tasks are merged into one entry per array job, with the tasks under C(tasks).
author:
  - ULHPC workspace developers (@ULHPC)
extends_documentation_fragment:
  - ulhpc.workspace.attributes
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
options:
  job_id:
    description: Only these job ids (array job ids for arrays).
    type: list
    elements: str
  name:
    description: Only jobs with this name.
    type: str
  user:
    description:
      - Only jobs of this user. Defaults to the calling user.
      - Set O(all_users=true) instead to see the jobs of every user the scheduler shows you.
    type: str
  all_users:
    description: List the jobs of every user (O(user) must not be set).
    type: bool
    default: false
  state:
    description:
      - Only jobs in these states (C(PENDING), C(RUNNING), C(COMPLETED), ...; compact codes such
        as C(PD) or C(R) too), or the words C(active) (pending, running, completing...) and C(finished).
    type: list
    elements: str
seealso:
  - module: ulhpc.workspace.slurm_job
"""

EXAMPLES = r"""
- name: Find the Redis job of the workspace
  ulhpc.workspace.slurm_job_info:
    name: ws-default-redis
    state: [active]
  register: redis_jobs

- name: Look up jobs by id (finished ones too, through sacct or scontrol)
  ulhpc.workspace.slurm_job_info:
    job_id: ["1234", "1240"]
"""

RETURN = r"""
jobs:
  description: The jobs, newest first, with the keys that M(ulhpc.workspace.slurm_job) returns.
  returned: always
  type: list
  elements: dict
  sample:
    - job_id: "1234"
      name: ws-default-redis
      user: alice
      state: RUNNING
      reason: null
      nodes: [node01]
      exit_code: null
      signal: null
      stdout_path: /home/alice/.ulhpc/workspaces/default/logs/redis.log
      stderr_path: /home/alice/.ulhpc/workspaces/default/logs/redis.log
      submit_time: "2026-11-24T10:00:00"
      start_time: "2026-11-24T10:00:01"
      end_time: "2026-11-24T12:00:01"
      time_limit: "02:00:00"
      elapsed: 120
      time_left: 7080
      comment: "ulhpc:sha256:0123456789abcdef"
      partition: batch
      work_dir: /home/alice
      array_job_id: null
      array_task_id: null
      expected_start: null
queries:
  description: Number of scheduler commands run.
  returned: always
  type: int
  sample: 1
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm as slurm
from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_client import SlurmCommandError, SlurmUnreachable
from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_job_info import SlurmJobInfo


def main():
    module = AnsibleModule(
        argument_spec=dict(
            job_id=dict(type="list", elements="str"),
            name=dict(type="str"),
            user=dict(type="str"),
            all_users=dict(type="bool", default=False),
            state=dict(type="list", elements="str"),
        ),
        mutually_exclusive=[("user", "all_users")],
        supports_check_mode=True,
    )
    if module.params["name"] is not None and not slurm.JOB_NAME_RE.match(module.params["name"]):
        module.fail_json(msg="invalid job name %r: use only letters, digits, '_', '.' and '-'"
                         % module.params["name"])
    for job_id in module.params["job_id"] or []:
        if not str(job_id).partition("_")[0].isdigit():
            module.fail_json(msg="invalid job id %r: expected digits (or an array id such as 123_4)"
                             % job_id)
    # A misspelt state would filter every job out and look like "no such job".
    known = slurm.ACTIVE_STATES | slurm.FINISHED_STATES | frozenset(slurm.STATE_CODES.values())
    for word in module.params["state"] or []:
        if word.strip().lower() not in ("active", "finished") and slurm.normalize_state(word.strip()) not in known:
            module.fail_json(msg="unknown job state %r: use active, finished, a Slurm state such as PENDING or "
                                 "RUNNING, or its code such as PD or R" % word)
    info = SlurmJobInfo(module)
    try:
        module.exit_json(**info.run())
    except SlurmUnreachable as exc:
        module.fail_json(msg="scheduler unreachable: %s" % exc, queries=info.client.queries)
    except SlurmCommandError as exc:
        module.fail_json(msg="%s failed: %s" % (exc.argv[0], exc), queries=info.client.queries)


if __name__ == "__main__":
    main()
