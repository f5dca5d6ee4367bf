"""The workspace's status state machine, published info and summary line, table-driven."""
import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.ulhpc.workspace.plugins.filter import workspace as filters
from ansible_collections.ulhpc.workspace.plugins.module_utils import _service_status as status
from ansible_collections.ulhpc.workspace.plugins.module_utils._connection import ssh_config

CONN = {"service": "redis", "job_id": "42", "host": "n1", "address": "10.0.0.5", "port": 64042,
        "url": None, "launcher": "slurm", "secret_files": ["/s/redis.password"], "pid": 7}
RUNNING = {"job_id": "42", "state": "RUNNING", "nodes": ["n1"], "reason": "None", "time_left": 3600,
           "end_time": "2026-11-30T18:00:00"}


@pytest.mark.parametrize("conn, job, local, state, reason", [
    ({}, {"job_id": "42", "state": "PENDING", "reason": "Resources"}, {}, "pending", "Resources"),
    (CONN, RUNNING, {}, "running", "None"),
    (dict(CONN, job_id="41"), RUNNING, {}, "starting", "None"),  # an older job's file: not published yet
    ({}, RUNNING, {}, "starting", "None"),
    (CONN, dict(RUNNING, state="COMPLETING"), {}, "completing", "None"),
    (dict(CONN, launcher="local"), None, {"state": "running", "pid": 9}, "running", None),
    ({}, None, {"state": "running", "pid": 9}, "starting", None),
    ({}, None, {"state": "dead", "log_file": "/l/web.log"}, "dead", "the process ended; see /l/web.log"),
    (CONN, None, {}, "dead", "a stale connection file is left"),
    ({}, None, {}, "stopped", None),
])
def test_state_machine(conn, job, local, state, reason):
    svc = status.service_status("redis", conn, job, local, "login1")
    assert (svc["state"], svc["reason"]) == (state, reason)
    assert svc["state"] in status.STATES or job is not None
    live = state in ("running", "starting")
    assert (svc["tunnel"] is not None) == (live and bool(conn.get("port")))
    if not live:
        assert svc["address"] is None and svc["port"] is None and svc["pid"] is None


def test_running_slurm_service_has_everything_to_connect():
    svc = status.service_status("redis", CONN, RUNNING, {}, "login1")
    assert svc["tunnel"] == "ssh -NL 64042:10.0.0.5:64042 login1"
    assert (svc["node"], svc["job_id"], svc["walltime_left"], svc["walltime_end"]) == ("n1", "42", 3600,
                                                                                       "2026-11-30T18:00:00")
    assert svc["launcher"] == "slurm" and svc["secret_files"] == ["/s/redis.password"]


def test_every_known_name_gets_a_status():
    out = filters.workspace_status([CONN, {"no": "service"}], ["web", "redis"], {"later": {"job_id": "7", "state": "PENDING"}},
                                   [{"workspace_item": "web", "state": "dead", "log_file": "/l/web.log"}], "login1")
    assert sorted(out) == ["later", "redis", "web"]
    assert (out["web"]["state"], out["later"]["state"], out["redis"]["state"]) == ("dead", "pending", "dead")


def test_published_info_never_misses_a_key():
    flower = {"service": "flower", "address": "1.2.3.4", "port": 5}
    out = filters.workspace_services([flower], "login1")
    assert out["flower"] == {"service": "flower", "address": "1.2.3.4", "port": 5, "tunnel": "ssh -NL 5:1.2.3.4:5 login1",
                             "ssh_alias": "ws-default-flower", "ssh_config": ssh_config(flower, "login1", "default"),
                             "local_url": None, "secret_files": [], "walltime_end": None, "job_id": None}
    out = filters.workspace_services([flower], {"host": "login1", "port": 8022}, "demo")
    assert out["flower"]["tunnel"] == "ssh -p 8022 -NL 5:1.2.3.4:5 login1" and out["flower"]["ssh_alias"] == "ws-demo-flower"
    with pytest.raises(AnsibleFilterError, match="list of connection dicts"):
        filters.workspace_services("nope", "login1")


@pytest.mark.parametrize("svc, line", [
    ({"summary": "worker w1, concurrency 2", "url": "https://x"}, "worker w1, concurrency 2"),
    ({"url": "https://n1:64001/lab", "address": "n1", "port": 64001}, "https://n1:64001/lab"),
    ({"address": "10.0.0.5", "port": 64042}, "10.0.0.5:64042"),
    ({"port": 64042}, "?:64042"),
    ({"address": "10.0.0.5"}, "10.0.0.5"),
    ({}, "?"),
])
def test_summary_line(svc, line):
    assert filters.service_summary(svc) == line


def test_the_running_job_is_in_charge_and_the_queued_ones_follow_it():
    """Walltime continuity: the job in charge is the running one (else the oldest); the
    successors queued behind it are listed with their state and reason."""
    jobs = {"redis": [{"job_id": "44", "state": "PENDING", "reason": "Dependency"}, RUNNING,
                      {"job_id": "43", "state": "PENDING", "reason": "Dependency"}],
            "web": [{"job_id": "9", "state": "PENDING", "reason": "Priority"},
                    {"job_id": "8", "state": "PENDING", "reason": "Resources"}]}
    out = filters.workspace_status([CONN], [], jobs, [], "login1")
    assert (out["redis"]["state"], out["redis"]["job_id"]) == ("running", "42")
    assert out["redis"]["successors"] == [{"job_id": "43", "state": "pending", "reason": "Dependency"},
                                          {"job_id": "44", "state": "pending", "reason": "Dependency"}]
    assert (out["web"]["job_id"], out["web"]["reason"]) == ("8", "Resources")
    assert [j["job_id"] for j in out["web"]["successors"]] == ["9"]
    assert status.in_charge(RUNNING) == (RUNNING, []) and status.in_charge([]) == (None, [])
