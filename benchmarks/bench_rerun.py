# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Warm re-runs of the scenario playbooks against a one-task play (issue #13).

Run from the repository root, as root (the measurements then run as the unprivileged test
user) or as an ordinary user, on a machine with the test cluster:

    .venv/bin/python benchmarks/bench_rerun.py [--runs 3]

Brings celery.yml, jupyter.yml and ipyparallel.yml up once in one workspace, then, in one run
and alternating: the one-task play (benchmarks/one_task_play.yml, the floor of any play on
this controller), and each scenario's warm re-run (everything up: changed=0) and check-mode
run, with and without Ansible's pipelining. Prints medians and the ratio to the floor.
Writes benchmarks/results/rerun.md (machine and date included).
"""
import json
import os
import statistics
import subprocess
import sys
import time

import benchlib
from benchlib import REPO, VENV_BIN, log, machine, play

WORKSPACE = "b-rerun"
TARBALL = os.environ.get("WS_REDIS_TARBALL", "/var/cache/ulhpc-testbed/valkey_8.1.1+dfsg1.orig.tar.xz")
SCENARIOS = {
    "celery.yml": {"redis_source_url": "file://" + TARBALL, "redis_version": "8.1.1", "celery_workers": 1},
    "jupyter.yml": {},
    "ipyparallel.yml": {"ipcluster_engine_launcher": "local", "ipcluster_engines": 2},
}
FLOOR = os.path.join(REPO, "benchmarks", "one_task_play.yml")


def scenario_vars(name):
    values = dict(SCENARIOS[name], workspace_name=WORKSPACE)
    if name != "celery.yml":  # as an extra var it would also move the Celery venv
        values.update(python_venv_path=os.path.expanduser("~/.cache/ulhpc-bench/venv-jupyter"), ipcluster_profile=WORKSPACE)
    return values


def measure(args):
    runs = args.runs
    data = {"floor": {"off": [], "on": []}, "scenarios": {}}
    try:
        for name in SCENARIOS:
            log("bringing %s up" % name)
            play(os.path.join(REPO, "playbooks", name), scenario_vars(name))
            data["scenarios"][name] = {"warm": {"off": [], "on": []}, "check": {"off": [], "on": []}}
        for number in range(runs):
            for pipelining in (False, True) if number % 2 == 0 else (True, False):
                key = "on" if pipelining else "off"
                data["floor"][key].append(play(FLOOR, {}, pipelining=pipelining))
                for name in SCENARIOS:
                    path = os.path.join(REPO, "playbooks", name)
                    for kind in ("warm", "check"):
                        result = play(path, scenario_vars(name), check=kind == "check", pipelining=pipelining)
                        if result["changed"]:
                            raise SystemExit("%s %s run changed %d things" % (name, kind, result["changed"]))
                        data["scenarios"][name][kind][key].append(result)
                        log("%s %s pipelining %s: %.1f s" % (name, kind, key, result["wall_s"]))
    finally:
        subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", os.path.join(REPO, "inventory", "testbed"),
                        "--limit", "workspace_hosts", os.path.join(REPO, "playbooks", "teardown.yml"),
                        "-e", "workspace_name=" + WORKSPACE], cwd=REPO, capture_output=True, check=False,
                       env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg")))
    return data


def median(rows):
    return statistics.median(row["wall_s"] for row in rows)


def report(data, args):
    runs = args.runs
    floor = {key: median(rows) for key, rows in data["floor"].items()}
    lines = [
        "# Warm re-runs against a one-task play (issue #13)",
        "",
        "Machine: %s. Date: %s. Test cluster: one Slurm node (playbooks/testbed.yml)." % (
            machine(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
        "Command: `.venv/bin/python benchmarks/bench_rerun.py --runs %d`. Medians of %d runs, all in one" % (runs, runs),
        "run, alternating; every run below reported changed=0. The floor is `benchmarks/one_task_play.yml`",
        "(one `ansible.builtin.command` on the same inventory): %.2f s without pipelining, %.2f s with." % (
            floor["off"], floor["on"]),
        "",
        "| playbook | run | tasks ok / skipped | pipelining off | ratio | pipelining on | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, kinds in data["scenarios"].items():
        for kind, by_key in kinds.items():
            first = by_key["off"][0]
            lines.append("| `%s` | %s | %d / %d | %.1f s | %.1f x | %.1f s | %.1f x |" % (
                name, "warm" if kind == "warm" else "`--check`", first["ok"], first["skipped"],
                median(by_key["off"]), median(by_key["off"]) / floor["off"],
                median(by_key["on"]), median(by_key["on"]) / floor["on"]))
    lines += ["", "Raw data: `%s`" % json.dumps(data, sort_keys=True), ""]
    return "\n".join(lines)


def main():
    return benchlib.main(__file__, __doc__, "rerun.md", measure, report)


if __name__ == "__main__":
    sys.exit(main())
