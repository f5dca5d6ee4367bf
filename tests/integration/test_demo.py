"""The README's first command, `make demo`, as a brand-new user on a machine without internet.

The user is created by the test (empty home, no pip cache, no ~/.cache), gets a copy of the
checkout, and runs `make demo` with no arguments inside a network namespace of its own that has
only loopback: upstream Valkey is unreachable there, as on a cluster without internet, so the
source must come from the distribution's archive. The archive is the test cluster's copy of
Debian's files (signed InRelease, Sources, the orig tarball) served on the namespace's loopback;
DEBIAN_MIRROR points at it, as a site's own mirror would be. pip runs with --no-index from the
test cluster's wheelhouse. Slurm's commands are hidden in the namespace (an overlay on /usr/bin): the services are local processes.
A second `make demo` changes nothing. Nothing here leaves the namespace.
"""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import REPO, as_user_shell

USER = "wsdemo"
CACHE = "/var/cache/ulhpc-testbed"
MIRROR = os.path.join(CACHE, "debian-mirror")
WHEELS = os.path.join(CACHE, "wheelhouse-demo")
PORT = 18080
SLURM_COMMANDS = {"sbatch", "squeue", "scontrol", "scancel", "sinfo", "srun", "salloc", "sacct", "sstat",
                  "sprio", "sshare", "sattach", "sbcast", "sdiag", "sreport", "sacctmgr", "strigger", "sview"}
RECAP = re.compile(r"^\S+\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def recap(output):
    found = RECAP.findall(output)
    assert found, output[-3000:]
    ok, changed, unreachable, failed = map(int, found[-1])
    return {"ok": ok, "changed": changed, "unreachable": unreachable, "failed": failed}


@pytest.fixture(scope="module")
def fresh_user():
    """A new user with an empty home holding a copy of the checkout; removed afterwards."""
    subprocess.run(["pkill", "-KILL", "-u", USER], check=False)
    subprocess.run(["userdel", "-r", USER], capture_output=True, check=False)
    subprocess.run(["useradd", "-m", "-s", "/bin/bash", USER], check=True)
    home = os.path.expanduser("~" + USER)
    os.chmod(home, 0o700)
    checkout = os.path.join(home, "ulhpc-workspace")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, check=True).stdout
    os.makedirs(checkout)
    subprocess.run(["tar", "--null", "-T", "-", "-cf", os.path.join(home, "checkout.tar")], input=files,
                   cwd=REPO, check=True)
    subprocess.run(["tar", "-xf", os.path.join(home, "checkout.tar"), "-C", checkout], check=True)
    os.unlink(os.path.join(home, "checkout.tar"))
    subprocess.run(["chown", "-R", "%s:%s" % (USER, USER), home], check=True)
    yield {"home": home, "checkout": checkout}
    subprocess.run(["pkill", "-KILL", "-u", USER], check=False)
    subprocess.run(["userdel", "-r", USER], capture_output=True, check=False)


