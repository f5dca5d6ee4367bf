"""Pure parsers of plugins/module_utils/_slurm.py, replaying recorded outputs."""
import json
import os
import time

import pytest

from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm as slurm

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def by_id(jobs):
    return dict((j["job_id"], j) for j in jobs)


# ------------------------------------------------------------------ time limits
@pytest.mark.parametrize("text,seconds", [
    ("30", 1800), ("5:30", 330), ("02:00:00", 7200), ("1-12", 129600),
    ("1-02:30", 95400), ("2-00:00:05", 172805), ("UNLIMITED", None), ("infinite", None),
    ("0", 0), (90, 5400),
])
def test_parse_time_limit_accepts_slurm_formats(text, seconds):
    assert slurm.parse_time_limit(text) == seconds


@pytest.mark.parametrize("text", ["1h", "01:02:03:04", "-5", "1-", "abc", "", "1.5", "1-2-3", "10 min"])
def test_parse_time_limit_rejects_malformed(text):
    with pytest.raises(ValueError, match="MM, MM:SS, HH:MM:SS, D-HH"):
        slurm.parse_time_limit(text)


@pytest.mark.parametrize("text,seconds", [
    ("0:01", 1), ("05:46:31", 20791), ("1-00:00:00", 86400), ("00:00:07", 7),
    ("INVALID", None), ("", None), ("12:34.567", 754),
])
def test_parse_duration(text, seconds):
    assert slurm.parse_duration(text) == seconds


def test_format_duration():
    assert slurm.format_duration(7200) == "02:00:00"
    assert slurm.format_duration(93784) == "1-02:03:04"
    assert slurm.format_duration(None) == "UNLIMITED"


# ------------------------------------------------------------------ host lists
@pytest.mark.parametrize("text,hosts", [
    ("node[01-03,07]", ["node01", "node02", "node03", "node07"]),
    ("a[1-2],b3", ["a1", "a2", "b3"]),
    ("iris-[100-101,105]", ["iris-100", "iris-101", "iris-105"]),
    ("r[1-2]n[01-02]", ["r1n01", "r1n02", "r2n01", "r2n02"]),
    ("gpu[1-2],cpu[08-10],vm", ["gpu1", "gpu2", "cpu08", "cpu09", "cpu10", "vm"]),
    ("vm", ["vm"]),
    ("node[7]", ["node7"]),
    ("n[1-2],n2,n[2-3]", ["n1", "n2", "n3"]),
    ("node[098-101]", ["node098", "node099", "node100", "node101"]),
    ("", []), ("(null)", []), ("None assigned", []), (None, []),
    (["a[1-2]", "b1"], ["a1", "a2", "b1"]),
])
def test_expand_hostlist(text, hosts):
    assert slurm.expand_hostlist(text) == hosts


@pytest.mark.parametrize("text", ["node[01-03", "node]1[", "node[3-1]", "node[a-b]", "n[1-2;3]"])
def test_expand_hostlist_rejects_malformed(text):
    with pytest.raises(ValueError):
        slurm.expand_hostlist(text)


# ------------------------------------------------------------------ job_port
@pytest.mark.parametrize("args,port", [
    (("1234",), 64234), ((1234,), 64234), (("42",), 64042), (("2345001",), 64001),
    (("1234_5",), 64234), (("1234", 20000, 500), 20234), ((999, 64000, 1000), 64999),
])
def test_job_port(args, port):
    assert slurm.job_port(*args) == port


@pytest.mark.parametrize("args", [("abc",), (None,), ("12", 64000, 0), ("12", 65000, 1000), ("1", 0, 10)])
def test_job_port_rejects(args):
    with pytest.raises(ValueError):
        slurm.job_port(*args)


# ------------------------------------------------------------------ states
@pytest.mark.parametrize("value,state", [
    ("RUNNING", "RUNNING"), ("R", "RUNNING"), ("PD", "PENDING"), ("CANCELLED by 1001", "CANCELLED"),
    (["RUNNING"], "RUNNING"), (["RUNNING", "COMPLETING"], "COMPLETING"), (["PENDING", "REQUEUED"], "REQUEUED"),
    (["OUT_OF_MEMORY"], "OUT_OF_MEMORY"), ("OOM", "OUT_OF_MEMORY"), ("CD", "COMPLETED"), ("TO", "TIMEOUT"),
    ([], "UNKNOWN"), (None, "UNKNOWN"), ("", "UNKNOWN"),
])
def test_normalize_state(value, state):
    assert slurm.normalize_state(value) == state


