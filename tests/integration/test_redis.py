"""playbooks/redis.yml on the test cluster, as the unprivileged test user (workspace t-redis).

The module builds Valkey from the source tarball served by a loopback HTTP server into a
fresh prefix (checksum from the role's table, build with TLS, atomic install), starts it in a
Slurm job and checks AUTH + PING over verified TLS as the celery ACL user on the job-derived
port, that no other user, plain TCP or an untrusting client gets anything, the ACL users'
command lists, persistence across a restart, permissions, that the password is in no command
line nor in the playbook output, idempotence, check mode and bad input. Teardown stops Redis
and removes the prefix.
"""
import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import threading
import time

import pytest

import redis

from conftest import CA_CERT, OTHER_USER, redis_client, run_as, run_playbook

WORKSPACE = "t-redis"
TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
HOME = os.path.expanduser("~" + TEST_USER)
ROOT = os.path.join(HOME, ".ulhpc", "workspaces", WORKSPACE)
TARBALL = os.environ.get("WS_REDIS_TARBALL", "/var/cache/ulhpc-testbed/valkey_8.1.1+dfsg1.orig.tar.xz")
SHA256 = "d9bbd82eecb82f359e649a0007ad3dc1b47cc15afa626348ca86b73c4ae2c7ee"
VERSION = "8.1.1"
PREFIX = os.path.join(HOME, ".cache", "ulhpc-test", "redis-t-redis")
JOB_NAME = "ws-%s-redis" % WORKSPACE
BUILT = re.compile(r"Build Redis with make \([^)]*\)\] \**\nchanged:")


def client(conn, user="celery", password=None):
    return redis_client(conn, WORKSPACE, user=user, password=password)


def raw_session(conn, payload):
    """What a plain-TCP client (the tutorial's telnet) gets back for `payload`."""
    with socket.create_connection((conn["address"], conn["port"]), timeout=10) as sock:
        sock.sendall(payload)
        try:
            return sock.recv(4096)
        except (ConnectionResetError, socket.timeout):
            return b""


def password():
    with open(os.path.join(ROOT, "secrets", "redis.password")) as handle:
        return handle.read().strip()


def connection():
    with open(os.path.join(ROOT, "run", "redis.json")) as handle:
        return json.load(handle)


