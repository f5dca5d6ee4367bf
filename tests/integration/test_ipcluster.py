"""The ipcluster role through playbooks/ipyparallel.yml, as the unprivileged test user.

For each engine launcher (local, mpi, slurm; workspace t-ipc-<launcher>, profile of the same
name): the 2 engines register, a parallel map run by a real ipyparallel client returns the
right results, the notebooks run on the venv's kernel (MPI notebook: size 2 and a correct
allreduce), Slurm engines run in a Slurm job of their own, a re-run changes nothing, and
stopping leaves no Slurm job and no process behind. Bad input fails before anything starts.
"""
import json
import os
import pwd
import subprocess

import pytest

from conftest import OTHER_USER, TEST_USER, VENV_BIN, as_user_argv, run_as, run_notebook, run_playbook

PLAYBOOK = "ipyparallel.yml"
ENGINES = 2
HOME = pwd.getpwnam(TEST_USER).pw_dir
UID = pwd.getpwnam(TEST_USER).pw_uid
# Shared with the jupyter tests: the workspace's default package list, installed once.
VENV = os.path.join(HOME, ".cache", "ulhpc-test", "venv-jupyter")
VENV_PYTHON = os.path.join(VENV, "bin", "python")

CLIENT_SCRIPT = r"""
import json, sys
import ipyparallel as ipp
profile, cluster_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rc = ipp.Client(profile=profile, cluster_id=cluster_id, timeout=30)
rc.wait_for_engines(n, timeout=60)
squares = rc.load_balanced_view().map_sync(lambda x: x * x, range(40))
def where():
    import os, socket
    return {"host": socket.gethostname(), "pid": os.getpid(), "job": os.environ.get("SLURM_JOB_ID", "")}
info = rc[:].apply_sync(where)
# What JupyterLab's IPython Clusters panel (ipyparallel's server extension) lists. From a
# writable directory, as the Jupyter server's: ipyparallel 9.2 creates ./log when it reloads
# a Slurm engine set (see roles/ipcluster/README.md).
import os, tempfile
os.chdir(tempfile.mkdtemp())
from ipyparallel.cluster import ClusterManager
listed = "%s:%s" % (profile, cluster_id) in ClusterManager().load_clusters()
print(json.dumps({"ids": rc.ids, "squares": squares, "engines": info, "listed": listed}))
rc.close()
"""


def extravars(launcher, **more):
    ws = "t-ipc-" + launcher
    values = {
        "workspace_name": ws,
        "ipcluster_profile": ws,
        "ipcluster_engine_launcher": launcher,
        "ipcluster_engines": ENGINES,
        "ipcluster_timeout": 120,
        "python_venv_path": VENV,
    }
    if launcher == "mpi":
        values["ipcluster_mpi_modules"] = ["mpi/OpenMPI"]
    values.update(more)
    return values


def user_jobs(name):
    proc = run_as(["squeue", "-h", "-u", TEST_USER, "-n", name, "-o", "%i %T"])
    assert proc.returncode == 0, proc.stderr
    return [line.split()[0] for line in proc.stdout.splitlines()
            if line.strip() and line.split()[1] not in ("COMPLETED", "CANCELLED")]


