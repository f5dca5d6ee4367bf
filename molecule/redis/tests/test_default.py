"""Verify the redis scenario: over verified TLS the celery ACL user gets PONG; no user, a wrong
password or plain TCP get nothing; private files."""
import json
import os
import socket

import pytest
import redis

ROOT = "~/.ulhpc/workspaces/m-redis"
CA = os.path.expanduser("~/.ulhpc/tls/ca.crt")


@pytest.fixture(scope="module")
def conn(host):
    root = host.run("echo " + ROOT).stdout.strip()
    info = json.loads(host.file(root + "/run/redis.json").content_string)
    info["password"] = host.file(root + "/secrets/redis.password").content_string.strip()
    info["root"] = root
    return info


def client(conn, user, password):
    return redis.Redis(host=conn["address"], port=conn["port"], username=user, password=password, ssl=True,
                       ssl_ca_certs=CA, ssl_cert_reqs="required", socket_timeout=10)


def test_auth_then_ping(conn):
    assert client(conn, "celery", conn["password"]).ping() is True


def test_ping_without_the_user_or_password_is_refused(conn):
    with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.ResponseError)):
        client(conn, None, None).ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        client(conn, "celery", "wrong").ping()
    with socket.create_connection((conn["address"], conn["port"]), timeout=10) as sock:
        sock.sendall(b"PING\r\n")
        sock.settimeout(3)
        try:
            reply = sock.recv(100)
        except (OSError, socket.timeout):
            reply = b""
    assert b"PONG" not in reply


def test_private_files(host, conn):
    for path in ("/secrets/redis.password", "/config/redis.conf"):
        assert host.file(conn["root"] + path).mode == 0o600
    assert host.file(conn["root"] + "/secrets").mode == 0o700
    conf = host.file(conn["root"] + "/config/redis.conf").content_string
    assert "protected-mode yes" in conf and "appendonly yes" in conf and "user default on #" in conf
    assert "nopass" not in conf
    assert conn["password"] not in conf


def test_redis_server_runs_from_the_built_prefix(host, conn):
    assert host.process.filter(comm="redis-server")
    args = host.run("ps -eww -o args").stdout
    assert conn["password"] not in args
