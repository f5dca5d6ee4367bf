"""The scenario playbooks on the multi-node test cluster (#10), where users really are.

The playbooks run on the login node (login1), the services on the compute nodes (node1,
node2), and the user on a laptop that reaches the login node only, through its ssh port 8022.
The cluster is network namespaces of this machine joined by a bridge whose addresses exist only
inside them (roles/testbed, tasks/multinode_cluster.yml); pip installs from the testbed's
wheelhouse, so nothing leaves the machine. The login node has no `module`, no make and no C
compiler, as on sites that forbid both there: every heavy step runs in a job
(workspace_build_in_job), and without it the play stops before creating anything.

Celery: Redis on node1, the worker and Flower on node2; every service listens on its node's
cluster address (never loopback, never all addresses) and is reachable from the other nodes;
the worker runs the tutorial's tasks; the summary prints the laptop's tunnel command,
~/.ssh/config block and local URL, and the printed command run verbatim on the laptop reaches
Flower, also through ssh -J to the node (whose sshd admits only users with a job there); a
second run changes nothing; laptop/ws-tunnels.py keeps the tunnels up and follows Flower to
the other node. ipyparallel: the controller on node1, and engines on both nodes, as a Slurm job
of their own or as one MPI world started by mpiexec in the controller's two-node job (the check
for mpiexec runs in a job too: the login node has no modules).
Jupyter on node1: the laptop logs in through the printed tunnel and runs the Monte-Carlo
notebook.
"""
import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import time

import pytest

from conftest import MULTINODE, OTHER_USER, REPO, as_user_argv, on_node, run_as, run_playbook

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
# A Redis build of this run only: the build must happen here, in a job (make is hidden on login1).
REDIS_PREFIX = os.path.join(HOME, ".cache", "ulhpc-test", "redis-multinode-%d" % os.getpid())
# The site's policy: modules and builds on the compute nodes only (the login node has neither).
VARS = {"workspace_name": WORKSPACE, "celery_workers": 1, "celery_worker_cores": 1, "celery_flower": True,
        "redis_slurm": {"nodelist": "node1"}, "celery_worker_slurm": {"nodelist": "node2"},
        "celery_flower_slurm": {"nodelist": "node2"}, "workspace_build_in_job": True,
        "celery_venv_modules": ["lang/Python/3.11"], "celery_venv_interpreter": "python3",
        "redis_prefix": REDIS_PREFIX}

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
    subprocess.run(["rm", "-rf", REDIS_PREFIX], check=True)


@pytest.fixture(scope="module")
def services(cluster_up):
    assert cluster_up.rc == 0, cluster_up.stdout[-4000:]
    return cluster_up.workspace["services"]


def test_the_login_node_refuses_modules_and_builds_so_the_switch_is_needed():
    """Without workspace_build_in_job the play stops at its first build step, with the way out."""
    name = WORKSPACE + "-login"
    root = os.path.join(HOME, ".ulhpc", "workspaces", name)
    result = run_playbook("celery.yml", dict(VARS, workspace_name=name, workspace_build_in_job=False),
                          inventory=INVENTORY, extra_env=PIP_ENV, node="login1")
    assert result.rc != 0
    assert "make could not run on login1" in result.stdout, result.stdout[-3000:]
    assert "set workspace_build_in_job: true" in result.stdout, result.stdout[-3000:]
    assert not os.path.exists(os.path.join(root, "venv-celery")) and not os.path.exists(REDIS_PREFIX)
    assert run_as(["make", "--version"], node="login1").returncode != 0     # and no make there
    assert run_as(["make", "--version"], node="node1").returncode == 0
    subprocess.run(["rm", "-rf", root], check=True)


def test_the_heavy_steps_ran_in_jobs_on_the_compute_nodes(cluster_up):
    assert cluster_up.rc == 0, cluster_up.stdout[-4000:]
    assert re.search(r"Redis 8\.1\.1 built in \d+:\d\d:\d\d \(h:mm:ss\) with make -j2 in a Slurm job",
                     " ".join(cluster_up.stdout.split())), cluster_up.stdout[-4000:]
    assert os.path.exists(os.path.join(REDIS_PREFIX, "8.1.1", "bin", "redis-server"))
    # The venv records the module it was made with; its wrapper loads it again.
    with open(os.path.join(ROOT, "venv-celery", "ulhpc-requirements.txt")) as handle:
        assert "# modules: lang/Python/3.11" in handle.read().splitlines()


