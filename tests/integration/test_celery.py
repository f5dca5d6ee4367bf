"""playbooks/celery.yml on the test cluster, as the unprivileged test user (workspace t-celery).

The tutorial's Celery steps against the provisioned workspace: a batch of add.delay(i, i + 1)
with every .get() right, xsum, the batched API; workers added and removed while tasks run
lose no task; a Redis job that is cancelled and started again elsewhere is followed by the
running worker and Flower; a removed worker's 20 s task finishes (workspace_stop_timeout), or, when it had
to be killed, its task is requeued by the play at once; a worker killed with kill -9 comes back
in its job and loses no task; Redis killed mid-run comes back on its port and loses no task;
Flower answers with its credentials only; the other user reads nothing; no
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

WORKSPACE = os.environ.get("WS_TEST_CELERY_WORKSPACE", "t-celery")  # another name: a second run beside the suite
TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
HOME = os.path.expanduser("~" + TEST_USER)
ROOT = os.path.join(HOME, ".ulhpc", "workspaces", WORKSPACE)
VENV = os.path.join(ROOT, "venv-celery")
# The Jupyter tests' venv (the default package list), shared to install it once.
JUPYTER_VENV = os.path.join(HOME, ".cache", "ulhpc-test", "venv-jupyter")
TARBALL = os.environ.get("WS_REDIS_TARBALL", "/var/cache/ulhpc-testbed/valkey_8.1.1+dfsg1.orig.tar.xz")
VARS = {"workspace_name": WORKSPACE, "redis_source_url": "file://" + TARBALL, "redis_version": "8.1.1",
        "celery_workers": 1, "celery_worker_cores": 1, "celery_flower": True,
        # The tests count the tasks each worker ran from its per-task log lines.
        "celery_worker_loglevel": "info"}


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


def wait_for_flower_to_see_the_broker(after, seconds=60):
    """Flower answers about the broker (its queue lengths) within `seconds`."""
    flower = conn("flower")
    url = "https://%s:%s/" % (flower["address"], flower["port"])
    password = read("secrets/flower.password").strip()
    deadline, last = time.monotonic() + seconds, None
    while True:
        try:
            last = flower_status(url, "flower", password, path="api/queues/length")
        except OSError as exc:  # Flower starting again (it follows Redis): refused or slow handshake
            last = exc
        if last == 200:
            return
        assert time.monotonic() < deadline, "Flower does not answer about the broker after %s: %s" % (after, last)
        time.sleep(1)


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
    assert squeue_names() == ["ws-%s-%s" % (WORKSPACE, name) for name in ("celery-worker-1", "flower", "redis")]
    assert "runs one task (smoke test)" in celery_up.stdout


def test_celery_ini_is_the_tutorials(celery_up):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(read("config/celery.ini"))
    redis = conn("redis")
    assert dict(parser["redis"]) == {"broker_password": read("secrets/redis.password").strip(),
                                     "broker_hostname": redis["address"], "broker_port": str(redis["port"]),
                                     "broker_username": "celery", "broker_tls": "true", "broker_ca_file": CA_CERT,
                                     "connection_file": os.path.join(ROOT, "run", "redis.json")}
    assert parser["celery"].getboolean("acks_late") and parser["celery"].getint("prefetch_multiplier") == 1
    assert parser["celery"].getint("visibility_timeout") > 0


def test_tutorial_batch_of_add(celery_up):
    out = venv_python(
        "from ulhpccelery import tasks\n"
        "res = [tasks.add.delay(i, i + 1) for i in range(500)]\n"
        "print(sum(r.get(timeout=120) == 2 * i + 1 for i, r in enumerate(res)))\n")
    assert out.strip() == "500"


def test_results_received_as_messages_are_not_fetched_again(celery_up):
    """The tutorial's loop, with every task done before the first get(): the results reached the
    client as pub/sub messages, so no get() asks Redis for its result again (ulhpccelery.backend;
    Celery alone sends a GET per get()). The client counts its own GETs: the workers send theirs."""
    out = venv_python(
        "import time\n"
        "from ulhpccelery import tasks\n"
        "backend = tasks.app.backend\n"
        "res = [tasks.add.delay(i, i + 1) for i in range(300)]\n"
        "keys = [backend.get_key_for_task(r.id) for r in res]\n"
        "deadline = time.monotonic() + 120\n"
        "while None in backend.client.mget(keys) and time.monotonic() < deadline:\n"
        "    time.sleep(0.2)\n"
        "fetched, get = [], backend.get\n"
        "backend.get = lambda key: fetched.append(key) or get(key)\n"
        "print(sum(r.get(timeout=60) == 2 * i + 1 for i, r in enumerate(res)), len(fetched))\n")
    assert out.split() == ["300", "0"]


def test_a_stored_success_is_never_replaced(celery_up):
    """A task delivered twice (at-least-once) must not replace its stored success: the workers'
    one-script store (ulhpccelery.backend.STORE) keeps it, on the workspace's real Redis."""
    out = venv_python(
        "import uuid\n"
        "from celery import states\n"
        "from ulhpccelery import tasks\n"
        "backend, task_id = tasks.app.backend, str(uuid.uuid4())\n"
        "backend.store_result(task_id, 5, states.STARTED)\n"
        "print(backend.get_task_meta(task_id)['status'])\n"
        "backend.store_result(task_id, 42, states.SUCCESS)\n"
        "backend.store_result(task_id, None, states.STARTED)\n"
        "print(tasks.app.AsyncResult(task_id).get(timeout=10))\n"
        "print(backend.client.ttl(backend.get_key_for_task(task_id)) > 0)\n")
    assert out.split() == ["STARTED", "42", "True"]


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


