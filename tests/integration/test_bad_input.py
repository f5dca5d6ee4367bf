"""Bad input across the roles, one table: each value gets a specific error and changes nothing.

Every case runs its scenario playbook as the test user with a workspace that does not exist
(t-bad). The play must fail with one failure that names the problem, report changed=0, and
leave no workspace directory, no job, no IPython profile and no Redis build behind. Values
with a trailing newline are there because Ansible's `match` test lets them through a pattern
that ends in `$`: the roles check whole values (the ulhpc.workspace.fullmatch filter).
"""
import os
import subprocess

import pytest

from conftest import run_playbook

TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
HOME = os.path.expanduser("~" + TEST_USER)
WORKSPACE = "t-bad"
ROOT = os.path.join(HOME, ".ulhpc", "workspaces", WORKSPACE)
TARBALL = os.environ.get("WS_REDIS_TARBALL", "/var/cache/ulhpc-testbed/valkey_8.1.1+dfsg1.orig.tar.xz")
REDIS_PREFIX = os.path.join(HOME, ".cache", "ulhpc-test", "redis-bad-input")
# The Jupyter tests' venv: an existing one, so that nothing is installed before a check.
VENV = os.path.join(HOME, ".cache", "ulhpc-test", "venv-jupyter")
BASE = {
    "celery.yml": {"redis_source_url": "file://" + TARBALL, "redis_version": "8.1.1", "redis_prefix": REDIS_PREFIX},
    "redis.yml": {"redis_source_url": "file://" + TARBALL, "redis_version": "8.1.1", "redis_prefix": REDIS_PREFIX},
    "jupyter.yml": {"python_venv_path": VENV},
    "ipyparallel.yml": {"python_venv_path": VENV, "ipcluster_profile": WORKSPACE},
}

