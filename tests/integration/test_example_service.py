"""The "Adding a service" example of docs/ARCHITECTURE.md: a sixth service in five small files
(tests/integration/playbooks/roles/echo) that uses only the public contract. Started on Slurm,
it is published, summarised with its own line, idempotent, honest under --check, and stopped by
the workspace's teardown, with no change to the workspace or launcher roles."""
import os
import re
import urllib.request

from conftest import REPO, TEST_USER, run_as, run_playbook

WORKSPACE = "t-echo"
PLAYBOOK = os.path.join(REPO, "tests", "integration", "playbooks", "echo.yml")
ROLE = os.path.join(REPO, "tests", "integration", "playbooks", "roles", "echo")


def outcomes(stdout, name):
    chunks = [c for c in stdout.split("TASK [")[1:] if name in c.split("]", 1)[0]]
    return [line.split(":", 1)[0] for c in chunks for line in c.splitlines()
            if re.match(r"^(ok|changed|skipping|fatal): ", line)]


def test_a_sixth_service_in_five_files_uses_only_the_public_contract():
    files = [os.path.relpath(os.path.join(d, f), ROLE) for d, _s, fs in os.walk(ROLE) for f in fs]
    assert len(files) <= 5, files
    text = "".join(open(os.path.join(ROLE, f)).read() for f in files)
    assert "__launcher" not in text  # the launcher's internals are not part of the contract
    # The workspace's walltime for every job, removed for this service by its own "" value: the
    # role's merge keeps the removal for the launcher's merge over workspace_slurm.
    extravars = {"workspace_name": WORKSPACE, "echo_greeting": "hello from a sixth service",
                 "workspace_slurm": {"time": "00:09:00", "extra_args": ["--nice=3"]}, "echo_slurm": {"time": ""}}
    try:
        first = run_playbook(PLAYBOOK, extravars)
        assert first.rc == 0, first.stdout[-3000:]
        echo = first.workspace["services"]["echo"]
        assert echo["launcher"] == "slurm" and echo["job_id"]
        show = run_as(["scontrol", "show", "job", str(echo["job_id"])]).stdout
        assert "Nice=3" in show and "TimeLimit=00:09:00" not in show, show
        with urllib.request.urlopen(echo["url"], timeout=10) as response:
            assert response.read().decode().strip() == "hello from a sixth service"
        flat = " ".join(first.stdout.split())
        assert "- echo: echo of 27 bytes at %s on" % echo["url"] in flat, flat[-2000:]
        assert "tunnel: ssh -NL %s:%s:%s" % (echo["port"], echo["address"], echo["port"]) in flat

        again = run_playbook(PLAYBOOK, extravars)
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]

        # A new greeting under --check: the config is not written, yet the replacement is seen.
        checked = run_playbook(PLAYBOOK, dict(extravars, echo_greeting="bye"), check=True)
        assert checked.rc == 0, checked.stdout[-3000:]
        assert outcomes(checked.stdout, "Submit the services' Slurm jobs") == ["changed"], checked.stdout[-3000:]
        conf = run_as(["cat", os.path.expanduser("~%s/.ulhpc/workspaces/%s/config/echo.conf" % (TEST_USER, WORKSPACE))])
        assert conf.stdout.strip() == "hello from a sixth service"

        status = run_playbook("status.yml", {"workspace_name": WORKSPACE})
        assert status.workspace["services"]["echo"]["state"] == "running"
        assert status.workspace["services"]["echo"]["summary"].startswith("echo of 27 bytes")
    finally:
        down = run_playbook("teardown.yml", {"workspace_name": WORKSPACE})
    assert down.rc == 0, down.stdout[-3000:]
    left = run_as(["squeue", "-h", "-u", TEST_USER, "-n", "ws-%s-echo" % WORKSPACE, "-o", "%i"])
    assert left.stdout.strip() == ""
