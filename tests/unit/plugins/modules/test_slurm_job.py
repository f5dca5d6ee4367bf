"""slurm_job with a mocked run_command: exact argv, decisions, messages."""
import json
import time
import os
import stat

import pytest

from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm as slurm
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm_options as slurm_options
from ansible_collections.ulhpc.workspace.plugins.modules import slurm_job
from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm_job as slurm_job_utils

from slurm_harness import squeue_json

SQ = "/usr/bin/squeue"
SB = "/usr/bin/sbatch"
SC = "/usr/bin/scancel"
SCTL = "/usr/bin/scontrol"
SCRIPT = "#!/bin/bash\necho hello\n"
VERSION = {"argv": [SQ, "--version"], "out": "slurm-wlm 22.05.8\n"}
QUERY = [SQ, "--json"]
DOWN = json.dumps({"errors": [{"description": "Failed while looking for jobs", "error_number": -1,
                               "error": "Unspecified error", "source": "slurm_load_jobs"}], "jobs": []})


def fp_of(home, script=SCRIPT, **options):
    # The 0.1.0 set of keys: options added later count only when set (see _slurm_options).
    opts = dict((o.key, None) for o in slurm_options.OPTIONS if o.since == 0)
    opts.update(exclusive=False, chdir=str(home), comment=None, environment={}, extra_args=[])
    opts.update(options)
    return slurm.fingerprint(script.encode(), opts)


def sbatch(home, fp, *extra, **kwargs):
    argv = [SB, "--parsable", "--job-name=" + kwargs.pop("name", "svc"), "--comment=" + fp,
            "--chdir=" + str(home), "--export=ALL"] + list(extra)
    step = {"argv": argv, "out": kwargs.pop("out", "101\n")}
    step.update(kwargs)
    return step


def test_submit_new_job_with_content_on_stdin(run_module, tmp_path):
    fp = fp_of(tmp_path, time="01:00:00", cpus_per_task=2, mem="1G", environment={"A": "1"})
    result, runner = run_module(slurm_job, {
        "name": "svc", "content": SCRIPT, "time": "01:00:00", "cpus_per_task": 2, "mem": "1G",
        "environment": {"A": "1"}}, [
        VERSION,
        {"argv": QUERY, "out": squeue_json()},
        sbatch(tmp_path, fp, "--time=01:00:00", "--cpus-per-task=2", "--mem=1G",
               data=SCRIPT.encode(), env={"A": "1"}),
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp, "reason": "Priority"})},
    ])
    assert result["changed"] and result["submitted"] and not result["failed"] if "failed" in result else True
    assert (result["job_id"], result["state"], result["reason"]) == ("101", "PENDING", "Priority")
    assert result["fingerprint"] == fp and result["queries"] == 3
    assert result["stdout_path"] == str(tmp_path / "slurm-101.out")
    # the environment goes through sbatch's environment, never its argv
    assert not any("A=1" in arg for arg in runner.calls[2][0])


def test_submit_script_path_and_every_option(run_module, tmp_path):
    script = tmp_path / "job.sh"
    script.write_text(SCRIPT)
    opts = dict(partition="batch", account="acc", qos="normal", time="1-00:00", nodes="1-2", ntasks=4,
                cpus_per_task=2, mem="4G", gres="gpu:1", constraint="skylake", output="o-%j.log",
                error="e-%j.log", signal="B:TERM@60", dependency="afterok:7", array="1-3%2",
                comment="lab x", exclusive=True, extra_args=["--begin=now+1hour"])
    fp = fp_of(tmp_path, **opts)
    args = dict(opts, name="svc", script=str(script))
    _result, runner = run_module(slurm_job, args, [
        VERSION,
        {"argv": QUERY, "out": squeue_json()},
        {"argv": [SB, "--parsable", "--job-name=svc", "--comment=%s lab x" % fp, "--chdir=" + str(tmp_path),
                  "--export=ALL", "--partition=batch", "--account=acc", "--qos=normal", "--time=1-00:00",
                  "--nodes=1-2", "--ntasks=4", "--cpus-per-task=2", "--mem=4G", "--gres=gpu:1",
                  "--constraint=skylake", "--output=o-%j.log", "--error=e-%j.log", "--signal=B:TERM@60",
                  "--dependency=afterok:7", "--array=1-3%2", "--exclusive", "--begin=now+1hour", str(script)],
         "out": "102;cluster\n"},
        {"argv": QUERY, "out": squeue_json({"id": 102, "array_job_id": 102, "array_task_string": "1-3%2",
                                            "name": "svc", "comment": fp + " lab x"})},
    ])
    assert "data" not in runner.calls[2][1]


