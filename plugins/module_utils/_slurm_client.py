# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ulhpc.workspace developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A thin client of the Slurm commands over ``module.run_command`` (argv lists only).

One scheduler query per poll whatever the number of awaited jobs; adaptive
polling; transient controller errors retried until the deadline and then
reported as an unreachable scheduler, never as a vanished job.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import pwd
import time

from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm as slurm
from ansible_collections.ulhpc.workspace.plugins.module_utils._local import tail

FIRST_POLL_INTERVAL = 0.2
POLL_BACKOFF = 2.5  # 0.2, 0.5, 1.25, 3.1, then poll_interval: 15 queries in the first minute at 5 s
READY_FILE_TICK = 0.05
TAIL_LINES = 20


class SlurmUnreachable(Exception):
    """The controller did not answer (slurmctld down, timeouts...)."""


class SlurmCommandError(Exception):
    """A Slurm command failed for a non-transient reason."""

    def __init__(self, argv, rc, stdout, stderr):
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr
        message = (stderr or stdout or "").strip() or "exit code %s" % rc
        super(SlurmCommandError, self).__init__(message)


def current_user():
    return pwd.getpwuid(os.geteuid()).pw_name


class WaitResult(object):
    """What a wait ended with."""

    def __init__(self):
        self.jobs = {}            # base id -> summary job (last seen)
        self.done = False         # the condition was met
        self.timed_out = False
        self.unreachable = None   # last transient error text while the deadline passed
        self.ready = None         # parsed ready file
        self.ready_found = False
        self.waited = 0.0