def test_active_and_finished():
    assert slurm.is_active("PENDING") and slurm.is_active("COMPLETING") and slurm.is_active(["RUNNING"])
    for state in ("COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "OUT_OF_MEMORY", "UNKNOWN"):
        assert slurm.is_finished(state)


# ------------------------------------------------------------------ sbatch
def test_parse_sbatch_recorded_outputs():
    assert slurm.parse_sbatch_output(fixture("sbatch-22.05-plain.txt")) == ("4", None)
    assert slurm.parse_sbatch_output(fixture("sbatch-22.05-parsable.txt")) == ("5", None)
    assert slurm.parse_sbatch_output("123;iris\n") == ("123", "iris")
    assert slurm.parse_sbatch_output("Submitted batch job 77 on cluster hpc\n") == ("77", "hpc")
    assert slurm.parse_sbatch_output("sbatch: warning: something\n88\n") == ("88", None)


def test_parse_sbatch_without_id():
    with pytest.raises(slurm.SlurmParseError, match="no job id"):
        slurm.parse_sbatch_output("")


def test_sbatch_error_messages_are_sbatch_s_own():
    text = fixture("sbatch-22.05-bad-partition.txt").replace("rc=1\n", "")
    assert slurm.sbatch_error_message(text) == (
        "invalid partition specified: nosuchpart; Batch job submission failed: Invalid partition name specified")
    assert slurm.sbatch_error_message(fixture("sbatch-22.05-bad-time.txt").replace("rc=255\n", "")) == (
        "Invalid --time specification")
    assert not slurm.is_transient_error(text)


def test_error_classification():
    assert slurm.is_transient_error(fixture("squeue-text-22.05-controller-down.txt"))
    assert slurm.is_transient_error("sbatch: error: Batch job submission failed: Socket timed out on send/recv operation")
    assert slurm.is_transient_error("squeue: error: slurm_receive_msg: Zero Bytes were transmitted or received")
    assert slurm.is_transient_error("Connection refused")
    assert slurm.is_invalid_job_error(fixture("scontrol-22.05-invalid.txt"))
    assert not slurm.is_transient_error(fixture("scontrol-22.05-invalid.txt"))
    assert slurm.is_no_accounting_error(fixture("sacct-22.05-disabled.txt"))


def test_versions():
    assert slurm.parse_slurm_version(fixture("version-22.05.txt")) == (22, 5, 8)
    assert slurm.parse_slurm_version("slurm 23.11.6") == (23, 11, 6)
    assert slurm.parse_slurm_version("nonsense") is None
    assert slurm.squeue_has_json((21, 8, 8)) and slurm.squeue_has_json((22, 5, 8))
    assert not slurm.squeue_has_json((20, 11, 9)) and not slurm.squeue_has_json(())


# ------------------------------------------------------------------ fingerprints
def test_fingerprint_covers_script_and_options():
    base = slurm.fingerprint(b"#!/bin/bash\necho hi\n", {"time": "01:00:00", "environment": {"A": "1"}})
    assert base.startswith("ulhpc:sha256:") and len(base) == len("ulhpc:sha256:") + 16
    assert base == slurm.fingerprint("#!/bin/bash\necho hi\n", {"environment": {"A": "1"}, "time": "01:00:00"})
    assert base != slurm.fingerprint(b"#!/bin/bash\necho ho\n", {"time": "01:00:00", "environment": {"A": "1"}})
    assert base != slurm.fingerprint(b"#!/bin/bash\necho hi\n", {"time": "02:00:00", "environment": {"A": "1"}})
    assert base != slurm.fingerprint(b"#!/bin/bash\necho hi\n", {"time": "01:00:00", "environment": {"A": "2"}})


def test_comment_round_trip():
    fp = "ulhpc:sha256:0123456789abcdef"
    assert slurm.split_comment(slurm.make_comment(fp, "my note")) == (fp, "my note")
    assert slurm.split_comment(slurm.make_comment(fp)) == (fp, None)
    assert slurm.split_comment("someone else's comment") == (None, "someone else's comment")
    assert slurm.split_comment("(null)") == (None, None)
    assert slurm.split_comment("ulhpc:sha256:short") == (None, "ulhpc:sha256:short")


# ------------------------------------------------------------------ squeue --json
def test_squeue_json_22_05_recorded():
    jobs = by_id(slurm.parse_squeue_json(fixture("squeue-22.05.json"), now=1795511350))
    assert len(jobs) == 12
    ok = jobs["4"]
    assert ok["state"] == "COMPLETED" and ok["exit_code"] == 0 and ok["signal"] == 0
    assert ok["nodes"] == ["vm"] and ok["name"] == "rec-ok" and ok["user"] == "wsuser"
    assert ok["comment"] == "ulhpc:sha256:0123456789abcdef my note"
    assert ok["stdout_path"] == "/tmp/rec/w/slurm-4.out" == ok["stderr_path"]
    assert ok["submit_time"] == "2026-11-24T09:08:56" and ok["start_time"] == "2026-11-24T09:08:57"
    assert ok["end_time"] == "2026-11-24T09:08:59" and ok["elapsed"] == 2
    assert ok["time_limit"] is None
    failed = jobs["5"]
    assert (failed["state"], failed["exit_code"], failed["signal"], failed["reason"]) == (
        "FAILED", 3, 0, "NonZeroExitCode")
    assert jobs["1"]["exit_code"] == 127  # command not found (wait status 32512)
    cancelled = jobs["10"]
    assert (cancelled["state"], cancelled["exit_code"], cancelled["signal"]) == ("CANCELLED", 0, 15)
    pending = jobs["6"]
    assert (pending["state"], pending["reason"], pending["nodes"]) == ("PENDING", "BeginTime", [])
    assert pending["exit_code"] is None and pending["start_time"] is None and pending["end_time"] is None
    assert pending["time_limit"] == "1-02:00:00" and pending["elapsed"] == 0
    running = jobs["7"]
    assert running["state"] == "RUNNING" and running["exit_code"] is None
    assert running["stdout_path"] == "/tmp/rec/w/out-rec-run-7.log"
    assert running["time_limit"] == "00:10:00" and running["elapsed"] == 13
    assert slurm.time_left(running, now=1795511350) == 587
    # array: one record per task, the array job id names the array
    for task in (1, 2, 3):
        rec = jobs["8_%d" % task]
        assert rec["array_job_id"] == "8" and rec["array_task_id"] == task
        assert rec["stdout_path"] == "/tmp/rec/w/arr-8_%d.out" % task
    pending_array = jobs["9_[0-4%2]"]
    assert pending_array["array_task_id"] == "0-4%2" and pending_array["state"] == "PENDING"


def test_squeue_json_21_08_integers_and_sentinels():
    jobs = by_id(slurm.parse_squeue_json(fixture("squeue-21.08.json")))
    run = jobs["2345001"]
    assert run["nodes"] == ["iris-042", "iris-043"] and run["time_limit"] == "02:00:00"
    assert run["stdout_path"] == "/home/users/alice/logs/ws-default-jupyter-2345001.out"
    assert run["stderr_path"] == run["stdout_path"]
    pending = jobs["2345002"]
    assert pending["reason"] == "QOSMaxJobsPerUserLimit" and pending["time_limit"] == "UNLIMITED"
    assert pending["stdout_path"] == "/home/users/alice/slurm-2345002.out"
    task = jobs["2344990_7"]
    assert (task["state"], task["exit_code"], task["signal"]) == ("CANCELLED", 0, 9)
    assert task["stderr_path"] == "/scratch/alice/sweep-2344990_7.err"
    assert jobs["2344980"]["exit_code"] == 1 and jobs["2344980"]["user"] == "bob"


def test_squeue_json_23_02_objects():
    jobs = by_id(slurm.parse_squeue_json(fixture("squeue-23.02.json")))
    run = jobs["501"]
    assert run["state"] == "RUNNING" and run["exit_code"] is None and run["nodes"] == ["node01", "node02"]
    assert run["time_limit"] == "01:00:00" and run["start_time"] == "2023-11-14T22:13:20"
    assert run["array_job_id"] is None
    failed = jobs["502"]
    assert (failed["state"], failed["exit_code"], failed["signal"]) == ("FAILED", 2, 0)
    assert failed["time_limit"] == "UNLIMITED"


def test_squeue_json_23_11_state_lists_and_arrays():
    jobs = by_id(slurm.parse_squeue_json(fixture("squeue-23.11.json")))
    assert set(jobs) == {"700_2", "700_1", "700_[3-9%2]", "710"}
    assert jobs["700_2"]["state"] == "RUNNING" and jobs["700_2"]["exit_code"] is None
    oom = jobs["700_1"]
    assert (oom["state"], oom["exit_code"], oom["signal"], oom["reason"]) == ("OUT_OF_MEMORY", 0, 9, "OutOfMemory")
    assert oom["stdout_path"] == "/home/alice/sweep-700_1.out"
    assert jobs["700_[3-9%2]"]["reason"] == "JobArrayTaskLimit"
    assert jobs["710"]["state"] == "COMPLETING" and jobs["710"]["time_limit"] == "UNLIMITED"
    assert jobs["710"]["stderr_path"] == "/home/alice/celery.log"
    merged = slurm.group_jobs(slurm.parse_squeue_json(fixture("squeue-23.11.json")))
    sweep = merged[0]
    assert sweep["job_id"] == "700" and sweep["state"] == "RUNNING"
    assert sweep["nodes"] == ["gpu1", "gpu2", "gpu3"] and len(sweep["tasks"]) == 3
    assert merged[1]["job_id"] == "710"


def test_squeue_json_controller_down_is_a_reported_error():
    with pytest.raises(slurm.SlurmReportedError, match="Failed while looking for jobs"):
        slurm.parse_squeue_json(fixture("squeue-22.05-controller-down.json"))


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"meta": {}}'])
def test_squeue_json_garbage(text):
    with pytest.raises(slurm.SlurmParseError):
        slurm.parse_squeue_json(text)