def test_same_fingerprint_is_not_resubmitted(run_module, tmp_path):
    fp = fp_of(tmp_path)
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT}, [
        VERSION,
        {"argv": QUERY, "out": squeue_json(
            {"id": 90, "name": "svc", "state": "COMPLETED", "comment": fp},
            {"id": 95, "name": "svc", "state": "RUNNING", "nodes": "n[1-2]", "comment": fp, "start": 1795511340},
            {"id": 96, "name": "svc", "state": "RUNNING", "user": "bob", "comment": "other"},
            {"id": 97, "name": "other", "state": "RUNNING"})},
    ])
    assert not result["changed"] and not result["submitted"]
    assert (result["job_id"], result["state"], result["nodes"]) == ("95", "RUNNING", ["n1", "n2"])
    assert result["queries"] == 1


def test_different_script_fails_without_replace(run_module, tmp_path):
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT}, [
        VERSION,
        {"argv": QUERY, "out": squeue_json({"id": 95, "name": "svc", "state": "RUNNING",
                                            "comment": "ulhpc:sha256:0000000000000000"})},
    ])
    assert result["failed"] and not result["changed"]
    assert "an active job named svc runs a different script" in result["msg"]
    assert "95 (RUNNING, fingerprint ulhpc:sha256:0000000000000000)" in result["msg"]
    assert "replace: true" in result["msg"]


def test_replace_cancels_then_submits(run_module, tmp_path):
    fp = fp_of(tmp_path)
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "replace": True}, [
        VERSION,
        {"argv": QUERY, "out": squeue_json({"id": 95, "name": "svc", "state": "RUNNING", "comment": "x"})},
        {"argv": [SC, "95"]},
        {"argv": QUERY, "out": squeue_json({"id": 95, "name": "svc", "state": "CANCELLED", "exit_code": 15})},
        sbatch(tmp_path, fp, data=SCRIPT.encode()),
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp})},
    ])
    assert result["changed"] and result["submitted"] and result["cancelled"] == ["95"]
    assert result["job_id"] == "101"


def test_check_mode_submits_nothing(run_module, tmp_path):
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "running"}, [
        VERSION, {"argv": QUERY, "out": squeue_json()}], check=True, diff=True)
    assert result["changed"] and not result["submitted"] and result["job_id"] is None
    assert result["diff"]["after"] == SCRIPT and result["diff"]["before"] == ""


def test_check_mode_existing_job_unchanged(run_module, tmp_path):
    fp = fp_of(tmp_path)
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "completed"}, [
        VERSION, {"argv": QUERY, "out": squeue_json({"id": 95, "name": "svc", "state": "PENDING", "comment": fp})}],
        check=True, diff=True)
    assert not result["changed"] and result["job_id"] == "95" and "diff" not in result


def test_check_mode_replace_shows_old_script(run_module, tmp_path):
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "replace": True}, [
        VERSION, {"argv": QUERY, "out": squeue_json({"id": 95, "name": "svc", "state": "RUNNING", "comment": "x"})},
        {"argv": [SCTL, "write", "batch_script", "95", "-"], "out": "#!/bin/bash\necho old\n"}],
        check=True, diff=True)
    assert result["changed"] and result["cancelled"] == ["95"] and not result["submitted"]
    assert result["diff"]["before"] == "#!/bin/bash\necho old\n" and result["diff"]["after"] == SCRIPT


def test_completed_failure_reports_state_code_reason_and_tail(run_module, tmp_path, clock):
    fp = fp_of(tmp_path)
    (tmp_path / "slurm-101.out").write_text("".join("line %d\n" % i for i in range(30)) + "boom\n")
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "completed"}, [
        VERSION, {"argv": QUERY, "out": squeue_json()},
        sbatch(tmp_path, fp),
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp, "state": "RUNNING"})},
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp, "state": "FAILED",
                                            "exit_code": 3 << 8, "reason": "NonZeroExitCode"})},
    ])
    assert result["failed"] and result["state"] == "FAILED" and result["exit_code"] == 3
    assert "job svc (101) is FAILED with exit code 3, reason: NonZeroExitCode" in result["msg"]
    assert result["stdout_tail"][-1] == "boom" and len(result["stdout_tail"]) == 20
    assert "boom" in result["msg"]
    assert clock.sleeps[0] == pytest.approx(0.2)


def test_completed_failure_allowed(run_module, tmp_path):
    fp = fp_of(tmp_path)
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "completed",
                                             "allow_failure": True}, [
        VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp),
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp, "state": "TIMEOUT",
                                            "exit_code": 0, "reason": "TimeLimit"})},
    ])
    assert not result.get("failed") and result["state"] == "TIMEOUT" and result["changed"]


def test_pending_past_timeout_reports_reason(run_module, tmp_path, clock):
    fp = fp_of(tmp_path)
    pending = {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp, "reason": "Resources"}),
               "sticky": True}
    steps = [VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp), pending]
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "running", "timeout": 3,
                                             "poll_interval": 1}, steps)
    assert result["failed"] and result["state"] == "PENDING" and result["reason"] == "Resources"
    assert "is PENDING, reason: Resources" in result["msg"] and "3 s" in result["msg"]


