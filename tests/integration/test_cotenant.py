"""Another user on the same node gets nothing (workspace t-cotenant).

The second unprivileged test user (wsother) plays the curious neighbour: squats and snipes
service ports, poses as an HTTP proxy, takes over the address of a Redis that is gone, connects
without credentials, and reads process lists, job records, batch scripts, files and verbose
Ansible output. Each attack must yield nothing, and each play must recover or fail clearly.
SECURITY.md summarises these attacks and what was observed.
"""
import glob
import json
import os
import signal
import socket
import subprocess
import textwrap
import time

import pytest

from conftest import (OTHER_USER, REPO, TEST_USER, VENV_BIN, as_user_argv, read_secret, run_as,
                      run_playbook)

WORKSPACE = "t-cotenant"
HOME = os.path.expanduser("~" + TEST_USER)
ROOT = os.path.join(HOME, ".ulhpc", "workspaces", WORKSPACE)
# Shared with the jupyter and ipcluster tests: installed once.
VENV = os.path.join(HOME, ".cache", "ulhpc-test", "venv-jupyter")
TARBALL = os.environ.get("WS_REDIS_TARBALL", "/var/cache/ulhpc-testbed/valkey_8.1.1+dfsg1.orig.tar.xz")
VARS = {"workspace_name": WORKSPACE, "python_venv_path": VENV, "redis_version": "8.1.1",
        "redis_source_url": TARBALL}
PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")

# The neighbour's listener: accepts on every given port, answers HTTP requests like a Jupyter
# login page would (to lure a POST), and reports every byte it received when it gets SIGTERM.
TRAP = textwrap.dedent(r"""
    import json, selectors, signal, socket, sys
    addr, ports = sys.argv[1], [int(p) for p in sys.argv[2].split(",")]
    sel, received, bound = selectors.DefaultSelector(), [], []
    for port in ports:
        srv = socket.socket()
        srv.bind((addr, port))
        srv.listen(16)
        srv.setblocking(False)
        sel.register(srv, selectors.EVENT_READ, "accept")
        bound.append(port)
    def report(*_):
        print(json.dumps({"bound": bound, "received": "".join(received)}), flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, report)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select(0.2):
            if key.data == "accept":
                conn, _ = key.fileobj.accept()
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ, "read")
            else:
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    continue
                received.append(data.decode("latin-1"))
                if data[:4] in (b"GET ", b"POST", b"CONN"):
                    key.fileobj.sendall(b"HTTP/1.1 200 OK\r\nSet-Cookie: _xsrf=lure\r\n"
                                        b"Content-Length: 2\r\n\r\nok")
""")


# The neighbour's TLS impostor: serves TLS with a certificate of its own for the address, and
# reports how many clients connected, how many handshakes completed, and the decrypted bytes.
TLS_TRAP = textwrap.dedent(r"""
    import json, os, signal, socket, ssl, subprocess, sys, tempfile, threading
    addr, port = sys.argv[1], int(sys.argv[2])
    keys = tempfile.mkdtemp()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", keys + "/key", "-out", keys + "/crt", "-days", "1", "-subj", "/CN=" + addr,
                    "-addext", "subjectAltName=IP:" + addr], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(keys + "/crt", keys + "/key")
    srv = socket.socket()
    srv.bind((addr, port))
    srv.listen(16)
    state = {"bound": [port], "connections": 0, "handshakes": 0, "received": ""}
    def handle(conn):
        state["connections"] += 1
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                state["handshakes"] += 1
                tls.settimeout(5)
                while True:
                    data = tls.recv(65536)
                    if not data:
                        break
                    state["received"] += data.decode("latin-1")
        except (OSError, ssl.SSLError):
            pass
    def report(*_args):
        print(json.dumps(state), flush=True)
        os._exit(0)
    signal.signal(signal.SIGTERM, report)
    print("ready", flush=True)
    while True:
        conn, _peer = srv.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()
""")


class Trap:
    """wsother listening on `ports` of `address` until stopped; .stop() returns what it got."""

    def __init__(self, ports, address="127.0.0.1", code=TRAP):
        self.proc = subprocess.Popen(
            as_user_argv([os.path.join(VENV_BIN, "python"), "-c", code, address, ",".join(map(str, ports))],
                         user=OTHER_USER),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        assert line == "ready", self.proc.stderr.read()
        self.ports = ports

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        assert out.strip(), err
        return json.loads(out.strip().splitlines()[-1])


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def connection(service):
    with open(os.path.join(ROOT, "run", service + ".json")) as handle:
        return json.load(handle)


def secrets():
    values = []
    for path in glob.glob(os.path.join(ROOT, "secrets", "*")):
        with open(path) as handle:
            values.append(handle.read().strip())
    return [value for value in values if value]


def flat(text):
    return " ".join(text.split())


def next_job_id():
    """The id Slurm gives the next job (the neighbour can learn it the same way)."""
    proc = run_as(["sbatch", "--parsable", "--wrap", "true", "-t", "1", "-o", "/dev/null"], user=OTHER_USER)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip().split(";")[0]) + 1


