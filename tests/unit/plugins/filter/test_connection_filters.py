"""ssh_tunnel: the one place the tunnel command of a service is built."""
import pytest

from ansible_collections.ulhpc.workspace.plugins.filter.connection import FilterModule
from ansible_collections.ulhpc.workspace.plugins.module_utils._connection import ssh_tunnel


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
