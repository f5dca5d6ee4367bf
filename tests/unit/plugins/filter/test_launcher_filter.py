"""The launcher's filters: every bad entry of launcher_services reported at once, with its own
message; the plan each service gets; what launcher_results says a call did; replicas."""
import hashlib

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.ulhpc.workspace.plugins.filter import launcher

GOOD = {"service": "redis-server", "state": "started", "script": "ws_log hi\n", "env": {"REDIS_PORT": "1"},
        "config_files": ["/tmp/a.conf", {"path": "/tmp/b.conf", "content": "x"}], "timeout": 0,
        "modules": ["lang/Python", "tools/Redis"], "slurm": {"cpus_per_task": 2}}
SETTINGS = {"name": "ws1", "env_modules": ["lang/Python"], "slurm": {"time": "01:00:00", "partition": "batch"},
            "timeout": 300, "stop_timeout": 60}
LOGIN = {"host": "login.example", "port": 22, "user": "", "via": ""}


def errors(**changes):
    return launcher.launcher_errors([dict(GOOD, **changes)])


def test_a_good_call_has_no_error():
    assert errors() == []
    assert launcher.launcher_errors([]) == []
    filters = launcher.FilterModule().filters()
    assert filters["launcher_errors"] is launcher.launcher_errors
    assert filters["launcher_plan"] is launcher.launcher_plan
    assert filters["launcher_results"] is launcher.launcher_results
    assert filters["launcher_replicas"] is launcher.launcher_replicas


@pytest.mark.parametrize("name", ["Redis", "a b", "x" * 41, "", "redis\n"])
def test_service_names(name):
    assert errors(service=name) == ['service name "%s" must be 1-40 characters of [a-z0-9_-]' % name]


def test_an_empty_body_only_for_a_stopped_service():
    assert errors(script="  \n") == ["service redis-server: the script (the service body) is empty"]
    assert errors(script="", state="stopped") == []
    assert launcher.launcher_errors([{"service": "x", "state": "stopped"}]) == []


def test_state_and_unknown_keys():
    assert errors(state="up") == ["service redis-server: state up is not one of started, stopped, restarted"]
    assert errors(launcher_env={}) == ["service redis-server: unknown keys launcher_env"]


def test_env_names():
    assert errors(env={"1X": "a", "A-B": "b", "OK": "c"}) == [
        "service redis-server: env keys must be shell variable names: 1X, A-B"]
    assert errors(env={"WS_ROOT": "/x"}) == [
        "service redis-server: env must not set WS_* variables (the preamble owns them)"]


def test_config_file_dicts_need_path_and_content():
    assert errors(config_files=[{"path": "/a"}]) == [
        "service redis-server: a dict item of config_files needs path and content"]


def test_timeouts_and_modules():
    assert errors(timeout=-1) == ["service redis-server: timeout must be 0 (the workspace's) or more seconds"]
    assert errors(stop_timeout=-5) == [
        "service redis-server: stop_timeout must be 0 (the workspace's) or more seconds"]
    assert errors(timeout="30") == [] and errors(timeout="soon") == []  # as Jinja's int: 0
    assert errors(modules=["lang/Python 3"]) == [
        "service redis-server: environment module names must not contain spaces"]


def test_all_messages_at_once_with_the_slurm_ones_last():
    found = errors(service="Bad", env={"WS_X": "1"}, slurm={"nodes": "two"})
    assert found[0].startswith('service name "Bad"') and found[1].startswith("service Bad: env must not")
    assert len(found) == 3 and found[2].startswith("slurm of service Bad")


def test_every_entry_is_checked_and_a_name_only_once():
    found = launcher.launcher_errors([GOOD, "redis", dict(GOOD, script=""), {"service": "b", "state": "stopped"}])
    assert found == ["launcher_services: 'redis' is not a dict",
                     "service redis-server: the script (the service body) is empty",
                     "launcher_services names a service more than once: redis-server"]


def test_not_a_list():
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        launcher.launcher_errors({"service": "redis"})


def plan(*entries):
    return launcher.launcher_plan(list(entries), SETTINGS, "/w/run", "/w/logs")


def test_the_plan_of_a_service():
    found = plan(GOOD)
    assert found["errors"] == [] and found["scripts"] == {"redis-server": "ws_log hi\n"}
    (item,) = found["services"]
    assert item == {
        "service": "redis-server", "state": "started", "env": {"REDIS_PORT": "1"},
        "config_paths": ["/tmp/a.conf"],
        "config_digests": [{"path": "/tmp/b.conf", "sha256": hashlib.sha256(b"x").hexdigest()}],
        "modules": ["lang/Python", "tools/Redis"],  # the workspace's first, once
        "slurm": {"time": "01:00:00", "partition": "batch", "cpus_per_task": 2},
        "secret_files": [], "timeout": 300, "stop_timeout": 60,
        "job_name": "ws-ws1-redis-server", "script_path": "/w/run/redis-server.sh",
        "conn_path": "/w/run/redis-server.json", "pid_path": "/w/run/redis-server.pid",
        "lock_path": "/w/run/redis-server.pid.lock", "argv_path": "/w/run/redis-server.sbatch",
        "log_path": "/w/logs/redis-server.log",
    }


def test_the_plan_never_holds_a_configuration_text_and_keeps_the_order():
    secret = {"path": "/w/config/celery.ini", "content": "broker_url = rediss://celery:hunter2@node:1/0"}
    found = plan({"service": "b", "script": "x", "config_files": [secret], "timeout": 30, "stop_timeout": "9",
                  "slurm": {"partition": ""}},
                 {"service": "a", "state": "stopped"})
    assert "hunter2" not in repr(found["services"])
    assert [item["service"] for item in found["services"]] == ["b", "a"]
    first = found["services"][0]
    assert first["timeout"] == 30 and first["stop_timeout"] == 9
    assert first["slurm"] == {"time": "01:00:00"}  # "" removes the workspace's partition
    assert found["scripts"] == {"b": "x", "a": ""}