def test_on_timeout_return_leaves_the_pending_job_and_says_so(run_module, tmp_path, clock):
    """on_timeout=return: the wait ends without failing, the job is neither cancelled nor
    resubmitted, and the caller gets the reason and the scheduler's expected start."""
    fp = fp_of(tmp_path)
    pending = {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp, "reason": "BeginTime",
                                                  "start": 1795514936}), "sticky": True}
    steps = [VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp), pending]
    result, runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "running", "timeout": 3,
                                            "poll_interval": 1, "on_timeout": "return"}, steps)
    assert not result.get("failed") and result["waiting"] is True and result["changed"]
    assert result["state"] == "PENDING" and result["reason"] == "BeginTime"
    assert result["expected_start"] == time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(1795514936))
    assert result["waited"] >= 3
    assert not any("scancel" in argv[0] for argv, _kw in runner.calls)


def test_on_timeout_return_still_fails_a_job_that_ended(run_module, tmp_path, clock):
    fp = fp_of(tmp_path)
    failed = {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp, "state": "FAILED",
                                                 "exit_code": 256, "reason": "NonZeroExitCode"})}
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "running", "timeout": 3,
                                             "ready_file": str(tmp_path / "r.json"), "on_timeout": "return"},
                                 [VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp), failed])
    assert result["failed"] and result["waiting"] is False and "it ended before writing" in result["msg"]


def test_running_waits_for_ready_file(run_module, tmp_path, clock):
    fp = fp_of(tmp_path)
    ready = tmp_path / "svc.json"
    ready.write_text('{"job_id": "1"}')  # stale: removed before submitting

    def appear(clk):
        if clk.now >= 1001.0 and not ready.exists():
            ready.write_text(json.dumps({"job_id": "101", "port": 64101}))

    clock.on_sleep = appear
    running = {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp, "state": "RUNNING",
                                                  "nodes": "vm", "start": 1795511337})}
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "running",
                                             "ready_file": str(ready)},
                                 [VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp)]
                                 + [dict(running, sticky=True)])
    assert result["ready"] == {"job_id": "101", "port": 64101}
    assert result["state"] == "RUNNING" and result["nodes"] == ["vm"] and result["changed"]
    assert max(clock.sleeps) <= 0.05 + 1e-9  # the file is checked between queries


def test_ready_file_raw_text(run_module, tmp_path, clock):
    fp = fp_of(tmp_path)
    ready = tmp_path / "ready.txt"
    clock.on_sleep = lambda clk: ready.write_text("not json\n")
    running = {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp, "state": "RUNNING"})}
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "running",
                                             "ready_file": str(ready)},
                                 [VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp), dict(running, sticky=True)])
    assert result["ready"] == "not json\n"


def test_job_ending_before_ready_fails(run_module, tmp_path):
    fp = fp_of(tmp_path)
    (tmp_path / "slurm-101.out").write_text("address in use\n")
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "running",
                                             "ready_file": str(tmp_path / "r.json")}, [
        VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp),
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp, "state": "FAILED",
                                            "exit_code": 256})}])
    assert result["failed"] and "ended before writing" in result["msg"] and result["exit_code"] == 1
    assert result["stdout_tail"] == ["address in use"]


def test_unreachable_scheduler_is_not_a_vanished_job(run_module, tmp_path, clock):
    fp = fp_of(tmp_path)
    down = {"argv": QUERY, "out": DOWN, "sticky": True}
    steps = [VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp), down]
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "completed", "timeout": 10,
                                             "poll_interval": 2}, steps)
    assert result["failed"] and "scheduler unreachable" in result["msg"]
    assert "Failed while looking for jobs" in result["msg"] and "vanish" not in result["msg"]
    assert result["job_id"] == "101"


def test_scheduler_blip_during_wait_is_survived(run_module, tmp_path):
    fp = fp_of(tmp_path)
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "completed"}, [
        VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp),
        {"argv": QUERY, "out": DOWN},
        {"argv": QUERY, "rc": 1, "err": "slurm_load_jobs error: Socket timed out on send/recv operation"},
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp, "state": "COMPLETED"})}])
    assert not result.get("failed") and result["state"] == "COMPLETED" and result["exit_code"] == 0
    assert result["queries"] == 5


def test_purged_job_is_looked_up_with_scontrol(run_module, tmp_path):
    fp = fp_of(tmp_path)
    scontrol = ("JobId=101 JobName=svc\n   UserId=alice(1) GroupId=alice(1)\n   JobState=TIMEOUT Reason=TimeLimit "
                "Dependency=(null)\n   ExitCode=0:15\n   RunTime=00:01:00 TimeLimit=00:01:00\n   NodeList=vm\n"
                "   StdOut=/x/out\n")
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "completed"}, [
        VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp),
        {"argv": QUERY, "out": squeue_json()},
        {"argv": [SCTL, "show", "job", "101"], "out": scontrol}])
    assert result["failed"] and result["state"] == "TIMEOUT" and result["reason"] == "TimeLimit"
    assert result["signal"] == 15 and result["stdout_path"] == "/x/out"