@pytest.fixture(scope="module", autouse=True)
def teardown_workspace():
    yield
    run_playbook("teardown.yml", {"workspace_name": WORKSPACE})


def test_squatted_jupyter_port_fails_clearly_and_gets_no_password():
    port = free_port()
    trap = Trap([port])
    try:
        result = run_playbook("jupyter.yml", dict(VARS, jupyter_port=port, jupyter_state="restarted"))
    finally:
        got = trap.stop()
    assert result.rc != 0
    assert "port %d on 127.0.0.1 is already in use" % port in flat(result.stdout), result.stdout[-4000:]
    assert not os.path.exists(os.path.join(ROOT, "run", "jupyter.json"))
    assert "POST" not in got["received"]
    for value in secrets():
        assert value not in got["received"]


def test_taken_ports_and_a_proxy_get_nothing_and_the_play_recovers():
    """Default settings: the neighbour holds the next ports of the port rule and poses as the
    HTTP(S) proxy of the user's environment; the play picks a free port, logs in to its own
    server directly, and neither trap receives a byte."""
    first = 64000 + next_job_id() % 1000
    squatted = [64000 + (first - 64000 + k) % 1000 for k in range(4)]
    proxy_port = free_port()
    trap = Trap(squatted + [proxy_port])
    proxy = "http://127.0.0.1:%d" % proxy_port
    try:
        result = run_playbook("jupyter.yml", VARS, extra_env={name: proxy for name in PROXY_VARS})
    finally:
        got = trap.stop()
    assert result.rc == 0, result.stdout[-6000:]
    conn = connection("jupyter")
    assert conn["port"] not in squatted and conn["url"].startswith("https://")
    assert got["bound"] == squatted + [proxy_port]
    assert got["received"] == "", got["received"][:500]


def test_connecting_without_credentials_gets_nothing():
    """As the neighbour: Jupyter's API and Redis answer nothing without credentials."""
    jupyter = connection("jupyter")
    result = run_playbook("redis.yml", VARS)
    assert result.rc == 0, result.stdout[-4000:]
    redis = connection("redis")
    probe = textwrap.dedent(r"""
        import json, ssl, sys, urllib.error, urllib.request
        import redis
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
        out = {}
        for path in ("api/contents", "api/kernels", "api/sessions", "api/terminals"):
            try:
                urllib.request.urlopen(sys.argv[1] + path, context=insecure, timeout=10)
                out[path] = 200
            except urllib.error.HTTPError as exc:
                out[path] = exc.code
        # redis-py, over TLS without verifying (the neighbour has no CA): PING unauthenticated,
        # a guessed password, then KEYS; each answer is the server's error text.
        out["redis"] = []
        for password, command in ((None, ("PING",)), ("guess", ("PING",)), (None, ("KEYS", "*"))):
            # protocol=2: plain commands, as the tutorial's redis-cli sends them (RESP3 would open
            # with HELLO, refused the same way but in other words).
            client = redis.Redis(host=sys.argv[2], port=int(sys.argv[3]), password=password, ssl=True,
                                 ssl_cert_reqs="none", socket_timeout=10, protocol=2)
            try:
                out["redis"].append("answered: %r" % (client.execute_command(*command),))
            except redis.exceptions.RedisError as exc:
                out["redis"].append("%s: %s" % (type(exc).__name__, exc))
            finally:
                client.close()
        print(json.dumps(out))
    """)
    base = "https://%s:%d/" % (jupyter["address"], jupyter["port"])
    proc = run_as([os.path.join(VENV_BIN, "python"), "-c", probe, base, redis["address"], str(redis["port"])],
                  user=OTHER_USER)
    assert proc.returncode == 0, proc.stderr[-3000:]
    answers = json.loads(proc.stdout)
    assert {answers[path] for path in ("api/contents", "api/kernels", "api/sessions", "api/terminals")} == {403}
    unauthenticated, guessed, keys = answers["redis"]
    # redis-py turns the server's NOAUTH and WRONGPASS errors into AuthenticationError.
    assert unauthenticated == "AuthenticationError: Authentication required.", answers["redis"]
    assert guessed.startswith("AuthenticationError: invalid username-password pair"), answers["redis"]
    assert keys == "AuthenticationError: Authentication required.", answers["redis"]
    assert not any(answer.startswith("answered") for answer in answers["redis"])


def test_the_neighbour_reads_no_file_of_the_workspace():
    paths = glob.glob(os.path.join(ROOT, "*", "*")) + glob.glob(os.path.join(ROOT, "run", "tls", "*"))
    paths += [os.path.join(HOME, ".ulhpc", "tls", "ca.key")]
    private = [path for path in paths if not path.endswith(".crt")]
    assert any(path.endswith("redis.password") for path in private)
    for path in private:
        proc = run_as(["cat", path], user=OTHER_USER)
        assert proc.returncode != 0 and "Permission denied" in proc.stderr, path
    listing = run_as(["ls", ROOT], user=OTHER_USER)
    assert listing.returncode != 0


