"""The collection tarball: what users install holds the collection, its license and docs, and
none of the test-only material (the root-only test cluster, tests, molecule, benchmarks)."""
import json
import os
import shutil
import subprocess
import sys
import tarfile

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_the_built_tarball_ships_the_collection_and_nothing_test_only(tmp_path):
    galaxy = shutil.which("ansible-galaxy") or os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
    proc = subprocess.run([galaxy, "collection", "build", "--output-path", str(tmp_path), REPO],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        version = yaml.safe_load(handle)["version"]
    with tarfile.open(tmp_path / ("ulhpc-workspace-%s.tar.gz" % version)) as tar:
        names = set(tar.getnames())
        manifest = tar.extractfile("MANIFEST.json").read().decode()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"CHANGELOG.rst", "COPYING", "FILES.json", "MANIFEST.json", "README.md", "RELIABILITY.md", "SECURITY.md",
                    "changelogs", "docs",
                    "inventory", "laptop", "meta", "notebooks", "playbooks", "plugins", "roles"}, sorted(tops)
    for needed in ("roles/launcher/files/ws-lib.sh", "roles/celery/files/ulhpccelery/ulhpccelery/celery.py",
                   "playbooks/celery.yml", "playbooks/this_host.yml", "notebooks/celery.ipynb",
                   "plugins/modules/slurm_job.py", "meta/runtime.yml", "inventory/localhost/hosts.yml",
                   "changelogs/changelog.yaml", "docs/examples/runner_example.py", "laptop/ws-tunnels.py"):
        assert needed in names, needed
    for name in names:
        assert not name.startswith(("roles/testbed", "inventory/testbed", "inventory/multinode", "playbooks/testbed")), name
        assert "__pycache__" not in name and not name.endswith((".pyc", ".tar.gz")), name
    info = json.loads(manifest)["collection_info"]
    assert info["license"] == ["GPL-3.0-or-later"]
    for key in ("issues", "documentation", "homepage", "repository"):
        assert info[key].startswith("https://github.com/ULHPC/ulhpc.workspace"), key