# ------------------------------------------------------------------ squeue text
def test_squeue_text_22_05_recorded():
    assert slurm.SQUEUE_TEXT_FORMAT.count(slurm.SQUEUE_TEXT_SEP) == len(slurm.SQUEUE_TEXT_FIELDS) - 1
    jobs = by_id(slurm.parse_squeue_text(fixture("squeue-text-22.05.txt")))
    assert len(jobs) == 12
    assert jobs["4"]["comment"] == "ulhpc:sha256:0123456789abcdef my note"
    assert jobs["4"]["state"] == "COMPLETED" and jobs["4"]["elapsed"] == 2
    assert jobs["5"]["reason"] == "NonZeroExitCode" and jobs["5"]["exit_code"] is None  # text has no exit code
    assert jobs["6"]["state"] == "PENDING" and jobs["6"]["reason"] == "BeginTime"
    assert jobs["6"]["nodes"] == [] and jobs["6"]["start_time"] is None and jobs["6"]["time_limit"] == "1-02:00:00"
    assert jobs["7"]["time_limit"] == "00:10:00" and jobs["7"]["elapsed"] == 7
    assert jobs["8_2"]["array_job_id"] == "8" and jobs["8_2"]["array_task_id"] == 2
    assert jobs["9_[0-4%2]"]["array_task_id"] == "0-4%2" and jobs["9_[0-4%2]"]["end_time"] is None
    assert jobs["1"]["time_limit"] == "00:02:00"
    assert jobs["3"]["work_dir"] == "/home/wsuser"


