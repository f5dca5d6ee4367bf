"""The launcher, local and Slurm mode, as the unprivileged test user (workspace t-launcher).

A tiny HTTP service (tests/integration/playbooks/launcher_service.yml) is started, re-run,
checked, inspected with playbooks/status.yml, restarted and torn down with
playbooks/teardown.yml; the tests talk to it over loopback.
"""
import json
import os
import re
import socket
import time
import urllib.request

import pytest

from conftest import OTHER_USER, REPO, run_as, run_playbook

WORKSPACE = "t-launcher"
SERVICE_PLAYBOOK = os.path.join(REPO, "tests", "integration", "playbooks", "launcher_service.yml")
HOME = os.path.expanduser("~" + os.environ.get("WS_TEST_USER", "wsuser"))
ROOT = os.path.join(HOME, ".ulhpc", "workspaces", WORKSPACE)
RUN = os.path.join(ROOT, "run")
CONN = os.path.join(RUN, "web.json")


def free_ports(count=2):
    """A port P such that P .. P+count-1 are free on loopback (P is then held by the test)."""
    for base in range(61000, 61900, 7):
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sock.bind(("127.0.0.1", port))
                socks.append(sock)
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise AssertionError("no free pair of ports on loopback")


def stats_key(result, key):
    return result.custom_stats.get(key) or result.custom_stats.get("_run", {}).get(key, {})


