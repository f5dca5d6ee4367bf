"""Verify the ipcluster scenario: 2 Slurm engines answer a real client's parallel map."""
import json

ROOT = "~/.ulhpc/workspaces/m-ipcluster"
VENV_PYTHON = "~/.cache/ulhpc-test/venv-jupyter/bin/python"

CLIENT = r"""
import json, sys
import ipyparallel as ipp
rc = ipp.Client(profile=sys.argv[1], cluster_id=sys.argv[2], timeout=30)
rc.wait_for_engines(2, timeout=60)
cubes = rc[:].map_sync(lambda x: x ** 3, range(10))
jobs = rc[:].apply_sync(lambda: __import__("os").environ.get("SLURM_JOB_ID", ""))
print(json.dumps({"ids": rc.ids, "cubes": cubes, "jobs": jobs}))
rc.close()
"""


def connection(host):
    root = host.run("echo " + ROOT).stdout.strip()
    return json.loads(host.file(root + "/run/ipcluster.json").content_string)


def test_connection_file(host):
    conn = connection(host)
    assert conn["profile"] == "m-ipcluster"
    assert conn["cluster_id"] == "ws-m-ipcluster"
    assert conn["engines"] == 2
    assert conn["engine_launcher"] == "slurm"
    assert conn["controller_ip"] == "*"


def test_engines_map_in_their_own_slurm_job(host):
    conn = connection(host)
    python = host.run("echo " + VENV_PYTHON).stdout.strip()
    cmd = host.run_expect([0], "%s -c %s %s %s", python, CLIENT, conn["profile"], conn["cluster_id"])
    answer = json.loads(cmd.stdout.strip().splitlines()[-1])
    assert answer["ids"] == [0, 1]
    assert answer["cubes"] == [x ** 3 for x in range(10)]
    assert set(answer["jobs"]) == {str(conn["engine_job_id"])}
    assert str(conn["engine_job_id"]) != str(conn["job_id"])
    squeue = host.run_expect([0], "squeue -h -j %s -o %%j", str(conn["engine_job_id"]))
    assert squeue.stdout.strip() == "ipengine-ws-m-ipcluster"


def test_profile_keeps_users_settings(host):
    config = host.run("echo ~/.ipython/profile_m-ipcluster/ipcluster_config.py").stdout.strip()
    text = host.file(config).content_string
    assert text.startswith("# Configuration file for ipcluster.")
    assert text.count("# BEGIN ulhpc.workspace.ipcluster managed block") == 1
    assert 'c.Cluster.engine_launcher_class = "slurm"' in text
