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
from ansible_runner.exceptions import AnsibleRunnerException

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("playbook")
    parser.add_argument("--inventory", default=os.path.join(REPO, "inventory", "testbed"))
    parser.add_argument("--limit", default="workspace_hosts")
    parser.add_argument("--extravars", default="{}", help="JSON object")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--diff", action="store_true")
    parser.add_argument("--verbosity", type=int, default=0)
    return parser.parse_args()


def run(private_data_dir, args):
    """Run the playbook; returns (stdout, summary). Reads everything while the artifacts exist."""
    cmdline = [flag for flag, wanted in (("--check", args.check), ("--diff", args.diff)) if wanted]
    result = ansible_runner.run(
        private_data_dir=private_data_dir,
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
    summary = {"rc": result.rc, "status": result.status, "stats": result.stats or {},
               "custom_stats": custom_stats}
    return result.stdout.read(), summary


def artifacts_stdout(private_data_dir):
    """What ansible-playbook printed, from the runner's artifacts (for runner failures)."""
    text = ""
    for dirpath, _dirs, files in os.walk(os.path.join(private_data_dir, "artifacts")):
        if "stdout" in files:
            with open(os.path.join(dirpath, "stdout"), encoding="utf-8", errors="replace") as handle:
                text += handle.read()
    return text[-20000:]


def main():
    args = parse_args()
    os.environ["ANSIBLE_CONFIG"] = os.path.join(REPO, "ansible.cfg")
    with tempfile.TemporaryDirectory(prefix="ws-runner-") as private_data_dir:
        try:
            stdout, summary = run(private_data_dir, args)
        except AnsibleRunnerException as exc:
            stdout = "ansible-runner failed: %s\n%s" % (exc, artifacts_stdout(private_data_dir))
            summary = {"rc": 99, "status": "runner-error", "stats": {}, "custom_stats": {}}
    sys.stdout.write(stdout)
    sys.stdout.write("\n" + json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