def connect_from(node, address, port):
    return run_as(["/usr/bin/python3", "-c", CONNECT, address, str(port)], node=node, timeout=60).stdout.strip()


def test_each_service_runs_on_the_node_it_was_placed_on(services):
    assert (services["redis"]["host"], services["redis"]["address"]) == ("node1", NODE_ADDR["node1"])
    assert (services["flower"]["host"], services["flower"]["address"]) == ("node2", NODE_ADDR["node2"])
    assert services["celery-worker-1"]["host"] == "node2"


def assert_listens_on_its_node_address_only(svc):
    proc = subprocess.run(on_node(svc["host"], ["ss", "-H", "-l", "-t", "-n", "sport = :%d" % svc["port"]]),
                          capture_output=True, text=True, timeout=60, check=True)
    listening = sorted({line.split()[3] for line in proc.stdout.splitlines() if line.strip()})
    # Not 127.0.0.1 (the other nodes could not reach it), not 0.0.0.0 or * (every address).
    assert listening == ["%s:%d" % (NODE_ADDR[svc["host"]], svc["port"])], proc.stdout


@pytest.mark.parametrize("name", ["redis", "flower"])
def test_services_listen_on_the_cluster_address_only(services, name):
    assert_listens_on_its_node_address_only(services[name])


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


@contextlib.contextmanager
def tunnel_on_the_laptop(command, port, user=TEST_USER):
    """Run a printed tunnel command verbatim on the laptop, as `user`, until the port answers."""
    argv = on_node("laptop", as_user_argv(shlex.split(command), user=user, fresh=True))
    tunnel = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 30
        while connect_from("laptop", "127.0.0.1", port) != "ok":
            assert tunnel.poll() is None, tunnel.communicate()
            assert time.time() < deadline, "the tunnel did not open in 30 s"
            time.sleep(0.5)
        yield
    finally:
        os.killpg(tunnel.pid, signal.SIGTERM)
        tunnel.communicate(timeout=30)