def test_squeue_text_rejects_other_formats():
    with pytest.raises(slurm.SlurmParseError, match="unexpected squeue line"):
        slurm.parse_squeue_text("JOBID PARTITION NAME\n  12 batch x\n")


def test_squeue_text_comment_may_hold_anything():
    sep = slurm.SQUEUE_TEXT_SEP
    line = sep.join(["5", "5", "N/A", "n", "u", "RUNNING", "None", "vm", "2026-11-24T09:00:00",
                     "2026-11-24T09:00:01", "2026-11-24T10:00:01", "1:00:00", "1:05", "batch",
                     "/w", "ulhpc:sha256:0123456789abcdef a | b = c"])
    job = slurm.parse_squeue_text(line + "\n")[0]
    assert job["comment"] == "ulhpc:sha256:0123456789abcdef a | b = c" and job["elapsed"] == 65


# ------------------------------------------------------------------ scontrol
def test_scontrol_failed_job():
    job = slurm.parse_scontrol_job(fixture("scontrol-22.05-failed.txt"))[0]
    assert (job["job_id"], job["name"], job["user"], job["state"]) == ("5", "rec-fail", "wsuser", "FAILED")
    assert (job["exit_code"], job["signal"], job["reason"]) == (3, 0, "NonZeroExitCode")
    assert job["stdout_path"] == job["stderr_path"] == "/tmp/rec/w/slurm-5.out"
    assert job["time_limit"] == "UNLIMITED" and job["elapsed"] == 0 and job["nodes"] == ["vm"]
    assert job["work_dir"] == "/tmp/rec/w" and job["partition"] == "batch"