def in_offline_namespace(user, commands, timeout=1800):
    """Run `commands` (bash, as `user`) in new network and mount namespaces: only loopback,
    with the test mirror served on it, and Slurm's commands hidden (a machine without Slurm,
    for login shells too). Returns the CompletedProcess."""
    script = "\n".join([
        "set -u",
        "ip link set lo up",
        # An overlay on /usr/bin whose upper layer holds whiteouts (0/0 character devices) of
        # Slurm's commands: they are gone in this namespace, for login shells too.
        "hide=$(mktemp -d) && mkdir $hide/upper $hide/work && trap 'rm -rf $hide' EXIT",
        "for cmd in %s; do [ -e /usr/bin/$cmd ] && mknod $hide/upper/$cmd c 0 0; done" % " ".join(sorted(SLURM_COMMANDS)),
        "mount -t overlay overlay -o lowerdir=/usr/bin,upperdir=$hide/upper,workdir=$hide/work /usr/bin || exit 3",
        # The mirror server runs as the fresh user too: it reads world-readable files only.
        as_user_shell(["python3", "-m", "http.server", "-b", "127.0.0.1", "-d", MIRROR, str(PORT)], USER, fresh=True)
        + " >/dev/null 2>&1 &",
        "server=$!",
        "for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/%d) 2>/dev/null && break; sleep 0.1; done" % PORT,
        as_user_shell(["bash", "-c", commands], USER, fresh=True, extra_env={
            "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": WHEELS, "DEBIAN_MIRROR": "http://127.0.0.1:%d" % PORT}),
        "rc=$?",
        "kill $server",
        "exit $rc",
    ])
    return subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", "bash", "-c", script],
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def demo(fresh_user):
    """`make demo` twice, then the teardown playbook, all in one offline namespace."""
    checkout = fresh_user["checkout"]
    commands = "\n".join([
        "cd %s" % checkout,
        "make demo > ~/demo-1.log 2>&1; echo \"first=$?\"",
        # The extra-vars the demo used (its "Redis source:" line), for the run from the tarball.
        "sed -n 's/^Redis source: //p' ~/demo-1.log > ~/demo-vars.json",
        "make demo > ~/demo-2.log 2>&1; echo \"second=$?\"",
        "ls ~/.cache/ulhpc-workspace > ~/cache.txt",
        # The collection's tarball, installed for this user and run with no checkout around:
        # from the home directory (no ansible.cfg), no inventory, as `ulhpc.workspace.<scenario>`.
        "make build > ~/build.log 2>&1; echo \"build=$?\"",
        "cd ~ && ulhpc-workspace/.venv/bin/ansible-galaxy collection install ulhpc-workspace/ulhpc-workspace-*.tar.gz"
        " > ~/install.log 2>&1; echo \"install=$?\"",
        "cd ~ && ulhpc-workspace/.venv/bin/ansible-playbook ulhpc.workspace.celery -e \"$(cat ~/demo-vars.json)\""
        " > ~/tarball.log 2>&1; echo \"tarball=$?\"",
        "cd ~ && ulhpc-workspace/.venv/bin/ansible-playbook ulhpc.workspace.teardown > ~/teardown.log 2>&1;"
        " echo \"teardown=$?\"",
    ])
    proc = in_offline_namespace(fresh_user, commands)
    home = fresh_user["home"]
    logs = {}
    for name in ("demo-1.log", "demo-2.log", "teardown.log", "cache.txt", "build.log", "install.log", "tarball.log"):
        path = os.path.join(home, name)
        logs[name] = open(path).read() if os.path.exists(path) else ""
    codes = dict(line.split("=", 1) for line in proc.stdout.split() if "=" in line)
    return {"proc": proc, "codes": codes, "logs": logs}


def test_first_demo_works_offline_from_the_archive(demo):
    log = demo["logs"]["demo-1.log"]
    assert demo["codes"].get("first") == "0", log[-6000:] + demo["proc"].stderr[-2000:]
    # Upstream was tried and was unreachable; the archive's signed index gave the tarball.
    assert "is unreachable" in log and "trying the distribution's archive" in log, log[:3000]
    assert "reading the signed index of http://127.0.0.1:%d trixie" % PORT in log
    assert '"redis_version": "8.1.1"' in log
    assert "pip: requirements/controller.txt installed in" in log
    # The long steps say how long they took (the YAML callback may fold the lines).
    flat = " ".join(log.split())
    assert re.search(r"Redis 8\.1\.1 built in \d+:\d\d:\d\d \(h:mm:ss\) with make -j\d+", flat), log[-6000:]
    assert re.search(r"venv-celery is up to date: pip took \d+:\d\d:\d\d", flat), log[-6000:]
    # The celery role's smoke test sent a task through Redis to a worker and got 42 back.
    assert "runs one task (smoke test)" in log
    result = recap(log)
    assert result["failed"] == 0 and result["unreachable"] == 0 and result["changed"] > 0
    assert "valkey_8.1.1+dfsg1.orig.tar.xz" in demo["logs"]["cache.txt"]


