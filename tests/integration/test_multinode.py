"""playbooks/celery.yml on the multi-node test cluster (#10), where users really are.

The playbook runs on the login node (login1), Redis on one compute node (node1), the Celery
worker and Flower on the other (node2), and the user on a laptop that reaches the login node
only, through its ssh port 8022. The cluster is network namespaces of this machine joined by a
bridge whose addresses exist only inside them (roles/testbed, tasks/multinode.yml); pip installs
from the testbed's wheelhouse, so nothing leaves the machine.

Checked: every service listens on its node's cluster address (never loopback, never all
addresses), every published address is reachable from the other nodes, a worker on node2 runs
the tutorial's tasks for Redis on node1, the summary prints the laptop's tunnel command, its
~/.ssh/config block and its local URL, and the printed command, run verbatim on the laptop,
reaches Flower. A second run changes nothing.
"""
import json
import os
import shlex
import signal
import subprocess
import time

import pytest

from conftest import MULTINODE, REPO, as_user_argv, on_node, run_as, run_playbook

pytestmark = pytest.mark.skipif(
    not os.path.exists(MULTINODE),
    reason="no multi-node test cluster here: converge playbooks/testbed.yml as root with testbed_multinode: true")

WORKSPACE = "t-multinode"
TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
HOME = os.path.expanduser("~" + TEST_USER)
ROOT = os.path.join(HOME, ".ulhpc", "workspaces", WORKSPACE)
INVENTORY = os.path.join(REPO, "inventory", "multinode")
NODE_ADDR = {"login1": "10.77.0.1", "node1": "10.77.0.11", "node2": "10.77.0.12"}
# What the demo installs, downloaded by the testbed: the nodes have no route to any index.
PIP_ENV = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/var/cache/ulhpc-testbed/wheelhouse-demo"}
VARS = {"workspace_name": WORKSPACE, "celery_workers": 1, "celery_worker_cores": 1, "celery_flower": True,
        "redis_slurm": {"nodelist": "node1"}, "celery_worker_slurm": {"nodelist": "node2"},
        "celery_flower_slurm": {"nodelist": "node2"}}

# Run on a node as the test user: connect to (address, port), print "ok" or the error.
CONNECT = ("import socket, sys\n"
           "try:\n"
           "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close(); print('ok')\n"
           "except OSError as exc:\n"
           "    print(type(exc).__name__, exc)\n")


def celery_play(**kwargs):
    return run_playbook("celery.yml", VARS, inventory=INVENTORY, extra_env=PIP_ENV, node="login1", **kwargs)


@pytest.fixture(scope="module")
def cluster_up():
    result = celery_play()
    yield result
    run_playbook("teardown.yml", {"workspace_name": WORKSPACE}, inventory=INVENTORY, node="login1")


@pytest.fixture(scope="module")
def services(cluster_up):
    assert cluster_up.rc == 0, cluster_up.stdout[-4000:]
    return cluster_up.workspace["services"]


def connect_from(node, address, port):
    return run_as(["/usr/bin/python3", "-c", CONNECT, address, str(port)], node=node, timeout=60).stdout.strip()


def test_each_service_runs_on_the_node_it_was_placed_on(services):
    assert (services["redis"]["host"], services["redis"]["address"]) == ("node1", NODE_ADDR["node1"])
    assert (services["flower"]["host"], services["flower"]["address"]) == ("node2", NODE_ADDR["node2"])
    assert services["celery-worker-1"]["host"] == "node2"


@pytest.mark.parametrize("name", ["redis", "flower"])
def test_services_listen_on_the_cluster_address_only(services, name):
    svc = services[name]
    proc = subprocess.run(on_node(svc["host"], ["ss", "-H", "-l", "-t", "-n", "sport = :%d" % svc["port"]]),
                          capture_output=True, text=True, timeout=60, check=True)
    listening = sorted({line.split()[3] for line in proc.stdout.splitlines() if line.strip()})
    # Not 127.0.0.1 (the other nodes could not reach it), not 0.0.0.0 or * (every address).
    assert listening == ["%s:%d" % (NODE_ADDR[svc["host"]], svc["port"])], proc.stdout


