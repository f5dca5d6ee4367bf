"""Run one playbook with ansible-runner and print a JSON summary on the last line.

Used by the integration tests to run playbooks as the unprivileged test user
(`runuser -u wsuser -- python tests/helpers/playbook_json.py ...`), so that
the published `set_stats` data and per-host stats come back as data.
"""
import argparse
import json
import os
import sys
import tempfile

import ansible_runner

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("playbook")
    parser.add_argument("--inventory", default=os.path.join(REPO, "inventory", "testbed"))
    parser.add_argument("--limit", default="workspace_hosts")
    parser.add_argument("--extravars", default="{}", help="JSON object")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--diff", action="store_true")
    parser.add_argument("--verbosity", type=int, default=0)
    args = parser.parse_args()

    cmdline = []
    if args.check:
        cmdline.append("--check")
    if args.diff:
        cmdline.append("--diff")
    os.environ["ANSIBLE_CONFIG"] = os.path.join(REPO, "ansible.cfg")
    with tempfile.TemporaryDirectory(prefix="ws-runner-") as pdd:
        result = ansible_runner.run(
            private_data_dir=pdd,
            project_dir=REPO,
            playbook=os.path.join(REPO, "playbooks", args.playbook),
            inventory=args.inventory,
            limit=args.limit,
            extravars=json.loads(args.extravars),
            cmdline=" ".join(cmdline) or None,
            verbosity=args.verbosity,
            quiet=True,
        )
        custom_stats = {}
        for event in result.events:
            if event.get("event") == "playbook_on_stats":
                custom_stats = event.get("event_data", {}).get("artifact_data", {}) or {}
        stdout = result.stdout.read()
        # Read while the artifacts still exist: result.stats reads them lazily.
        summary = {
            "rc": result.rc,
            "status": result.status,
            "stats": result.stats or {},
            "custom_stats": custom_stats,
        }
    sys.stdout.write(stdout)
    sys.stdout.write("\n" + json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