def test_purged_job_uses_sacct_when_accounting_exists(run_module, tmp_path):
    fp = fp_of(tmp_path)
    line = "101|101|svc|alice|COMPLETED|0:0|None|vm|2026-11-24T10:00:00|2026-11-24T10:00:01|" \
           "2026-11-24T10:00:03|UNLIMITED|00:00:02|batch|/home/alice|%s\n" % fp
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "completed"}, [
        VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp),
        {"argv": QUERY, "out": squeue_json()},
        {"argv": ["/usr/bin/sacct", "--allocations", "--parsable2", "--noheader",
                  "--format=" + slurm.SACCT_FORMAT, "--jobs=101"], "out": line}],
        bins=("squeue", "sbatch", "scancel", "scontrol", "sacct"))
    assert not result.get("failed") and result["state"] == "COMPLETED" and result["elapsed"] == 2


def test_unknown_job_is_finished_unknown(run_module, tmp_path):
    fp = fp_of(tmp_path)
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "completed"}, [
        VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp),
        {"argv": QUERY, "out": squeue_json()},
        {"argv": ["/usr/bin/sacct", "--allocations", "--parsable2", "--noheader",
                  "--format=" + slurm.SACCT_FORMAT, "--jobs=101"], "rc": 1,
         "err": "Slurm accounting storage is disabled\n"},
        {"argv": [SCTL, "show", "job", "101"], "rc": 1, "err": "slurm_load_jobs error: Invalid job id specified\n"}],
        bins=("squeue", "sbatch", "scancel", "scontrol", "sacct"))
    assert result["failed"] and result["state"] == "UNKNOWN"
    assert "no longer knows" in result["msg"]


def test_text_mode_on_old_slurm(run_module, tmp_path):
    fp = fp_of(tmp_path)
    text_query = [SQ, "--noheader", "--states=all", "--format=" + slurm.SQUEUE_TEXT_FORMAT, "--user=alice"]
    sep = slurm.SQUEUE_TEXT_SEP
    line = sep.join(["101", "101", "N/A", "svc", "alice", "RUNNING", "None", "vm", "2026-11-24T09:00:00",
                     "2026-11-24T09:00:01", "2026-11-24T10:00:01", "1:00:00", "0:05", "batch", "/home/alice", fp])
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "running"}, [
        {"argv": [SQ, "--version"], "out": "slurm 20.11.9\n"},
        {"argv": text_query + ["--name=svc"], "out": ""},
        sbatch(tmp_path, fp),
        {"argv": text_query, "out": line + "\n"}])
    assert result["state"] == "RUNNING" and result["time_limit"] == "01:00:00" and result["elapsed"] == 5
    assert result["stdout_path"] == str(tmp_path / "slurm-101.out")


def test_sbatch_error_is_reported(run_module, tmp_path):
    fp = fp_of(tmp_path, partition="nosuch")
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "partition": "nosuch"}, [
        VERSION, {"argv": QUERY, "out": squeue_json()},
        sbatch(tmp_path, fp, "--partition=nosuch", rc=1, out="",
               err="sbatch: error: invalid partition specified: nosuch\n"
                   "sbatch: error: Batch job submission failed: Invalid partition name specified\n")])
    assert result["failed"] and not result["submitted"]
    assert result["msg"] == ("sbatch failed: invalid partition specified: nosuch; Batch job submission failed: "
                             "Invalid partition name specified")


def test_absent_with_signal_then_cancel(run_module, tmp_path):
    # The running job gets the signal and its grace; the pending one (Slurm refuses to signal
    # it: "Job can not be altered now") is cancelled at once.
    result, _runner = run_module(slurm_job, {"name": "svc", "state": "absent", "cancel_signal": "TERM",
                                             "cancel_grace": 1}, [
        VERSION, {"argv": QUERY, "out": squeue_json({"id": 95, "name": "svc", "state": "RUNNING"},
                                                    {"id": 96, "name": "svc", "state": "PENDING"})},
        # the waiting one first: a successor queued behind 95 would start when 95 ends
        {"argv": [SC, "96"]},
        {"argv": [SC, "--signal=TERM", "--full", "95"]},
        {"argv": QUERY, "out": squeue_json({"id": 95, "name": "svc", "state": "COMPLETED"})},
        {"argv": QUERY, "out": squeue_json({"id": 95, "name": "svc", "state": "COMPLETED"},
                                           {"id": 96, "name": "svc", "state": "CANCELLED"})}])
    assert result["changed"] and result["cancelled"] == ["96", "95"]