def test_second_demo_changes_nothing_and_uses_the_cache(demo):
    log = demo["logs"]["demo-2.log"]
    assert demo["codes"].get("second") == "0", log[-6000:]
    assert "from the cache (SHA-256 checked)" in log
    assert "is unreachable" not in log  # the cache answered before any network was tried
    assert recap(log)["changed"] == 0, log[-6000:]


def test_services_were_local_processes_and_teardown_stops_them(demo):
    log = demo["logs"]["demo-1.log"]
    # The summary: every service a local process (no Slurm job).
    assert re.search(r"- redis: rediss://\S+ on \S+ \(local pid \d+\)", log), log[-4000:]
    assert "(job " not in log
    assert demo["codes"].get("teardown") == "0", demo["logs"]["teardown.log"][-4000:]
    left = subprocess.run(["pgrep", "-u", USER, "-f", "redis-server|celery|flower"], capture_output=True, text=True,
                          check=False)
    assert left.stdout.strip() == "", left.stdout


def test_the_collection_tarball_installs_and_runs_the_same_without_a_checkout(demo):
    """make build, ansible-galaxy collection install (offline), then `ansible-playbook
    ulhpc.workspace.celery` from the home directory with no inventory: it runs on this host,
    finds the demo's workspace as the checkout left it, and changes nothing."""
    logs = demo["logs"]
    assert demo["codes"].get("build") == "0", logs["build.log"][-3000:]
    assert demo["codes"].get("install") == "0", logs["install.log"][-3000:]
    assert "ulhpc.workspace:0.1.0 was installed successfully" in logs["install.log"], logs["install.log"]
    log = logs["tarball.log"]
    assert demo["codes"].get("tarball") == "0", log[-6000:]
    assert "runs one task (smoke test)" in log
    result = recap(log)
    assert result["failed"] == 0 and result["changed"] == 0, log[-6000:]


def tampered_archive(fresh_user, mutate):
    """scripts/redis_source.py against a copy of the mirror that `mutate` changed."""
    copy = tempfile.mkdtemp(prefix="ws-mirror-")
    shutil.copytree(MIRROR, copy, dirs_exist_ok=True)
    mutate(copy)
    subprocess.run(["chmod", "-R", "a+rX", copy], check=True)
    try:
        script = "\n".join([
            "ip link set lo up",
            as_user_shell(["python3", "-m", "http.server", "-b", "127.0.0.1", "-d", copy, str(PORT + 1)], USER, fresh=True)
            + " >/dev/null 2>&1 &",
            "server=$!",
            "for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/%d) 2>/dev/null && break; sleep 0.1; done" % (PORT + 1),
            as_user_shell([fresh_user["checkout"] + "/.venv/bin/python", fresh_user["checkout"] + "/scripts/redis_source.py",
                           "--from", "archive", "--mirror", "http://127.0.0.1:%d" % (PORT + 1)], USER, fresh=True)
            + " --cache $(%s)" % as_user_shell(["mktemp", "-d"], USER, fresh=True),
            "rc=$?", "kill $server", "exit $rc",
        ])
        return subprocess.run(["unshare", "--net", "bash", "-c", script], capture_output=True, text=True, timeout=300,
                              check=False)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _flip_last_byte(path):
    with open(path, "r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 1]))


def test_a_tampered_tarball_is_refused(demo, fresh_user):
    def mutate(root):
        _flip_last_byte(os.path.join(root, "pool/main/v/valkey/valkey_8.1.1+dfsg1.orig.tar.xz"))
    proc = tampered_archive(fresh_user, mutate)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert "did not give valkey_8.1.1+dfsg1.orig.tar.xz with the SHA-256" in proc.stderr


def test_a_tampered_index_is_refused(demo, fresh_user):
    def mutate(root):
        path = os.path.join(root, "dists/trixie/InRelease")
        with open(path) as handle:
            text = handle.read()
        with open(path, "w") as handle:
            handle.write(text.replace("Suite: stable", "Suite: stab1e", 1))
    proc = tampered_archive(fresh_user, mutate)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "apt-get update failed" in proc.stderr
