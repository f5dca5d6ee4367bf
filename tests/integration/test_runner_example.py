"""The README's ansible-runner example (docs/examples/runner_example.py), run as the test user.

It provisions the Celery scenario in its own workspace (t-runner) on the test cluster and
must print the published connection info (never a secret); a task then goes through.
Teardown stops the workspace.
"""
import json
import os

import pytest

from conftest import REPO, VENV_BIN, run_as, run_playbook

WORKSPACE = "t-runner"
TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
HOME = os.path.expanduser("~" + TEST_USER)
ROOT = os.path.join(HOME, ".ulhpc", "workspaces", WORKSPACE)
TARBALL = os.environ.get("WS_REDIS_TARBALL", "/var/cache/ulhpc-testbed/valkey_8.1.1+dfsg1.orig.tar.xz")
EXAMPLE = os.path.join(REPO, "docs", "examples", "runner_example.py")


@pytest.fixture(scope="module")
def example_run():
    proc = run_as([os.path.join(VENV_BIN, "python"), EXAMPLE, "--workspace", WORKSPACE,
                   "--inventory", os.path.join(REPO, "inventory", "testbed"), "--limit", "workspace_hosts",
                   "--collections-path", os.path.join(REPO, ".collections"),
                   "-e", "redis_source_url=" + TARBALL, "-e", "redis_version=8.1.1", "-e", "celery_flower=false"], timeout=1800)
    yield proc
    run_playbook("teardown.yml", {"workspace_name": WORKSPACE})


def test_example_prints_the_published_workspace(example_run):
    assert example_run.returncode == 0, example_run.stdout[-2000:] + example_run.stderr[-3000:]
    lines = example_run.stdout.strip().splitlines()
    workspace = json.loads(lines[-1])
    assert workspace["name"] == WORKSPACE and workspace["root"] == ROOT
    redis = workspace["services"]["redis"]
    assert lines[0] == "Redis  : %s | password file: %s" % (redis["url"], os.path.join(ROOT, "secrets", "redis.password"))
    assert lines[1] == "tunnel : ssh -NL {0}:{1}:{0} localhost".format(redis["port"], redis["address"])
    assert "workers: celery-worker-1" in lines
    with open(os.path.join(ROOT, "secrets", "redis.password")) as handle:
        assert handle.read().strip() not in example_run.stdout


def test_a_task_goes_through_the_provisioned_workspace(example_run):
    assert example_run.returncode == 0
    proc = run_as([os.path.join(ROOT, "venv-celery", "bin", "python"), "-c",
                   "from ulhpccelery import tasks; print(tasks.mul.delay(6, 7).get(timeout=60))"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "42"