def marked_processes(marker):
    """PIDs of the test user's processes whose environment carries the cluster's marker."""
    needle = ("WS_IPCLUSTER=" + marker).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat("/proc/" + entry).st_uid != UID:
                continue
            with open("/proc/%s/environ" % entry, "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def published(result):
    return result.workspace.get("services", {}).get("ipcluster", {})


class Cluster:
    def __init__(self, launcher, result):
        self.launcher = launcher
        self.ws = "t-ipc-" + launcher
        self.vars = extravars(launcher)
        self.result = result
        self.conn = published(result)
        self.root = os.path.join(HOME, ".ulhpc", "workspaces", self.ws)

    def stop(self):
        return run_playbook(PLAYBOOK, dict(self.vars, ipcluster_state="stopped"))


@pytest.fixture(scope="module", params=["local", "mpi", "slurm"])
def cluster(request):
    launcher = request.param
    result = run_playbook(PLAYBOOK, extravars(launcher))
    assert result.rc == 0, result.stdout[-6000:]
    started = Cluster(launcher, result)
    yield started
    # Teardown (the last test stops it already; this is a no-op then).
    started.stop()
    for job in user_jobs("ipengine-ws-" + started.ws) + user_jobs("ws-%s-ipcluster" % started.ws):
        subprocess.run(["scancel", job], check=False)


def test_engines_register_and_map(cluster):
    conn = cluster.conn
    assert conn["profile"] == cluster.ws
    assert conn["cluster_id"] == "ws-" + cluster.ws
    assert conn["engines"] == ENGINES
    assert conn["engine_launcher"] == cluster.launcher
    assert conn["launcher"] == "slurm" and conn["job_id"]
    proc = run_as([VENV_PYTHON, "-c", CLIENT_SCRIPT, conn["profile"], conn["cluster_id"], str(ENGINES)],
                  timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer["ids"] == list(range(ENGINES))
    assert answer["squares"] == [x * x for x in range(40)]
    assert answer["listed"], "the JupyterLab cluster manager does not list the cluster"
    jobs = {engine["job"] for engine in answer["engines"]}
    assert len({engine["pid"] for engine in answer["engines"]}) == ENGINES
    if cluster.launcher == "slurm":
        # The engines run in their own Slurm job, submitted by ipcluster from the controller's job.
        assert jobs == {str(conn["engine_job_id"])}
        assert str(conn["engine_job_id"]) != str(conn["job_id"])
        assert user_jobs("ipengine-" + conn["cluster_id"]) == [str(conn["engine_job_id"])]
    else:
        # local and MPI engines run inside the controller's job.
        assert jobs == {str(conn["job_id"])}


def test_profile_has_managed_block(cluster):
    config = os.path.join(HOME, ".ipython", "profile_" + cluster.ws, "ipcluster_config.py")
    with open(config) as handle:
        text = handle.read()
    begin = text.index("# BEGIN ulhpc.workspace.ipcluster managed block")
    end = text.index("# END ulhpc.workspace.ipcluster managed block")
    block = text[begin:end]
    assert "c.Cluster.n = %d" % ENGINES in block
    assert 'c.Cluster.engine_launcher_class = "%s"' % cluster.launcher in block
    assert text.startswith("# Configuration file for ipcluster.")  # ipython's own file is kept


def test_notebooks_on_the_venv_kernel(cluster):
    notebooks = ["parallel.ipynb"] + (["mpi.ipynb"] if cluster.launcher == "mpi" else [])
    for notebook in notebooks:
        # The workspace kernel's own argument (jupyter_kernel_ipython_profile): the notebooks' bare
        # ipp.Client() then finds the cluster through the profile's ipcontroller-client.json.
        proc = run_notebook(VENV_PYTHON, notebook, kernel_args=["--profile=" + cluster.vars["ipcluster_profile"]],
                            timeout=300)
        assert proc.returncode == 0, (notebook, proc.stdout[-3000:], proc.stderr[-3000:])
        out = proc.stdout
        assert "engines: [0, 1]" in out and "profile=%s" % cluster.vars["ipcluster_profile"] in out, out
        if notebook == "mpi.ipynb":
            assert "MPI size: 2" in out, out
            assert "allreduce(rank + 1): [3, 3]" in out, out
            assert "OK: size 2, allreduce 3" in out, out
        else:
            assert "squares: [0, 1, 4, 9" in out, out
            assert "parallel : pi ~ 3.1" in out, out


SNIFFER = r"""
import json, sys, time, zmq
addr, ports, seconds, marker = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), sys.argv[4].encode()
serverkey = sys.argv[5].encode() if len(sys.argv) > 5 else b""
ctx = zmq.Context()
poller = zmq.Poller()
for port in ports:
    sock = ctx.socket(zmq.SUB)
    if serverkey:  # the positive control: a client that holds the controller's public key
        sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
        sock.curve_serverkey = serverkey
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect("tcp://%s:%d" % (addr, port))
    poller.register(sock, zmq.POLLIN)
print("ready", flush=True)
frames = hits = 0
deadline = time.time() + seconds
while time.time() < deadline:
    for sock, _ in poller.poll(200):
        for frame in sock.recv_multipart():
            frames += 1
            hits += marker in frame
print(json.dumps({"frames": frames, "hits": hits}))
"""

PRINTER = r"""
import sys, ipyparallel as ipp
rc = ipp.Client(profile=sys.argv[1], cluster_id=sys.argv[2], timeout=30)
rc.wait_for_engines(int(sys.argv[3]), timeout=60)
for i in range(10):
    rc[:].apply_sync(print, sys.argv[4], i)
rc.close()
"""


def listening_ports(pids):
    """TCP ports on which these processes listen (their socket inodes in /proc/net/tcp*)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)


def sniff(cluster, user, ports, serverkey=None):
    marker = "ws-secret-output-%s" % os.urandom(4).hex()
    sniffer = subprocess.Popen(
        # The suite's venv (pyzmq), which both users can run; the workspace venv is private.
        as_user_argv([os.path.join(VENV_BIN, "python"), "-c", SNIFFER, "127.0.0.1", json.dumps(ports), "12", marker]
                     + ([serverkey] if serverkey else []), user=user),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert sniffer.stdout.readline().strip() == "ready", sniffer.stderr.read()
        printed = run_as([VENV_PYTHON, "-c", PRINTER, cluster.conn["profile"], cluster.conn["cluster_id"],
                          str(ENGINES), marker], timeout=120)
        assert printed.returncode == 0, printed.stderr[-3000:]
        out, err = sniffer.communicate(timeout=60)
    finally:
        if sniffer.poll() is None:
            sniffer.kill()
    return json.loads(out.strip().splitlines()[-1])


def test_controller_sockets_give_other_users_nothing(cluster):
    """CurveZMQ: another user connecting to every port of the controller reads no engine output;
    a client holding the controller's public key (the control) does."""
    client_file = os.path.join(HOME, ".ipython", "profile_" + cluster.ws, "security",
                               "ipcontroller-%s-client.json" % cluster.conn["cluster_id"])
    with open(client_file) as handle:
        serverkey = json.load(handle).get("curve_serverkey")
    assert serverkey, "the controller runs without CurveZMQ"
    assert oct(os.stat(client_file).st_mode & 0o777) == "0o600"
    ports = listening_ports(marked_processes("%s:%s" % (cluster.ws, cluster.conn["cluster_id"])))
    assert ports, "found no listening port of the controller"
    assert sniff(cluster, OTHER_USER, ports)["frames"] == 0
    assert sniff(cluster, TEST_USER, ports, serverkey)["hits"] >= ENGINES * 10


def test_rerun_changes_nothing(cluster):
    again = run_playbook(PLAYBOOK, cluster.vars)
    assert again.rc == 0, again.stdout[-4000:]
    assert again.changed == 0, again.stdout[-6000:]
    assert published(again)["job_id"] == cluster.conn["job_id"]
    checked = run_playbook(PLAYBOOK, cluster.vars, check=True)
    assert checked.rc == 0 and checked.changed == 0, checked.stdout[-6000:]


def test_stop_leaves_nothing(cluster):
    stopped = cluster.stop()
    assert stopped.rc == 0, stopped.stdout[-4000:]
    assert stopped.changed >= 1
    assert user_jobs("ws-%s-ipcluster" % cluster.ws) == []
    assert user_jobs("ipengine-ws-" + cluster.ws) == []
    assert marked_processes("%s:ws-%s" % (cluster.ws, cluster.ws)) == []
    assert not os.path.exists(os.path.join(cluster.root, "run", "ipcluster.json"))
    assert "ipcluster" not in stopped.workspace.get("services", {})
    again = cluster.stop()
    assert again.rc == 0 and again.changed == 0, again.stdout[-4000:]


BAD_WS = "t-ipc-bad"


@pytest.mark.parametrize("bad, message", [
    ({"ipcluster_engines": 0}, "start at least 1 engine"),
    ({"ipcluster_engine_launcher": "pbs"}, "ipcluster_engine_launcher"),
    ({"ipcluster_engine_launcher": "mpi", "ipcluster_mpiexec": "mpiexec-not-installed"},
     "no 'mpiexec-not-installed' found"),
    ({"ipcluster_engine_launcher": "mpi", "ipcluster_mpi_modules": ["mpi/NoSuchMPI"]},
     "mpi/NoSuchMPI"),
], ids=["zero-engines", "unknown-launcher", "no-mpiexec", "bad-mpi-module"])
def test_bad_input_fails_before_starting(bad, message):
    values = dict(workspace_name=BAD_WS, ipcluster_profile=BAD_WS, python_venv_path=VENV, **bad)
    result = run_playbook(PLAYBOOK, values)
    assert result.rc != 0
    assert result.count("failures") == 1
    assert message in result.stdout, result.stdout[-4000:]
    assert user_jobs("ws-%s-ipcluster" % BAD_WS) == []
    assert not os.path.exists(os.path.join(HOME, ".ipython", "profile_" + BAD_WS))
    assert not os.path.exists(os.path.join(HOME, ".ulhpc", "workspaces", BAD_WS, "run", "ipcluster.json"))


def test_engines_that_fail_give_a_clear_error_and_leave_nothing():
    ws = "t-ipc-fail"
    values = extravars("mpi", workspace_name=ws, ipcluster_profile=ws, ipcluster_timeout=30,
                       ipcluster_mpi_args=["--no-such-option"])
    try:
        result = run_playbook(PLAYBOOK, values)
        assert result.rc != 0
        # The error names the missing engines and shows the engines' own output (mpiexec's complaint).
        assert "0 of 2 engines registered with cluster 'ws-%s'" % ws in result.stdout, result.stdout[-4000:]
        assert 'unknown option "--no-such-option"' in result.stdout, result.stdout[-4000:]
        assert user_jobs("ws-%s-ipcluster" % ws) == []
        assert marked_processes("%s:ws-%s" % (ws, ws)) == []
        assert not os.path.exists(os.path.join(HOME, ".ulhpc", "workspaces", ws, "run", "ipcluster.json"))
    finally:
        run_playbook(PLAYBOOK, dict(values, ipcluster_state="stopped"))


def test_check_mode_on_a_new_workspace_creates_nothing():
    ws = "t-ipc-check"
    result = run_playbook(PLAYBOOK, extravars("local", workspace_name=ws, ipcluster_profile=ws), check=True)
    assert result.rc == 0, result.stdout[-4000:]
    assert result.changed >= 1  # it would create the profile and start the cluster
    assert not os.path.exists(os.path.join(HOME, ".ipython", "profile_" + ws))
    assert not os.path.exists(os.path.join(HOME, ".ulhpc", "workspaces", ws))
    assert user_jobs("ws-%s-ipcluster" % ws) == []


def test_without_slurm_the_controller_is_a_local_process():
    """workspace_launcher=local (e.g. `make demo` on a laptop): no job at all, same behaviour."""
    ws = "t-ipc-nojob"
    values = extravars("local", workspace_name=ws, ipcluster_profile=ws, workspace_launcher="local")
    try:
        result = run_playbook(PLAYBOOK, values)
        assert result.rc == 0, result.stdout[-4000:]
        conn = published(result)
        assert conn["launcher"] == "local" and conn["engines"] == ENGINES and not conn["job_id"]
        proc = run_as([VENV_PYTHON, "-c", CLIENT_SCRIPT, conn["profile"], conn["cluster_id"], str(ENGINES)],
                      timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
        assert answer["squares"] == [x * x for x in range(40)]
        assert {engine["job"] for engine in answer["engines"]} == {""}
        assert user_jobs("ws-%s-ipcluster" % ws) == []
        assert marked_processes("%s:ws-%s" % (ws, ws))  # the controller and engines run here
    finally:
        stopped = run_playbook(PLAYBOOK, dict(values, ipcluster_state="stopped"))
    assert stopped.rc == 0, stopped.stdout[-4000:]
    assert marked_processes("%s:ws-%s" % (ws, ws)) == []
