"""Walltime continuity (workspace_continuation), as the unprivileged test user (workspace
t-continue): Redis and a Celery worker with a 3-minute walltime hand over to their queued
successors while tasks keep coming, and nothing is lost. Jupyter (workspace
t-continue-jupyter) hands over too: its successor serves the same root directory with the same
password.

Each service job, once its service runs, queues a successor (same script, same sbatch command
line, --dependency=singleton). Slurm signals the job 60 s ahead of its walltime
(--signal=B:TERM@60): Redis saves, the worker shuts down warmly, the job ends, the successor
starts on the same data (Redis's AOF) on a port of its own and queues the next one. The worker
follows Redis's new address. The status playbook shows the chain; teardown cancels it all.
"""
import json
import os
import subprocess
import time

import urllib.error
import urllib.request

from conftest import as_user_argv, read_secret, run_as, run_playbook
from test_jupyter import base_url, login

WORKSPACE = "t-continue"
TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
HOME = os.path.expanduser("~" + TEST_USER)
ROOT = os.path.join(HOME, ".ulhpc", "workspaces", WORKSPACE)
VENV = os.path.join(ROOT, "venv-celery")
TARBALL = os.environ.get("WS_REDIS_TARBALL", "/var/cache/ulhpc-testbed/valkey_8.1.1+dfsg1.orig.tar.xz")
VARS = {"workspace_name": WORKSPACE, "redis_source_url": "file://" + TARBALL, "redis_version": "8.1.1",
        "celery_workers": 1, "celery_worker_cores": 1, "celery_flower": False,
        "workspace_continuation": True, "workspace_slurm": {"time": "00:03:00"}}
# Each client submits a few tasks with the celery.ini of the moment and prints their ids.
SUBMIT = ("import json\n"
          "from ulhpccelery import tasks\n"
          "print(json.dumps([tasks.add.delay(i, %d).id for i in range(20)]))\n")


def conn(service):
    try:
        with open(os.path.join(ROOT, "run", service + ".json")) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def jobs(service):
    """[(job id, state)] of the service's jobs, oldest first."""
    out = run_as(["squeue", "-h", "-u", TEST_USER, "-n", "ws-%s-%s" % (WORKSPACE, service), "-o", "%i %T"],
                 check=True).stdout
    return sorted((tuple(line.split()) for line in out.splitlines() if line.strip()), key=lambda j: int(j[0]))


