# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The slurm_job_info module's work: the jobs that match, with one scheduler query."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm as slurm
from ansible_collections.ulhpc.workspace.plugins.module_utils._slurm_client import SlurmClient


class SlurmJobInfo(object):
    def __init__(self, module, client=None):
        self.module = module
        self.p = module.params
        self.client = client or SlurmClient(module)

    def states(self):
        wanted = set()
        for item in self.p["state"] or []:
            word = item.strip()
            if word.lower() == "active":
                wanted |= slurm.ACTIVE_STATES
            elif word.lower() == "finished":
                wanted |= slurm.FINISHED_STATES
            else:
                wanted.add(slurm.normalize_state(word))
        return wanted

    def run(self):
        p = self.p
        user = None if p["all_users"] else (p["user"] or self.client.user)
        ids = [str(i).partition("_")[0] for i in (p["job_id"] or [])]
        if ids:
            found = self.client.query(ids, user=user)
            jobs = [found[i] for i in ids if found[i]["state"] != "UNKNOWN" or found[i].get("name")]
        else:
            jobs = slurm.group_jobs(self.client.squeue(user=user, name=p["name"]))
        wanted = self.states()
        result = []
        for job in jobs:
            if p["name"] and job.get("name") != p["name"]:
                continue
            if user and ids and job.get("user") not in (None, user):
                continue
            if wanted and job["state"] not in wanted:
                continue
            public = slurm.public_job(job)
            for key in ("comment", "partition", "work_dir", "array_job_id", "array_task_id", "user"):
                public[key] = job.get(key)
            result.append(public)
        result.sort(key=lambda j: int(j["job_id"]) if str(j["job_id"]).isdigit() else 0, reverse=True)
        return {"changed": False, "jobs": result, "queries": self.client.queries}
