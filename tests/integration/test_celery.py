"""playbooks/celery.yml on the test cluster, as the unprivileged test user (workspace t-celery).

The tutorial's Celery steps against the provisioned workspace: a batch of add.delay(i, i + 1)
with every .get() right, xsum, the batched API; workers added and removed while tasks run
lose no task; Flower answers with its credentials only; the other user reads nothing; no
password on a command line or in the playbook output; a re-run changes nothing; bad input.
Teardown stops every service of the workspace.
"""
import base64
import configparser
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import (CA_CERT, OTHER_USER, REPO, as_user_argv, redis_client, run_as, run_notebook, run_playbook,
                      tls_context)

WORKSPACE = "t-celery"
TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
HOME = os.path.expanduser("~" + TEST_USER)
ROOT = os.path.join(HOME, ".ulhpc", "workspaces", WORKSPACE)
VENV = os.path.join(ROOT, "venv-celery")
# The Jupyter tests' venv (the default package list), shared to install it once.
JUPYTER_VENV = os.path.join(HOME, ".cache", "ulhpc-test", "venv-jupyter")
TARBALL = os.environ.get("WS_REDIS_TARBALL", "/var/cache/ulhpc-testbed/valkey_8.1.1+dfsg1.orig.tar.xz")
VARS = {"workspace_name": WORKSPACE, "redis_source_url": "file://" + TARBALL, "redis_version": "8.1.1",
        "celery_workers": 1, "celery_worker_cores": 1, "celery_flower": True}


def venv_python(code, timeout=300):
    """Run Python code with the workspace's venv as the test user (celery.ini found through the venv)."""
    proc = run_as([os.path.join(VENV, "bin", "python"), "-c", code], timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def read(path):
    with open(os.path.join(ROOT, path)) as handle:
        return handle.read()


def conn(service):
    return json.loads(read(os.path.join("run", service + ".json")))


def squeue_names():
    out = subprocess.run(["squeue", "-h", "-u", TEST_USER, "-o", "%j"], capture_output=True, text=True, check=True)
    return sorted(name for name in out.stdout.split() if name.startswith("ws-%s-" % WORKSPACE))


def flower_status(url, user=None, password=None, path="api/workers"):
    request = urllib.request.Request(url + path)
    if user is not None:
        token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        request.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(request, timeout=10, context=tls_context()) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def celery_up():
    result = run_playbook("celery.yml", VARS)
    yield result
    run_playbook("teardown.yml", {"workspace_name": WORKSPACE})


def test_provisioned(celery_up):
    assert celery_up.rc == 0, celery_up.stdout[-3000:]
    services = celery_up.workspace["services"]
    assert {"redis", "celery-worker-1", "flower"} <= set(services)
    assert services["flower"]["secret_files"] == [os.path.join(ROOT, "secrets", "flower.password")]
    assert services["flower"]["tunnel"].startswith("ssh -NL %d:" % services["flower"]["port"])
    assert squeue_names() == ["ws-t-celery-celery-worker-1", "ws-t-celery-flower", "ws-t-celery-redis"]
    assert "Run one task through the workers (smoke test)" in celery_up.stdout


def test_celery_ini_is_the_tutorials(celery_up):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(read("config/celery.ini"))
    redis = conn("redis")
    assert dict(parser["redis"]) == {"broker_password": read("secrets/redis.password").strip(),
                                     "broker_hostname": redis["address"], "broker_port": str(redis["port"]),
                                     "broker_username": "celery", "broker_tls": "true", "broker_ca_file": CA_CERT}
    assert parser["celery"].getboolean("acks_late") and parser["celery"].getint("prefetch_multiplier") == 1
    assert parser["celery"].getint("visibility_timeout") > 0


def test_tutorial_batch_of_add(celery_up):
    out = venv_python(
        "from ulhpccelery import tasks\n"
        "res = [tasks.add.delay(i, i + 1) for i in range(500)]\n"
        "print(sum(r.get(timeout=120) == 2 * i + 1 for i, r in enumerate(res)))\n")
    assert out.strip() == "500"


def test_xsum_mul_and_batched_api(celery_up):
    out = venv_python(
        "from ulhpccelery import tasks\n"
        "from ulhpccelery.batch import add_many\n"
        "print(tasks.xsum.delay(list(range(1001))).get(timeout=60))\n"
        "print(tasks.mul.delay(6, 7).get(timeout=60))\n"
        "n = 20000\n"
        "print(add_many(zip(range(n), range(1, n + 1)), chunk_size=2500) == [2 * i + 1 for i in range(n)])\n")
    assert out.split() == ["500500", "42", "True"]


def test_flower_needs_its_credentials_on_every_page(celery_up):
    flower = conn("flower")
    url = "https://%s:%s/" % (flower["address"], flower["port"])
    secret = read("secrets/flower.password").strip()
    assert flower_status(url, "flower", secret) == 200
    assert flower_status(url) == 401
    assert flower_status(url, "flower", "wrong") == 401
    # Flower itself leaves these open; the workspace's Flower does not.
    for path in ("", "metrics", "healthcheck", "tasks", "broker", "api/tasks", "api/queues/length"):
        assert flower_status(url, path=path) == 401, path
    assert flower_status(url, "flower", secret, path="metrics") == 200


def test_other_user_reads_nothing(celery_up):
    for path in ("secrets/redis.password", "secrets/flower.password", "config/redis.conf",
                 "config/celery.ini", "config/flowerconfig.py"):
        proc = run_as(["cat", os.path.join(ROOT, path)], user=OTHER_USER)
        assert proc.returncode != 0 and "Permission denied" in proc.stderr, path
        assert oct(os.stat(os.path.join(ROOT, path)).st_mode & 0o777) == "0o600", path


def test_passwords_not_on_command_lines_nor_in_output(celery_up):
    args = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True).stdout
    assert "ulhpccelery worker" in args and "ulhpccelery flower" in args and "redis-server" in args
    for secret_file in ("secrets/redis.password", "secrets/flower.password"):
        secret = read(secret_file).strip()
        assert len(secret) >= 32
        assert secret not in args, secret_file
        assert secret not in celery_up.stdout, secret_file


