# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The slurm_job module's work: one named job compared by fingerprint, submitted, waited
for and cancelled."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import pwd
import re
import stat

from ansible_collections.ulhpc.workspace.plugins.module_utils import _private_files
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm as slurm
from ansible_collections.ulhpc.workspace.plugins.module_utils._local import write_private_file
from ansible_collections.ulhpc.workspace.plugins.module_utils._lock import FileLock, LockTimeout
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
    """One named job: compare, submit, wait, cancel. ``params`` are the module's (one job) or
    a job's of the option jobs; ``files`` the call's _private_files.PlannedFiles, made here for one job."""

    def __init__(self, module, client=None, params=None, files=None):
        self.module = module
        self.p = params if params is not None else module.params
        self.client = client or SlurmClient(module)
        # A job of a batch leaves the files' changes to the call's result.
        self.files, self.own_files = files, files is None
        self.result = {
            "changed": False, "job_id": None, "name": self.p["name"], "state": None, "nodes": [],
            "exit_code": None, "signal": None, "reason": None, "stdout_path": None,
            "stderr_path": None, "stdout_tail": [], "stderr_tail": [], "submit_time": None,
            "start_time": None, "end_time": None, "time_limit": None, "elapsed": None,
            "time_left": None, "ready": None, "submitted": False, "cancelled": [], "successors": [],
            "queries": 0, "waited": 0.0, "expected_start": None, "waiting": False, "changed_paths": [],
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
        if p.get("lock_timeout", 0) < 0:
            raise SlurmJobError("lock_timeout must be >= 0 seconds, got %d" % p["lock_timeout"])
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
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)):
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

    def write_argv_file(self, argv):
        """The sbatch command line, NUL-separated, in argv_file: a service job submits its own
        successor with it."""
        self.keep_file("argv_file", b"".join(arg.encode("utf-8") + b"\0" for arg in argv), 0o600)

    def keep_file(self, key, data, mode):
        """data in the file of option key, with mode, replaced atomically and only when it
        differs (a warm run rewrites nothing)."""
        path = self.p[key]
        try:
            with open(path, "rb") as handle:
                if handle.read() == data and stat.S_IMODE(os.fstat(handle.fileno()).st_mode) == mode:
                    return
        except (IOError, OSError):
            pass
        try:
            write_private_file(path, data, mode)
        except (IOError, OSError) as exc:
            raise SlurmJobError("cannot write %s %s: %s" % (key, path, exc))

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
        # Only a running job can be signalled (Slurm refuses a pending one: "Job can not be
        # altered now"); the others are cancelled first, at once: a successor queued behind a
        # running job (--dependency=singleton) would otherwise start when that job ends.
        running = [j["job_id"] for j in active if slurm.normalize_state(j["state"]) == "RUNNING"]
        if p["cancel_signal"] and running:
            waiting = [i for i in ids if i not in running]
            if waiting:
                self.retrying(self.client.cancel, waiting)
            remaining = running
            try:
                self.retrying(self.client.cancel, running, p["cancel_signal"])
            except SlurmCommandError:
                pass  # it stopped running meanwhile: the plain scancel below decides
            else:
                res = self.client.wait(running, gone, min(p["cancel_grace"], p["timeout"]), p["poll_interval"],
                                       user=self.client.user)
                self.result["waited"] += res.waited
                remaining = [i for i in running if i not in res.jobs or slurm.is_active(res.jobs[i]["state"])]
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
        job_id, first = self.start()
        if job_id is None:
            return self.result
        return self.wait(job_id, first)

    def start(self):
        """(job id, first known answer or None) of the job found or submitted, to wait for."""
        # Look and submit under the lock, then wait without it: a concurrent run of the same
        # play waits only for the submission, then finds this job by name and fingerprint.
        if self.p["lock"] and not self.module.check_mode:
            try:
                with FileLock(self.p["lock"], self.p["lock_timeout"]) as held:
                    job_id, first = self.find_or_submit()
                    self.result["waited"] += held.waited
            except LockTimeout as exc:
                raise SlurmJobError(str(exc))
            except (IOError, OSError) as exc:
                raise SlurmJobError("cannot lock %s: %s" % (self.p["lock"], exc))
        else:
            job_id, first = self.find_or_submit()
        return job_id, first

    def keep_files(self):
        """The private files in place (their changes counted here for one job only)."""
        paths = self.files.keep()
        if self.own_files:
            self.result["changed_paths"] = paths
            if paths:
                self.result["changed"] = True

    def find_or_submit(self):
        """(job id, first known answer or None) of the job to wait for; (None, None) in check mode."""
        p = self.p
        # The service's private files (its configuration): checked before anything changes,
        # written once a replaced job is gone and before its successor is submitted.
        if self.files is None:
            self.files = _private_files.PlannedFiles(self.module, "slurm_job %s" % p["name"])
        script = self.script_text()
        fp = slurm.fingerprint(script, self.options())
        self.result["fingerprint"] = fp
        jobs = self.retrying(self.client.jobs_named, p["name"])
        active = [j for j in jobs if slurm.is_active(j["state"])]
        same = [j for j in active if slurm.split_comment(j.get("comment"))[0] == fp]
        other = [j for j in active if j not in same]
        # The job in charge is the running one, else the oldest: with workspace continuation the
        # others are its successors, queued behind it (--dependency=singleton).
        same.sort(key=lambda j: (slurm.normalize_state(j["state"]) != "RUNNING", slurm.job_order(j["job_id"])))
        job = same[0] if same else None
        self.result["successors"] = [j["job_id"] for j in same[1:]]
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
            self.keep_files()
            return None, None
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
        self.keep_files()
        if p["argv_file"]:
            self.write_argv_file(self.sbatch_argv(fp))
        if p["script_file"]:
            self.keep_file("script_file", script, 0o700)
        if job is not None:
            return job["job_id"], {job["job_id"]: job}
        known = set(j["job_id"] for j in active)
        job_id = self.submit(script, fp)
        self.result.update(changed=True, submitted=True, job_id=job_id, state="PENDING")
        if p["lock"]:
            job_id = self.keep_one(job_id, fp, known)
        return job_id, None

    def keep_one(self, job_id, fp, known):
        """After a submission under the lock, the job to keep when a concurrent run submitted
        the same one anyway: a file system without working locks, or a run on another machine
        whose lock did not reach this one. Of the jobs of this name that appeared
        meanwhile, the oldest (lowest id) with this fingerprint wins and the others are
        cancelled, so every run ends up waiting for the same job. One with another fingerprint
        is a concurrent run with other settings: this run leaves the field to it and fails."""
        try:
            jobs = self.retrying(self.client.jobs_named, self.p["name"])
        except SlurmUnreachable:
            return job_id  # cannot look: the service's own instance lock still keeps it single
        rivals = [j for j in jobs if slurm.is_active(j["state"]) and j["job_id"] != job_id
                  and j["job_id"] not in known]
        if not rivals:
            return job_id
        same = sorted((j for j in rivals if slurm.split_comment(j.get("comment"))[0] == fp),
                      key=lambda j: slurm.job_order(j["job_id"]))
        if same and slurm.job_order(same[0]["job_id"]) < slurm.job_order(job_id):
            self.retrying(self.client.cancel, [job_id])
            self.result.update(submitted=False, job_id=same[0]["job_id"], cancelled=self.result["cancelled"] + [job_id])
            return same[0]["job_id"]
        other = [j for j in rivals if j not in same]
        if other:
            self.retrying(self.client.cancel, [job_id])
            raise SlurmJobError(
                "another run submitted job %s named %s with other settings (fingerprint %s) while this "
                "run submitted job %s (fingerprint %s); this run cancelled its own job. Run one play "
                "at a time for a workspace, then re-run this one"
                % (other[0]["job_id"], self.p["name"], slurm.split_comment(other[0].get("comment"))[0] or "none",
                   job_id, fp))
        return job_id

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
