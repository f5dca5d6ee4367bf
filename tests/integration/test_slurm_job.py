"""ulhpc.workspace.slurm_job and slurm_job_info against the real test cluster, as wsuser.

Each test runs the module with `ansible localhost -m ... -o` as the unprivileged user and
reads the one-line JSON result. Job names start with `t-slurmjob-`; every job of that
prefix is cancelled at the end.
"""
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import REPO, TEST_USER, run_as

PREFIX = "t-slurmjob-%d-" % (os.getpid() % 100000)  # unique per run: finished jobs stay listed
WORK = os.path.join("/home", TEST_USER, "t-slurmjob")
DAEMON = "/usr/local/sbin/testbed-daemon"


def run_module(args, module="slurm_job", check=False, diff=False, timeout=300):
    argv = ["ansible", "localhost", "-i", os.path.join(REPO, "inventory", "testbed"), "-l", "workspace_hosts",
            "-o", "-m", "ulhpc.workspace." + module, "-a", json.dumps(args)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    proc = run_as(argv, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("localhost | ")]
    assert lines, "no result from ansible (rc=%s):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr)
    status, payload = lines[-1].split(" => ", 1)
    result = json.loads(payload)
    result["_status"] = status.split("|", 1)[1].strip().rstrip("!")
    return result


def queue(name):
    """(job id, state) of the test user's jobs with this name, as squeue lists them."""
    proc = run_as(["squeue", "--noheader", "--states=all", "--user=" + TEST_USER, "--name=" + name,
                   "--format=%i %T"], check=True)
    return [tuple(line.split()) for line in proc.stdout.splitlines() if line.strip()]


def active(name):
    return [job for job in queue(name) if job[1] in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")]


@pytest.fixture(scope="module", autouse=True)
def workdir():
    run_as(["mkdir", "-p", WORK], check=True)
    yield WORK
    proc = run_as(["squeue", "--noheader", "--user=" + TEST_USER, "--format=%i %j"])
    ids = [line.split()[0] for line in proc.stdout.splitlines()
           if len(line.split()) == 2 and line.split()[1].startswith(PREFIX)]
    if ids:
        run_as(["scancel"] + ids)
    run_as(["rm", "-rf", WORK])


def script(body):
    return "#!/bin/bash\n" + body + "\n"


# Short time limits let the backfill scheduler start these jobs while other tests' bigger
# jobs wait for resources on the one shared node.
TIME = "00:05:00"


def test_job_that_completes_and_idempotent_rerun():
    args = {"name": PREFIX + "ok", "content": script("echo hello; sleep 1"), "state": "completed",
            "chdir": WORK, "timeout": 120, "time": TIME}
    first = run_module(args)
    assert first["_status"] == "CHANGED", first
    assert first["state"] == "COMPLETED" and first["exit_code"] == 0 and first["submitted"]
    assert first["nodes"] and first["start_time"] and first["end_time"]
    assert first["stdout_path"] == "%s/slurm-%s.out" % (WORK, first["job_id"])
    with open(first["stdout_path"]) as handle:
        assert handle.read() == "hello\n"
    again = run_module(args)
    assert again["_status"] == "SUCCESS" and not again["changed"] and again["job_id"] == first["job_id"]
    assert len(queue(PREFIX + "ok")) == 1


def test_job_that_fails_reports_exit_code_and_log_tail():
    result = run_module({"name": PREFIX + "fail", "state": "completed", "chdir": WORK, "timeout": 120, "time": TIME,
                         "error": "fail-%j.err",
                         "content": script("echo about to fail; echo 'oops: disk full' >&2; exit 3")})
    assert result["_status"] == "FAILED"
    assert result["state"] == "FAILED" and result["exit_code"] == 3 and result["reason"] == "NonZeroExitCode"
    assert result["stdout_tail"] == ["about to fail"] and result["stderr_tail"] == ["oops: disk full"]
    assert result["stderr_path"] == "%s/fail-%s.err" % (WORK, result["job_id"])
    assert "is FAILED with exit code 3" in result["msg"] and "oops: disk full" in result["msg"]


def test_pending_past_the_timeout_reports_the_reason_then_cancel():
    name = PREFIX + "later"
    args = {"name": name, "content": script("sleep 1"), "state": "running", "timeout": 3, "poll_interval": 1,
            "chdir": WORK, "extra_args": ["--begin=now+1hour"]}
    result = run_module(args)
    assert result["_status"] == "FAILED"
    assert result["state"] == "PENDING" and result["reason"] == "BeginTime"
    assert "is PENDING, reason: BeginTime" in result["msg"] and "3 s" in result["msg"]
    assert active(name) == [(result["job_id"], "PENDING")]
    gone = run_module({"name": name, "state": "absent"})
    assert gone["_status"] == "CHANGED" and gone["cancelled"] == [result["job_id"]]
    assert gone["state"] == "CANCELLED" and active(name) == []
    again = run_module({"name": name, "state": "absent"})
    assert again["_status"] == "SUCCESS" and again["cancelled"] == []


def test_running_idempotence_replace_and_cancel_with_signal():
    name = PREFIX + "svc"
    body = ("trap 'echo got TERM > %s/svc.term; exit 0' TERM\n"
            "echo started; while true; do sleep 1; done" % WORK)
    args = {"name": name, "content": script(body), "state": "running", "chdir": WORK, "time": "00:10:00",
            "timeout": 120}
    first = run_module(args)
    assert first["_status"] == "CHANGED" and first["state"] == "RUNNING", first
    assert first["time_limit"] == "00:10:00" and first["time_left"] is not None
    again = run_module(args)
    assert again["_status"] == "SUCCESS" and again["job_id"] == first["job_id"] and not again["submitted"]
    changed_time = dict(args, time="00:20:00")
    refused = run_module(changed_time)
    assert refused["_status"] == "FAILED" and "runs a different script or options" in refused["msg"]
    assert "replace: true" in refused["msg"] and active(name) == [(first["job_id"], "RUNNING")]
    replaced = run_module(dict(changed_time, replace=True))
    assert replaced["_status"] == "CHANGED" and replaced["cancelled"] == [first["job_id"]]
    assert replaced["job_id"] != first["job_id"] and replaced["state"] == "RUNNING"
    assert active(name) == [(replaced["job_id"], "RUNNING")]
    time.sleep(1)  # let the script install its trap
    gone = run_module({"name": name, "state": "absent", "cancel_signal": "TERM", "cancel_grace": 20})
    assert gone["_status"] == "CHANGED" and gone["cancelled"] == [replaced["job_id"]]
    assert active(name) == []
    with open(os.path.join(WORK, "svc.term")) as handle:
        assert handle.read() == "got TERM\n"


def test_check_mode_submits_nothing():
    name = PREFIX + "check"
    result = run_module({"name": name, "content": script("sleep 1"), "state": "running", "chdir": WORK,
                         "time": TIME},
                        check=True, diff=True)
    assert result["_status"] == "CHANGED" and result["changed"] and not result["submitted"]
    assert result["job_id"] is None and queue(name) == []
    assert result["queries"] == 1


def test_ready_file_is_awaited_and_parsed():
    ready = os.path.join(WORK, "ready.json")
    body = ("sleep 1\nprintf '{\"job_id\": \"%%s\", \"port\": %%d}' \"$SLURM_JOB_ID\" "
            "$((64000 + SLURM_JOB_ID %% 1000)) > %s.tmp && mv %s.tmp %s\nsleep 60" % (ready, ready, ready))
    result = run_module({"name": PREFIX + "ready", "content": script(body), "state": "running",
                         "ready_file": ready, "chdir": WORK, "timeout": 120, "time": TIME})
    assert result["_status"] == "CHANGED", result
    assert result["ready"] == {"job_id": result["job_id"], "port": 64000 + int(result["job_id"]) % 1000}
    assert result["state"] == "RUNNING" and result["waited"] >= 1
    again = run_module({"name": PREFIX + "ready", "content": script(body), "state": "running",
                        "ready_file": ready, "chdir": WORK, "timeout": 120, "time": TIME})
    assert not again["changed"] and again["ready"] == result["ready"]
    run_module({"name": PREFIX + "ready", "state": "absent"})


def test_array_job():
    result = run_module({"name": PREFIX + "array", "content": script("echo task $SLURM_ARRAY_TASK_ID"),
                         "array": "1-3", "state": "completed", "chdir": WORK, "output": "arr-%A_%a.out",
                         "timeout": 120, "time": TIME})
    assert result["_status"] == "CHANGED", result
    assert result["state"] == "COMPLETED" and result["exit_code"] == 0
    tasks = sorted(result["tasks"], key=lambda t: t["array_task_id"])
    assert [t["job_id"] for t in tasks] == ["%s_%d" % (result["job_id"], i) for i in (1, 2, 3)]
    for task in tasks:
        with open(task["stdout_path"]) as handle:
            assert handle.read() == "task %d\n" % task["array_task_id"]
    info = run_module({"job_id": [result["job_id"]]}, module="slurm_job_info")
    assert [j["job_id"] for j in info["jobs"]] == [result["job_id"]] and len(info["jobs"][0]["tasks"]) == 3


def test_job_info_by_name_and_state():
    info = run_module({"name": PREFIX + "ok", "state": ["finished"]}, module="slurm_job_info", check=True)
    assert info["_status"] == "SUCCESS" and [j["name"] for j in info["jobs"]] == [PREFIX + "ok"]
    assert info["jobs"][0]["user"] == TEST_USER and info["queries"] == 1
    none = run_module({"name": PREFIX + "ok", "state": ["active"]}, module="slurm_job_info")
    assert none["jobs"] == []


def test_wait_survives_the_scheduler_stopping_for_a_few_seconds():
    results = {}

    def wait():
        results["job"] = run_module({"name": PREFIX + "blip", "content": script("sleep 12"),
                                     "state": "completed", "chdir": WORK, "timeout": 120, "poll_interval": 1,
                                     "time": TIME})

    thread = threading.Thread(target=wait)
    thread.start()
    deadline = time.time() + 30
    while time.time() < deadline and not active(PREFIX + "blip"):
        time.sleep(0.5)
    assert active(PREFIX + "blip"), "the job was not submitted"
    subprocess.run([DAEMON, "stop", "slurmctld"], check=True, capture_output=True)
    try:
        time.sleep(5)
    finally:
        subprocess.run([DAEMON, "ensure", "slurmctld"], check=True, capture_output=True)
    thread.join(180)
    result = results["job"]
    assert result["_status"] == "CHANGED", result
    assert result["state"] == "COMPLETED" and result["exit_code"] == 0
    assert result["waited"] >= 10


@pytest.mark.parametrize("args,message", [
    ({"name": PREFIX + "bad1", "script": "/nonexistent/job.sh"}, "does not exist"),
    ({"name": PREFIX + "bad2", "script": "/etc/hostname", "content": "#!/bin/bash\n"}, "mutually exclusive"),
    ({"name": PREFIX + "bad3", "content": "#!/bin/bash\n", "timeout": -5}, "timeout must be >= 0"),
    ({"name": PREFIX + "bad4", "content": "#!/bin/bash\n", "time": "2 hours"}, "invalid Slurm time limit"),
    ({"name": PREFIX + "bad5;reboot", "content": "#!/bin/bash\n"}, "invalid job name"),
    ({"name": PREFIX + "bad6", "content": "#!/bin/bash\n", "state": "started"}, "value of state must be one of"),
])
def test_bad_input_is_refused_before_submitting(args, message):
    result = run_module(args)
    assert result["_status"] == "FAILED" and message in result["msg"], result
    assert queue(args["name"].split(";")[0]) == []
