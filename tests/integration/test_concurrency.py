"""Two runs of the same workspace at once, as the unprivileged test user (workspace t-concurrent).

Researchers start a play in one terminal and, impatient, the same play in another; or from two
login nodes that share $HOME. Either way exactly one instance of each service must run: the
launch lock (slurm_job / local_service) makes the second run find the first one's service, and
the instance lock the service holds in its job keeps a duplicate that slipped through (a copy
of the job script submitted by hand here) off the service's data. Two users provisioning at
the same moment each get their own service, on distinct ports.
"""
import json
import os
import pwd
import re
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import OTHER_USER, REPO, VENV_BIN, as_user_argv, run_as, run_playbook

WORKSPACE = "t-concurrent"
TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
HOME = os.path.expanduser("~" + TEST_USER)
RUN = os.path.join(HOME, ".ulhpc", "workspaces", WORKSPACE, "run")
VENV_PYTHON = os.path.join(VENV_BIN, "python")
SERVICE_PLAYBOOK = os.path.join(REPO, "tests", "integration", "playbooks", "launcher_service.yml")


def jobs():
    out = run_as(["squeue", "-h", "-u", TEST_USER, "-n", "ws-%s-web" % WORKSPACE, "-o", "%i"], check=True)
    return out.stdout.split()


def servers():
    """Pids of the web servers serving this workspace's data (any launcher, any job)."""
    data = os.path.join(HOME, ".ulhpc", "workspaces", WORKSPACE, "data").encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if b"http.server" in argv and data in argv:
            found.append(int(pid))
    return found


@pytest.fixture(params=["local", "slurm"])
def launcher(request):
    extravars = {"workspace_name": WORKSPACE, "workspace_launcher": request.param}
    assert run_playbook("teardown.yml", extravars).rc == 0
    yield extravars
    run_playbook("teardown.yml", extravars)


HOLD = ("import fcntl, os, sys, time; os.umask(0o077); os.makedirs(sys.argv[1], exist_ok=True); "
        "fd = os.open(os.path.join(sys.argv[1], 'web.pid.lock'), os.O_RDWR | os.O_CREAT, 0o600); "
        "fcntl.lockf(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(float(sys.argv[2]))")