def test_an_invalid_call_has_no_plan():
    assert plan(dict(GOOD, service="Bad")) == {
        "errors": ['service name "Bad" must be 1-40 characters of [a-z0-9_-]'], "services": [], "scripts": {},
        "private": {}}


def test_private_files_are_checked_with_every_message():
    assert errors(private_files={"files": [{"path": "/w/a.conf", "content": ""}], "directories": ["/w/data"],
                                 "links": [{"path": "/w/l", "src": "a.conf"}]}) == []
    assert errors(private_files=["/w/a.conf"]) == [
        "service redis-server: private_files must be a dict of directories, files and links"]
    assert errors(private_files={"dirs": [], "files": "/w/a.conf", "directories": ["data"],
                                 "links": [{"path": "/w/l"}]}) == [
        "service redis-server: private_files has unknown keys dirs",
        "service redis-server: private_files.directories: data is not an absolute path",
        "service redis-server: private_files.files must be a list",
        "service redis-server: an item of private_files.links needs path and src"]


def test_private_files_are_planned_apart_and_fingerprinted():
    secret = {"path": "/w/config/celery.ini", "content": "password hunter2"}
    found = plan({"service": "b", "script": "x", "config_files": ["/w/other"],
                  "private_files": {"directories": ["/w/venv/etc"], "files": [secret],
                                    "links": [{"path": "/w/venv/etc/celery.ini", "src": "/w/config/celery.ini"}]}},
                 {"service": "a", "state": "stopped", "private_files": {"files": [secret]}})
    assert "hunter2" not in repr(found["services"])
    assert found["private"] == {
        "b": {"directories": ["/w/venv/etc"], "files": [dict(secret, mode="0600")],
              "links": [{"path": "/w/venv/etc/celery.ini", "src": "/w/config/celery.ini"}]},
        "a": {"directories": [], "files": [], "links": []}}  # nothing is written for a stopped service
    first = found["services"][0]
    assert first["config_paths"] == ["/w/other"]
    assert first["config_digests"] == [
        {"path": "/w/config/celery.ini", "sha256": hashlib.sha256(b"password hunter2").hexdigest()}]


def looped(item, **result):
    return dict(result, __launcher_item=item, ansible_loop_var="__launcher_item")


def test_results_of_slurm_jobs():
    items = plan({"service": "a", "script": "x", "secret_files": ["/s/a"]},
                 {"service": "b", "script": "y"}, {"service": "c", "state": "stopped"})["services"]
    ready = {"host": "node1", "address": "10.0.0.1", "port": 64001, "job_id": "7", "service": "a"}
    jobs = [looped(items[0], changed=False, job_id="7", ready=ready, end_time="2026-12-02T10:00:00"),
            looped(items[1], changed=False, job_id="8", ready=None)]
    stops = [looped(items[2], changed=True)]
    found = launcher.launcher_results({"services": items}["services"], "slurm", LOGIN, local=[], jobs=jobs,
                                      stops=stops, job_changed=["b"])
    assert [r["service"] for r in found] == ["a", "b", "c"]
    a, b, c = found
    assert a["state"] == "running" and a["job_id"] == "7" and a["changed"] is False and a["pid"] is None
    assert a["connection"]["secret_files"] == ["/s/a"] and a["connection"]["port"] == 64001
    assert a["connection"]["walltime_end"] == "2026-12-02T10:00:00"
    assert "10.0.0.1" in a["connection"]["tunnel"] or "64001" in a["connection"]["tunnel"]
    assert b["changed"] is True and b["connection"] == {} and b["job_id"] == "8"  # changed in an earlier round
    assert c == {"service": "c", "state": "stopped", "launcher": "slurm", "job_id": None, "pid": None,
                 "changed": True, "connection": {}}


def test_results_of_local_processes_ignore_slurm_leftovers():
    items = plan({"service": "a", "script": "x"})["services"]
    ready = {"address": "127.0.0.1", "port": 64002, "pid": 42, "service": "a"}
    local = [looped(items[0], changed=True, pid=41, ready=ready)]
    stale = [looped(items[0], changed=True, job_id="9", ready={"port": 1})]
    (a,) = launcher.launcher_results(items, "local", LOGIN, local=local, jobs=stale, stops=stale, job_changed=["a"])
    assert a["changed"] is True and a["pid"] == 42 and a["job_id"] is None
    assert a["connection"]["port"] == 64002 and a["connection"]["walltime_end"] is None
    skipped = [dict(looped(items[0]), skipped=True)]
    (a,) = launcher.launcher_results(items, "local", LOGIN, local=skipped)
    assert a["changed"] is False and a["connection"] == {} and a["pid"] is None


def test_replicas():
    entry = {"state": "started", "script": "x"}
    assert launcher.launcher_replicas(entry, ["w-1", "w-2"]) == [
        {"state": "started", "script": "x", "service": "w-1"}, {"state": "started", "script": "x", "service": "w-2"}]
    assert launcher.launcher_replicas(entry, []) == []
    with pytest.raises(AnsibleFilterError, match="expected a dict"):
        launcher.launcher_replicas(["x"], ["a"])
    with pytest.raises(AnsibleFilterError, match="expected a list"):
        launcher.launcher_replicas(entry, "a")


def test_a_call_without_a_workspace_says_to_set_it_up():
    found = launcher.launcher_plan([GOOD], None, "", "")
    assert found["services"] == [] and found["errors"] == [
        "the workspace is not set up: include the role ulhpc.workspace.workspace with tasks_from: ensure before the launcher"]