def test_scontrol_array_lists_every_task():
    jobs = slurm.parse_scontrol_job(fixture("scontrol-22.05-array.txt"))
    assert [j["job_id"] for j in jobs] == ["8_3", "8_2", "8_1"]
    assert all(j["array_job_id"] == "8" and j["state"] == "COMPLETED" for j in jobs)
    merged = slurm.group_jobs(jobs)
    assert len(merged) == 1 and merged[0]["job_id"] == "8" and merged[0]["exit_code"] == 0
    assert merged[0]["state"] == "COMPLETED" and [t["array_task_id"] for t in merged[0]["tasks"]] == [3, 2, 1]


def test_scontrol_pending_and_cancelled():
    pending = slurm.parse_scontrol_job(fixture("scontrol-22.05-pending.txt"))[0]
    assert (pending["state"], pending["reason"], pending["exit_code"]) == ("PENDING", "BeginTime", None)
    assert pending["start_time"] is None and pending["time_limit"] == "1-02:00:00"
    array = slurm.parse_scontrol_job(fixture("scontrol-22.05-array-pending.txt"))[0]
    assert array["job_id"] == "9_[0-4%2]" and array["array_task_id"] == "0-4%2"
    cancelled = slurm.parse_scontrol_job(fixture("scontrol-22.05-cancelled.txt"))[0]
    assert (cancelled["state"], cancelled["exit_code"], cancelled["signal"]) == ("CANCELLED", 0, 15)
    running = slurm.parse_scontrol_job(fixture("scontrol-22.05-running.txt"))[0]
    assert running["stdout_path"] == "/tmp/rec/w/out-rec-run-7.log" and running["exit_code"] is None


def test_scontrol_all_jobs():
    jobs = by_id(slurm.parse_scontrol_job(fixture("scontrol-22.05-all.txt")))
    assert {"4", "5", "6", "7", "8_1", "8_2", "8_3", "10"} <= set(jobs)
    assert jobs["4"]["comment"] == "ulhpc:sha256:0123456789abcdef my note"


def test_scontrol_comment_and_paths_with_spaces():
    text = ("JobId=42 JobName=x\n   UserId=u(1) GroupId=u(1) MCS_label=N/A\n"
            "   JobState=RUNNING Reason=None Dependency=(null)\n   RunTime=00:01:00 TimeLimit=01:00:00\n"
            "   NodeList=n[1-2]\n   Comment=ulhpc:sha256:0123456789abcdef a=b c d\n"
            "   StdOut=/home/u/my dir/out.log\n")
    job = slurm.parse_scontrol_job(text)[0]
    assert job["comment"] == "ulhpc:sha256:0123456789abcdef a=b c d"
    assert job["stdout_path"] == "/home/u/my dir/out.log" and job["nodes"] == ["n1", "n2"]
    assert job["elapsed"] == 60 and job["time_limit"] == "01:00:00"


def test_scontrol_invalid_gives_nothing():
    assert slurm.parse_scontrol_job(fixture("scontrol-22.05-invalid.txt")) == []


# ------------------------------------------------------------------ sacct
def test_sacct_parsable2():
    jobs = by_id(slurm.parse_sacct(fixture("sacct-parsable2.txt")))
    assert jobs["1234"]["state"] == "COMPLETED" and jobs["1234"]["nodes"] == ["node01", "node02"]
    assert jobs["1234"]["elapsed"] == 3600 and jobs["1234"]["time_limit"] == "02:00:00"
    assert (jobs["1235"]["exit_code"], jobs["1235"]["reason"]) == (2, "NonZeroExitCode")
    assert (jobs["1236"]["state"], jobs["1236"]["signal"]) == ("OUT_OF_MEMORY", 125)
    assert jobs["1237"]["state"] == "CANCELLED" and jobs["1237"]["comment"].endswith("my note")
    assert jobs["1240_2"]["state"] == "TIMEOUT" and jobs["1240_2"]["array_job_id"] == "1240"
    assert jobs["1250"]["state"] == "PENDING" and jobs["1250"]["exit_code"] is None
    assert jobs["1250"]["start_time"] is None and jobs["1250"]["nodes"] == []
    merged = dict((j["job_id"], j) for j in slurm.group_jobs(list(jobs.values())))
    assert merged["1240"]["state"] == "TIMEOUT"