def test_two_runs_at_once_start_one_instance(launcher):
    """Both runs are let loose at the same moment: the test holds the launch lock while they
    start, so both reach it and contend for it when it is freed. The service must start after
    that moment (the runs honoured the lock) and only once."""
    holder = subprocess.Popen(as_user_argv([VENV_PYTHON, "-c", HOLD, RUN, "20"]), stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    results = [None, None]

    def play(index):
        results[index] = run_playbook(SERVICE_PLAYBOOK, launcher)

    threads = [threading.Thread(target=play, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    holder.wait()
    released = time.time()
    for thread in threads:
        thread.join()
    for result in results:
        assert result.rc == 0, result.stdout[-3000:]
    first, second = (r.workspace["services"]["web"] for r in results)
    with open(os.path.join(RUN, "web.json")) as handle:
        conn = json.load(handle)
    # Both runs report the one instance that runs.
    for seen in (first, second):
        assert (seen["pid"], seen["port"], seen["job_id"]) == (conn["pid"], conn["port"], conn["job_id"])
    assert os.stat(os.path.join(RUN, "web.json")).st_mtime >= released - 1
    if launcher["workspace_launcher"] == "slurm":
        assert jobs() == [conn["job_id"]]
    assert len(servers()) == 1, servers()
    # Exactly one of the two runs started it; the other changed nothing about it.
    assert sorted(r.changed > 0 for r in results) in ([False, True], [True, True])
    again = run_playbook(SERVICE_PLAYBOOK, launcher)
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]


def test_a_duplicate_service_job_never_serves_the_same_data():
    """A copy of the running service's job script, submitted by hand (what two login nodes
    without working locks could produce), waits for the instance lock, then ends with an error
    naming the instance that runs; that instance is untouched."""
    launcher = {"workspace_name": WORKSPACE, "workspace_launcher": "slurm"}
    try:
        _duplicate_job_is_refused(launcher)
    finally:
        run_playbook("teardown.yml", launcher)


def _duplicate_job_is_refused(launcher):
    up = run_playbook(SERVICE_PLAYBOOK, launcher)
    assert up.rc == 0, up.stdout[-3000:]
    with open(os.path.join(RUN, "web.json")) as handle:
        conn = json.load(handle)
    # Beside the logs, not in run/: teardown takes every run/<name>.sh for a service.
    logs = os.path.join(os.path.dirname(RUN), "logs")
    copy, log = os.path.join(logs, "web-duplicate.sh"), os.path.join(logs, "web-duplicate.log")
    text = run_as(["cat", os.path.join(RUN, "web.sh")], check=True).stdout
    text = re.sub(r"(?m)^export WS_TIMEOUT=\d+$", "export WS_TIMEOUT=5", text)
    assert "export WS_TIMEOUT=5" in text
    run_as(["bash", "-c", 'umask 077; cat > "$1"', "-", copy], input=text, check=True)
    submitted = run_as(["sbatch", "--parsable", "-J", "ws-%s-dup" % WORKSPACE, "-o", log, "-t", "5", copy],
                       check=True)
    dup = submitted.stdout.strip().split(";")[0]
    state = ""
    for _try in range(120):
        state = run_as(["scontrol", "show", "job", dup], check=True).stdout
        if re.search(r"JobState=(FAILED|COMPLETED|CANCELLED)", state):
            break
        time.sleep(1)
    assert "JobState=FAILED" in state and "ExitCode=1:0" in state, state
    out = run_as(["cat", log], check=True).stdout
    assert "another instance of web runs (" in out and "job %s)" % conn["job_id"] in out, out
    assert "not starting a second one on the same data" in out, out
    assert "ready: wrote" not in out
    with open(os.path.join(RUN, "web.json")) as handle:
        assert json.load(handle) == conn
    assert jobs() == [conn["job_id"]]
    with urllib.request.urlopen(conn["url"], timeout=10) as response:
        assert response.status == 200
    assert len(servers()) == 1, servers()


def owner_of(pid):
    with open("/proc/%d/status" % pid) as handle:
        return int(next(line for line in handle if line.startswith("Uid:")).split()[1])


def test_two_users_at_once_get_their_own_service_and_nothing_of_the_other():
    """The test user and a neighbour provision the same workspace name on the same node at the
    same moment: distinct ports, each service belongs to its user, each run reports its own."""
    extravars = {"workspace_name": WORKSPACE + "-users", "workspace_launcher": "slurm"}
    users = [TEST_USER, OTHER_USER]
    results = {}

    def play(user):
        results[user] = run_playbook(SERVICE_PLAYBOOK, extravars, user=user)

    try:
        threads = [threading.Thread(target=play, args=(user,)) for user in users]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seen = {}
        for user in users:
            assert results[user].rc == 0, (user, results[user].stdout[-3000:])
            web = results[user].workspace["services"]["web"]
            home = pwd.getpwnam(user).pw_dir
            with open(os.path.join(home, ".ulhpc", "workspaces", extravars["workspace_name"], "run", "web.json")) as handle:
                conn = json.load(handle)
            assert (web["port"], web["pid"], web["job_id"]) == (conn["port"], conn["pid"], conn["job_id"])
            assert owner_of(conn["pid"]) == pwd.getpwnam(user).pw_uid
            with urllib.request.urlopen(conn["url"], timeout=10) as response:
                assert response.status == 200
            seen[user] = conn
        assert seen[TEST_USER]["port"] != seen[OTHER_USER]["port"]
        assert seen[TEST_USER]["job_id"] != seen[OTHER_USER]["job_id"]
        # Neither reads the other's workspace.
        other_root = os.path.join(pwd.getpwnam(OTHER_USER).pw_dir, ".ulhpc", "workspaces", extravars["workspace_name"])
        assert run_as(["ls", other_root]).returncode != 0
    finally:
        for user in users:
            run_playbook("teardown.yml", extravars, user=user)