def test_second_run_changes_nothing_and_its_verbose_output_holds_no_secret(celery_up):
    """At -vvv Ansible prints every module's arguments: the launcher's call that writes celery.ini
    and flower.ini (each holding a Redis password) and flowerconfig.py (Flower's) shows none."""
    jobs = {name: conn(name)["job_id"] for name in ("redis", "celery-worker-1", "flower")}
    again = run_playbook("celery.yml", VARS, verbosity=3)
    assert again.rc == 0, again.stdout[-3000:]
    assert again.changed == 0, again.stdout[-3000:]
    assert {name: conn(name)["job_id"] for name in jobs} == jobs
    assert "ESTABLISH LOCAL CONNECTION" in again.stdout  # it is -vvv output
    for name in os.listdir(os.path.join(ROOT, "secrets")):
        secret = read(os.path.join("secrets", name)).strip()
        assert len(secret) >= 16 and secret not in again.stdout, name


def test_check_mode_changes_nothing(celery_up):
    jobs = {name: conn(name)["job_id"] for name in ("redis", "celery-worker-1", "flower")}
    checked = run_playbook("celery.yml", VARS, check=True)
    assert checked.rc == 0, checked.stdout[-3000:]
    assert checked.changed == 0, checked.stdout[-3000:]
    scaled = run_playbook("celery.yml", dict(VARS, celery_workers=2), check=True)
    assert scaled.rc == 0, scaled.stdout[-3000:]
    assert scaled.changed >= 1  # it would submit worker 2 ...
    assert "ws-%s-celery-worker-2" % WORKSPACE not in squeue_names()  # ... and does not
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
        assert "ws-%s-celery-worker-2" % WORKSPACE in squeue_names()
        assert {"celery-worker-1", "celery-worker-2"} <= set(up.workspace["services"])
        log2 = os.path.join(ROOT, "logs", "celery-worker-2.log")
        deadline = time.monotonic() + 60
        while "slow_add" not in read(log2) or "succeeded" not in read(log2).split("slow_add", 1)[1]:
            assert time.monotonic() < deadline, "worker 2 ran no task: " + read(log2)[-2000:]
            time.sleep(1)
        assert client.poll() is None, "the tasks were over before worker 2 was removed"
        down = run_playbook("celery.yml", VARS)
        assert down.rc == 0, down.stdout[-3000:]
        assert "ws-%s-celery-worker-2" % WORKSPACE not in squeue_names()
        assert "celery-worker-2" not in down.workspace["services"]
        out, err = client.communicate(timeout=600)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, err[-3000:]
    assert json.loads(out.strip().splitlines()[-1]) == {"ok": True, "n": 300}
    log = read("logs/celery-worker-2.log")
    assert "Warm shutdown" in log and "WorkerLostError" not in log