def test_absent_signal_refused_falls_back_to_cancel(run_module, tmp_path):
    result, _runner = run_module(slurm_job, {"name": "svc", "state": "absent", "cancel_signal": "TERM",
                                             "cancel_grace": 1}, [
        VERSION, {"argv": QUERY, "out": squeue_json({"id": 95, "name": "svc", "state": "RUNNING"})},
        {"argv": [SC, "--signal=TERM", "--full", "95"], "rc": 1,
         "err": "scancel: error: Kill job error on job id 95: Job can not be altered now, try again later\n"},
        {"argv": [SC, "95"]},
        {"argv": QUERY, "out": squeue_json({"id": 95, "name": "svc", "state": "CANCELLED"})}])
    assert result["changed"] and result["cancelled"] == ["95"] and not result.get("failed")


def test_absent_nothing_to_do(run_module):
    result, _runner = run_module(slurm_job, {"name": "svc", "state": "absent"}, [
        VERSION, {"argv": QUERY, "out": squeue_json({"id": 95, "name": "svc", "state": "COMPLETED"})}])
    assert not result["changed"] and result["cancelled"] == [] and result["job_id"] is None


def test_absent_check_mode(run_module):
    result, _runner = run_module(slurm_job, {"name": "svc", "state": "absent"}, [
        VERSION, {"argv": QUERY, "out": squeue_json({"id": 95, "name": "svc", "state": "RUNNING"})}], check=True)
    assert result["changed"] and result["cancelled"] == ["95"]


def test_array_job_completes_when_all_tasks_do(run_module, tmp_path):
    fp = fp_of(tmp_path, array="1-2")
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "completed", "array": "1-2"}, [
        VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp, "--array=1-2"),
        {"argv": QUERY, "out": squeue_json(
            {"id": 102, "array_job_id": 101, "array_task_id": 1, "name": "svc", "state": "COMPLETED", "comment": fp},
            {"id": 101, "array_job_id": 101, "array_task_id": 2, "name": "svc", "state": "RUNNING", "comment": fp})},
        {"argv": QUERY, "out": squeue_json(
            {"id": 102, "array_job_id": 101, "array_task_id": 1, "name": "svc", "state": "COMPLETED", "comment": fp},
            {"id": 101, "array_job_id": 101, "array_task_id": 2, "name": "svc", "state": "COMPLETED", "comment": fp})}])
    assert result["state"] == "COMPLETED" and result["job_id"] == "101"
    assert [t["job_id"] for t in result["tasks"]] == ["101_1", "101_2"]
    assert result["tasks"][0]["stdout_path"] == str(tmp_path / "slurm-101_1.out")


@pytest.mark.parametrize("args,message", [
    ({"name": "bad;name", "content": SCRIPT}, "invalid job name 'bad;name'"),
    ({"name": "a b", "content": SCRIPT}, "invalid job name"),
    ({"name": "$(reboot)", "content": SCRIPT}, "invalid job name"),
    ({"name": "svc", "content": SCRIPT, "timeout": -1}, "timeout must be >= 0"),
    ({"name": "svc", "content": SCRIPT, "time": "1h"}, "time: invalid Slurm time limit '1h'"),
    ({"name": "svc", "content": SCRIPT, "time": "1:2:3:4"}, "D-HH:MM:SS or UNLIMITED"),
    ({"name": "svc", "script": "/nonexistent/job.sh"}, "script /nonexistent/job.sh does not exist"),
    ({"name": "svc", "script": "/etc/hostname", "content": SCRIPT}, "mutually exclusive"),
    ({"name": "svc"}, "state is present but any of the following are missing: script, content"),
    ({"name": "svc", "state": "running"}, "state is running but any of the following are missing"),
    ({"name": "svc", "content": SCRIPT, "state": "started"}, "value of state must be one of"),
    ({"name": "svc", "content": SCRIPT, "signal": "B:TERM@x"}, "invalid signal"),
    ({"name": "svc", "content": SCRIPT, "mem": "lots"}, "invalid mem"),
    ({"name": "svc", "content": SCRIPT, "extra_args": ["--job-name=x"]}, "extra_args must not contain --job-name"),
    ({"name": "svc", "content": SCRIPT, "environment": {"BAD NAME": "1"}}, "invalid variable name"),
    ({"name": "svc", "content": ""}, "content is empty"),
    ({"name": "svc", "content": SCRIPT, "cpus_per_task": 0}, "cpus_per_task must be >= 1"),
    ({"name": "svc", "content": SCRIPT, "lock_timeout": -1}, "lock_timeout must be >= 0"),
])
def test_bad_input_fails_before_any_command(run_module, args, message):
    result, runner = run_module(slurm_job, args, [])
    assert result["failed"] and message in result["msg"]
    assert runner.calls == []


def test_submit_survives_unreachable_sbatch_without_double_submission(run_module, tmp_path):
    fp = fp_of(tmp_path)
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT}, [
        VERSION, {"argv": QUERY, "out": squeue_json()},
        sbatch(tmp_path, fp, rc=1, out="", err="sbatch: error: Batch job submission failed: Socket timed out on "
                                               "send/recv operation\n"),
        # it had gone through: adopt it instead of submitting again
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp})},
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp})}])
    assert result["job_id"] == "101" and result["changed"]


