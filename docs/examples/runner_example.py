# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provision a Celery workspace from Python with ansible-runner and use what it published.

    python docs/examples/runner_example.py [--workspace NAME] [--inventory DIR] [--limit HOSTS] [-e KEY=VALUE ...]

playbooks/celery.yml ends by publishing the workspace's connection info with set_stats
(never the secrets, only the paths of their files); ansible-runner hands it back as data.
"""
import argparse
import json
import os
import tempfile

import ansible_runner

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def provision(workspace="default", inventory=None, extravars=None, limit=None):
    """Run playbooks/celery.yml; return the published `workspace` dict (raises on failure)."""
    os.environ.setdefault("ANSIBLE_CONFIG", os.path.join(REPO, "ansible.cfg"))
    with tempfile.TemporaryDirectory(prefix="ulhpc-runner-") as private_data_dir:
        run = ansible_runner.run(
            private_data_dir=private_data_dir,
            project_dir=REPO,
            playbook=os.path.join(REPO, "playbooks", "celery.yml"),
            inventory=inventory or os.path.join(REPO, "inventory", "localhost"),
            extravars=dict(extravars or {}, workspace_name=workspace),
            limit=limit,
            quiet=True,
        )
        if run.rc != 0:
            raise RuntimeError("celery.yml failed (%s): %s" % (run.status, run.stdout.read()[-2000:]))
        for event in run.events:
            if event.get("event") == "playbook_on_stats":
                return event["event_data"]["artifact_data"]["workspace"]
    raise RuntimeError("celery.yml published nothing")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default="default")
    parser.add_argument("--inventory", help="inventory directory (default: inventory/localhost)")
    parser.add_argument("--limit", help="hosts of the inventory to provision (default: all)")
    parser.add_argument("-e", "--extra-var", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    extravars = {}
    for item in args.extra_var:
        key, value = item.split("=", 1)
        try:
            extravars[key] = json.loads(value)  # -e celery_workers=2 -e celery_flower=false: typed
        except ValueError:
            extravars[key] = value

    workspace = provision(args.workspace, args.inventory, extravars, args.limit)
    redis = workspace["services"]["redis"]
    print("Redis  :", redis["url"], "| password file:", redis["secret_files"][0])
    print("tunnel :", redis["tunnel"])
    if "flower" in workspace["services"]:
        print("Flower :", workspace["services"]["flower"]["url"])
    workers = sorted(name for name in workspace["services"] if name.startswith("celery-worker-"))
    print("workers:", ", ".join(workers))
    print(json.dumps(workspace, sort_keys=True))


if __name__ == "__main__":
    main()