def test_second_run_changes_nothing(celery_up):
    jobs = {name: conn(name)["job_id"] for name in ("redis", "celery-worker-1", "flower")}
    again = run_playbook("celery.yml", VARS)
    assert again.rc == 0, again.stdout[-3000:]
    assert again.changed == 0, again.stdout[-3000:]
    assert {name: conn(name)["job_id"] for name in jobs} == jobs


def test_check_mode_changes_nothing(celery_up):
    jobs = {name: conn(name)["job_id"] for name in ("redis", "celery-worker-1", "flower")}
    checked = run_playbook("celery.yml", VARS, check=True)
    assert checked.rc == 0, checked.stdout[-3000:]
    assert checked.changed == 0, checked.stdout[-3000:]
    scaled = run_playbook("celery.yml", dict(VARS, celery_workers=2), check=True)
    assert scaled.rc == 0, scaled.stdout[-3000:]
    assert scaled.changed >= 1  # it would submit worker 2 ...
    assert "ws-t-celery-celery-worker-2" not in squeue_names()  # ... and does not
    assert {name: conn(name)["job_id"] for name in jobs} == jobs


def test_scaling_while_tasks_run_loses_no_task(celery_up):
    # 300 tasks of 0.6 s on one 1-core worker take 3 min: a second worker is added, takes
    # tasks, and is removed (warm shutdown) while they still run; every result must come back right.
    code = ("import json\n"
            "from ulhpccelery import tasks\n"
            "res = [tasks.slow_add.delay(i, i, 0.6) for i in range(300)]\n"
            "print('submitted', flush=True)\n"
            "values = [r.get(timeout=600) for r in res]\n"
            "print(json.dumps({'ok': values == [2 * i for i in range(300)], 'n': len(values)}))\n")
    client = subprocess.Popen(as_user_argv([os.path.join(VENV, "bin", "python"), "-c", code]),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline().strip() == "submitted"
        up = run_playbook("celery.yml", dict(VARS, celery_workers=2))
        assert up.rc == 0, up.stdout[-3000:]
        assert "ws-t-celery-celery-worker-2" in squeue_names()
        assert {"celery-worker-1", "celery-worker-2"} <= set(up.workspace["services"])
        log2 = os.path.join(ROOT, "logs", "celery-worker-2.log")
        deadline = time.monotonic() + 60
        while "slow_add" not in read(log2) or "succeeded" not in read(log2).split("slow_add", 1)[1]:
            assert time.monotonic() < deadline, "worker 2 ran no task: " + read(log2)[-2000:]
            time.sleep(1)
        assert client.poll() is None, "the tasks were over before worker 2 was removed"
        down = run_playbook("celery.yml", VARS)
        assert down.rc == 0, down.stdout[-3000:]
        assert "ws-t-celery-celery-worker-2" not in squeue_names()
        assert "celery-worker-2" not in down.workspace["services"]
        out, err = client.communicate(timeout=600)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, err[-3000:]
    assert json.loads(out.strip().splitlines()[-1]) == {"ok": True, "n": 300}
    log = read("logs/celery-worker-2.log")
    assert "Warm shutdown" in log and "WorkerLostError" not in log


def test_zero_cores_is_refused(celery_up):
    jobs = squeue_names()
    ini_mtime = os.stat(os.path.join(ROOT, "config", "celery.ini")).st_mtime
    result = run_playbook("celery.yml", dict(VARS, celery_worker_cores=0))
    assert result.rc != 0 and result.changed == 0
    assert "celery_worker_cores=0" in result.stdout and "at least 1 core" in result.stdout
    assert squeue_names() == jobs
    assert os.stat(os.path.join(ROOT, "config", "celery.ini")).st_mtime == ini_mtime


def test_the_celery_notebook_on_the_workspace_kernel_venv(celery_up):
    """notebooks/celery.ipynb on the Jupyter venv's kernel (its default packages: Celery and
    the collection's ulhpccelery): ulhpccelery finds the workspace's celery.ini through WS_ROOT,
    as in the workspace's Jupyter server; tasks go through TLS to the workers, Flower answers."""
    import yaml
    with open(os.path.join(REPO, "roles", "python_venv", "defaults", "main.yml")) as handle:
        packages = yaml.safe_load(handle)["python_venv_packages"]
    venv = run_playbook("../molecule/python_venv/converge.yml", {
        "python_venv_path": JUPYTER_VENV, "python_venv_interpreter": "/usr/bin/python3", "python_venv_modules": [],
        "python_venv_packages": packages,
        "python_venv_local_packages": [os.path.join(REPO, "roles", "celery", "files", "ulhpccelery")]})
    assert venv.rc == 0, venv.stdout[-4000:]
    workdir = run_as(["mktemp", "-d"], check=True).stdout.strip()  # no celery.ini here
    proc = run_notebook(os.path.join(JUPYTER_VENV, "bin", "python"), "celery.ipynb", env={"WS_ROOT": ROOT},
                        cwd=workdir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "celery.ini: %s/config/celery.ini" % ROOT in out, out
    assert "workers: ['celery-worker-1@" in out and "Flower: https://" in out, out
    assert "add: 500 results, sum 250000" in out and "xsum(range(1000)): 499500" in out and "OK" in out, out


def test_celery_sends_no_command_outside_its_acl(celery_up):
    """ACL LOG of the workspace's Redis after every test above (kept last) lists no command of the
    celery or flower users that their ACL denied: the command lists hold what Celery, kombu and
    Flower send."""
    redis = conn("redis")
    denied = ["%s: %s (%s)" % (entry.get("username"), entry.get("object"), entry.get("reason"))
              for entry in redis_client(redis, WORKSPACE, user="admin").acl_log()
              if entry.get("username") in ("celery", "flower")]
    assert denied == []
