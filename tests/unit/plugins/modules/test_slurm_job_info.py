"""slurm_job_info with a mocked run_command."""

from ansible_collections.ulhpc.workspace.plugins.modules import slurm_job_info

from slurm_harness import squeue_json

SQ = "/usr/bin/squeue"
VERSION = {"argv": [SQ, "--version"], "out": "slurm-wlm 22.05.8\n"}
QUERY = [SQ, "--json"]
DOWN_TEXT = "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n"
JOBS = squeue_json(
    {"id": 10, "name": "svc", "state": "RUNNING", "nodes": "n[1-2]"},
    {"id": 11, "name": "svc", "state": "COMPLETED"},
    {"id": 12, "name": "other", "state": "PENDING", "reason": "Resources"},
    {"id": 13, "name": "svc", "state": "RUNNING", "user": "bob"},
    {"id": 15, "array_job_id": 14, "array_task_id": 1, "name": "arr", "state": "COMPLETED"},
    {"id": 14, "array_job_id": 14, "array_task_id": 2, "name": "arr", "state": "FAILED", "exit_code": 512})


def ids(result):
    return [job["job_id"] for job in result["jobs"]]


def test_by_name_for_the_calling_user(run_module):
    result, _runner = run_module(slurm_job_info, {"name": "svc"}, [VERSION, {"argv": QUERY, "out": JOBS}])
    assert ids(result) == ["11", "10"] and not result["changed"] and result["queries"] == 1
    assert result["jobs"][1]["nodes"] == ["n1", "n2"] and result["jobs"][1]["user"] == "alice"


def test_all_users_and_states(run_module):
    result, _runner = run_module(slurm_job_info, {"all_users": True, "state": ["active"]},
                                 [VERSION, {"argv": QUERY, "out": JOBS}], check=True)
    assert ids(result) == ["13", "12", "10"]
    result, _runner = run_module(slurm_job_info, {"user": "bob", "state": ["R"]}, [VERSION, {"argv": QUERY, "out": JOBS}])
    assert ids(result) == ["13"]


def test_by_id_merges_arrays_and_looks_up_purged_jobs(run_module):
    scontrol = "JobId=9 JobName=old\n   UserId=alice(1) GroupId=alice(1)\n   JobState=COMPLETED Reason=None\n" \
               "   ExitCode=0:0\n   NodeList=vm\n"
    result, _runner = run_module(slurm_job_info, {"job_id": ["14", "9", "8"]}, [
        VERSION, {"argv": QUERY, "out": JOBS},
        {"argv": ["/usr/bin/scontrol", "show", "job", "9"], "out": scontrol},
        {"argv": ["/usr/bin/scontrol", "show", "job", "8"], "rc": 1,
         "err": "slurm_load_jobs error: Invalid job id specified\n"}])
    assert ids(result) == ["14", "9"]
    array = result["jobs"][0]
    assert array["state"] == "FAILED" and array["exit_code"] == 2 and len(array["tasks"]) == 2
    assert result["jobs"][1]["name"] == "old" and result["queries"] == 3


def test_bad_input(run_module):
    result, runner = run_module(slurm_job_info, {"name": "x y"}, [])
    assert result["failed"] and "invalid job name" in result["msg"] and runner.calls == []
    result, runner = run_module(slurm_job_info, {"job_id": ["12;rm"]}, [])
    assert result["failed"] and "invalid job id" in result["msg"] and runner.calls == []
    result, runner = run_module(slurm_job_info, {"user": "bob", "all_users": True}, [])
    assert result["failed"] and "mutually exclusive" in result["msg"]
    # A misspelt state is an error before any query, not an empty list.
    result, runner = run_module(slurm_job_info, {"state": ["RUNNING", "not_a_state"]}, [])
    assert result["failed"] and "unknown job state 'not_a_state'" in result["msg"] and runner.calls == []


def test_unreachable(run_module):
    result, _runner = run_module(slurm_job_info, {}, [
        VERSION, {"argv": QUERY, "rc": 1, "err": DOWN_TEXT}])
    assert result["failed"] and result["msg"].startswith("scheduler unreachable: ")