def test_environment_and_options_change_the_fingerprint(tmp_path):
    base = fp_of(tmp_path)
    assert base != fp_of(tmp_path, time="01:00:00")
    assert base != fp_of(tmp_path, environment={"A": "1"})
    assert base != fp_of(tmp_path, script="#!/bin/bash\necho other\n")


def test_documentation_lists_every_option():
    import yaml
    doc = yaml.safe_load(slurm_job.DOCUMENTATION)
    ret = yaml.safe_load(slurm_job.RETURN)
    assert set(doc["options"]) >= set(slurm_job_utils.FINGERPRINT_KEYS)
    for key in ("job_id", "name", "state", "nodes", "exit_code", "signal", "reason", "stdout_path",
                "stderr_path", "stdout_tail", "stderr_tail", "submit_time", "start_time", "end_time",
                "time_limit", "elapsed", "ready", "submitted", "cancelled", "queries", "successors"):
        assert key in ret, key
    assert os.path.basename(slurm_job.__file__) == "slurm_job.py"


def test_check_mode_returns_the_ready_file_of_the_running_job(run_module, tmp_path):
    fp = fp_of(tmp_path)
    ready = tmp_path / "svc.json"
    ready.write_text('{"job_id": "95", "url": "http://n1:64095"}')
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "state": "running",
                                             "ready_file": str(ready)}, [
        VERSION, {"argv": QUERY, "out": squeue_json({"id": 95, "name": "svc", "state": "RUNNING", "comment": fp})}],
        check=True)
    assert not result["changed"] and result["ready"] == {"job_id": "95", "url": "http://n1:64095"}
    assert ready.exists()


# --- two runs of the same play at once (lock) ------------------------------------------------
def test_lock_is_taken_for_the_submission_and_released(run_module, tmp_path):
    fp = fp_of(tmp_path)
    lock = tmp_path / "svc.launch.lock"
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "lock": str(lock)}, [
        VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp, data=SCRIPT.encode()),
        # looks again after submitting: nobody else submitted meanwhile
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp})},
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp})}])
    assert result["job_id"] == "101" and result["submitted"] and result["cancelled"] == []
    assert lock.exists() and oct(lock.stat().st_mode & 0o777) == "0o600"
    with slurm_job_utils.FileLock(str(lock), 0):  # released
        pass


def test_a_concurrent_identical_submission_keeps_the_oldest_job(run_module, tmp_path):
    # Runs on two machines whose locks do not meet: both submit; the higher id cancels its job
    # and waits for the other one.
    fp = fp_of(tmp_path)
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "lock": str(tmp_path / "l")}, [
        VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp, data=SCRIPT.encode(), out="102\n"),
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp},
                                           {"id": 102, "name": "svc", "comment": fp})},
        {"argv": [SC, "102"]},
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp, "state": "RUNNING"})}])
    assert result["job_id"] == "101" and result["cancelled"] == ["102"]
    assert not result["submitted"] and result["changed"] and not result.get("failed")


def test_the_oldest_of_two_identical_submissions_keeps_its_job(run_module, tmp_path):
    fp = fp_of(tmp_path)
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "lock": str(tmp_path / "l")}, [
        VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp, data=SCRIPT.encode(), out="101\n"),
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp},
                                           {"id": 102, "name": "svc", "comment": fp})},
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp, "state": "RUNNING"})}])
    assert result["job_id"] == "101" and result["submitted"] and result["cancelled"] == []


def test_a_concurrent_submission_with_other_settings_fails_this_run(run_module, tmp_path):
    fp = fp_of(tmp_path)
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "lock": str(tmp_path / "l")}, [
        VERSION, {"argv": QUERY, "out": squeue_json()}, sbatch(tmp_path, fp, data=SCRIPT.encode(), out="102\n"),
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": "ulhpc:sha256:00"},
                                           {"id": 102, "name": "svc", "comment": fp})},
        {"argv": [SC, "102"]}])
    assert result["failed"]
    assert "another run submitted job 101 named svc with other settings" in result["msg"]
    assert "cancelled its own job" in result["msg"]


def test_a_held_lock_fails_after_lock_timeout_naming_the_holder(run_module, tmp_path):
    import subprocess
    import sys
    lock = tmp_path / "svc.launch.lock"
    hold = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600); "
        "fcntl.lockf(fd, fcntl.LOCK_EX); os.write(fd, b'login2 pid 77\\n'); print('held', flush=True); "
        "time.sleep(30)"), str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert hold.stdout.readline().strip() == "held"
        result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "lock": str(lock),
                                                 "lock_timeout": 0}, [])
    finally:
        hold.kill()
        hold.wait()
    assert result["failed"] and "another run holds the lock %s (login2 pid 77)" % lock in result["msg"]