def succeeded_ids(log, task="slow_add"):
    """{task id: how many times a worker log says it succeeded}."""
    counts = {}
    for line in log.splitlines():
        if "] succeeded in " in line and "tasks.%s[" % task in line:
            task_id = line.split("tasks.%s[" % task, 1)[1].split("]", 1)[0]
            counts[task_id] = counts.get(task_id, 0) + 1
    return counts


@pytest.mark.parametrize("stop_timeout, seconds, count", [(60, 20, 4), (5, 60, 2)],
                         ids=["finishes", "killed-and-requeued"])
def test_scaling_down_a_worker_running_a_long_task(celery_up, stop_timeout, seconds, count):
    """A removed worker gets SIGTERM and workspace_stop_timeout before the kill.
    60 s: its running 20 s task (twice the test cluster's KillWait) finishes there, once.
    5 s, a 60 s task: the worker is killed (5 s, then scancel and KillWait), and the play
    requeues what it held at once (not after celery_visibility_timeout, an hour): the task
    runs on worker 1. Every result comes back."""
    code = ("import json\n"
            "from ulhpccelery import tasks\n"
            "res = [tasks.slow_add.delay(i, i, %d) for i in range(%d)]\n"
            "print(json.dumps([r.id for r in res]), flush=True)\n"
            "values = [r.get(timeout=400) for r in res]\n"
            "print(json.dumps(values == [2 * i for i in range(%d)]))\n" % (seconds, count, count))
    up = run_playbook("celery.yml", dict(VARS, celery_workers=2))
    assert up.rc == 0, up.stdout[-3000:]
    log1, log2 = (os.path.join(ROOT, "logs", "celery-worker-%d.log" % n) for n in (1, 2))
    before1, before2 = len(read(log1)), len(read(log2))
    client = subprocess.Popen(as_user_argv([os.path.join(VENV, "bin", "python"), "-c", code]),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ids = json.loads(client.stdout.readline())
        deadline = time.monotonic() + 60
        while not any(task_id in read(log2)[before2:] for task_id in ids):
            assert time.monotonic() < deadline, "worker 2 took no task: " + read(log2)[-2000:]
            time.sleep(0.5)
        held = [task_id for task_id in ids if task_id in read(log2)[before2:]]
        started = time.monotonic()
        down = run_playbook("celery.yml", dict(VARS, workspace_stop_timeout=stop_timeout))
        stop_took = time.monotonic() - started
        assert down.rc == 0, down.stdout[-3000:]
        assert "ws-%s-celery-worker-2" % WORKSPACE not in squeue_names()
        out, err = client.communicate(timeout=600)
        all_back = time.monotonic() - started
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, err[-3000:]
    assert out.strip().splitlines()[-1] == "true", out
    on_2, on_1 = read(log2)[before2:], read(log1)[before1:]
    if stop_timeout == 60:
        assert "Warm shutdown" in on_2 and "WorkerLostError" not in on_2, on_2[-3000:]
        assert set(held) <= set(succeeded_ids(on_2)), (held, on_2[-3000:])
        assert all(succeeded_ids(on_1 + on_2).get(task_id) == 1 for task_id in ids)
    else:
        assert not set(held) & set(succeeded_ids(on_2)), on_2[-3000:]
        assert set(held) <= set(succeeded_ids(on_1)), (held, on_1[-3000:])
        assert "requeue what the removed workers left" in down.stdout.lower(), down.stdout[-3000:]
    print("\nscale-down, workspace_stop_timeout %d s, a %d s task on the removed worker: the play took %.1f s, "
          "all results %.1f s after it began" % (stop_timeout, seconds, stop_took, all_back))


def in_this_workspace(pid):
    """Whether a process of the test user belongs to this module's workspace (its environment
    names the workspace's celery.ini), not to one of the same user's other workspaces."""
    try:
        with open("/proc/%d/environ" % pid, "rb") as handle:
            return ("/workspaces/%s/" % WORKSPACE).encode() in handle.read()
    except OSError:
        return False


def worker_main_pid(worker):
    """The PID of the worker's main process (the pool processes are its children)."""
    pids = set(int(pid) for pid in run_as(["pgrep", "-u", TEST_USER, "-f", "ulhpccelery worker .*%s@" % worker]
                                          ).stdout.split() if in_this_workspace(int(pid)))
    parents = {}
    for pid in pids:
        with open("/proc/%d/stat" % pid) as handle:
            parents[pid] = int(handle.read().rsplit(")", 1)[1].split()[1])
    mains = [pid for pid in pids if parents[pid] not in pids]
    assert len(mains) == 1, (pids, parents)
    return mains[0]


def test_a_killed_worker_comes_back_in_its_job_and_loses_no_task(celery_up):
    """kill -9 of the worker's main process while 10^4 tasks drain: the worker is started again
    in the same job, requeues at once what the dead process held (not after visibility_timeout,
    an hour), and every result arrives. Prints the time to recovery and the duplicates."""
    tasks = 10000
    code = ("import json, time\n"
            "from ulhpccelery import tasks\n"
            "res = [tasks.add.delay(i, 1) for i in range(%d)]\n"
            "print('submitted', flush=True)\n"
            "values = [r.get(timeout=240) for r in res]\n"
            "print(json.dumps({'ok': values == [i + 1 for i in range(%d)], 'n': len(values), 'end': time.time()}))\n"
            % (tasks, tasks))
    job = conn("celery-worker-1")["job_id"]
    log_path = os.path.join(ROOT, "logs", "celery-worker-1.log")
    before = len(read(log_path))
    client = subprocess.Popen(as_user_argv([os.path.join(VENV, "bin", "python"), "-c", code]),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline().strip() == "submitted"
        killed_at = time.time()
        run_as(["kill", "-KILL", str(worker_main_pid("celery-worker-1"))], check=True)
        out, err = client.communicate(timeout=600)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ok"] and result["n"] == tasks, result
    log = read(log_path)[before:]
    assert "the Celery worker died (status 137): restart 1 of at most 5" in log, log[-3000:]
    assert "the Celery worker is back" in log, log[-3000:]
    assert conn("celery-worker-1")["job_id"] == job  # the same job: nothing re-ran the play
    back = os.stat(os.path.join(ROOT, "run", "celery-worker-1.ready")).st_mtime
    duplicates = sum(count - 1 for count in succeeded_ids(log, "add").values())
    requeued = [line for line in log.splitlines() if "unacknowledged task(s) of this worker's previous process" in line]
    print("\nworker kill -9 with %d tasks queued: back (ready) %.1f s after the kill, all results %.1f s after it; "
          "%s; %d duplicate execution(s)" % (tasks, back - killed_at, result["end"] - killed_at,
                                             requeued[0].split("WARNING/MainProcess] ")[-1] if requeued
                                             else "nothing was held", duplicates))
    # Without the requeue, a task held by the dead process waits an hour (visibility_timeout).
    assert back - killed_at < 120 and result["end"] - killed_at < 300


DIE_AFTER_TAKING = """
import os, sys
from kombu import Producer, Queue
from ulhpccelery.app import app
mode, name = sys.argv[1:3]
with app.connection_for_write() as conn:
    channel = conn.default_channel
    queue = Queue(name, channel=channel)
    queue.declare()
    Producer(channel).publish({"probe": name}, routing_key=name, serializer="json")
    # Die (as kill -9 would) once Redis has handed the task over, before Python records anything.
    if mode == "get":
        channel.Message = lambda *args, **kwargs: os._exit(9)
        queue.get(no_ack=False)
    else:
        channel.connection._deliver = lambda *args, **kwargs: os._exit(9)
        channel.basic_consume(name, no_ack=False, callback=lambda message: None, consumer_tag="probe")
        conn.drain_events(timeout=30)
sys.exit("nothing was delivered")
"""

AFTER_DEATH = """
import json, sys
from kombu import Queue
from ulhpccelery import recovery
from ulhpccelery.app import app
worker, name = sys.argv[1:3]
requeued = recovery.requeue_gone(app, [worker])[worker]
with app.connection_for_write() as conn:
    message = Queue(name, channel=conn.default_channel).get(no_ack=True)
    conn.default_channel.client.delete(name)
print(json.dumps({"requeued": requeued, "back": message.payload if message else None}))
"""


@pytest.mark.parametrize("mode", ["consume", "get"])
def test_a_consumer_killed_right_after_redis_handed_it_a_task_loses_nothing(celery_up, mode):
    """ulhpccelery.transport takes a task and records it as unacknowledged in one Lua script, so
    a worker that dies at any moment after Redis handed it a task (here: the instant it is
    delivered, before any Python code runs) leaves it in its unacknowledged hash, where its
    successor requeues it. kombu's own transport, the control, loses it: BRPOP (or RPOP) took it
    off the queue and the record was to come from Python."""
    results = {}
    for transport in ("ulhpccelery", "kombu"):
        worker, name = "probe-%s-%s" % (mode, transport), "probe.%s.%s.%d" % (mode, transport, os.getpid())
        env = {"ULHPCCELERY_WORKER": worker, "ULHPCCELERY_STOCK_TRANSPORT": "1" if transport == "kombu" else "0"}
        died = run_as([os.path.join(VENV, "bin", "python"), "-c", DIE_AFTER_TAKING, mode, name], extra_env=env, timeout=120)
        assert died.returncode == 9, died.stdout + died.stderr
        after = run_as([os.path.join(VENV, "bin", "python"), "-c", AFTER_DEATH, worker, name], extra_env=env, timeout=120)
        assert after.returncode == 0, after.stderr[-3000:]
        results[transport] = json.loads(after.stdout.strip().splitlines()[-1])
    assert results["ulhpccelery"] == {"requeued": 1, "back": {"probe": "probe.%s.ulhpccelery.%d" % (mode, os.getpid())}}, results
    assert results["kombu"] == {"requeued": 0, "back": None}, results


def test_redis_killed_mid_run_comes_back_and_loses_no_task(celery_up):
    """kill -9 of redis-server while 3000 tasks drain: the Redis job starts it again on the same
    port with its AOF; the worker, Flower and the client reconnect by themselves; every queued
    task's result arrives. Prints the time Redis was away and the tasks lost in delivery.

    kombu's own Redis transport takes a task off its queue (BRPOP) and records it as
    unacknowledged in a second command: a kill between the two lost that one task in 2 of
    about 6 full runs. ulhpccelery.transport does both in one script, so none may be lost.

    What the worker had taken and not started, or took just as Redis died (the script ran,
    its reply never came), stays recorded as unacknowledged while Celery forgets it: its result
    waited for visibility_timeout (an hour; 1 task in 3 of 8 kills by hand), until the worker
    requeued such tasks once connected again. One such task is planted here before the kill
    (taken from a queue nobody reads and recorded for the worker as the script does), so the
    requeue is tested on every run."""
    tasks = 3000
    redis = conn("redis")
    worker_job = conn("celery-worker-1")["job_id"]
    log_path = os.path.join(ROOT, "logs", "redis.log")
    worker_log = os.path.join(ROOT, "logs", "celery-worker-1.log")
    before, worker_before = len(read(log_path)), len(read(worker_log))
    planted = venv_python(
        "import json\n"
        "from ulhpccelery import tasks\n"
        "from ulhpccelery.app import app\n"
        "result = tasks.add.apply_async((40, 2), queue='ulhpc-test-nobody-reads')\n"
        "with app.connection_for_write() as conn:\n"
        "    client = conn.default_channel.client\n"
        "    message = json.loads(client.rpop('ulhpc-test-nobody-reads'))\n"
        "    tag = message['properties']['delivery_tag']\n"
        "    seconds, micro = client.time()\n"
        "    client.zadd('unacked_index:celery-worker-1', {tag: seconds + micro / 1e6})\n"
        "    client.hset('unacked:celery-worker-1', tag, json.dumps([message, '', 'celery']))\n"
        "print(result.id)\n").strip().splitlines()[-1]
    code = ("import json, time\n"
            "from celery.exceptions import TimeoutError\n"
            "from ulhpccelery import tasks\n"
            "res = [tasks.add.delay(i, 2) for i in range(%d)]\n"
            "print('submitted', flush=True)\n"
            "deadline, values = time.time() + 240, []\n"
            "for r in res:\n"
            "    try:\n"
            "        values.append(r.get(timeout=max(1, deadline - time.time())))\n"
            "    except TimeoutError:\n"
            "        values.append(None)\n"
            "ok = all(v == i + 2 for i, v in enumerate(values) if v is not None)\n"
            "print(json.dumps({'ok': ok, 'lost': values.count(None), 'end': time.time()}))\n" % tasks)
    client = subprocess.Popen(as_user_argv([os.path.join(VENV, "bin", "python"), "-c", code]),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline().strip() == "submitted"
        pids = run_as(["pgrep", "-u", TEST_USER, "-f", "redis-server .*:%d" % redis["port"]]).stdout.split()
        assert len(pids) == 1, pids
        killed_at = time.time()
        run_as(["kill", "-KILL", pids[0]], check=True)
        out, err = client.communicate(timeout=600)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, err[:4000] + ' ... ' + err[-2000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ok"] and result["lost"] == 0, result
    stranded = venv_python("from ulhpccelery.app import app\nprint(app.AsyncResult(%r).get(timeout=60))\n" % planted)
    assert stranded.strip().splitlines()[-1] == "42", stranded
    worker_said = read(worker_log)[worker_before:]
    assert "had taken before its connection to Redis broke and no longer holds" in worker_said, worker_said[-3000:]
    log = read(log_path)[before:]
    assert "redis-server died (status 137): restart 1 of at most 5" in log, log[-3000:]
    assert "redis-server is back on port %d" % redis["port"] in log, log[-3000:]
    now = conn("redis")
    assert (now["job_id"], now["port"]) == (redis["job_id"], redis["port"])
    assert conn("celery-worker-1")["job_id"] == worker_job
    ping = run_as([os.path.join(VENV, "bin", "celery"), "-A", "ulhpccelery", "inspect", "ping", "--timeout", "5"],
                  extra_env={"ULHPCCELERY_CONFIG": os.path.join(ROOT, "config", "celery.ini")})
    assert "celery-worker-1@" in ping.stdout and "pong" in ping.stdout, ping.stdout + ping.stderr
    wait_for_flower_to_see_the_broker("Redis came back")
    print("\nredis-server kill -9 with %d tasks queued: the results %.1f s after the kill; %d task(s) lost in delivery" %
          (tasks, result["end"] - killed_at, result["lost"]))


def test_redis_cancelled_and_started_elsewhere_is_followed_by_workers_flower_and_clients(celery_up):
    """The Redis job is cancelled (scancel, a lost node) while 2000 tasks drain, and redis.yml
    alone starts Redis in a new job on another port. The running worker and Flower follow it by
    themselves (nobody re-runs celery.yml or restarts them), and so does a client process that
    was started before the move (a notebook's kernel): its connections read Redis's published
    address when they connect (ulhpccelery.follow). While Redis is away its calls fail with a
    connection error after about a minute of retries, never hang; once Redis is back, the same
    process gets every task's result, the queued ones included (Redis saved its data on
    SIGTERM). A re-run of celery.yml then rewrites celery.ini."""
    tasks = 2000
    redis = conn("redis")
    worker_job, flower_job = conn("celery-worker-1")["job_id"], conn("flower")["job_id"]
    worker_log = os.path.join(ROOT, "logs", "celery-worker-1.log")
    before = len(read(worker_log))
    code = ("import json, sys, time\n"
            "from ulhpccelery import tasks\n"
            "res = [tasks.add.delay(i, 3) for i in range(%d)]\n"
            "print(json.dumps([r.id for r in res]), flush=True)\n"
            "sys.stdin.readline()\n"
            "start, errors = time.time(), []\n"
            "while time.time() - start < 400:\n"
            "    try:\n"
            "        values = [r.get(timeout=120) for r in res]\n"
            "        break\n"
            "    except Exception as exc:  # what a notebook user sees; they run the cell again\n"
            "        errors.append((type(exc).__name__, round(time.time() - start, 1)))\n"
            "else:\n"
            "    values = None\n"
            "print(json.dumps({'ok': values == [i + 3 for i in range(%d)], 'errors': errors, 'after': time.time() - start}))\n"
            % (tasks, tasks))
    client = subprocess.Popen(as_user_argv([os.path.join(VENV, "bin", "python"), "-c", code]),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ids = json.loads(client.stdout.readline())
        assert len(ids) == tasks
        run_as(["scancel", str(redis["job_id"])], check=True)
        deadline = time.monotonic() + 120
        while "ws-%s-redis" % WORKSPACE in squeue_names():
            assert time.monotonic() < deadline, "the cancelled Redis job does not end"
            time.sleep(1)
        client.stdin.write("go\n")  # the client now reads its results while Redis is away
        client.stdin.flush()
        moved = run_playbook("redis.yml", VARS)
        assert moved.rc == 0, moved.stdout[-3000:]
        moved_at = time.time()
        out, err = client.communicate(timeout=600)
    finally:
        if client.poll() is None:
            client.kill()
    old = json.loads(out.strip().splitlines()[-1])
    assert old["ok"], (old, err[-3000:])
    # Celery's own words while Redis was away: reading the result store failed (its retries ran
    # out), or reconnecting did, or its result consumer gave up on the dead connection.
    expected = {"BackendGetMetaError", "RuntimeError", "ConnectionError", "OperationalError", "TimeoutError"}
    assert {name for name, _after in old["errors"]} <= expected, old
    now = conn("redis")
    assert now["job_id"] != redis["job_id"] and now["port"] != redis["port"]
    results = venv_python("import json\nfrom ulhpccelery.app import app\n"
                          "ids = json.loads(%r)\n"
                          "print(json.dumps([app.AsyncResult(i).get(timeout=300) for i in ids]))\n" % json.dumps(ids),
                          timeout=600)
    assert json.loads(results.strip().splitlines()[-1]) == [i + 3 for i in range(tasks)]
    done_at = time.time()
    log = read(worker_log)[before:]
    assert "redis moved to %s:%d" % (now["address"], now["port"]) in log, log[-3000:]
    assert "starting the Celery worker again on Redis's new address" in log, log[-3000:]
    # The same jobs: they followed, nothing replaced them.
    assert (conn("celery-worker-1")["job_id"], conn("flower")["job_id"]) == (worker_job, flower_job)
    wait_for_flower_to_see_the_broker("Redis moved")
    assert "Flower follows Redis" in read("logs/flower.log")
    again = run_playbook("celery.yml", VARS)
    assert again.rc == 0, again.stdout[-3000:]
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(read("config/celery.ini"))
    assert (ini["redis"]["broker_hostname"], ini.getint("redis", "broker_port")) == (now["address"], now["port"])
    print("\nRedis job cancelled with %d tasks queued: the client started before the move got every result "
          "%.1f s after it began reading (errors on the way: %s); a new client's results %.1f s after redis.yml "
          "started the new Redis" % (tasks, old["after"], old["errors"] or "none", done_at - moved_at))


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