CASES = [
    # the workspace (any scenario)
    ("celery.yml", {"workspace_name": "Bad Name"}, ["workspace_name", "1-40 characters of [a-z0-9_-]"]),
    ("celery.yml", {"workspace_name": "t-bad\n"}, ["workspace_name", "1-40 characters of [a-z0-9_-]"]),
    ("celery.yml", {"workspace_root": ""}, ["workspace_root must not be empty"]),
    ("celery.yml", {"workspace_root": "~/ws\nnext"}, ["workspace_root holds a control character"]),
    ("celery.yml", {"workspace_port_base": 80}, ["workspace_port_base 80 is below 1024"]),
    ("celery.yml", {"workspace_port_span": 0}, ["workspace_port_span must be at least 1"]),
    ("celery.yml", {"workspace_port_base": 65000, "workspace_port_span": 1000}, ["65000-65999", "ends above 65535"]),
    ("celery.yml", {"workspace_bind_address": "10.0.0.300"}, ["10.0.0.300", "is not an IPv4 address"]),
    ("celery.yml", {"workspace_bind_interface": "eth0;rm"}, ["eth0;rm", "is not an interface name"]),
    ("celery.yml", {"workspace_bind_interface": "lo", "workspace_bind_address": "127.0.0.1"}, ["not both"]),
    ("celery.yml", {"workspace_login_port": 70000}, ["workspace_login_port", "must be a port number"]),
    ("celery.yml", {"workspace_login_user": "bob smith"}, ["workspace_login_user", "must be a user name"]),
    ("celery.yml", {"workspace_tunnel_via": "laptop"}, ["workspace_tunnel_via must be one of: login, node, got: laptop"]),
    ("celery.yml", {"workspace_timeout": 0}, ["workspace_timeout must be at least 1 second"]),
    ("celery.yml", {"workspace_restarts": -1}, ["workspace_restarts=-1"]),
    ("celery.yml", {"workspace_stop_timeout": "soon"}, ["workspace_stop_timeout"]),
    ("celery.yml", {"workspace_env_modules": ["lang/Python 3.11"]}, ["module names without spaces"]),
    ("celery.yml", {"workspace_env_modules": ["lang/Python/3.11\n"]}, ["module names without spaces"]),
    ("celery.yml", {"workspace_launcher": "pbs"}, ["workspace_launcher", "pbs"]),
    # Slurm options of any service
    ("celery.yml", {"workspace_slurm": {"time": "2 hours"}}, ["invalid time '2 hours'"]),
    ("celery.yml", {"workspace_slurm": {"partition": "batch\n"}}, ["invalid partition"]),
    ("celery.yml", {"workspace_slurm": {"mem": "lots"}}, ["invalid mem 'lots'"]),
    ("celery.yml", {"workspace_slurm": {"partiton": "batch"}}, ["unknown Slurm option partiton"]),
    ("celery.yml", {"workspace_slurm": {"extra_args": ["--begin=now\n#SBATCH --mem=1T"]}}, ["contains a newline"]),
    ("celery.yml", {"workspace_slurm": {"extra_args": ["--job-name=other"]}}, ["must not contain --job-name"]),
    ("celery.yml", {"celery_worker_slurm": {"cpus_per_task": "two"}}, ["cpus_per_task must be a whole number"]),
    ("celery.yml", {"redis_slurm": {"nodelist": "node1 node2"}}, ["nodelist", "node names such as node1"]),
    # Celery
    ("celery.yml", {"celery_prefetch_multiplier": 0}, ["celery_prefetch_multiplier=0", "no limit"]),
    ("celery.yml", {"celery_worker_cores": 0}, ["celery_worker_cores=0", "at least 1 core"]),
    ("celery.yml", {"celery_workers": -1}, ["celery_workers=-1"]),
    ("celery.yml", {"celery_visibility_timeout": 0}, ["celery_visibility_timeout must be a positive number"]),
    ("celery.yml", {"celery_flower_user": "admin\n"}, ["celery_flower_user may only hold"]),
    ("celery.yml", {"celery_flower_user": "o'brien"}, ["celery_flower_user may only hold"]),
    ("celery.yml", {"celery_packages": ["requests==2.32.3"]}, ["celery_packages must include celery"]),
    # Redis
    ("redis.yml", {"redis_version": "8.1.1\n"}, ["redis_version may only hold"]),
    ("redis.yml", {"redis_source_sha256": "abc"}, ["redis_source_sha256 must be 64 hexadecimal digits"]),
    ("redis.yml", {"redis_password_bytes": 8}, ["redis_password_bytes=8", "128 bits"]),
    ("redis.yml", {"redis_source_url": "/tmp/unknown-valkey.tar.gz"}, ["no known checksum", "redis_source_sha256"]),
    ("redis.yml", {"redis_source_url": "/nonexistent/valkey_8.1.1+dfsg1.orig.tar.xz"},
     ["Could not fetch redis_source_url=/nonexistent/valkey_8.1.1+dfsg1.orig.tar.xz"]),
    ("redis.yml", {"redis_source_sha256": "0" * 64},
     ["does not have the checksum 0000000000000000000000000000000000000000000000000000000000000000"]),
    ("redis.yml", {"redis_install": "module"}, ["redis_install=module needs redis_modules"]),
    ("redis.yml", {"redis_extra_config": {"dir": "/tmp"}}, ["redis_extra_config may not set dir"]),
    # Jupyter
    ("jupyter.yml", {"jupyter_password": "short"}, ["jupyter_password is too short"]),
    ("jupyter.yml", {"jupyter_password": "a long enough password\nsecond line"}, ["jupyter_password must be one line"]),
    ("jupyter.yml", {"jupyter_port": 80}, ["jupyter_port 80 is outside 1024-65535"]),
    ("jupyter.yml", {"jupyter_kernel_name": "my kernel"}, ["jupyter_kernel_name", "may only hold"]),
    ("jupyter.yml", {"jupyter_root_dir": "notebooks"}, ["jupyter_root_dir must be absolute"]),
    ("jupyter.yml", {"jupyter_root_dir": "~/notebooks\n"}, ["jupyter_root_dir must be absolute"]),
    # ipyparallel
    ("ipyparallel.yml", {"ipcluster_engines": 0}, ["start at least 1 engine"]),
    ("ipyparallel.yml", {"ipcluster_profile": "my profile"}, ["ipcluster_profile", "1-64 characters"]),
    ("ipyparallel.yml", {"ipcluster_ipython_dir": "ipython"}, ["ipcluster_ipython_dir", "must be absolute"]),
    ("ipyparallel.yml", {"ipcluster_engine_launcher": "pbs"}, ["ipcluster_engine_launcher", "pbs"]),
    ("ipyparallel.yml", {"ipcluster_engine_launcher": "mpi", "ipcluster_mpi_modules": ["mpi/NoSuchMPI"]},
     ["mpi/NoSuchMPI"]),
    ("ipyparallel.yml", {"ipcluster_engine_slurm": {"nodes": "two"}}, ["invalid nodes 'two'"]),
]


def _jobs():
    out = subprocess.run(["squeue", "-h", "-u", TEST_USER, "-o", "%j"], capture_output=True, text=True, check=True)
    return [name for name in out.stdout.split() if name.startswith("ws-" + WORKSPACE)]


def test_the_table_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("playbook, bad, words", CASES,
                         ids=["%02d-%s" % (i, "+".join(sorted(c[1]))) for i, c in enumerate(CASES)])
def test_bad_input_is_refused_and_changes_nothing(playbook, bad, words):
    values = dict(BASE[playbook], workspace_name=WORKSPACE)
    values.update(bad)
    result = run_playbook(playbook, values)
    assert result.rc != 0, result.stdout[-3000:]
    assert result.count("failures") == 1, result.stdout[-3000:]
    for word in words:
        assert word in result.stdout, (word, result.stdout[-3000:])
    assert result.changed == 0, result.stdout[-3000:]
    assert not os.path.exists(ROOT)
    assert not os.path.exists(REDIS_PREFIX)
    assert not os.path.exists(os.path.join(HOME, ".ipython", "profile_" + WORKSPACE))
    assert _jobs() == []
