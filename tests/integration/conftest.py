"""Fixtures shared by the integration tests: run playbooks as the unprivileged test user."""
import json
import os
import pwd
import shlex
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
OTHER_USER = os.environ.get("WS_OTHER_USER", "wsother")
# The venv running pytest also runs the playbooks (its python is readable by the test user).
VENV_BIN = os.path.dirname(sys.executable)


@dataclass
class PlaybookResult:
    rc: int
    stdout: str
    stats: dict = field(default_factory=dict)
    custom_stats: dict = field(default_factory=dict)

    def count(self, key):
        """Sum of one recap counter (changed, failures, ok, ...) over all hosts."""
        return sum(self.stats.get(key, {}).values())

    @property
    def changed(self):
        return self.count("changed")

    @property
    def workspace(self):
        return self.custom_stats.get("workspace") or self.custom_stats.get("_run", {}).get("workspace", {})


def as_user_argv(argv, user=TEST_USER, extra_env=None, fresh=False):
    """argv run as `user` with a clean environment (root runs the test suite): the one place
    that builds it. fresh: what a new user's login gives (the system PATH only), instead of
    the test tooling's PATH."""
    home = pwd.getpwnam(user).pw_dir
    env = ["env", "-i", f"HOME={home}", f"USER={user}", f"LOGNAME={user}", "LANG=C.UTF-8"]
    if fresh:
        env.append("PATH=/usr/local/bin:/usr/bin:/bin")
    else:
        env += [f"PATH={VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
                "ANSIBLE_LOCAL_TEMP=" + os.path.join(home, ".ansible", "tmp")]
    env += ["%s=%s" % item for item in sorted((extra_env or {}).items())]
    if os.geteuid() == 0:
        return ["runuser", "-u", user, "--"] + env + argv
    return env + argv


def as_user_shell(argv, user=TEST_USER, extra_env=None, fresh=False):
    """as_user_argv as one shell command line (for scripts run in the tests' namespaces)."""
    return shlex.join(as_user_argv(argv, user, extra_env, fresh))


# Runs a command on a node of the multi-node test cluster (roles/testbed, tasks/multinode.yml).
MULTINODE = "/usr/local/sbin/testbed-multinode"


def on_node(node, argv):
    """argv run on `node` of the multi-node cluster (as root; wrap as_user_argv for the user)."""
    return [MULTINODE, "exec", node] + list(argv)


def run_as(argv, user=TEST_USER, timeout=600, check=False, extra_env=None, node=None, **kwargs):
    """Run a command as the test user (on `node` of the multi-node cluster when given);
    returns CompletedProcess with text output."""
    argv = as_user_argv(argv, user, extra_env)
    return subprocess.run(on_node(node, argv) if node else argv, capture_output=True, text=True,
                          timeout=timeout, check=check, cwd=REPO, **kwargs)


def run_playbook(playbook, extravars=None, check=False, diff=False, user=TEST_USER,
                 inventory=None, limit="workspace_hosts", timeout=1800, verbosity=0, extra_env=None, node=None):
    argv = [os.path.join(VENV_BIN, "python"), os.path.join(REPO, "tests", "helpers", "playbook_json.py"),
            playbook, "--extravars", json.dumps(extravars or {}), "--limit", limit,
            "--verbosity", str(verbosity)]
    if inventory:
        argv += ["--inventory", inventory]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    proc = run_as(argv, user=user, timeout=timeout, extra_env=extra_env, node=node)
    lines = proc.stdout.rstrip("\n").rsplit("\n", 1)
    try:
        summary = json.loads(lines[-1])
    except (ValueError, IndexError):
        raise AssertionError(f"playbook runner crashed (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return PlaybookResult(rc=summary["rc"], stdout=lines[0] if len(lines) > 1 else "",
                          stats=summary["stats"], custom_stats=summary["custom_stats"])


# Runs a notebook with nbclient as the test user: argv = notebook, kernel name, JSON list of
# extra kernel arguments; prints the text outputs (and a marker for each PNG image).
NOTEBOOK_SCRIPT = r"""
import json, sys, nbclient, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
nbclient.NotebookClient(nb, kernel_name=sys.argv[2], timeout=600, extra_arguments=json.loads(sys.argv[3])).execute()
for cell in nb.cells:
    for out in cell.get("outputs", []):
        sys.stdout.write(out.get("text", ""))
        if "image/png" in out.get("data", {}):
            sys.stdout.write("[image/png]\n")
"""


def run_notebook(python, notebook, kernel="python3", kernel_args=(), env=None, cwd=None, timeout=900):
    """Execute notebooks/<notebook> with `python` (which has nbclient) on `kernel`, as the test user."""
    argv = ["env"] + (["-C", cwd] if cwd else []) + ["%s=%s" % item for item in sorted((env or {}).items())]
    argv += [python, "-c", NOTEBOOK_SCRIPT, os.path.join(REPO, "notebooks", notebook), kernel,
             json.dumps(list(kernel_args))]
    return run_as(argv, timeout=timeout)


@pytest.fixture(scope="session")
def test_user_home():
    return pwd.getpwnam(TEST_USER).pw_dir


@pytest.fixture(scope="session")
def playbook():
    """The `run_playbook` function, as a fixture."""
    return run_playbook


# ---- clients that verify the workspace's TLS, as the collection's own checks do ----------
TEST_HOME = pwd.getpwnam(TEST_USER).pw_dir
CA_CERT = os.path.join(TEST_HOME, ".ulhpc", "tls", "ca.crt")


def tls_context():
    """An ssl context trusting only the test user's workspace CA (verifies the host name)."""
    import ssl
    return ssl.create_default_context(cafile=CA_CERT)


def read_secret(workspace, name):
    with open(os.path.join(TEST_HOME, ".ulhpc", "workspaces", workspace, "secrets", name)) as handle:
        return handle.read().strip()


def redis_client(conn, workspace, user="celery", password=None, **kwargs):
    """redis-py over TLS (verified against the CA) as one of the workspace's ACL users."""
    import redis
    files = {"celery": "redis.password", "flower": "redis-flower.password", "admin": "redis-admin.password"}
    if password is None and user in files:
        password = read_secret(workspace, files[user])
    return redis.Redis(host=conn["address"], port=conn["port"], username=user, password=password,
                       ssl=True, ssl_ca_certs=CA_CERT, ssl_cert_reqs="required", ssl_check_hostname=True,
                       socket_timeout=10, **kwargs)