def job_ids(name=JOB_NAME):
    out = subprocess.run(["squeue", "-h", "-n", name, "-o", "%i"], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.fixture(scope="module")
def tarball_server(tmp_path_factory):
    """A loopback HTTP server serving the Redis source tarball; yields its base URL."""
    if not os.path.exists(TARBALL):
        pytest.fail("the Redis source tarball %s is missing: run playbooks/testbed.yml" % TARBALL)
    directory = tmp_path_factory.mktemp("redis-mirror")
    shutil.copy(TARBALL, directory / os.path.basename(TARBALL))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/" % server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def base_vars(tarball_server):
    # The file name is the table's: the role finds its checksum there.
    return {"workspace_name": WORKSPACE, "redis_source_url": tarball_server + os.path.basename(TARBALL),
            "redis_version": VERSION, "redis_prefix": PREFIX}


@pytest.fixture(scope="module")
def redis_up(base_vars):
    shutil.rmtree(PREFIX, ignore_errors=True)
    result = run_playbook("redis.yml", base_vars)
    yield result
    run_playbook("teardown.yml", {"workspace_name": WORKSPACE})
    shutil.rmtree(PREFIX, ignore_errors=True)


def test_provisioned(redis_up):
    assert redis_up.rc == 0, redis_up.stdout[-3000:]
    published = redis_up.workspace["services"]["redis"]
    conn = connection()
    assert published["port"] == conn["port"] and published["address"] == conn["address"]
    assert published["secret_files"] == [os.path.join(ROOT, "secrets", name) for name in
                                         ("redis.password", "redis-flower.password", "redis-admin.password")]
    assert published["url"] == "rediss://%s:%d/0" % (conn["host"], conn["port"]) and conn["tls"] == 1
    assert published["tunnel"] == "ssh -NL {0}:{1}:{0} localhost".format(conn["port"], conn["address"])
    assert job_ids() == [str(conn["job_id"])]


def test_built_from_source_atomically(redis_up):
    binary = os.path.join(PREFIX, VERSION, "bin", "redis-server")
    assert os.access(binary, os.X_OK)
    assert not os.path.exists(os.path.join(PREFIX, VERSION + ".partial"))
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    assert "v=%s" % VERSION in version and "Valkey" in version
    leftovers = [name for name in os.listdir("/tmp") if name.startswith("ulhpc-redis-build-")
                 and os.stat(os.path.join("/tmp", name)).st_uid == os.stat(HOME).st_uid]
    assert leftovers == []
    assert BUILT.search(redis_up.stdout), redis_up.stdout[-3000:]


def test_auth_then_ping_on_the_job_port(redis_up):
    conn = connection()
    offset = (conn["port"] - 64000 - int(conn["job_id"]) % 1000) % 1000
    assert 64000 <= conn["port"] <= 64999 and offset < 20, conn  # job-derived, probed upward if taken
    assert client(conn).ping() is True


def test_only_named_users_over_verified_tls(redis_up):
    conn = connection()
    with pytest.raises(redis.exceptions.AuthenticationError):
        client(conn, user="celery", password="not-the-password").ping()
    # The tutorial's AUTH <password> is the `default` user, whose password nobody is given.
    with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.ResponseError)):
        client(conn, user=None, password=password()).ping()
    with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.ResponseError)):
        client(conn, user=None, password=None).ping()
    # Plain TCP (the tutorial's telnet) gets no Redis answer at all.
    assert b"PONG" not in raw_session(conn, b"PING\r\n")
    # A client that does not trust the workspace CA refuses the server (its password unsent).
    untrusting = redis.Redis(host=conn["address"], port=conn["port"], username="celery", password=password(),
                             ssl=True, ssl_cert_reqs="required", socket_timeout=10)
    with pytest.raises(redis.exceptions.ConnectionError, match="certificate verify failed"):
        untrusting.ping()


def test_acl_users_hold_only_their_commands(redis_up):
    conn = connection()
    celery = client(conn)
    for command in (["CONFIG", "GET", "dir"], ["KEYS", "*"], ["FLUSHALL"], ["SAVE"], ["CLIENT", "LIST"],
                    ["ACL", "LIST"], ["SHUTDOWN"], ["MODULE", "LIST"], ["SCRIPT", "FLUSH"]):
        with pytest.raises(redis.exceptions.NoPermissionError):
            celery.execute_command(*command)
    assert celery.set("ulhpc-acl-probe", "1") and celery.delete("ulhpc-acl-probe") == 1
    flower = client(conn, user="flower")
    assert flower.llen("celery") >= 0
    with pytest.raises(redis.exceptions.NoPermissionError):
        flower.execute_command("FLUSHDB")
    admin = client(conn, user="admin")
    assert admin.acl_whoami() == "admin"


def test_config_and_modes(redis_up):
    conf_path = os.path.join(ROOT, "config", "redis.conf")
    with open(conf_path) as handle:
        conf = handle.read()
    for line in ("protected-mode yes", "appendonly yes", "daemonize no",
                 'dir "%s"' % os.path.join(ROOT, "data", "redis")):
        assert line in conf.splitlines(), line
    assert "\nport " not in conf and "\nbind " not in conf and "requirepass" not in conf
    # `default` takes a password nobody is given: not off (the AOF replay runs as `default`, and
    # Valkey drops replayed transactions when it is off), never nopass.
    default = [line for line in conf.splitlines() if line.startswith("user default ")]
    assert len(default) == 1 and default[0].startswith("user default on #") and "nopass" not in conf, default
    # Only hashes of the passwords, never the passwords.
    for name in ("redis.password", "redis-flower.password", "redis-admin.password"):
        with open(os.path.join(ROOT, "secrets", name)) as handle:
            secret = handle.read().strip()
        assert secret not in conf and "#" + hashlib.sha256(secret.encode()).hexdigest() in conf
    assert len(password()) >= 32  # 128 bits at least (hex)
    for path, mode in ((conf_path, 0o600), (os.path.join(ROOT, "secrets", "redis.password"), 0o600),
                       (os.path.join(ROOT, "secrets"), 0o700), (os.path.join(ROOT, "config"), 0o700),
                       (os.path.join(HOME, ".ulhpc", "tls", "ca.key"), 0o600)):
        assert stat.S_IMODE(os.stat(path).st_mode) == mode, path
    assert os.path.exists(CA_CERT)


