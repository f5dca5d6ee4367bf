# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provision a Celery workspace from Python with ansible-runner and use what it published.

    python docs/examples/runner_example.py [--workspace NAME] [--inventory PATH] [--limit HOSTS]
        [--collections-path DIR] [-e KEY=VALUE ...]

It runs the installed collection's scenario `ulhpc.workspace.celery` (after `ansible-galaxy
collection install`), or a checkout's with --collections-path <checkout>/.collections; the
Ansible settings go to the run as `envvars`, so this process's environment is left as it was.
The scenario ends by publishing the workspace's connection info with set_stats (never the
secrets, only the paths of their files); ansible-runner hands it back as data.
"""
import argparse
import json
import tempfile

import ansible_runner


def provision(workspace="default", inventory=None, extravars=None, limit=None, collections_path=None):
    """Run ulhpc.workspace.celery; return the published `workspace` dict (raises on failure).

    Without an inventory the scenario runs on this host. collections_path: where the
    collection is, when it is not installed (a checkout's .collections directory).
    """
    envvars = {"ANSIBLE_COLLECTIONS_PATH": collections_path} if collections_path else {}
    with tempfile.TemporaryDirectory(prefix="ulhpc-runner-") as private_data_dir:
        run = ansible_runner.run(
            private_data_dir=private_data_dir,
            playbook="ulhpc.workspace.celery",
            inventory=inventory,
            extravars=dict(extravars or {}, workspace_name=workspace),
            limit=limit,
            envvars=envvars,
            quiet=True,
        )
        if run.rc != 0:
            raise RuntimeError("ulhpc.workspace.celery failed (%s): %s" % (run.status, run.stdout.read()[-2000:]))
        for event in run.events:
            if event.get("event") == "playbook_on_stats":
                return event["event_data"]["artifact_data"]["workspace"]
    raise RuntimeError("ulhpc.workspace.celery published nothing")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default="default")
    parser.add_argument("--inventory", help="inventory file or directory (default: none, i.e. this host)")
    parser.add_argument("--limit", help="hosts of the inventory to provision (default: all)")
    parser.add_argument("--collections-path", help="where the collection is when it is not installed")
    parser.add_argument("-e", "--extra-var", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    extravars = {}
    for item in args.extra_var:
        key, value = item.split("=", 1)
        try:
            extravars[key] = json.loads(value)  # -e celery_workers=2 -e celery_flower=false: typed
        except ValueError:
            extravars[key] = value

    workspace = provision(args.workspace, args.inventory, extravars, args.limit, args.collections_path)
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