def test_services_hand_over_to_their_successors_at_walltime_and_lose_no_task():
    run_playbook("teardown.yml", {"workspace_name": WORKSPACE})
    clients = []
    try:
        up = run_playbook("celery.yml", VARS)
        assert up.rc == 0, up.stdout[-3000:]
        first_redis, first_worker = conn("redis"), conn("celery-worker-1")
        # Once running, each job queued its successor.
        deadline = time.monotonic() + 60
        while len(jobs("redis")) < 2 or len(jobs("celery-worker-1")) < 2:
            assert time.monotonic() < deadline, (jobs("redis"), jobs("celery-worker-1"))
            time.sleep(1)
        status = run_playbook("status.yml", {"workspace_name": WORKSPACE})
        assert status.rc == 0, status.stdout[-3000:]
        redis_status = status.workspace["services"]["redis"]
        assert redis_status["job_id"] == str(first_redis["job_id"]) and redis_status["state"] == "running"
        successor = redis_status["successors"][0]
        assert successor["state"] == "pending" and successor["reason"] == "Dependency", redis_status
        assert "then job %s (pending, Dependency): takes over when job %s ends" % (
            successor["job_id"], first_redis["job_id"]) in status.stdout
        again = run_playbook("celery.yml", VARS)
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]

        # Tasks keep coming, one client every 5 s, until both services run in their successors.
        started = time.monotonic()
        handed_over = None
        while handed_over is None or time.monotonic() < handed_over + 20:
            assert time.monotonic() - started < 420, "no handover within 7 minutes of a 3-minute walltime"
            clients.append(subprocess.Popen(
                as_user_argv([os.path.join(VENV, "bin", "python"), "-c", SUBMIT % len(clients)]),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            time.sleep(5)
            if handed_over is None and conn("redis").get("job_id") == successor["job_id"] \
                    and conn("celery-worker-1").get("job_id") not in (None, first_worker["job_id"]):
                handed_over = time.monotonic()
        handover_after = handed_over - started
        submitted, failed = {}, 0
        for index, client in enumerate(clients):
            out, _err = client.communicate(timeout=180)
            if client.returncode == 0:
                submitted[index] = json.loads(out.strip().splitlines()[-1])
            else:
                failed += 1  # sent while Redis was away: the client says so, nothing was queued
        assert len(submitted) >= len(clients) // 2, (len(submitted), len(clients))
        check = ("import json, sys\nfrom ulhpccelery.app import app\n"
                 "batches = json.loads(sys.stdin.read())\n"
                 "print(json.dumps({k: [app.AsyncResult(i).get(timeout=300) for i in ids] for k, ids in batches.items()}))\n")
        got = run_as([os.path.join(VENV, "bin", "python"), "-c", check], input=json.dumps(submitted), timeout=600)
        assert got.returncode == 0, got.stderr[-3000:]
        results = json.loads(got.stdout.strip().splitlines()[-1])
        for index, values in results.items():
            assert values == [i + int(index) for i in range(20)], index

        # Results stored by the first Redis came back from its successor: it took over the data.
        with open(os.path.join(ROOT, "logs", "redis.log")) as handle:
            redis_log = handle.read()
        assert "continuation: queued job %s" % successor["job_id"] in redis_log
        assert "ws[redis]: stopping" in redis_log  # the walltime signal, then the successor's lines
        # The successor took over the data and queued the next one.
        deadline = time.monotonic() + 60
        while len(jobs("redis")) < 2:
            assert time.monotonic() < deadline, jobs("redis")
            time.sleep(1)
        status = run_playbook("status.yml", {"workspace_name": WORKSPACE})
        assert status.workspace["services"]["redis"]["job_id"] == successor["job_id"]
        assert status.workspace["services"]["redis"]["successors"], status.stdout[-2000:]
        print("\ncontinuation, 3-minute walltime: Redis and the worker ran in their successors %.0f s into the run; "
              "%d batches of 20 tasks sent, %d refused while Redis was away, every sent task's result arrived"
              % (handover_after, len(clients), failed))
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
        down = run_playbook("teardown.yml", {"workspace_name": WORKSPACE})
        assert down.rc == 0, down.stdout[-3000:]
        assert jobs("redis") == [] and jobs("celery-worker-1") == []


JUPYTER_WORKSPACE = "t-continue-jupyter"
# The Jupyter tests' venv (shared across test modules and runs: installed once).
JUPYTER_VENV = os.path.join(HOME, ".cache", "ulhpc-test", "venv-jupyter")
NOTEBOOK = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "written before the handover"}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def jupyter_conn():
    try:
        with open(os.path.join(HOME, ".ulhpc", "workspaces", JUPYTER_WORKSPACE, "run", "jupyter.json")) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def test_jupyter_hands_over_to_its_successor_with_the_same_root_dir_and_password():
    """jupyter.yml with a 3-minute walltime: the server's job queued its successor; at the
    walltime signal the server stops, and the successor serves the same root directory (a
    notebook saved through the first server is there) with the same password, on a port of its
    own that it publishes in run/jupyter.json."""
    variables = {"workspace_name": JUPYTER_WORKSPACE, "python_venv_path": JUPYTER_VENV,
                 "workspace_continuation": True, "workspace_slurm": {"time": "00:03:00"}}
    run_playbook("teardown.yml", {"workspace_name": JUPYTER_WORKSPACE})
    try:
        up = run_playbook("jupyter.yml", variables)
        assert up.rc == 0, up.stdout[-3000:]
        first = jupyter_conn()
        password = read_secret(JUPYTER_WORKSPACE, "jupyter.password")
        opener, xsrf, post = login(first, password)
        assert post == 302, post
        saved = urllib.request.Request(
            base_url(first) + "api/contents/handover.ipynb", method="PUT",
            data=json.dumps({"type": "notebook", "format": "json", "content": NOTEBOOK}).encode(),
            headers={"Content-Type": "application/json", "X-XSRFToken": xsrf})
        assert opener.open(saved, timeout=30).status in (200, 201)
        started = time.monotonic()
        while jupyter_conn().get("job_id") in (None, first["job_id"]):
            assert time.monotonic() - started < 420, "no handover within 7 minutes of a 3-minute walltime"
            time.sleep(5)
        handed_over = time.monotonic() - started
        second = jupyter_conn()
        deadline = time.monotonic() + 60
        while True:  # the successor publishes its address once it answers; allow a slow first login
            try:
                opener, _xsrf, post = login(second, password)
                if post == 302:
                    break
            except (OSError, urllib.error.URLError):
                pass
            assert time.monotonic() < deadline, "the successor does not accept the password"
            time.sleep(2)
        with opener.open(base_url(second) + "api/contents/handover.ipynb", timeout=30) as response:
            got = json.load(response)
        assert got["content"]["cells"][0]["source"] == "written before the handover", got
        assert str(second["job_id"]) != str(first["job_id"])
        # The first job ended at its walltime signal, and the successor queues the next one.
        deadline = time.monotonic() + 60
        while True:
            out = run_as(["squeue", "-h", "-u", TEST_USER, "-n", "ws-%s-jupyter" % JUPYTER_WORKSPACE, "-o", "%i"],
                         check=True).stdout.split()
            if str(first["job_id"]) not in out and str(second["job_id"]) in out and len(out) == 2:
                break
            assert time.monotonic() < deadline, out
            time.sleep(1)
        print("\ncontinuation, 3-minute walltime: Jupyter ran in its successor (port %s, was %s) %.0f s after "
              "the notebook was saved; the notebook and the password were there" % (second["port"], first["port"], handed_over))
    finally:
        down = run_playbook("teardown.yml", {"workspace_name": JUPYTER_WORKSPACE})
        assert down.rc == 0, down.stdout[-3000:]
