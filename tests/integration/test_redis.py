"""playbooks/redis.yml on the test cluster, as the unprivileged test user (workspace t-redis).

The module builds Redis from the source tarball served by a loopback HTTP server into a
fresh prefix (checksum, build, atomic install), starts it in a Slurm job and checks the
tutorial's telnet session (AUTH then PING on the job-derived port), persistence across a
restart, permissions, that the password is in no command line nor in the playbook output,
idempotence, check mode and bad input. Teardown stops Redis and removes the prefix.
"""
import functools
import http.server
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import threading

import pytest

from conftest import OTHER_USER, run_as, run_playbook

WORKSPACE = "t-redis"
TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
HOME = os.path.expanduser("~" + TEST_USER)
ROOT = os.path.join(HOME, ".ulhpc", "workspaces", WORKSPACE)
TARBALL = os.environ.get("WS_REDIS_TARBALL", "/var/cache/ulhpc-testbed/redis_7.0.15.orig.tar.gz")
SHA256 = "4b1dc4ee6d622a09fff9c6777191209750fb5e5a725ef78ea012d6eef4c22982"
PREFIX = os.path.join(HOME, ".cache", "ulhpc-test", "redis-t-redis")
JOB_NAME = "ws-%s-redis" % WORKSPACE
BUILT = re.compile(r"Build Redis with make\] \**\nchanged:")


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


def redis_session(conn, *commands):
    """Send commands over one raw connection (like the tutorial's telnet); the reply lines."""
    with socket.create_connection((conn["address"], conn["port"]), timeout=10) as sock:
        handle = sock.makefile("rb")
        replies = []
        for command in commands:
            sock.sendall(resp(*command))
            line = handle.readline().rstrip(b"\r\n").decode()
            if line.startswith("$") and line != "$-1":
                line = handle.readline().rstrip(b"\r\n").decode()
            replies.append(line)
        return replies


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
    shutil.copy(TARBALL, directory / "redis-7.0.15.tar.gz")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/" % server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def base_vars(tarball_server):
    return {"workspace_name": WORKSPACE, "redis_source_url": tarball_server + "redis-7.0.15.tar.gz",
            "redis_prefix": PREFIX}


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
    assert published["secret_files"] == [os.path.join(ROOT, "secrets", "redis.password")]
    assert published["tunnel"] == "ssh -NL {0}:{1}:{0} localhost".format(conn["port"], conn["address"])
    assert job_ids() == [str(conn["job_id"])]


def test_built_from_source_atomically(redis_up):
    binary = os.path.join(PREFIX, "7.0.15", "bin", "redis-server")
    assert os.access(binary, os.X_OK)
    assert not os.path.exists(os.path.join(PREFIX, "7.0.15.partial"))
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    assert "v=7.0.15" in version
    leftovers = [name for name in os.listdir("/tmp") if name.startswith("ulhpc-redis-build-")
                 and os.stat(os.path.join("/tmp", name)).st_uid == os.stat(HOME).st_uid]
    assert leftovers == []
    assert BUILT.search(redis_up.stdout), redis_up.stdout[-3000:]


def test_auth_then_ping_on_the_job_port(redis_up):
    conn = connection()
    offset = (conn["port"] - 64000 - int(conn["job_id"]) % 1000) % 1000
    assert 64000 <= conn["port"] <= 64999 and offset < 20, conn  # job-derived, probed upward if taken
    assert redis_session(conn, ["AUTH", password()], ["PING"]) == ["+OK", "+PONG"]


def test_ping_without_auth_is_refused(redis_up):
    reply = redis_session(connection(), ["PING"])[0]
    assert reply.startswith("-NOAUTH"), reply
    assert redis_session(connection(), ["AUTH", "not-the-password"])[0].startswith("-WRONGPASS")


def test_config_and_modes(redis_up):
    conf_path = os.path.join(ROOT, "config", "redis.conf")
    with open(conf_path) as handle:
        conf = handle.read()
    for line in ("protected-mode yes", "appendonly yes", "daemonize no",
                 'dir "%s"' % os.path.join(ROOT, "data", "redis"), 'requirepass "%s"' % password()):
        assert line in conf.splitlines(), line
    assert "\nport " not in conf and "\nbind " not in conf
    assert len(password()) >= 32  # 128 bits at least (hex)
    for path, mode in ((conf_path, 0o600), (os.path.join(ROOT, "secrets", "redis.password"), 0o600),
                       (os.path.join(ROOT, "secrets"), 0o700), (os.path.join(ROOT, "config"), 0o700)):
        assert stat.S_IMODE(os.stat(path).st_mode) == mode, path


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


def test_restart_keeps_the_data(redis_up, base_vars):
    conn = connection()
    assert redis_session(conn, ["AUTH", password()], ["SET", "ulhpc-test-key", "kept"]) == ["+OK", "+OK"]
    restarted = run_playbook("redis.yml", dict(base_vars, redis_state="restarted"))
    assert restarted.rc == 0, restarted.stdout[-3000:]
    new = connection()
    assert new["job_id"] != conn["job_id"]
    assert redis_session(new, ["AUTH", password()], ["GET", "ulhpc-test-key"]) == ["+OK", "kept"]
    assert job_ids() == [str(new["job_id"])]


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
    result = run_playbook("redis.yml", dict(base_vars, redis_prefix=prefix,
                                            redis_source_url="http://127.0.0.1:%d/redis.tar.gz" % port))
    _assert_refused(result, ["Could not fetch redis_source_url"], before)
    assert not os.path.exists(prefix)


@pytest.mark.parametrize("extra, words", [
    ({"workspace_port_base": 65000, "workspace_port_span": 1000}, ["65000-65999", "1024-65535"]),
    ({"workspace_port_base": 80}, ["1024"]),
    ({"redis_password": ""}, ["redis_password is an empty string"]),
    ({"redis_password_bytes": 8}, ["128 bits"]),
    ({"redis_source_url": ""}, ["redis_source_url is empty"]),
])
def test_bad_input_is_refused(redis_up, base_vars, extra, words):
    before = connection()
    conf = os.path.join(ROOT, "config", "redis.conf")
    mtime = os.stat(conf).st_mtime
    result = run_playbook("redis.yml", dict(base_vars, **extra))
    _assert_refused(result, words, before)
    assert result.changed == 0
    assert os.stat(conf).st_mtime == mtime


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