# The laptop's browser: the local URL, the workspace CA, with and without Flower's credentials.
FLOWER_GET = ("import base64, json, ssl, sys, urllib.request, urllib.error\n"
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


def flower_from_the_laptop(flower):
    proc = run_as(["/usr/bin/python3", "-c", FLOWER_GET, flower["local_url"],
                   os.path.join(HOME, ".ulhpc", "tls", "ca.crt"), flower["secret_files"][0]],
                  node="laptop", timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_the_printed_tunnel_run_verbatim_on_the_laptop_reaches_flower(services):
    flower = services["flower"]
    # The laptop cannot reach the compute node itself: only the tunnel can.
    assert connect_from("laptop", flower["address"], flower["port"]).startswith("OSError")
    with tunnel_on_the_laptop(flower["tunnel"], flower["port"]):
        anonymous, logged_in = flower_from_the_laptop(flower)
    assert anonymous[0] == 401
    assert logged_in[0] == 200 and any("node2" in name for name in logged_in[1]), logged_in


def test_the_jump_tunnel_reaches_a_node_only_with_a_job_there(services):
    """workspace_tunnel_via=node: ssh -J through the login node to the compute node, whose sshd
    admits only users with a job there (as pam_slurm_adopt does on real sites)."""
    status = run_playbook("status.yml", {"workspace_name": WORKSPACE, "workspace_tunnel_via": "node"},
                          inventory=INVENTORY, node="login1")
    assert status.rc == 0, status.stdout[-3000:]
    flower = status.workspace["services"]["flower"]
    assert flower["tunnel"] == "ssh -J login1:8022 -NL {0}:{1}:{0} node2".format(flower["port"], NODE_ADDR["node2"])
    assert "    ProxyJump login1:8022" in flower["ssh_config"].splitlines()
    with tunnel_on_the_laptop(flower["tunnel"], flower["port"]):
        anonymous, logged_in = flower_from_the_laptop(flower)
    assert (anonymous[0], logged_in[0]) == (401, 200)
    # The other user has no job on node2: its sshd lets them through the login node, not in.
    refused = run_as(["ssh", "-o", "BatchMode=yes", "-J", "login1:8022", "node2", "true"], user=OTHER_USER,
                     node="laptop", timeout=60)
    assert refused.returncode == 255 and "Permission denied" in refused.stderr, refused.stderr


def test_second_run_changes_nothing(services):
    again = celery_play()
    assert again.rc == 0, again.stdout[-3000:]
    assert again.changed == 0, again.stdout[-3000:]
    assert again.workspace["services"]["redis"]["job_id"] == services["redis"]["job_id"]


def test_check_mode_on_the_running_cluster_changes_nothing(services):
    """--check with workspace_build_in_job: the read-only probes run in jobs too, and agree."""
    checked = celery_play(check=True)
    assert checked.rc == 0, checked.stdout[-3000:]
    assert checked.changed == 0, checked.stdout[-3000:]


def test_check_mode_of_a_new_workspace_predicts_changes_and_creates_nothing(services):
    name = "t-mn-check"
    prefix = REDIS_PREFIX + "-check"
    checked = run_playbook("celery.yml", dict(VARS, workspace_name=name, redis_prefix=prefix), check=True,
                           inventory=INVENTORY, extra_env=PIP_ENV, node="login1")
    assert checked.rc == 0, checked.stdout[-3000:]
    assert checked.changed > 0, checked.stdout[-3000:]
    assert not os.path.exists(os.path.join(HOME, ".ulhpc", "workspaces", name))
    assert not os.path.exists(prefix)
    queued = run_as(["squeue", "-h", "-u", TEST_USER, "-o", "%j"], node="login1")
    assert queued.returncode == 0, queued.stderr
    assert [job for job in queued.stdout.split() if job.startswith("ws-" + name)] == []


class LineReader:
    """The lines a process prints, read by a thread (a select() on the pipe would miss lines
    already in the reader's buffer)."""

    def __init__(self, proc):
        import queue
        import threading
        self.lines, self.seen = queue.Queue(), []
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def drain(self):
        """What was read so far, the lines not yet waited for included."""
        import queue
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return self.seen
            if line is not None:
                self.seen.append(line)

    def wait_for(self, pattern, timeout):
        """The match of the first new line matching pattern (a regex) within timeout seconds."""
        import queue
        import re
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                break
            if line is None:
                raise AssertionError("the helper ended: %s" % "".join(self.seen))
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError("no line matching %r in %d s:\n%s" % (pattern, timeout, "".join(self.seen)))


def _eventually_ok(url, timeout=60, lines=None):
    """Flower answers 200 with its credentials through url within timeout seconds."""
    flower = {"local_url": url, "secret_files": [os.path.join(ROOT, "secrets", "flower.password")]}
    deadline, last = time.time() + timeout, None
    while time.time() < deadline:
        try:
            last = flower_from_the_laptop(flower)[1][0]
        except AssertionError as exc:  # not listening yet: the tunnel is being reopened
            last = str(exc)[-300:]
        if last == 200:
            return
        time.sleep(1)
    raise AssertionError("Flower never answered through %s: %s\nthe helper said:\n%s"
                         % (url, last, "".join(lines.drain()) if lines else "-"))


def test_the_laptop_helper_keeps_the_tunnels_up_and_follows_a_moved_service(services):
    """laptop/ws-tunnels.py on the laptop: local URLs, a reopened tunnel after ssh dies, and
    Flower followed when it restarts on the other node. Runs last: it moves Flower."""
    helper = os.path.join(REPO, "laptop", "ws-tunnels.py")
    argv = on_node("laptop", as_user_argv(["/usr/bin/python3", "-u", helper, "-w", WORKSPACE, "--interval", "3",
                                           "--", "-p", "8022", "login1"], fresh=True))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        lines = LineReader(proc)
        first = lines.wait_for(r"^\s+flower\s+(https://localhost:\d+/)\s+\((10\.77\.0\.12):\d+\)", 60)
        _eventually_ok(first.group(1), lines=lines)
        # ssh dies (a dropped connection): the helper opens it again on the same local port.
        ssh = subprocess.run(["pgrep", "-u", TEST_USER, "-f", "^ssh -N -o ExitOnForwardFailure=yes -o ServerAliveInterval=15"],
                             capture_output=True, text=True, check=False)
        assert ssh.stdout.split(), "no ssh under the helper"
        subprocess.run(["kill", "-9"] + ssh.stdout.split(), check=True)
        lines.wait_for(r"tunnel dropped", 30)
        _eventually_ok(first.group(1), lines=lines)
        # Flower restarts on node1: the helper follows it, same local URL.
        moved = run_playbook("celery.yml", dict(VARS, celery_flower_slurm={"nodelist": "node1"}), inventory=INVENTORY,
                             extra_env=PIP_ENV, node="login1")
        assert moved.rc == 0, moved.stdout[-3000:]
        assert moved.workspace["services"]["flower"]["host"] == "node1"
        again = lines.wait_for(r"^\s+flower\s+(https://localhost:\d+/)\s+\((10\.77\.0\.11):\d+\)", 60)
        assert again.group(1) == first.group(1)
        _eventually_ok(again.group(1), lines=lines)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


# ---- ipyparallel across the compute nodes ---------------------------------------------------
# The Jupyter tests' venv (the default package list), built before this module runs: the nodes
# have no route to any index, and with workspace_build_in_job its check runs in a job.
IPP_VENV = os.path.join(HOME, ".cache", "ulhpc-test", "venv-jupyter")
IPP_CLIENT = r"""
import json, sys
import ipyparallel as ipp
rc = ipp.Client(profile=sys.argv[1], cluster_id=sys.argv[2], timeout=30)
rc.wait_for_engines(2, timeout=120)
def where(mpi):
    import socket
    found = {"host": socket.gethostname()}
    if mpi:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        found.update(rank=comm.Get_rank(), size=comm.Get_size(), total=comm.allreduce(comm.Get_rank() + 1))
    return found
print(json.dumps(rc[:].apply_sync(where, sys.argv[3] == "mpi")))
rc.close()
"""
# The controller on node1 in both cases. slurm: the engines are a job of their own over both
# nodes. mpi: the controller's job holds both nodes and mpiexec (OpenMPI, loaded from the
# modules that exist on the compute nodes only) starts one engine on each.
IPP_PLACEMENT = {
    "slurm": {"ipcluster_slurm": {"nodelist": "node1"}, "ipcluster_engine_slurm": {"nodes": "2"}},
    "mpi": {"ipcluster_slurm": {"nodes": "2"}, "ipcluster_mpi_modules": ["mpi/OpenMPI"]},
}


@pytest.fixture(scope="module", params=sorted(IPP_PLACEMENT))
def ipp_cluster(request):
    launcher = request.param
    name = "t-mn-ipc-" + launcher
    values = {"workspace_name": name, "ipcluster_profile": name, "ipcluster_engine_launcher": launcher,
              "ipcluster_engines": 2, "ipcluster_timeout": 180, "python_venv_path": IPP_VENV,
              "workspace_build_in_job": True, **IPP_PLACEMENT[launcher]}
    if not os.path.exists(os.path.join(IPP_VENV, "bin", "ipcluster")):
        pytest.fail("the Jupyter tests' venv %s is missing: run tests/integration/test_jupyter.py first" % IPP_VENV)
    result = run_playbook("ipyparallel.yml", values, inventory=INVENTORY, node="login1")
    yield launcher, name, result
    run_playbook("teardown.yml", {"workspace_name": name}, inventory=INVENTORY, node="login1")


def test_ipyparallel_engines_span_both_compute_nodes(ipp_cluster):
    launcher, name, result = ipp_cluster
    assert result.rc == 0, result.stdout[-4000:]
    conn = result.workspace["services"]["ipcluster"]
    assert conn["address"] in (NODE_ADDR["node1"], NODE_ADDR["node2"]), conn
    proc = run_as([os.path.join(IPP_VENV, "bin", "python"), "-c", IPP_CLIENT, name, "ws-" + name, launcher],
                  node="login1", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    engines = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(engine["host"] for engine in engines) == ["node1", "node2"], engines
    if launcher == "mpi":
        # One MPI world across the nodes: ranks 0 and 1, and a collective over both (1 + 2).
        assert sorted((engine["rank"], engine["size"], engine["total"]) for engine in engines) == \
            [(0, 2, 3), (1, 2, 3)], engines


# ---- Jupyter on a compute node, used from the laptop --------------------------------------
# Run on the laptop with the venv's Python (it has tornado): log in with the password, start
# the notebook's kernel through the server's API, run every code cell over the kernel's
# websocket, print the outputs (PNG images as a marker). What a browser does, minus the UI.
NOTEBOOK_OVER_API = r"""
import http.cookiejar, json, ssl, sys, urllib.parse, urllib.request, uuid
from tornado import httpclient, ioloop, websocket
base, cafile, password_file, notebook = sys.argv[1:5]
with open(password_file) as handle:
    password = handle.read().strip()
ctx = ssl.create_default_context(cafile=cafile)
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), urllib.request.HTTPSHandler(context=ctx))
opener.open(base + "login", timeout=30).read()
xsrf = [c.value for c in jar if c.name == "_xsrf"][0]
opener.open(base + "login", data=urllib.parse.urlencode({"password": password, "_xsrf": xsrf}).encode(), timeout=30).read()
headers = {"X-XSRFToken": xsrf, "Cookie": "; ".join("%s=%s" % (c.name, c.value) for c in jar),
           "Content-Type": "application/json"}
def api(path, body=None, method="GET"):
    data = None if body is None else json.dumps(body).encode()
    with opener.open(urllib.request.Request(base + path, data=data, headers=headers, method=method), timeout=60) as resp:
        return json.loads(resp.read() or b"null")
nb = api("api/contents/" + notebook)["content"]
kernel = api("api/kernels", {"name": nb["metadata"]["kernelspec"]["name"]}, "POST")
async def run():
    url = base.replace("https://", "wss://", 1) + "api/kernels/%s/channels" % kernel["id"]
    conn = await websocket.websocket_connect(httpclient.HTTPRequest(url, headers=headers, ssl_options=ctx))
    session = uuid.uuid4().hex
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        msg_id = uuid.uuid4().hex
        await conn.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": "laptop", "session": session, "msg_type": "execute_request",
                       "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": "".join(cell["source"]), "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        while True:
            msg = json.loads(await conn.read_message())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                sys.stdout.write(msg["content"]["text"])
            elif kind in ("execute_result", "display_data"):
                print("[image/png]" if "image/png" in msg["content"]["data"] else msg["content"]["data"].get("text/plain", ""))
            elif kind == "error":
                raise SystemExit("%s: %s" % (msg["content"]["ename"], msg["content"]["evalue"]))
            elif kind == "execute_reply":
                break
    conn.close()
try:
    ioloop.IOLoop.current().run_sync(run, timeout=600)
finally:
    api("api/kernels/" + kernel["id"], method="DELETE")
"""


@pytest.fixture(scope="module")
def jupyter_up():
    name = "t-mn-jupyter"
    values = {"workspace_name": name, "python_venv_path": IPP_VENV, "workspace_build_in_job": True,
              "jupyter_slurm": {"nodelist": "node1"}}
    if not os.path.exists(os.path.join(IPP_VENV, "bin", "jupyter-server")):
        pytest.fail("the Jupyter tests' venv %s is missing: run tests/integration/test_jupyter.py first" % IPP_VENV)
    result = run_playbook("jupyter.yml", values, inventory=INVENTORY, node="login1")
    yield name, result
    run_playbook("teardown.yml", {"workspace_name": name}, inventory=INVENTORY, node="login1")


def test_jupyter_on_a_node_through_the_printed_tunnel_runs_the_monte_carlo_notebook(jupyter_up):
    name, result = jupyter_up
    assert result.rc == 0, result.stdout[-4000:]
    jupyter = result.workspace["services"]["jupyter"]
    assert (jupyter["host"], jupyter["address"]) == ("node1", NODE_ADDR["node1"])
    assert jupyter["tunnel"] == "ssh -p 8022 -NL {0}:{1}:{0} login1".format(jupyter["port"], NODE_ADDR["node1"])
    assert "tunnel: " + jupyter["tunnel"] in result.stdout
    assert_listens_on_its_node_address_only(jupyter)
    local = "https://localhost:%d/" % jupyter["port"]
    assert jupyter["local_url"].startswith(local) and "then open: " + jupyter["local_url"] in result.stdout
    with tunnel_on_the_laptop(jupyter["tunnel"], jupyter["port"]):
        proc = run_as([os.path.join(IPP_VENV, "bin", "python"), "-c", NOTEBOOK_OVER_API, local,
                       os.path.join(HOME, ".ulhpc", "tls", "ca.crt"), jupyter["secret_files"][0], "monte-carlo-pi.ipynb"],
                      node="laptop", timeout=900)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    assert "pi ~ 3.14 " in proc.stdout and "[image/png]" in proc.stdout, proc.stdout[-2000:]