def test_check_mode_takes_no_lock(run_module, tmp_path):
    lock = tmp_path / "svc.launch.lock"
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "lock": str(lock)}, [
        VERSION, {"argv": QUERY, "out": squeue_json()}], check=True)
    assert result["changed"] and not lock.exists()


# --- walltime continuity ---------------------------------------------------------------------
def test_the_running_job_is_in_charge_and_the_queued_ones_are_its_successors(run_module, tmp_path):
    fp = fp_of(tmp_path)
    argv_file = tmp_path / "svc.sbatch"
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "argv_file": str(argv_file)}, [
        VERSION, {"argv": QUERY, "out": squeue_json(
            {"id": 97, "name": "svc", "state": "PENDING", "comment": fp, "reason": "Dependency"},
            {"id": 96, "name": "svc", "state": "RUNNING", "comment": fp},
            {"id": 98, "name": "svc", "state": "PENDING", "comment": fp, "reason": "Dependency"})}])
    assert not result["changed"] and result["job_id"] == "96" and result["successors"] == ["97", "98"]
    # what the job submits its successor with: this very command line, minus the script
    assert argv_file.read_bytes().split(b"\0")[:-1] == [
        a.encode() for a in [SB, "--parsable", "--job-name=svc", "--comment=" + fp, "--chdir=" + str(tmp_path),
                             "--export=ALL"]]
    assert oct(argv_file.stat().st_mode & 0o777) == "0o600"
    before = argv_file.stat().st_mtime_ns
    run_module(slurm_job, {"name": "svc", "content": SCRIPT, "argv_file": str(argv_file)}, [
        VERSION, {"argv": QUERY, "out": squeue_json({"id": 96, "name": "svc", "state": "RUNNING", "comment": fp})}])
    assert argv_file.stat().st_mtime_ns == before  # unchanged: not rewritten


def test_the_script_file_is_kept_private_and_rewritten_only_when_it_differs(run_module, tmp_path):
    fp = fp_of(tmp_path)
    script_file = tmp_path / "svc.sh"
    script_file.write_text("stale")
    os.chmod(str(script_file), 0o644)
    found = [VERSION, {"argv": QUERY, "out": squeue_json({"id": 96, "name": "svc", "state": "RUNNING", "comment": fp})}]
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "script_file": str(script_file)}, found)
    assert not result["changed"] and result["job_id"] == "96"
    assert script_file.read_text() == SCRIPT and oct(script_file.stat().st_mode & 0o777) == "0o700"
    before = script_file.stat().st_mtime_ns
    run_module(slurm_job, {"name": "svc", "content": SCRIPT, "script_file": str(script_file)}, list(found))
    assert script_file.stat().st_mtime_ns == before


def test_without_a_running_job_the_oldest_is_in_charge(run_module, tmp_path):
    fp = fp_of(tmp_path)
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT}, [
        VERSION, {"argv": QUERY, "out": squeue_json({"id": 99, "name": "svc", "state": "PENDING", "comment": fp},
                                                    {"id": 97, "name": "svc", "state": "PENDING", "comment": fp})}])
    assert result["job_id"] == "97" and result["successors"] == ["99"]


def test_private_files_are_written_before_the_submission_and_kept_on_a_warm_run(run_module, tmp_path):
    fp = fp_of(tmp_path)
    conf = tmp_path / "config" / "svc.conf"
    args = {"name": "svc", "content": SCRIPT, "directories": [str(tmp_path / "data")],
            "files": [{"path": str(conf), "content": "secret=1\n"}],
            "links": [{"path": str(tmp_path / "svc.link"), "src": str(conf)}]}

    def config_in_place():  # when sbatch runs
        assert conf.read_text() == "secret=1\n"

    result, _runner = run_module(slurm_job, args, [
        VERSION, {"argv": QUERY, "out": squeue_json()},
        dict(sbatch(tmp_path, fp, data=SCRIPT.encode()), effect=config_in_place),
        {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "comment": fp})}])
    assert result["changed"] and result["submitted"]
    assert str(conf) in result["changed_paths"] and str(tmp_path / "data") in result["changed_paths"]
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600 and stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert os.readlink(str(tmp_path / "svc.link")) == str(conf)
    assert "secret=1" not in json.dumps(result)
    warm, _runner = run_module(slurm_job, args, [
        VERSION, {"argv": QUERY, "out": squeue_json({"id": 101, "name": "svc", "state": "RUNNING", "comment": fp})}])
    assert not warm["changed"] and warm["changed_paths"] == []


def test_check_mode_reports_the_private_files_and_writes_nothing(run_module, tmp_path):
    fp = fp_of(tmp_path)
    conf = tmp_path / "svc.conf"
    result, _runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "files": [{"path": str(conf), "content": "x"}]}, [
        VERSION, {"argv": QUERY, "out": squeue_json({"id": 95, "name": "svc", "state": "RUNNING", "comment": fp})}],
        check=True)
    assert result["changed"] and result["changed_paths"] == [str(conf)] and result["job_id"] == "95"
    assert not conf.exists()


