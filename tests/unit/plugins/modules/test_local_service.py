"""local_service with real processes in a temporary directory."""
import json
import os
import signal
import stat
import time

import pytest

from ansible_collections.ulhpc.workspace.plugins.module_utils import _local
from ansible_collections.ulhpc.workspace.plugins.modules import local_service

from module_harness import call_main, patch_exits


@pytest.fixture
def svc(monkeypatch, tmp_path):
    """svc(state=..., content=..., check=False, **params) -> result; stops what it started."""
    patch_exits(monkeypatch)
    base = dict(name="web", pid_file=str(tmp_path / "web.pid"), log_file=str(tmp_path / "web.log"),
                ready_file=str(tmp_path / "web.json"), timeout=10, stop_timeout=5)

    def call(check=False, **params):
        args = dict(base)
        args.update(params)
        return call_main(local_service.main, args, check=check)

    yield call
    data = _local.read_pid_file(base["pid_file"])
    if data and data.get("pid"):
        try:
            os.killpg(data["pid"], signal.SIGKILL)
        except OSError:
            pass


def ready_script(tmp_path, tag="v1", extra=""):
    """A service that forks a child, then writes its ready file and waits."""
    return (
        "sleep 300 &\n"
        "%s\n"
        "printf '{\"tag\": \"%s\", \"pid\": %%d, \"foo\": \"%%s\"}' $$ \"${FOO:-}\" > %s.tmp\n"
        "mv %s.tmp %s\n"
        "wait\n" % (extra, tag, tmp_path / "web.json", tmp_path / "web.json", tmp_path / "web.json"))


def alive(pid):
    return _local.pid_alive(pid)


def wait_gone(pid, seconds=5):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if not _local.group_members(pid):
            return True
        time.sleep(0.05)
    return False


def test_start_is_detached_ready_and_idempotent(svc, tmp_path):
    first = svc(content=ready_script(tmp_path), environment={"FOO": "bar baz"})
    assert first["changed"] and first["action"] == "started" and first["state"] == "running"
    pid = first["pid"]
    assert first["ready"] == {"tag": "v1", "pid": pid, "foo": "bar baz"}
    assert os.getsid(pid) == pid  # own session and process group
    data = json.loads((tmp_path / "web.pid").read_text())
    assert data["pid"] == pid and len(data["hash"]) == 64
    assert stat.S_IMODE(os.stat(str(tmp_path / "web.pid")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(tmp_path / "web.sh")).st_mode) == 0o700
    # the environment is exported, never on the command line
    with open("/proc/%d/cmdline" % pid, "rb") as handle:
        assert b"bar baz" not in handle.read()
    again = svc(content=ready_script(tmp_path), environment={"FOO": "bar baz"})
    assert not again["changed"] and again["pid"] == pid and again["ready"]["tag"] == "v1"


def test_changed_content_restarts(svc, tmp_path):
    old = svc(content=ready_script(tmp_path, "v1"))["pid"]
    new = svc(content=ready_script(tmp_path, "v2"))
    assert new["changed"] and new["action"] == "restarted" and new["pid"] != old
    assert new["ready"]["tag"] == "v2"
    assert wait_gone(old)


def test_changed_environment_restarts(svc, tmp_path):
    old = svc(content=ready_script(tmp_path), environment={"FOO": "1"})["pid"]
    new = svc(content=ready_script(tmp_path), environment={"FOO": "2"})
    assert new["changed"] and new["pid"] != old and new["ready"]["foo"] == "2"


def test_check_mode_starts_nothing(svc, tmp_path):
    result = svc(content=ready_script(tmp_path), check=True)
    assert result["changed"] and result["action"] == "started" and result["state"] == "absent"
    assert not (tmp_path / "web.pid").exists() and not (tmp_path / "web.sh").exists()


def test_check_mode_keeps_a_running_service(svc, tmp_path):
    pid = svc(content=ready_script(tmp_path, "v1"))["pid"]
    result = svc(content=ready_script(tmp_path, "v2"), check=True)
    assert result["changed"] and result["action"] == "restarted" and result["pid"] == pid
    assert alive(pid) and json.loads((tmp_path / "web.json").read_text())["tag"] == "v1"
    stop = svc(state="stopped", check=True)
    assert stop["changed"] and stop["action"] == "stopped" and alive(pid)