def test_ps_job_records_and_batch_scripts_hold_no_secret():
    values = secrets()
    assert len(values) >= 4  # jupyter, redis (3 users)
    ps = run_as(["ps", "-eww", "-o", "args"], user=OTHER_USER)
    assert "redis-server" in ps.stdout and "jupyter" in ps.stdout
    for name in ("jupyter", "redis"):
        job = str(connection(name)["job_id"])
        shown = run_as(["scontrol", "show", "job", job], user=OTHER_USER)
        script = run_as(["scontrol", "write", "batch_script", job, "-"], user=OTHER_USER)
        # Slurm shows other users' jobs; only the owner (or an operator) gets the batch script.
        assert shown.returncode == 0 and ("JobId=%s" % job) in shown.stdout
        for value in values:
            assert value not in ps.stdout and value not in shown.stdout and value not in script.stdout
    own = run_as(["scontrol", "write", "batch_script", str(connection("redis")["job_id"]), "-"])
    assert own.returncode == 0 and "ws_serve redis_start" in own.stdout  # the control: it is the script
    for value in values:
        assert value not in own.stdout


def test_verbose_ansible_output_holds_no_secret():
    for playbook in ("redis.yml", "jupyter.yml"):
        result = run_playbook(playbook, VARS, verbosity=3)
        assert result.rc == 0 and result.changed == 0, result.stdout[-4000:]
        assert "ESTABLISH LOCAL CONNECTION" in result.stdout  # it is -vvv output
        for value in secrets():
            assert value not in result.stdout, playbook


def test_stale_redis_address_gets_a_tls_error_never_the_password():
    """Redis is gone (here: stopped; scancel and walltime are the same) and the neighbour binds
    its old address. The user's clients (ulhpccelery's settings through kombu, and the
    playbook's own check) fail on the certificate before sending anything; a re-run starts a
    new Redis elsewhere."""
    old = connection("redis")
    ini = os.path.join(ROOT, "config", "cotenant-celery.ini")
    values = (read_secret(WORKSPACE, "redis.password"), old["address"], old["port"],
              os.path.join(HOME, ".ulhpc", "tls", "ca.crt"))
    text = ("[redis]\nbroker_password=%s\nbroker_hostname=%s\nbroker_port=%d\nbroker_username=celery\n"
            "broker_tls=true\nbroker_ca_file=%s\n" % values)
    run_as(["sh", "-c", "umask 077 && cat > %s" % ini], input=text, check=True)
    stopped = run_playbook("redis.yml", dict(VARS, redis_state="stopped"))
    assert stopped.rc == 0, stopped.stdout[-3000:]
    trap = Trap([old["port"]], old["address"], code=TLS_TRAP)
    client = textwrap.dedent(r"""
        import sys
        sys.path.insert(0, sys.argv[2])
        from kombu import Connection
        from ulhpccelery.config import celery_settings, read_config
        settings = celery_settings(read_config(sys.argv[1]))
        try:
            with Connection(settings["broker_url"], ssl=settings["broker_use_ssl"], connect_timeout=5) as conn:
                conn.ensure_connection(max_retries=1)
            print("CONNECTED")
        except Exception as exc:
            print("ERROR", type(exc).__name__, exc)
    """)
    try:
        started = time.monotonic()
        kombu = run_as([os.path.join(VENV_BIN, "python"), "-c", client, ini,
                        os.path.join(REPO, "roles", "celery", "files", "ulhpccelery")], timeout=120)
        kombu_seconds = time.monotonic() - started
        ping = run_as(["/usr/bin/python3", os.path.join(REPO, "roles", "redis", "files", "redis_ping.py"),
                       "--host", old["address"], "--port", str(old["port"]), "--user", "celery",
                       "--password-file", os.path.join(ROOT, "secrets", "redis.password"),
                       "--cafile", os.path.join(HOME, ".ulhpc", "tls", "ca.crt"), "--timeout", "5"])
    finally:
        got = trap.stop()
    assert "ERROR" in kombu.stdout and "CERTIFICATE_VERIFY_FAILED" in kombu.stdout.upper(), kombu.stdout + kombu.stderr
    assert ping.returncode == 1 and "did not prove it is the workspace's Redis" in ping.stderr, ping.stderr
    assert kombu_seconds < 60  # an error, not a hang
    # Both clients reached the impostor and refused its certificate: no byte of theirs was decrypted.
    assert got["connections"] >= 2, "the clients did not even reach the neighbour: the test proves nothing"
    assert got["received"] == ""
    for value in secrets():
        assert value not in got["received"]
    again = run_playbook("redis.yml", VARS)
    assert again.rc == 0, again.stdout[-3000:]
    assert connection("redis")["job_id"] != old["job_id"]
    os.unlink(ini)