def test_a_private_path_in_the_way_fails_before_any_job_is_cancelled(run_module, tmp_path):
    (tmp_path / "taken").write_text("a file")
    result, runner = run_module(slurm_job, {"name": "svc", "content": SCRIPT, "replace": True,
                                            "directories": [str(tmp_path / "taken")]}, [])
    assert result["failed"] and "is not a directory" in result["msg"] and "nothing was changed" in result["msg"]
    assert runner.calls == []


OTHER = "#!/bin/bash\necho other\n"


def test_jobs_are_all_submitted_before_any_is_waited_for(run_module, tmp_path):
    fa, fb = fp_of(tmp_path, time="01:00:00"), fp_of(tmp_path, script=OTHER)
    conf = tmp_path / "shared.conf"

    def config_in_place():  # before the first sbatch of the call
        assert conf.read_text() == "shared\n"

    both = squeue_json({"id": 101, "name": "a", "comment": fa}, {"id": 102, "name": "b", "comment": fb})
    result, _runner = run_module(slurm_job, {
        "jobs": [{"name": "a", "content": SCRIPT, "time": "01:00:00"}, {"name": "b", "content": OTHER}],
        "files": [{"path": str(conf), "content": "shared\n"}]}, [
        VERSION,
        {"argv": QUERY, "out": squeue_json()},
        dict(sbatch(tmp_path, fa, "--time=01:00:00", name="a", data=SCRIPT.encode()), effect=config_in_place),
        {"argv": QUERY, "out": squeue_json()},
        sbatch(tmp_path, fb, name="b", out="102\n", data=OTHER.encode()),
        # only now the waits, one per job
        {"argv": QUERY, "out": both},
        {"argv": QUERY, "out": both},
    ])
    assert result["changed"] and result["changed_paths"] == [str(conf)]
    assert [(job["name"], job["job_id"], job["submitted"]) for job in result["jobs"]] == [("a", "101", True), ("b", "102", True)]
    assert result["queries"] == 6 and all(job["queries"] == 6 for job in result["jobs"])  # 4 squeue, 2 sbatch


def test_a_warm_call_of_several_jobs_changes_nothing_and_check_mode_sees_a_missing_one(run_module, tmp_path):
    fa, fb = fp_of(tmp_path), fp_of(tmp_path, script=OTHER)
    jobs = [{"name": "a", "content": SCRIPT}, {"name": "b", "content": OTHER}]
    running_a = squeue_json({"id": 101, "name": "a", "state": "RUNNING", "comment": fa})
    both = squeue_json({"id": 101, "name": "a", "state": "RUNNING", "comment": fa},
                       {"id": 102, "name": "b", "state": "RUNNING", "comment": fb})
    warm, _runner = run_module(slurm_job, {"jobs": jobs, "state": "running"},
                               [VERSION, {"argv": QUERY, "out": both}, {"argv": QUERY, "out": both}])
    assert not warm["changed"] and [job["job_id"] for job in warm["jobs"]] == ["101", "102"]
    checked, _runner = run_module(slurm_job, {"jobs": jobs, "state": "running"}, [
        VERSION, {"argv": QUERY, "out": running_a}, {"argv": QUERY, "out": running_a}], check=True)
    assert checked["changed"] and [job["changed"] for job in checked["jobs"]] == [False, True]
    assert not any(job["submitted"] for job in checked["jobs"])


@pytest.mark.parametrize("jobs,message", [
    ([{"name": "a", "content": SCRIPT}, {"name": "b", "content": SCRIPT, "mem": "lots"}], "job b: invalid mem"),
    ([{"name": "a", "content": SCRIPT, "replace": True}], "jobs[0]: unknown keys replace"),
    ([{"name": "a", "content": SCRIPT, "cpus_per_task": "many"}], "jobs[0]: "),
    ([{"content": SCRIPT}], "jobs[0]: a job needs a name"),
    ([{"name": "a"}], "jobs[0]: state is present but any of the following are missing: script, content"),
    ([{"name": "a", "content": SCRIPT, "script": "/etc/hostname"}], "jobs[0]: parameters are mutually exclusive"),
    ([{"name": "a", "content": SCRIPT}, {"name": "a", "content": OTHER}], "a job name is given more than once: a"),
])
def test_a_bad_job_fails_the_call_before_any_command(run_module, jobs, message):
    result, runner = run_module(slurm_job, {"jobs": jobs}, [])
    assert result["failed"] and message in result["msg"]
    assert runner.calls == []


def test_name_or_jobs_one_of_them(run_module):
    neither, _runner = run_module(slurm_job, {"content": SCRIPT}, [])
    assert neither["failed"] and "one of the following is required: name, jobs" in neither["msg"]
    both, _runner = run_module(slurm_job, {"name": "a", "jobs": [{"name": "b", "content": SCRIPT}]}, [])
    assert both["failed"] and "mutually exclusive: name|jobs" in both["msg"]
