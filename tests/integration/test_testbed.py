"""The one-node Slurm test cluster (playbooks/testbed.yml, roles/testbed).

Jobs are submitted as the unprivileged test user; the playbook itself is run as
root (it installs Slurm and starts the daemons), directly with ansible-playbook.
"""
import os
import re
import subprocess
import time

import pytest

from conftest import REPO, TEST_USER, VENV_BIN, run_as

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the test cluster is converged as root")

LMOD_INIT = "/etc/profile.d/lmod.sh"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def converge(*extra):
    """Run playbooks/testbed.yml as root; return (rc, output, {ok, changed, unreachable, failed})."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [os.path.join(VENV_BIN, "ansible-playbook"), "-i", os.path.join(REPO, "inventory", "testbed"),
         "--limit", "testbed_nodes", os.path.join(REPO, "playbooks", "testbed.yml"), *extra],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=900, check=False)
    output = proc.stdout + proc.stderr
    recap = RECAP.findall(output)
    assert recap, f"no PLAY RECAP in the output (rc={proc.returncode}):\n{output}"
    totals = {"ok": 0, "changed": 0, "unreachable": 0, "failed": 0}
    for _host, ok, changed, unreachable, failed in recap:
        totals["ok"] += int(ok)
        totals["changed"] += int(changed)
        totals["unreachable"] += int(unreachable)
        totals["failed"] += int(failed)
    return proc.returncode, output, totals


def submit_and_wait(script, *sbatch_args):
    """Submit `script` as the test user with sbatch --wait; return (job id, state, user, output)."""
    home = os.path.expanduser(f"~{TEST_USER}")
    workdir = run_as(["mktemp", "-d", os.path.join(home, ".t-testbed.XXXXXX")], check=True).stdout.strip()
    try:
        path = os.path.join(workdir, "job.sh")
        run_as(["tee", path], input=script, check=True)
        proc = run_as(["sbatch", "--parsable", "--wait", "--time=2", "--job-name=t-testbed",
                       f"--chdir={workdir}", f"--output={workdir}/out", *sbatch_args, path], timeout=180)
        job_id = proc.stdout.strip().split(";")[0]
        assert job_id.isdigit(), f"sbatch did not submit: {proc.stdout}{proc.stderr}"
        info = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True,
                              check=True).stdout
        state = re.search(r"JobState=(\S+)", info).group(1)
        user = re.search(r"UserId=([^(\s]+)", info).group(1)
        output = run_as(["cat", os.path.join(workdir, "out")]).stdout
        return job_id, state, user, output
    finally:
        run_as(["rm", "-rf", workdir])


def daemon_pid(name):
    path = {"slurmd": "/run/slurmd.pid", "slurmctld": "/run/slurmctld.pid", "munged": "/run/munge/munged.pid"}[name]
    with open(path, encoding="ascii") as handle:
        pid = int(handle.read().strip())
    with open(f"/proc/{pid}/comm", encoding="ascii") as handle:
        assert handle.read().strip() == name
    return pid


def node_state():
    return subprocess.run(["sinfo", "--noheader", "--Node", "--format=%T"],
                          capture_output=True, text=True, check=True).stdout.split()


# Builds a second, private cluster inside new mount/net/pid namespaces (tmpfs over the
# state directories, its own loopback), so a cold build and the teardown can be tested
# without stopping the shared cluster other tests use. Packages, users, the munge key
# and the Redis source are the host's (already there: no change).
NAMESPACE_SCRIPT = r"""
set -eu
ip link set lo up
# glibc's AI_ADDRCONFIG needs an IPv4 address other than 127.0.0.1 for slurmd to bind.
ip addr add 127.0.1.1/8 dev lo
# A private copy of /etc (the multi-node cluster's overlays, host keys and sshd configurations
# live there, and teardown must be able to remove them), and private homes (~/.ssh).
scratch=$(mktemp -d)
mount -t tmpfs tmpfs "$scratch"
cp -a /etc "$scratch/etc"
mount --bind "$scratch/etc" /etc
for d in /run /etc/slurm /var/lib/slurm /var/log /opt/testbed /usr/local/sbin /home; do
  mount -t tmpfs tmpfs "$d"
done
grep -v /opt/testbed /etc/lmod/modulespath > /run/modulespath
mount -t tmpfs tmpfs /etc/lmod
mkdir /etc/lmod/modules
cp /run/modulespath /etc/lmod/modulespath
recap() { echo "== $1"; "$PLAYBOOK" -i "$INVENTORY" --limit testbed_nodes "$2" 2>&1 | grep -E '^(fatal|testbed +:)' || true; }
recap cold "$REPO/playbooks/testbed.yml"
recap warm "$REPO/playbooks/testbed.yml"
echo "== daemons: $(ps -eo comm= | grep -cE '^(munged|slurmctld|slurmd)$')"
recap teardown "$REPO/playbooks/testbed_teardown.yml"
echo "== daemons: $(ps -eo comm= | grep -cE '^(munged|slurmctld|slurmd)$')"
echo "== leftovers: $(ls -d /etc/slurm/slurm.conf /var/lib/slurm/slurmctld /opt/testbed/modulefiles /usr/local/sbin/testbed-daemon \
  /usr/local/sbin/testbed-multinode /etc/testbed-multinode/sshd_config /etc/netns/ws-login1 /run/netns/ws-login1 2>/dev/null | wc -l)"