def test_status_running_dead_absent(svc, tmp_path):
    assert svc(state="status")["state"] == "absent"
    pid = svc(content=ready_script(tmp_path))["pid"]
    running = svc(state="status")
    assert (running["state"], running["pid"], running["changed"]) == ("running", pid, False)
    assert running["ready"]["tag"] == "v1"
    os.killpg(pid, signal.SIGKILL)
    assert wait_gone(pid)
    dead = svc(state="status")
    assert dead["state"] == "dead" and not dead["changed"] and (tmp_path / "web.pid").exists()
    assert "log_tail" in dead


def test_stop_terminates_the_whole_group(svc, tmp_path):
    pid = svc(content=ready_script(tmp_path))["pid"]
    children = [p for p in _local.group_members(pid) if p != pid]
    assert children, "the test service should have a child"
    result = svc(state="stopped")
    assert result["changed"] and result["action"] == "stopped" and result["state"] == "absent"
    assert not _local.group_members(pid)
    assert not (tmp_path / "web.pid").exists() and not (tmp_path / "web.json").exists()
    again = svc(state="stopped")
    assert not again["changed"] and again["action"] == "none"


def test_stop_kills_a_service_ignoring_term(svc, tmp_path):
    script = "trap '' TERM\n" + ready_script(tmp_path)
    pid = svc(content=script)["pid"]
    started = time.time()
    result = svc(state="stopped", stop_timeout=1)
    assert result["changed"] and not _local.group_members(pid)
    assert time.time() - started < 8


def test_stopping_a_dead_service_cleans_its_pid_file(svc, tmp_path):
    pid = svc(content=ready_script(tmp_path))["pid"]
    os.killpg(pid, signal.SIGKILL)
    assert wait_gone(pid)
    result = svc(state="stopped")
    assert result["changed"] and result["action"] == "cleaned" and not (tmp_path / "web.pid").exists()


def test_restarted_always_restarts(svc, tmp_path):
    old = svc(content=ready_script(tmp_path))["pid"]
    new = svc(content=ready_script(tmp_path), state="restarted")
    assert new["changed"] and new["pid"] != old and new["ready"]["pid"] == new["pid"]


def test_service_that_dies_reports_exit_code_and_log(svc, tmp_path):
    result = svc(content="echo 'redis-server: command not found' >&2\nexit 3\n")
    assert result["failed"] and result["state"] == "dead" and result["exit_code"] == 3
    assert "redis-server: command not found" in result["log_tail"]
    assert "exited before writing its ready file" in result["msg"]


def test_timeout_leaves_it_running_and_says_so(svc, tmp_path):
    result = svc(content="echo starting\nsleep 300 &\nwait\n", timeout=1)
    assert result["failed"] and result["state"] == "running" and "left running" in result["msg"]
    assert result["log_tail"] == ["starting"]
    assert alive(result["pid"])
    assert svc(state="stopped")["changed"]


def test_stale_ready_file_is_removed_before_start(svc, tmp_path):
    (tmp_path / "web.json").write_text('{"tag": "stale"}')
    result = svc(content="sleep 0.3\n" + ready_script(tmp_path, "fresh"))
    assert result["ready"]["tag"] == "fresh"


def test_reused_pid_is_not_mistaken_for_the_service(svc, tmp_path):
    # our own pid, but another start time: a pid reused by an unrelated process
    (tmp_path / "web.pid").write_text(json.dumps({"pid": os.getpid(), "start_time": 1, "hash": "x"}))
    assert svc(state="status")["state"] == "dead"


def test_foreign_pid_file_is_refused(svc, tmp_path):
    (tmp_path / "web.pid").write_text("not a pid")
    result = svc(state="status")
    assert result["failed"] and "is not a pid file" in result["msg"]


def test_missing_content_and_negative_timeout_are_refused(svc, tmp_path):
    assert svc()["failed"]
    result = svc(content="true\n", timeout=-1)
    assert result["failed"] and "timeout" in result["msg"]
    assert not (tmp_path / "web.pid").exists()


def test_proc_stat_parsing_survives_odd_command_names(tmp_path):
    proc = tmp_path / "proc"
    (proc / "42").mkdir(parents=True)
    fields = ["S", "1", "42", "42"] + ["0"] * 15 + ["777"] + ["0"] * 30
    (proc / "42" / "stat").write_text("42 (a) b (c) " + " ".join(fields))
    assert _local.read_proc_stat(42, str(proc)) == ("S", 42, 777)
    assert _local.pid_alive(42, 777, str(proc)) and not _local.pid_alive(42, 778, str(proc))
    (proc / "42" / "stat").write_text("42 (z) " + " ".join(["Z"] + fields[1:]))
    assert not _local.pid_alive(42, None, str(proc))
    assert _local.group_members(42, str(proc)) == []
    assert _local.read_proc_stat(43, str(proc)) is None