class SlurmClient(object):
    """Runs squeue/sbatch/scancel/scontrol/sacct through an AnsibleModule."""

    def __init__(self, module, clock=None, sleep=None):
        self.module = module
        self.clock = clock or time.monotonic
        self.sleep = sleep or time.sleep
        self.queries = 0
        self.user = current_user()
        self._bins = {}
        self._use_json = None
        self._accounting = None
        self._version = None

    # ------------------------------------------------------------------ basics
    def bin(self, name):
        if name not in self._bins:
            self._bins[name] = self.module.get_bin_path(name, required=True)
        return self._bins[name]

    def run(self, argv, data=None, env=None, cwd=None, count=True):
        if count:
            self.queries += 1
        environ = {"LC_ALL": "C", "LANG": "C"}
        if env:
            environ.update(env)
        kwargs = {"environ_update": environ}
        if data is not None:
            kwargs["data"] = data
            kwargs["binary_data"] = True
        if cwd:
            kwargs["cwd"] = cwd
        rc, out, err = self.module.run_command(argv, **kwargs)
        return rc, out or "", err or ""

    def version(self):
        """Slurm's version tuple (from ``squeue --version``; no controller contact)."""
        if self._version is None:
            rc, out, err = self.run([self.bin("squeue"), "--version"], count=False)
            self._version = slurm.parse_slurm_version(out if rc == 0 else "") or ()
        return self._version

    def use_json(self):
        if self._use_json is None:
            self._use_json = slurm.squeue_has_json(self.version())
        return self._use_json

    # ----------------------------------------------------------------- queries
    def squeue(self, user=None, name=None):
        """Every job squeue knows (active and recently finished), as raw records.

        One command.  With ``--json`` Slurm up to 23.02 ignores filters, so
        filtering is done here in both modes.  Raises SlurmUnreachable.
        """
        if self.use_json():
            argv = [self.bin("squeue"), "--json"]
            rc, out, err = self.run(argv)
            if rc == 0:
                try:
                    jobs = slurm.parse_squeue_json(out)
                except slurm.SlurmReportedError as exc:
                    # 22.05 prints {"errors": [{"description": "Failed while looking for
                    # jobs", "source": "slurm_load_jobs"}]} with exit code 0 when the
                    # controller is down: retry like any transient error
                    raise SlurmUnreachable("%s %s" % (exc, err.strip()))
                except slurm.SlurmParseError:
                    if slurm.is_transient_error(out + err):
                        raise SlurmUnreachable((err or out).strip())
                    self._use_json = False  # e.g. no data_parser plugin: use text from now on
                    return self.squeue(user=user, name=name)
                return self._filter(jobs, user, name)
            if slurm.is_transient_error(err + out):
                raise SlurmUnreachable((err or out).strip())
            if "json" in (err + out).lower() or "unrecognized option" in (err + out).lower():
                self._use_json = False
                return self.squeue(user=user, name=name)
            raise SlurmCommandError(argv, rc, out, err)
        argv = [self.bin("squeue"), "--noheader", "--states=all", "--format=" + slurm.SQUEUE_TEXT_FORMAT]
        if user:
            argv.append("--user=" + user)
        if name:
            argv.append("--name=" + name)
        rc, out, err = self.run(argv)
        if rc != 0:
            if slurm.is_transient_error(err + out):
                raise SlurmUnreachable((err or out).strip())
            raise SlurmCommandError(argv, rc, out, err)
        return self._filter(slurm.parse_squeue_text(out), user, name)

    @staticmethod
    def _filter(jobs, user, name):
        return [j for j in jobs
                if (not user or j.get("user") == user) and (not name or j.get("name") == name)]

    def lookup_finished(self, job_id):
        """Records of a job squeue no longer lists: sacct, else scontrol, else []."""
        if self._accounting is not False:
            sacct = self.module.get_bin_path("sacct")
            if not sacct:
                self._accounting = False
            else:
                argv = [sacct, "--allocations", "--parsable2", "--noheader",
                        "--format=" + slurm.SACCT_FORMAT, "--jobs=" + str(job_id)]
                rc, out, err = self.run(argv)
                if rc == 0:
                    self._accounting = True
                    try:
                        jobs = slurm.parse_sacct(out)
                    except slurm.SlurmParseError:
                        jobs = []
                    if jobs:
                        return jobs
                elif slurm.is_no_accounting_error(err + out):
                    self._accounting = False
                elif slurm.is_transient_error(err + out):
                    raise SlurmUnreachable((err or out).strip())
        argv = [self.bin("scontrol"), "show", "job", str(job_id)]
        rc, out, err = self.run(argv)
        if rc == 0:
            return slurm.parse_scontrol_job(out)
        if slurm.is_invalid_job_error(err + out):
            return []
        if slurm.is_transient_error(err + out):
            raise SlurmUnreachable((err or out).strip())
        return []

    def query(self, ids, user=None):
        """Summary jobs (arrays merged) of the given base ids: one squeue, plus one
        lookup per job squeue does not list any more.  Unknown ids get state UNKNOWN."""
        ids = [str(i) for i in ids]
        records = self.squeue(user=user)
        found = {}
        for job in slurm.group_jobs([j for j in records if slurm.base_job_id(j) in ids]):
            found[slurm.base_job_id(job)] = job
        for job_id in ids:
            if job_id in found:
                continue
            looked = slurm.group_jobs(self.lookup_finished(job_id))
            if looked:
                found[job_id] = looked[0]
            else:
                unknown = dict((k, None) for k in slurm.JOB_KEYS)
                unknown.update({"job_id": job_id, "state": "UNKNOWN", "nodes": [],
                                "reason": "the scheduler no longer knows this job"})
                found[job_id] = unknown
        return found

    def jobs_named(self, name, user=None):
        """Summary jobs with this name (arrays merged), newest first."""
        records = self.squeue(user=user or self.user, name=name)
        jobs = slurm.group_jobs(records)
        jobs.sort(key=lambda j: int(j["job_id"]) if str(j["job_id"]).isdigit() else 0, reverse=True)
        return jobs

    def batch_script(self, job_id):
        """The script of an active job (``scontrol write batch_script ID -``), or None."""
        rc, out, err = self.run([self.bin("scontrol"), "write", "batch_script", str(job_id), "-"])
        return out if rc == 0 else None

    # ----------------------------------------------------------------- actions
    def submit(self, argv, data=None, env=None, cwd=None):
        """Run sbatch; returns the job id.  Raises SlurmUnreachable/SlurmCommandError."""
        rc, out, err = self.run(argv, data=data, env=env, cwd=cwd)
        if rc != 0:
            if slurm.is_transient_error(err + out):
                raise SlurmUnreachable(slurm.sbatch_error_message(err or out))
            raise SlurmCommandError(argv, rc, out, slurm.sbatch_error_message(err) or err)
        try:
            return slurm.parse_sbatch_output(out)[0]
        except slurm.SlurmParseError as exc:
            raise SlurmCommandError(argv, rc, out, str(exc))

    def cancel(self, ids, signal=None):
        argv = [self.bin("scancel")]
        if signal:
            argv += ["--signal=" + signal, "--full"]
        argv += [str(i) for i in ids]
        rc, out, err = self.run(argv)
        if rc != 0:
            text = err + out
            if slurm.is_transient_error(text):
                raise SlurmUnreachable(text.strip())
            # a job that ended meanwhile is not an error
            if "already completing or completed" in text.lower() or slurm.is_invalid_job_error(text):
                return
            raise SlurmCommandError(argv, rc, out, err)

    # ------------------------------------------------------------------ waiting
    def wait(self, ids, condition, timeout, poll_interval, ready_file=None, user=None,
             first=None):
        """Poll until ``condition(jobs)`` is true for the summary jobs of ``ids``.

        ``condition`` gets ``{id: job}`` and returns True (done).  With
        ``ready_file`` the file is checked every READY_FILE_TICK seconds between
        the scheduler queries (a stat is not a scheduler query) and its
        appearance (with the right job id, when it names one) also ends the wait.
        ``first`` is an already known answer for the first poll.
        """
        result = WaitResult()
        start = self.clock()
        deadline = start + max(0, timeout)
        interval = min(FIRST_POLL_INTERVAL, poll_interval)
        next_query = start
        jobs = first
        while True:
            now = self.clock()
            if ready_file and not result.ready_found:
                found, content = read_ready_file(ready_file, ids)
                if found:
                    result.ready_found, result.ready = True, content
                    # the returned state and nodes must be current: reuse the last answer
                    # when it already said RUNNING, else ask once more
                    last = result.jobs
                    if not last or any(j.get("state") != "RUNNING" for j in last.values()):
                        try:
                            result.jobs = self.query(ids, user=user)
                        except SlurmUnreachable as exc:
                            result.unreachable = str(exc)
                    result.done = True
                    result.waited = self.clock() - start
                    return result
            if jobs is None and now >= next_query:
                try:
                    jobs = self.query(ids, user=user)
                    result.unreachable = None
                except SlurmUnreachable as exc:
                    result.unreachable = str(exc)
                next_query = now + interval
                interval = min(interval * POLL_BACKOFF, poll_interval)
            if jobs is not None:
                result.jobs = jobs
                if condition(jobs):
                    result.done = True
                    result.waited = self.clock() - start
                    return result
                jobs = None
            now = self.clock()
            if now >= deadline:
                result.timed_out = True
                result.waited = now - start
                return result
            pause = min(next_query, deadline) - now
            if ready_file:
                pause = min(pause, READY_FILE_TICK)
            self.sleep(max(pause, 0.01))


def read_ready_file(path, ids=None):
    """(found, content) of a ready file: parsed JSON, else its raw text.

    A JSON object naming a ``job_id`` that is not one of ``ids`` is stale (an
    earlier job's) and counts as not found; so does an empty file.
    """
    try:
        with open(path, "r") as handle:
            text = handle.read()
    except (IOError, OSError):
        return False, None
    if not text.strip():
        return False, None
    try:
        content = json.loads(text)
    except ValueError:
        return True, text
    if ids and isinstance(content, dict) and content.get("job_id") not in (None, ""):
        if str(content["job_id"]).partition("_")[0] not in [str(i) for i in ids]:
            return False, None
    return True, content


def read_tail(path, lines=TAIL_LINES, max_bytes=65536):
    """The last lines of a file, [] when it cannot be read."""
    if not path:
        return []
    return tail(path, lines, max_bytes)