def fetch(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def active_jobs():
    proc = run_as(["squeue", "-h", "-u", os.environ.get("WS_TEST_USER", "wsuser"), "-n",
                   "ws-%s-web" % WORKSPACE, "-o", "%i %T"])
    assert proc.returncode == 0, proc.stderr
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def process_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.fixture(scope="module", params=["local", "slurm"])
def mode(request):
    """Per launcher: extra vars, a held port (local mode) and what earlier steps saw."""
    extravars = {"workspace_name": WORKSPACE}
    held = None
    if request.param == "local":
        base = free_ports(2)
        held = socket.socket()
        held.bind(("127.0.0.1", base))
        held.listen(1)
        extravars.update(workspace_launcher="local", workspace_port_base=base, workspace_port_span=2)
    state = {"name": request.param, "vars": extravars, "held": held}
    down = run_playbook("teardown.yml", extravars)
    assert down.rc == 0, down.stdout
    yield state
    run_playbook("teardown.yml", extravars)
    if held:
        held.close()


def start(mode, **extra):
    extravars = dict(mode["vars"])
    extravars.update(extra)
    return run_playbook(SERVICE_PLAYBOOK, extravars)


def test_start_writes_the_connection_and_answers(mode):
    result = start(mode)
    assert result.rc == 0, result.stdout
    assert result.changed > 0
    web = result.workspace["services"]["web"]
    with open(CONN) as handle:
        conn = json.load(handle)
    assert conn["service"] == "web" and conn["launcher"] == mode["name"] and conn["workspace"] == WORKSPACE
    assert conn["address"] == "127.0.0.1" and conn["host"] == socket.gethostname().split(".")[0]
    assert conn["url"] == "http://127.0.0.1:%d/web-index.txt" % conn["port"]
    assert conn["secret_files"] == [os.path.join(ROOT, "secrets", "web.token")]
    if mode["name"] == "local":
        # the first candidate port is held by this test: the probe moved to the next one
        assert conn["port"] == mode["vars"]["workspace_port_base"] + 1
        assert conn["job_id"] is None and conn["walltime_end"] is None
    else:
        assert conn["job_id"].isdigit() and conn["walltime_end"]
        assert 64000 <= conn["port"] <= 64999
        assert active_jobs() == [conn["job_id"]]
    assert process_alive(conn["pid"])
    for key in ("address", "port", "url", "job_id", "pid", "secret_files"):
        assert web[key] == conn[key], key
    assert web["tunnel"] == "ssh -NL {0}:127.0.0.1:{0} localhost".format(conn["port"])
    assert fetch(conn["url"]) == "hello from the launcher test\n"
    mode["conn"] = conn


def test_second_run_changes_nothing(mode):
    result = start(mode)
    assert result.rc == 0, result.stdout
    assert result.changed == 0
    web = result.workspace["services"]["web"]
    assert (web["pid"], web["job_id"]) == (mode["conn"]["pid"], mode["conn"]["job_id"])


def test_check_mode_changes_nothing(mode):
    quiet = run_playbook(SERVICE_PLAYBOOK, mode["vars"], check=True)
    assert quiet.rc == 0, quiet.stdout
    assert quiet.changed == 0
    restart = run_playbook(SERVICE_PLAYBOOK, dict(mode["vars"], launcher_test_state="restarted"), check=True)
    assert restart.rc == 0, restart.stdout
    assert restart.changed > 0  # it says it would restart ...
    with open(CONN) as handle:
        conn = json.load(handle)
    assert (conn["pid"], conn["job_id"]) == (mode["conn"]["pid"], mode["conn"]["job_id"])  # ... and did not
    assert fetch(conn["url"]).startswith("hello")


def test_status_reports_the_service(mode):
    result = run_playbook("status.yml", mode["vars"])
    assert result.rc == 0, result.stdout
    assert result.changed == 0
    web = result.workspace["services"]["web"]
    conn = mode["conn"]
    assert web["state"] == "running" and web["launcher"] == mode["name"]
    assert web["url"] == conn["url"] and web["node"] == conn["host"]
    assert web["tunnel"] == "ssh -NL {0}:127.0.0.1:{0} localhost".format(conn["port"])
    if mode["name"] == "slurm":
        assert web["job_id"] == conn["job_id"] and 0 < web["walltime_left"] <= 600
    else:
        assert web["pid"] == conn["pid"] and web["walltime_left"] is None
    assert "web" in result.stdout and conn["url"] in result.stdout


def test_other_user_reads_nothing(mode):
    for path in (CONN, RUN, os.path.join(ROOT, "logs", "web.log"), os.path.join(RUN, "web.sh")):
        proc = run_as(["cat", path] if not os.path.isdir(path) else ["ls", path], user=OTHER_USER)
        assert proc.returncode != 0 and "Permission denied" in proc.stderr, path
    assert oct(os.stat(CONN).st_mode & 0o777) == "0o600"
    for path in (ROOT, RUN, os.path.join(ROOT, "secrets")):
        assert oct(os.stat(path).st_mode & 0o777) == "0o700", path


def test_restart_gives_a_new_process(mode):
    result = start(mode, launcher_test_state="restarted")
    assert result.rc == 0, result.stdout
    assert result.changed > 0
    with open(CONN) as handle:
        conn = json.load(handle)
    old = mode["conn"]
    assert conn["pid"] != old["pid"] or conn["job_id"] != old["job_id"]
    if mode["name"] == "slurm":
        assert conn["job_id"] != old["job_id"] and active_jobs() == [conn["job_id"]]
    else:
        assert not process_alive(old["pid"])
    assert fetch(conn["url"]).startswith("hello")
    mode["conn"] = conn


def test_teardown_stops_everything(mode):
    conn = mode["conn"]
    result = run_playbook("teardown.yml", mode["vars"])
    assert result.rc == 0, result.stdout
    assert stats_key(result, "workspace_teardown")["stopped"] == [
        "web (local process)" if mode["name"] == "local" else "web (Slurm job)"]
    deadline = time.time() + 30
    while time.time() < deadline and (process_alive(conn["pid"]) or active_jobs()):
        time.sleep(0.5)
    assert not process_alive(conn["pid"])
    assert active_jobs() == []
    assert not os.path.exists(CONN)
    with pytest.raises(OSError):
        fetch(conn["url"], timeout=2)
    log = run_as(["cat", os.path.join(ROOT, "logs", "web.log")]).stdout
    assert "web: cleanup ran" in log  # the ws_on_exit command ran on the way down
    again = run_playbook("teardown.yml", mode["vars"])
    assert again.rc == 0 and again.changed == 0
    assert stats_key(again, "workspace_teardown")["stopped"] == []
    status = run_playbook("status.yml", mode["vars"])
    assert status.workspace["services"]["web"]["state"] == "stopped"


def test_pick_port_probes_past_a_held_port(mode):
    """ws_pick_port of the rendered preamble with a known seed: a held port is skipped, offsets kept."""
    base = free_ports(3)
    holder = socket.socket()
    holder.bind(("127.0.0.1", base))
    holder.listen(1)
    script = os.path.join(RUN, "web.sh")
    probe = ('eval "$(sed "/^# ---- service body/q" %s)"; trap - EXIT TERM INT HUP; '
             'export SLURM_JOB_ID=999 WS_PORT_BASE=%d WS_PORT_SPAN=3; '
             'ws_pick_port; ws_pick_port 2; WS_PORT_SPAN=1; ws_pick_port || echo failed' % (script, base))
    try:
        proc = run_as(["bash", "-c", probe])
    finally:
        holder.close()
    assert proc.stdout.split() == [str(base + 1), str(base + 2), "failed"], proc.stdout + proc.stderr
    assert "no free port" in proc.stderr


def test_environment_modules_are_loaded_or_fail_clearly():
    """launcher_modules go through Lmod (sourced by the preamble); an unknown one fails the start."""
    extravars = {"workspace_name": WORKSPACE + "-mod", "workspace_launcher": "local",
                 "launcher_test_modules": ["lang/Python/3.11"]}
    conn_file = os.path.join(HOME, ".ulhpc", "workspaces", WORKSPACE + "-mod", "run", "web.json")
    try:
        result = run_playbook(SERVICE_PLAYBOOK, extravars)
        assert result.rc == 0, result.stdout
        with open(conn_file) as handle:
            assert "lang/Python/3.11" in json.load(handle)["modules"].split(":")
        bad = run_playbook(SERVICE_PLAYBOOK, dict(extravars, launcher_test_modules=["lang/Nope/1.0"]))
        assert bad.rc != 0
        flat = " ".join(bad.stdout.split())  # the YAML callback folds long lines
        assert "module load lang/Nope/1.0" in flat and "failed on" in flat and "module avail" in flat
        assert not os.path.exists(conn_file)
    finally:
        run_playbook("teardown.yml", extravars)


def test_status_shows_a_pending_job_and_teardown_cancels_it():
    """A job of the workspace that Slurm holds back: status says pending and why; teardown cancels it."""
    workspace = WORKSPACE + "-pend"
    extravars = {"workspace_name": workspace}
    logs = os.path.join(HOME, ".ulhpc", "workspaces", workspace, "logs")
    setup = run_playbook("status.yml", extravars)  # resolves the workspace; creates nothing
    assert setup.rc == 0 and setup.workspace["services"] == {}
    run_as(["mkdir", "-p", logs], check=True)
    name = "ws-%s-later" % workspace
    submit = run_as(["sbatch", "--parsable", "--job-name=" + name, "--begin=now+3600", "--time=00:05:00",
                     "--output=" + os.path.join(logs, "later.log"), "--wrap=sleep 60"])
    assert submit.returncode == 0, submit.stderr
    job_id = submit.stdout.strip().split(";")[0]
    try:
        status = run_playbook("status.yml", extravars)
        assert status.rc == 0, status.stdout
        later = status.workspace["services"]["later"]
        assert (later["state"], later["job_id"], later["launcher"]) == ("pending", job_id, "slurm")
        assert later["reason"] == "BeginTime" and later["url"] is None and later["tunnel"] is None
        assert "pending" in status.stdout and "BeginTime" in status.stdout
        down = run_playbook("teardown.yml", extravars)
        assert down.rc == 0, down.stdout
        assert stats_key(down, "workspace_teardown")["stopped"] == ["later (Slurm job)"]
        left = run_as(["squeue", "-h", "-j", job_id, "-o", "%T"]).stdout.strip()
        assert left in ("", "CANCELLED"), left
    finally:
        run_as(["scancel", job_id])


def test_a_pending_service_job_is_never_silent_and_a_rerun_resumes_the_wait():
    """A service job that Slurm holds back (--begin): every 30 s the play says it is pending,
    why, and when Slurm expects to start it; at the timeout it fails saying the job stays
    queued and how to resume or cancel; the re-run finds the same job and waits for it."""
    workspace = WORKSPACE + "-wait"
    extravars = {"workspace_name": workspace, "launcher_test_timeout": 35,
                 "launcher_test_slurm": {"extra_args": ["--begin=now+50"]}}
    try:
        first = run_playbook(SERVICE_PLAYBOOK, extravars, verbosity=0)
        assert first.rc != 0, first.stdout
        flat = " ".join(first.stdout.split())
        news = re.findall(r"web: job (\d+) \(ws-%s-web\) is PENDING, reason BeginTime, start expected by Slurm: "
                          r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d); waited (\d+) of 35 s" % workspace, flat)
        assert [int(w) for _job, _start, w in news] == [30], flat[-3000:]
        job_id = news[0][0]
        assert "The job stays in the queue. Re-run this playbook with the same settings to resume waiting" in flat
        assert "scancel %s" % job_id in flat
        assert active_jobs_of(workspace) == [job_id]
        # The re-run submits nothing, even with a longer timeout (the playbook's wait is not part of
        # the job's script): it waits for the same job, which starts at its begin time.
        again = run_playbook(SERVICE_PLAYBOOK, dict(extravars, launcher_test_timeout=120))
        assert again.rc == 0, again.stdout
        assert again.workspace["services"]["web"]["job_id"] == job_id
        assert active_jobs_of(workspace) == [job_id]
    finally:
        run_playbook("teardown.yml", {"workspace_name": workspace})


def active_jobs_of(workspace):
    proc = run_as(["squeue", "-h", "-u", os.environ.get("WS_TEST_USER", "wsuser"), "-n",
                   "ws-%s-web" % workspace, "-o", "%i"])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def parse_env(text):
    return dict(item.split("=", 1) for item in text.split("\0") if "=" in item)


def login_env_with_module(module):
    """The variables `module load` adds to a login shell of the test user (PATH aside)."""
    dump = "env -0; printf '\\0--\\0'; module load %s >/dev/null 2>&1 && env -0" % module
    proc = run_as(["bash", "-lc", dump])
    before, _sep, after = proc.stdout.partition("\0--\0")
    base, loaded = parse_env(before), parse_env(after)
    env = dict((k, v) for k, v in loaded.items() if base.get(k) != v and k not in ("PATH", "_", "SHLVL"))
    assert module in env.get("LOADEDMODULES", "").split(":"), proc.stderr
    return env


def test_workspace_slurm_settings_reach_every_job_and_module_purge_clears_the_shell():
    """workspace_slurm applies to a service that does not override it (walltime, extra sbatch
    arguments); workspace_module_purge keeps the modules of the shell that ran the playbook
    (sbatch exports its environment) out of the service."""
    workspace = WORKSPACE + "-site"
    module_env = login_env_with_module("lang/Python/3.11")
    base = {"workspace_name": workspace, "launcher_test_slurm": {},
            "workspace_slurm": {"time": "00:08:00", "extra_args": ["--nice=7"]}}
    conn_file = os.path.join(HOME, ".ulhpc", "workspaces", workspace, "run", "web.json")
    try:
        kept = run_playbook(SERVICE_PLAYBOOK, base, extra_env=module_env)
        assert kept.rc == 0, kept.stdout
        job_id = kept.workspace["services"]["web"]["job_id"]
        show = run_as(["scontrol", "show", "job", str(job_id)]).stdout
        assert "TimeLimit=00:08:00" in show and "Nice=7" in show, show
        with open(conn_file) as handle:
            assert "lang/Python/3.11" in json.load(handle)["modules"].split(":")
        purged = run_playbook(SERVICE_PLAYBOOK, dict(base, workspace_module_purge=True), extra_env=module_env)
        assert purged.rc == 0, purged.stdout
        assert purged.workspace["services"]["web"]["job_id"] != job_id  # the script changed: replaced
        with open(conn_file) as handle:
            assert json.load(handle)["modules"] == ""
        bad = run_playbook(SERVICE_PLAYBOOK, dict(base, workspace_slurm={"partiton": "batch", "mem": "lots"}))
        assert bad.rc != 0
        flat = " ".join(bad.stdout.split())
        assert "workspace_slurm: unknown Slurm option partiton (known: partition," in flat, flat[-2000:]
        assert "workspace_slurm: invalid mem 'lots': expected a size such as 4G" in flat
        assert active_jobs_of(workspace) == [str(purged.workspace["services"]["web"]["job_id"])]
        # The 0.1.0 name still works for one release, and says so.
        legacy = run_playbook(SERVICE_PLAYBOOK, dict(base, workspace_slurm={}, workspace_slurm_time="00:07:00"))
        assert legacy.rc == 0, legacy.stdout
        flat = " ".join(legacy.stdout.split())
        assert "DEPRECATION WARNING" in flat and "workspace_slurm_time is deprecated, set workspace_slurm.time" in flat
        show = run_as(["scontrol", "show", "job", str(legacy.workspace["services"]["web"]["job_id"])]).stdout
        assert "TimeLimit=00:07:00" in show, show
    finally:
        run_playbook("teardown.yml", {"workspace_name": workspace})