def test_other_user_reads_nothing(redis_up):
    for path in ("secrets/redis.password", "config/redis.conf", "run/redis.json"):
        proc = run_as(["cat", os.path.join(ROOT, path)], user=OTHER_USER)
        assert proc.returncode != 0 and "Permission denied" in proc.stderr, path


def test_password_not_on_any_command_line_nor_in_output(redis_up):
    secret = password()
    args = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True).stdout
    assert "redis-server" in args
    assert secret not in args
    assert secret not in redis_up.stdout


def test_second_run_changes_nothing(redis_up, base_vars):
    before = connection()
    again = run_playbook("redis.yml", base_vars)
    assert again.rc == 0, again.stdout[-3000:]
    assert again.changed == 0, again.stdout[-3000:]
    assert connection()["job_id"] == before["job_id"]
    assert not BUILT.search(again.stdout)


def test_check_mode_changes_nothing(redis_up, base_vars):
    before = connection()
    checked = run_playbook("redis.yml", base_vars, check=True)
    assert checked.rc == 0, checked.stdout[-3000:]
    assert checked.changed == 0
    assert connection()["job_id"] == before["job_id"]


def task_outcomes(stdout, name):
    """The outcome lines ("ok: ...", "changed: ...") of the tasks whose header holds name."""
    chunks = [c for c in stdout.split("TASK [")[1:] if name in c.split("]", 1)[0]]
    return [line.split(":", 1)[0] for c in chunks for line in c.splitlines()
            if re.match(r"^(ok|changed|skipping|fatal): ", line)]


def test_check_mode_sees_the_restart_a_config_change_makes(redis_up, base_vars):
    """redis.conf is fingerprinted by the text this run renders, not by the file on disk, which
    check mode leaves alone: --check predicts the job replacement a real run would make (the
    call that would submit the job is the one that would write the file)."""
    before = connection()
    conf = os.path.join(ROOT, "config", "redis.conf")
    text = run_as(["cat", conf]).stdout
    checked = run_playbook("redis.yml", dict(base_vars, redis_maxmemory="64mb"), check=True)
    assert checked.rc == 0, checked.stdout[-3000:]
    assert task_outcomes(checked.stdout, "Submit the services' Slurm jobs") == ["changed"], checked.stdout[-3000:]
    assert run_as(["cat", conf]).stdout == text
    assert connection()["job_id"] == before["job_id"] and job_ids() == [str(before["job_id"])]
    same = run_playbook("redis.yml", base_vars, check=True)
    assert task_outcomes(same.stdout, "Submit the services' Slurm jobs") == ["ok"], same.stdout[-3000:]


def test_restart_keeps_the_data(redis_up, base_vars):
    conn = connection()
    # The workspace keeps its data between runs of this suite: values unique to this run.
    token = os.urandom(8).hex()
    assert client(conn).set("ulhpc-test-key", token)
    # A transaction too (kombu acks and requeues, and Celery stores results, in MULTI/EXEC):
    # Valkey replays the AOF as `default` and dropped it when that user was off.
    with client(conn).pipeline(transaction=True) as pipe:
        pipe.set("ulhpc-test-tx", token).delete("ulhpc-test-list").lpush("ulhpc-test-list", "a", token).execute()
    restarted = run_playbook("redis.yml", dict(base_vars, redis_state="restarted"))
    assert restarted.rc == 0, restarted.stdout[-3000:]
    new = connection()
    assert new["job_id"] != conn["job_id"]
    assert client(new).get("ulhpc-test-key") == token.encode()
    assert client(new).get("ulhpc-test-tx") == token.encode()
    assert client(new).lrange("ulhpc-test-list", 0, -1) == [token.encode(), b"a"]
    assert job_ids() == [str(new["job_id"])]