@pytest.mark.parametrize("name", ["redis", "flower"])
def test_published_addresses_are_reachable_from_the_other_nodes(services, name):
    svc = services[name]
    for node in sorted(set(NODE_ADDR) - {svc["host"]}):
        assert connect_from(node, svc["address"], svc["port"]) == "ok", (name, node)
    # The same port on the node's loopback holds nothing: a loopback address would be wrong.
    assert connect_from(svc["host"], "127.0.0.1", svc["port"]).startswith("ConnectionRefusedError")


def test_a_worker_on_node2_runs_tasks_for_redis_on_node1(services):
    venv_python = os.path.join(ROOT, "venv-celery", "bin", "python")
    code = ("from ulhpccelery import tasks\n"
            "from ulhpccelery.app import app\n"
            "res = [tasks.add.delay(i, i + 1) for i in range(200)]\n"
            "print(sum(r.get(timeout=120) == 2 * i + 1 for i, r in enumerate(res)))\n"
            "print(sorted(app.control.inspect(timeout=5).ping() or {}))\n")
    proc = run_as([venv_python, "-c", code], node="login1", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    count, workers = proc.stdout.strip().splitlines()
    assert count == "200"
    assert "node2" in workers, workers


def test_the_summary_prints_what_the_laptop_types(cluster_up, services):
    flower = services["flower"]
    tunnel = "ssh -p 8022 -NL {0}:{1}:{0} login1".format(flower["port"], NODE_ADDR["node2"])
    assert flower["tunnel"] == tunnel
    assert flower["local_url"] == "https://localhost:%d/" % flower["port"]
    assert flower["ssh_config"] == (
        "Host ws-t-multinode-flower\n    HostName login1\n    Port 8022\n"
        "    LocalForward {0} {1}:{0}\n    ExitOnForwardFailure yes\n    ServerAliveInterval 30\n"
    ).format(flower["port"], NODE_ADDR["node2"])
    for text in ("tunnel: " + tunnel, "then open: " + flower["local_url"], "ssh -N ws-t-multinode-flower",
                 "LocalForward %d %s:%d" % (flower["port"], NODE_ADDR["node2"], flower["port"])):
        assert text in cluster_up.stdout, text


def test_the_printed_tunnel_run_verbatim_on_the_laptop_reaches_flower(services):
    flower = services["flower"]
    # The laptop cannot reach the compute node itself: only the tunnel can.
    assert connect_from("laptop", flower["address"], flower["port"]).startswith("OSError")
    argv = on_node("laptop", as_user_argv(shlex.split(flower["tunnel"]), fresh=True))
    tunnel = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 30
        while connect_from("laptop", "127.0.0.1", flower["port"]) != "ok":
            assert tunnel.poll() is None, tunnel.communicate()
            assert time.time() < deadline, "the tunnel did not open in 30 s"
            time.sleep(0.5)
        # The laptop's browser: the local URL, the workspace CA, Flower's credentials.
        code = ("import base64, json, ssl, sys, urllib.request, urllib.error\n"
                "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
                "def get(auth):\n"
                "    req = urllib.request.Request(sys.argv[1] + 'api/workers')\n"
                "    if auth:\n"
                "        req.add_header('Authorization', 'Basic ' + base64.b64encode(auth.encode()).decode())\n"
                "    try:\n"
                "        with urllib.request.urlopen(req, timeout=20, context=ctx) as resp:\n"
                "            return resp.status, sorted(json.load(resp))\n"
                "    except urllib.error.HTTPError as exc:\n"
                "        return exc.code, []\n"
                "password = open(sys.argv[3]).read().strip()\n"
                "print(json.dumps([get(None), get('flower:' + password)]))\n")
        proc = run_as(["/usr/bin/python3", "-c", code, flower["local_url"],
                       os.path.join(HOME, ".ulhpc", "tls", "ca.crt"), flower["secret_files"][0]],
                      node="laptop", timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        anonymous, logged_in = json.loads(proc.stdout)
        assert anonymous[0] == 401
        assert logged_in[0] == 200 and any("node2" in name for name in logged_in[1]), logged_in
    finally:
        os.killpg(tunnel.pid, signal.SIGTERM)
        tunnel.communicate(timeout=30)


def test_second_run_changes_nothing(services):
    again = celery_play()
    assert again.rc == 0, again.stdout[-3000:]
    assert again.changed == 0, again.stdout[-3000:]
    assert again.workspace["services"]["redis"]["job_id"] == services["redis"]["job_id"]