echo "== modulespath: $(grep -c /opt/testbed /etc/lmod/modulespath || true)"
recap teardown-again "$REPO/playbooks/testbed_teardown.yml"
"""


def test_cold_build_and_teardown_in_private_namespaces():
    probe = subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "true"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot create namespaces here: {probe.stderr.strip()}")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               REPO=REPO, PLAYBOOK=os.path.join(VENV_BIN, "ansible-playbook"),
               INVENTORY=os.path.join(REPO, "inventory", "testbed"))
    proc = subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc",
                           "bash", "-c", NAMESPACE_SCRIPT],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=900, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    sections = dict(re.findall(r"^== (\S+):? ?(.*?)(?=^== |\Z)", out, re.M | re.S))
    recaps = {name: RECAP.search(sections.get(name, "")) for name in ("cold", "warm", "teardown", "teardown-again")}
    assert all(recaps.values()), out
    assert int(recaps["cold"].group(5)) == 0 and int(recaps["cold"].group(3)) > 0, out
    assert (int(recaps["warm"].group(3)), int(recaps["warm"].group(5))) == (0, 0), out
    assert int(recaps["teardown"].group(5)) == 0 and int(recaps["teardown"].group(3)) > 0, out
    assert (int(recaps["teardown-again"].group(3)), int(recaps["teardown-again"].group(5))) == (0, 0), out
    daemons = re.findall(r"^== daemons: (\d+)", out, re.M)
    # munged, slurmctld and slurmd; with the multi-node cluster, its slurmctld and two slurmds.
    assert daemons == ["6", "0"], out
    assert re.search(r"^== leftovers: 0$", out, re.M), out
    assert re.search(r"^== modulespath: 0$", out, re.M), out


def test_shared_cluster_is_converged():
    """The shared cluster (converged by `make test` before the tests) is a second run: no change.

    The cold build -> changed=0 second run is proven from empty state by the namespace test above.
    """
    rc, output, totals = converge()
    assert rc == 0 and totals["failed"] == 0, output
    assert totals["changed"] == 0, output
    assert set(node_state()) <= {"idle", "mixed", "allocated", "completing"}


def test_job_runs_as_the_test_user():
    job_id, state, user, output = submit_and_wait("#!/bin/bash\nid -un\nhostname -s\n")
    assert state == "COMPLETED", f"job {job_id}: {state}\n{output}"
    assert user == TEST_USER
    assert output.split()[0] == TEST_USER


def test_module_load_works_in_a_job():
    script = (
        "#!/bin/bash\nset -e\n"
        f"source {LMOD_INIT}\n"
        "module load lang/Python/3.11 mpi/OpenMPI\n"
        "command -v python3\n"
        "python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'\n"
        "echo \"MPI_HOME=$MPI_HOME\"\n"
        "mpiexec -n 2 python3 -c 'print(\"rank-ok\")'\n"
    )
    job_id, state, _user, output = submit_and_wait(script, "--ntasks=2")
    assert state == "COMPLETED", f"job {job_id}: {state}\n{output}"
    lines = output.split()
    assert lines[0] == "/opt/testbed/python/3.11/bin/python3", output
    assert lines[1] == "3.11", output
    assert lines[2].startswith("MPI_HOME=/usr/lib/") and lines[2].endswith("/openmpi"), output
    assert lines.count("rank-ok") == 2, output


def test_dead_slurmd_is_restarted():
    old = daemon_pid("slurmd")
    os.kill(old, 15)
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{old}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{old}"), "slurmd did not stop on SIGTERM"
    rc, output, totals = converge()
    assert rc == 0, output
    assert totals["changed"] == 1, output  # only "Start slurmctld and slurmd" (slurmd)
    new = daemon_pid("slurmd")
    assert new != old
    assert set(node_state()) <= {"idle", "mixed", "allocated", "completing"}
    job_id, state, user, _output = submit_and_wait("#!/bin/bash\ntrue\n")
    assert (state, user) == ("COMPLETED", TEST_USER), f"job {job_id}: {state}"


def test_check_mode_changes_nothing_and_reports_nothing():
    rc, output, totals = converge("--check")
    assert rc == 0, output
    assert totals["changed"] == 0, output
