"""Verify the redis scenario: AUTH then PING gives PONG, PING alone gives NOAUTH; private files."""
import json
import socket

import pytest

ROOT = "~/.ulhpc/workspaces/m-redis"


@pytest.fixture(scope="module")
def conn(host):
    root = host.run("echo " + ROOT).stdout.strip()
    info = json.loads(host.file(root + "/run/redis.json").content_string)
    info["password"] = host.file(root + "/secrets/redis.password").content_string.strip()
    info["root"] = root
    return info


def session(conn, *commands):
    with socket.create_connection((conn["address"], conn["port"]), timeout=10) as sock:
        handle = sock.makefile("rb")
        replies = []
        for command in commands:
            payload = b"*%d\r\n" % len(command) + b"".join(
                b"$%d\r\n%s\r\n" % (len(arg.encode()), arg.encode()) for arg in command)
            sock.sendall(payload)
            replies.append(handle.readline().rstrip(b"\r\n").decode())
        return replies


def test_auth_then_ping(conn):
    assert session(conn, ["AUTH", conn["password"]], ["PING"]) == ["+OK", "+PONG"]


def test_ping_without_auth_is_refused(conn):
    assert session(conn, ["PING"])[0].startswith("-NOAUTH")


def test_private_files(host, conn):
    for path in ("/secrets/redis.password", "/config/redis.conf"):
        assert host.file(conn["root"] + path).mode == 0o600
    assert host.file(conn["root"] + "/secrets").mode == 0o700
    conf = host.file(conn["root"] + "/config/redis.conf").content_string
    assert "protected-mode yes" in conf and "appendonly yes" in conf


def test_redis_server_runs_from_the_built_prefix(host, conn):
    assert host.process.filter(comm="redis-server")
    args = host.run("ps -eww -o args").stdout
    assert conn["password"] not in args