def test_content_hash_covers_script_environment_and_directory():
    base = _local.content_hash("echo", {"A": "1"}, "/tmp")
    assert base == _local.content_hash("echo", {"A": "1"}, "/tmp")
    assert len({base, _local.content_hash("echo ", {"A": "1"}, "/tmp"),
                _local.content_hash("echo", {"A": "2"}, "/tmp"), _local.content_hash("echo", {"A": "1"}, "/")}) == 4


def test_pid_file_formats(tmp_path):
    path = tmp_path / "x.pid"
    assert _local.read_pid_file(str(path)) == {}
    path.write_text("123\n")
    assert _local.read_pid_file(str(path)) == {"pid": 123}
    path.write_text('{"pid": "nope"}')
    assert _local.read_pid_file(str(path)) is None
    _local.write_private_file(str(path), '{"pid": 5}')
    assert _local.read_pid_file(str(path)) == {"pid": 5}
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600
    assert _local.tail(str(tmp_path / "missing")) == []


def test_a_start_waits_for_the_run_that_holds_the_lock(svc, tmp_path):
    import subprocess
    import sys
    hold = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600); "
        "fcntl.lockf(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(1.5)"),
        str(tmp_path / "web.pid.lock")], stdout=subprocess.PIPE, text=True)
    assert hold.stdout.readline().strip() == "held"
    start = time.monotonic()
    result = svc(content=ready_script(tmp_path))
    assert time.monotonic() - start >= 1.0
    assert hold.wait() == 0
    assert result["changed"] and result["state"] == "running"
    # the running service did not inherit the module's lock: it is free
    from ansible_collections.ulhpc.workspace.plugins.module_utils._lock import FileLock
    with FileLock(str(tmp_path / "web.pid.lock"), 0):
        pass


def test_check_mode_and_status_take_no_lock(svc, tmp_path):
    svc(check=True, content=ready_script(tmp_path))
    svc(state="status")
    assert not (tmp_path / "web.pid.lock").exists()


def test_private_files_are_written_before_the_start_and_kept_while_it_runs(svc, tmp_path):
    conf = tmp_path / "conf" / "web.conf"
    private = dict(directories=[str(tmp_path / "data")], files=[dict(path=str(conf), content="port 1\n")],
                   links=[dict(path=str(tmp_path / "web.conf.link"), src=str(conf))])
    # The service reads its config at start: it must already be there.
    script = ready_script(tmp_path, extra="test -s %s || exit 9" % conf)
    first = svc(content=script, **private)
    assert first["action"] == "started" and first["state"] == "running"
    assert sorted(first["changed_paths"]) == sorted([str(tmp_path / "data"), str(tmp_path / "conf"), str(conf),
                                                     str(tmp_path / "web.conf.link")])
    assert conf.read_text() == "port 1\n" and stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert os.readlink(str(tmp_path / "web.conf.link")) == str(conf)
    again = svc(content=script, **private)
    assert not again["changed"] and again["changed_paths"] == [] and again["pid"] == first["pid"]
    # A file edited by hand is put back, without a restart (the script is the same).
    conf.write_text("port 2\n")
    checked = svc(check=True, content=script, **private)
    assert checked["changed"] and checked["changed_paths"] == [str(conf)] and conf.read_text() == "port 2\n"
    fixed = svc(content=script, **private)
    assert fixed["changed"] and fixed["action"] == "none" and fixed["pid"] == first["pid"]
    assert conf.read_text() == "port 1\n"


def test_a_private_path_in_the_way_fails_before_the_service_is_touched(svc, tmp_path):
    first = svc(content=ready_script(tmp_path, "v1"))
    (tmp_path / "taken").write_text("a file")
    result = svc(content=ready_script(tmp_path, "v2"), directories=[str(tmp_path / "taken")])
    assert result["failed"] and "is not a directory" in result["msg"] and "nothing was changed" in result["msg"]
    assert alive(first["pid"])
    assert svc(state="status")["pid"] == first["pid"]
