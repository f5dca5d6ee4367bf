"""ssh_tunnel, ssh_config, local_url: the one place what the laptop types is built."""
import pytest

from ansible_collections.ulhpc.workspace.plugins.filter.connection import FilterModule
from ansible_collections.ulhpc.workspace.plugins.module_utils._connection import (
    laptop_access, local_url, ssh_alias, ssh_config, ssh_tunnel)


def test_the_filter_is_the_pure_function():
    assert FilterModule().filters()["ssh_tunnel"]({"address": "10.0.0.1", "port": 64123}, "iris") == \
        "ssh -NL 64123:10.0.0.1:64123 iris"


@pytest.mark.parametrize("conn, login, expected", [
    ({"address": "10.0.0.1", "port": 64123, "url": "https://node01:64123/"}, "iris-cluster",
     "ssh -NL 64123:10.0.0.1:64123 iris-cluster"),
    ({"address": "127.0.0.1", "port": "64001"}, "localhost", "ssh -NL 64001:127.0.0.1:64001 localhost"),
    ({"address": "10.0.0.1"}, "iris", None),                      # a worker: no port
    ({"port": 64001}, "iris", None),
    ({"address": "", "port": 64001}, "iris", None),
    ({"address": "10.0.0.1", "port": 0}, "iris", None),
    ({"address": "10.0.0.1", "port": 64001}, "", None),
    ({}, "iris", None),
    (None, "iris", None),
])
def test_ssh_tunnel(conn, login, expected):
    assert ssh_tunnel(conn, login) == expected


IRIS = {"host": "access-iris.uni.lu", "port": 8022, "user": "jdoe", "via": "login"}
JUPYTER = {"service": "jupyter", "host": "iris-042", "address": "172.17.6.42", "port": 64123,
           "url": "https://172.17.6.42:64123/lab"}


@pytest.mark.parametrize("login, expected", [
    (IRIS, "ssh -p 8022 -NL 64123:172.17.6.42:64123 jdoe@access-iris.uni.lu"),
    (dict(IRIS, via="node"), "ssh -J jdoe@access-iris.uni.lu:8022 -NL 64123:172.17.6.42:64123 jdoe@iris-042"),
    (dict(IRIS, port=0, user=""), "ssh -NL 64123:172.17.6.42:64123 access-iris.uni.lu"),
    (dict(IRIS, port=0, user="", via="node"), "ssh -J access-iris.uni.lu -NL 64123:172.17.6.42:64123 iris-042"),
    ({"host": "login1", "port": "2222"}, "ssh -p 2222 -NL 64123:172.17.6.42:64123 login1"),
    ({"host": ""}, None),
])
def test_tunnel_honours_the_login_port_user_and_route(login, expected):
    assert ssh_tunnel(JUPYTER, login) == expected


def test_via_node_without_a_node_name_falls_back_to_the_login_form():
    conn = dict(JUPYTER)
    del conn["host"]
    assert ssh_tunnel(conn, dict(IRIS, via="node")) == "ssh -p 8022 -NL 64123:172.17.6.42:64123 jdoe@access-iris.uni.lu"


def test_ssh_config_block_opens_the_same_tunnel():
    assert ssh_config(JUPYTER, IRIS, "demo") == (
        "Host ws-demo-jupyter\n"
        "    HostName access-iris.uni.lu\n"
        "    Port 8022\n"
        "    User jdoe\n"
        "    LocalForward 64123 172.17.6.42:64123\n"
        "    ExitOnForwardFailure yes\n"
        "    ServerAliveInterval 30\n")
    via_node = ssh_config(JUPYTER, dict(IRIS, via="node"), "demo").splitlines()
    assert via_node[1:3] == ["    HostName iris-042", "    ProxyJump jdoe@access-iris.uni.lu:8022"]
    assert "    Port 8022" not in via_node
    assert ssh_config({"service": "worker", "address": "10.0.0.1"}, IRIS, "demo") is None


def test_ssh_alias_is_a_safe_host_pattern():
    assert ssh_alias("my ws", "celery/flower") == "ws-my-ws-celery-flower"


@pytest.mark.parametrize("conn, expected", [
    (JUPYTER, "https://localhost:64123/lab"),
    (dict(JUPYTER, url="http://node1:64123"), "http://localhost:64123"),
    (dict(JUPYTER, url="http://[fe80::1]:64123/x?y=1"), "http://localhost:64123/x?y=1"),
    (dict(JUPYTER, url="redis node1"), None),
    ({"service": "redis", "address": "10.0.0.1", "port": 64001}, None),
    ({"url": "http://node1:1/"}, None),
])
def test_local_url_is_the_url_through_the_tunnel(conn, expected):
    assert local_url(conn) == expected


def test_laptop_access_gives_all_three_or_none():
    access = laptop_access(JUPYTER, IRIS, "demo")
    assert access["tunnel"].startswith("ssh -p 8022") and access["ssh_alias"] == "ws-demo-jupyter"
    assert access["ssh_config"].startswith("Host ws-demo-jupyter\n") and access["local_url"] == "https://localhost:64123/lab"
    assert laptop_access({"service": "worker"}, IRIS, "demo") == dict(tunnel=None, ssh_config=None, ssh_alias=None,
                                                                      local_url=None)