def test_walltime_ends_redis_cleanly_and_a_rerun_brings_the_data_back(redis_up, base_vars):
    """Without continuation: a Redis job with a 2-minute walltime gets SIGTERM ahead of its
    end (--signal=B:TERM@60), saves and ends by itself instead of being killed by the time
    limit; the next run starts it again with its data."""
    short = dict(base_vars, redis_slurm={"time": "00:02:00"})
    try:
        up = run_playbook("redis.yml", short)
        assert up.rc == 0, up.stdout[-3000:]
        conn = connection()
        token = os.urandom(8).hex()
        assert client(conn).set("ulhpc-walltime", token)
        log_path = os.path.join(ROOT, "logs", "redis.log")
        server_log = os.path.join(ROOT, "logs", "redis-server.log")
        before, server_before = os.path.getsize(log_path), os.path.getsize(server_log)
        deadline = time.monotonic() + 240
        while job_ids():
            assert time.monotonic() < deadline, "the 2-minute Redis job still runs after 4 minutes"
            time.sleep(2)
        state = subprocess.run(["scontrol", "show", "job", str(conn["job_id"])], capture_output=True,
                               text=True, check=False).stdout
        assert "JobState=TIMEOUT" not in state and "JobState=" in state, state
        with open(log_path) as handle:
            log = handle.read()[before:]
        assert "stopping" in log and "stopped" in log, log[-3000:]
        with open(server_log) as handle:
            assert "ready to exit, bye bye" in handle.read()[server_before:]
        assert not os.path.exists(os.path.join(ROOT, "run", "redis.json"))
        again = run_playbook("redis.yml", short)
        assert again.rc == 0, again.stdout[-3000:]
        assert connection()["job_id"] != conn["job_id"]
        assert client(connection()).get("ulhpc-walltime") == token.encode()
    finally:
        restored = run_playbook("redis.yml", base_vars)
        assert restored.rc == 0, restored.stdout[-3000:]


def redis_servers():
    """Pids of the processes running this test's redis-server build (Redis rewrites its
    command line, so the executable tells)."""
    binary = os.path.realpath(os.path.join(PREFIX, VERSION, "bin", "redis-server"))
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.path.realpath("/proc/%s/exe" % pid) == binary:
                found.append(int(pid))
        except OSError:
            continue
    return found


def test_a_second_server_never_opens_the_same_aof(redis_up):
    """The job script run again by hand (a second login node, a duplicate job) waits for the
    instance lock, then gives up naming the running server's job: one AOF, one server."""
    conn = connection()
    before = redis_servers()
    assert len(before) == 1, before
    text = run_as(["cat", os.path.join(ROOT, "run", "redis.sh")], check=True).stdout
    text = re.sub(r"(?m)^export WS_TIMEOUT=\d+$", "export WS_TIMEOUT=2", text)
    second = run_as(["bash", "-s"], input=text, timeout=60)
    assert second.returncode == 1, second.stderr
    assert "another instance of redis runs (" in second.stderr and "job %s)" % conn["job_id"] in second.stderr
    assert "not starting a second one on the same data" in second.stderr
    assert redis_servers() == before and connection() == conn
    assert client(conn).ping() is True


def _assert_refused(result, words, conn_before):
    assert result.rc != 0
    for word in words:
        assert word in result.stdout, (word, result.stdout[-3000:])
    assert connection()["job_id"] == conn_before["job_id"]


def test_wrong_checksum_installs_nothing(redis_up, base_vars, tmp_path):
    before = connection()
    prefix = os.path.join(HOME, ".cache", "ulhpc-test", "redis-t-redis-bad")
    shutil.rmtree(prefix, ignore_errors=True)
    result = run_playbook("redis.yml", dict(base_vars, redis_prefix=prefix, redis_source_sha256="0" * 64))
    _assert_refused(result, ["did not match", "redis_source_sha256"], before)
    assert not os.path.exists(prefix)


