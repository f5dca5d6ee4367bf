"""Harness for the slurm_job/slurm_job_info unit tests: scripted run_command asserting exact argv,
fake clock. conftest.py beside it makes its `clock` and `run_module` fixtures."""
import json
import os


from ansible.module_utils import basic
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm_client

from fake_clock import FakeClock
from module_harness import call_main, patch_exits


class ScriptedRunner(object):
    """Replays expected commands: each step is a dict with argv (exact), rc, out, err and
    optionally data (exact stdin), env (subset of environ_update) and an `effect` callable."""

    def __init__(self, steps):
        self.steps = list(steps)
        self.calls = []

    def __call__(self, module, argv, **kwargs):
        self.calls.append((list(argv), kwargs))
        assert self.steps, "unexpected command %r" % (argv,)
        step = self.steps[0] if self.steps[0].get("sticky") else self.steps.pop(0)
        assert list(argv) == step["argv"], "argv %r != expected %r" % (argv, step["argv"])
        if "data" in step:
            assert kwargs.get("data") == step["data"]
        for key, value in (step.get("env") or {}).items():
            assert kwargs.get("environ_update", {}).get(key) == value
        if step.get("effect"):
            step["effect"]()
        return step.get("rc", 0), step.get("out", ""), step.get("err", "")


def install_clock(monkeypatch):
    """Replace the client's monotonic clock and sleep by a FakeClock (returned)."""
    fake = FakeClock(start=1000.0)
    monkeypatch.setattr(_slurm_client.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(_slurm_client.time, "sleep", fake.sleep)
    return fake


def make_runner(monkeypatch, tmp_path, clock):
    """run(module, args, steps, check=False, diff=False, bins=None) -> (result, runner).

    ``clock`` (from install_clock) is kept as ``run.clock``."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(_slurm_client, "current_user", lambda: "alice")

    def run(mod, args, steps, check=False, diff=False, bins=None):
        runner = ScriptedRunner(steps)
        available = bins if bins is not None else ("squeue", "sbatch", "scancel", "scontrol")

        def get_bin_path(self, name, required=False, opt_dirs=None):
            if name in available:
                return "/usr/bin/" + name
            if required:
                self.fail_json(msg="Failed to find required executable %s" % name)
            return None

        def run_command(self, argv, **kwargs):
            return runner(self, argv, **kwargs)

        monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
        patch_exits(monkeypatch)
        result = call_main(mod.main, args, check=check, diff=diff)
        left = [s["argv"] for s in runner.steps if not s.get("sticky")]
        assert not left, "commands not run: %r" % left
        return result, runner

    run.clock = clock
    return run


def squeue_json(*jobs):
    """squeue --json output (22.05 layout) of minimal job records."""
    records = []
    for job in jobs:
        record = {
            "job_id": int(job["id"]), "array_job_id": job.get("array_job_id", 0),
            "array_task_id": job.get("array_task_id"), "array_task_string": job.get("array_task_string", ""),
            "name": job.get("name", "svc"), "user_name": job.get("user", "alice"),
            "job_state": job.get("state", "PENDING"), "state_reason": job.get("reason", "None"),
            "exit_code": job.get("exit_code", 0), "nodes": job.get("nodes", ""),
            "comment": job.get("comment", ""), "current_working_directory": job.get("cwd", os.environ.get("HOME", "/home/alice")),
            "standard_output": job.get("stdout", ""), "standard_error": job.get("stderr", ""),
            "submit_time": 1795511336, "start_time": job.get("start", 0), "end_time": job.get("end", 0),
            "time_limit": job.get("time_limit"), "partition": "batch",
        }
        records.append(record)
    return json.dumps({"meta": {}, "errors": [], "jobs": records})
