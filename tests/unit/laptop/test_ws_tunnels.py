"""laptop/ws-tunnels.py: the laptop-side helper's pure parts (its real run is in test_multinode)."""
import importlib.util
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "..", "..", "..", "laptop", "ws-tunnels.py")
spec = importlib.util.spec_from_file_location("ws_tunnels", PATH)
ws = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ws)

JUPYTER = '{"service": "jupyter", "host": "node1", "address": "10.77.0.11", "port": 64123, "url": "https://node1:64123/lab"}'
WORKER = '{"service": "celery-worker-1", "host": "node2", "address": "10.77.0.12"}'
REDIS = '{"service": "redis", "address": "10.77.0.11", "port": "64001", "url": "rediss://node1:64001/0"}'


def test_the_listing_is_split_and_half_written_files_are_skipped():
    text = "\n".join([JUPYTER, ws.SEPARATOR, WORKER, ws.SEPARATOR, '{"service": "flo', ws.SEPARATOR,
                      "[1, 2]", ws.SEPARATOR, REDIS, ws.SEPARATOR, ""])
    conns = ws.parse_listing(text)
    assert [c["service"] for c in conns] == ["jupyter", "celery-worker-1", "redis"]
    assert ws.endpoints(conns) == {"jupyter": ("10.77.0.11", 64123, "https://node1:64123/lab"),
                                   "redis": ("10.77.0.11", 64001, "rediss://node1:64001/0")}


def test_the_remote_command_lists_the_workspace_run_dir_and_never_fails_on_none():
    cmd = ws.remote_listing("myproject")
    assert cmd.startswith("for f in ~/.ulhpc/workspaces/myproject/run/*.json;") and cmd.endswith("; true")
    assert "/scratch/ws/run/*.json" in ws.remote_listing("x", "/scratch/ws")


def test_plan_keeps_ports_prefers_the_remote_port_and_never_collides():
    services = {"jupyter": ("a", 64123, None), "redis": ("a", 64001, None), "flower": ("b", 64123, None)}
    free = {64001}
    ports = ws.plan(services, is_free=lambda port: port in free)
    assert ports["redis"] == 64001                       # its own number, free here
    assert ports["flower"] not in (64001, 64123) and ports["jupyter"] not in (64001, 64123, ports["flower"])
    again = ws.plan(dict(services, redis=("c", 64999, None)), previous=ports, is_free=lambda port: False)
    assert again == ports                                # a moved service keeps its local port


@pytest.mark.parametrize("url, expected", [
    ("https://node1:64123/lab", "https://localhost:5000/lab"),
    ("rediss://node1:64001/0", "rediss://localhost:5000/0"),
    ("http://[fe80::1]:1/x", "http://localhost:5000/x"),
    (None, None),
    ("node1:1", None),
])
def test_local_url(url, expected):
    assert ws.local_url(url, 5000) == expected


def test_one_ssh_carries_every_forward_and_exits_when_one_fails():
    services = {"redis": ("10.0.0.1", 64001, None), "jupyter": ("10.0.0.2", 64123, None)}
    argv = ws.tunnel_argv(["-p", "8022", "jdoe@login"], services, {"redis": 64001, "jupyter": 5000})
    assert argv[:2] == ["ssh", "-N"] and "ExitOnForwardFailure=yes" in argv
    assert argv[-3:] == ["-p", "8022", "jdoe@login"]
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-L"] == [
        "127.0.0.1:5000:10.0.0.2:64123", "127.0.0.1:64001:10.0.0.1:64001"]


def test_describe_prints_the_local_url_or_port():
    lines = ws.describe({"redis": ("10.0.0.1", 64001, None), "jupyter": ("10.0.0.2", 64123, "https://n:64123/")},
                        {"redis": 64001, "jupyter": 5000})
    assert lines[0].split() == ["jupyter", "https://localhost:5000/", "(10.0.0.2:64123)"]
    assert lines[1].split() == ["redis", "localhost:64001", "(10.0.0.1:64001)"]


@pytest.mark.parametrize("argv, words", [
    (["-w", "My Project", "login"], "is not [a-z0-9_-]+"),
    (["--root", "$(rm -rf ~)", "login"], "use a plain path"),
    (["--interval", "0", "login"], "at least 1 second"),
    (["-w", "x"], "required"),
])
def test_bad_arguments_are_refused_before_any_ssh(argv, words, capsys, monkeypatch):
    monkeypatch.setattr(ws.subprocess, "run", lambda *a, **k: pytest.fail("ssh was run"))
    with pytest.raises(SystemExit) as exc:
        ws.main(argv)
    assert exc.value.code == 2 and words in capsys.readouterr().err


def test_a_newcomer_never_takes_a_kept_port():
    services = {"alpha": ("a", 64001, None), "zeta": ("b", 64002, None)}
    ports = ws.plan(services, previous={"zeta": 64001, "gone": 64009}, is_free=lambda port: True)
    assert ports["zeta"] == 64001 and ports["alpha"] not in (64001,) and "gone" not in ports


def test_a_port_in_time_wait_is_free_for_a_new_tunnel():
    """After a dropped tunnel, its port (TIME_WAIT after served connections) is ours again."""
    import socket
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _addr = server.accept()
    conn.close()  # the server side closes first: its end of the connection waits in TIME_WAIT
    client.close()
    server.close()
    assert ws.port_is_free(port)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        assert not ws.port_is_free(taken.getsockname()[1])
    finally:
        taken.close()


def test_two_services_never_share_a_remembered_port():
    services = {"a": ("x", 1, None), "b": ("y", 2, None)}
    ports = ws.plan(services, previous={"a": 5000, "b": 5000}, is_free=lambda port: True)
    assert ports["a"] == 5000 and ports["b"] != 5000