def test_unreachable_url(redis_up, base_vars):
    before = connection()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    prefix = os.path.join(HOME, ".cache", "ulhpc-test", "redis-t-redis-bad")
    result = run_playbook("redis.yml", dict(base_vars, redis_prefix=prefix, redis_source_sha256=SHA256,
                                            redis_source_url="http://127.0.0.1:%d/redis.tar.gz" % port))
    _assert_refused(result, ["Could not fetch redis_source_url"], before)
    assert not os.path.exists(prefix)


@pytest.mark.parametrize("extra, words", [
    ({"workspace_port_base": 65000, "workspace_port_span": 1000}, ["65000-65999", "ends above 65535"]),
    ({"workspace_port_base": 80}, ["1024"]),
    ({"workspace_login_port": 70000}, ["workspace_login_port", "70000", "port number"]),
    ({"workspace_tunnel_via": "laptop"}, ["workspace_tunnel_via", "laptop", "login"]),
    ({"redis_slurm": {"nodelist": "node1 node2"}}, ["nodelist", "node names such as node1"]),
    ({"workspace_launcher": "local", "workspace_build_in_job": True}, ["workspace_build_in_job", "needs Slurm"]),
    ({"workspace_build_slurm": {"cpus_per_task": 0}}, ["workspace_build_slurm", "cpus_per_task"]),
    ({"redis_password": ""}, ["redis_password is an empty string"]),
    ({"redis_password_bytes": 8}, ["128 bits"]),
    ({"redis_source_url": ""}, ["redis_source_url is empty", "no known download URL"]),
    ({"redis_source_url": "/tmp/unknown-valkey.tar.gz"}, ["no known checksum", "redis_source_sha256"]),
])
def test_bad_input_is_refused(redis_up, base_vars, extra, words):
    before = connection()
    conf = os.path.join(ROOT, "config", "redis.conf")
    mtime = os.stat(conf).st_mtime
    result = run_playbook("redis.yml", dict(base_vars, **extra))
    _assert_refused(result, words, before)
    assert result.changed == 0
    assert os.stat(conf).st_mtime == mtime


def test_without_tls_the_acl_users_still_guard_plain_tcp(redis_up, base_vars):
    """workspace_tls=false (trusted nodes): plain TCP, but only the named users get in."""
    plain = WORKSPACE + "-plain"
    try:
        result = run_playbook("redis.yml", dict(base_vars, workspace_name=plain, workspace_tls=False))
        assert result.rc == 0, result.stdout[-3000:]
        with open(os.path.join(HOME, ".ulhpc", "workspaces", plain, "run", "redis.json")) as handle:
            conn = json.load(handle)
        assert conn["tls"] == 0 and conn["url"].startswith("redis://")
        with open(os.path.join(HOME, ".ulhpc", "workspaces", plain, "secrets", "redis.password")) as handle:
            secret = handle.read().strip()
        assert redis.Redis(host=conn["address"], port=conn["port"], username="celery", password=secret,
                           socket_timeout=10).ping() is True
        with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.ResponseError)):
            redis.Redis(host=conn["address"], port=conn["port"], password=secret, socket_timeout=10).ping()
    finally:
        run_playbook("teardown.yml", {"workspace_name": plain})


def test_stop_saves_and_cancels(redis_up, base_vars):
    stopped = run_playbook("redis.yml", dict(base_vars, redis_state="stopped"))
    assert stopped.rc == 0, stopped.stdout[-3000:]
    assert job_ids() == []
    assert not os.path.exists(os.path.join(ROOT, "run", "redis.json"))
    data = os.path.join(ROOT, "data", "redis")
    assert os.path.exists(os.path.join(data, "dump.rdb"))
    with open(os.path.join(ROOT, "logs", "redis-server.log")) as handle:
        log = handle.read()
    assert "DB saved on disk" in log
    again = run_playbook("redis.yml", dict(base_vars, redis_state="stopped"))
    assert again.rc == 0 and again.changed == 0