def test_sacct_skips_steps():
    jobs = slurm.parse_sacct(fixture("sacct-parsable2-steps.txt"))
    assert [j["job_id"] for j in jobs] == ["1235"]


def test_sacct_wrong_format():
    with pytest.raises(slurm.SlurmParseError):
        slurm.parse_sacct("1|2|3\n")


# ------------------------------------------------------------------ arrays and output patterns
def test_merge_array_states():
    def rec(task, state, code=None, nodes=()):
        return {"job_id": "9_%d" % task, "array_job_id": "9", "array_task_id": task, "state": state,
                "exit_code": code, "signal": 0 if code is not None else None, "nodes": list(nodes),
                "reason": None, "start_time": None, "end_time": None, "elapsed": None}
    assert slurm.merge_array([rec(1, "COMPLETED", 0), rec(2, "PENDING")])["state"] == "PENDING"
    running = slurm.merge_array([rec(1, "COMPLETED", 0), rec(2, "RUNNING", nodes=["a"])])
    assert running["state"] == "RUNNING" and running["exit_code"] is None
    done = slurm.merge_array([rec(1, "COMPLETED", 0), rec(2, "FAILED", 4), rec(3, "COMPLETED", 0)])
    assert (done["state"], done["exit_code"], done["job_id"]) == ("FAILED", 4, "9")
    assert slurm.merge_array([rec(1, "COMPLETED", 0), rec(2, "COMPLETED", 0)])["state"] == "COMPLETED"


def test_expand_output_pattern():
    job = {"job_id": "8_2", "job_id_raw": "12", "array_job_id": "8", "array_task_id": 2, "name": "sweep",
           "user": "alice", "nodes": ["n1"]}
    assert slurm.expand_output_pattern("/o/%x-%A_%a-%j-%u-%N-%%.out", job) == "/o/sweep-8_2-12-alice-n1-%.out"
    assert slurm.expand_output_pattern("%4j.log", {"job_id": "7"}) == "0007.log"


def test_public_job_has_documented_keys():
    job = slurm.parse_squeue_json(fixture("squeue-22.05.json"))[0]
    public = slurm.public_job(job)
    assert set(public) == set(slurm.JOB_KEYS) | {"time_left"}
    json.dumps(public)


def test_pending_jobs_keep_the_expected_start_of_squeue_start():
    """A pending job's start time is the scheduler's estimate (squeue --start): kept as
    expected_start, never as a start; unset (0, N/A) stays unknown; started jobs have none."""
    by_id = dict((j["job_id"], j) for j in slurm.parse_squeue_json(fixture("squeue-22.05.json")))
    assert by_id["6"]["state"] == "PENDING" and by_id["6"]["reason"] == "BeginTime"
    assert by_id["6"]["expected_start"] == time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(1795514936))
    assert by_id["6"]["start_time"] is None and by_id["6"]["end_time"] is None
    assert by_id["7"]["state"] == "RUNNING" and by_id["7"]["expected_start"] is None
    by_id = dict((j["job_id"], j) for j in slurm.parse_squeue_json(fixture("squeue-21.08.json")))
    assert by_id["2345002"]["state"] == "PENDING" and by_id["2345002"]["expected_start"] is None
    text = dict((j["job_id"], j) for j in slurm.parse_squeue_text(fixture("squeue-text-22.05.txt")))
    assert text["6"]["expected_start"] == "2026-11-24T10:08:56" and text["6"]["start_time"] is None
    pending = slurm.parse_scontrol_job(fixture("scontrol-22.05-pending.txt"))[0]
    assert pending["expected_start"] == "2026-11-24T10:08:56" and pending["start_time"] is None
    assert "expected_start" in slurm.public_job(pending)


def test_job_order_is_submission_order_for_plain_array_and_heterogeneous_ids():
    ids = ["1000_2", "999", "1000+1", "abc", "1000"]
    assert sorted(ids, key=slurm.job_order) == ["999", "1000", "1000+1", "1000_2", "abc"]
