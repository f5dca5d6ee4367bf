# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A cold celery.yml against the sum of its irreducible steps (issue #13, goal 3).

Run from the repository root, as root (the measurements then run as the unprivileged test
user) or as an ordinary user, on a machine with the test cluster:

    .venv/bin/python benchmarks/bench_cold.py [--runs 3]

Each run starts from nothing of its own: no workspace, no Redis prefix, no venv (pip's wheel
cache stays, as it would for a user who installed anything before). The per-task times come
from Ansible's junit callback in the same run. The irreducible steps are what a user doing the
tutorial by hand waits for as well: the Redis build (download, unpack, make, install), the pip
installs (the venv's packages and ulhpccelery), and the service jobs' start (submission to the
ready file, for Redis, the worker and Flower). Everything else is what the playbook adds:
checks, configuration, secrets, Ansible's own work. Prints medians and the ratio.
Writes benchmarks/results/cold.md (machine and date included).
"""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from xml.etree import ElementTree

import benchlib
from benchlib import BUILD_TASKS, PIP_TASKS, REPO, VENV_BIN, log, machine

WORKSPACE = "b-cold"
TARBALL = os.environ.get("WS_REDIS_TARBALL", "/var/cache/ulhpc-testbed/valkey_8.1.1+dfsg1.orig.tar.xz")
STEPS = {
    "build": BUILD_TASKS,
    "pip": PIP_TASKS,
    "jobs": ("Submit the services' Slurm jobs, or find them again, and wait up to 30 s for them",),
}


def cold_play(extravars):
    """One celery.yml run, timed per task by Ansible's junit callback (its XML goes to a private
    temporary directory, removed after): {wall_s, changed, steps: {name: s}, tasks: n}."""
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as junit_dir:
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
                   ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.junit", JUNIT_OUTPUT_DIR=junit_dir,
                   JUNIT_HIDE_TASK_ARGUMENTS="true")
        argv = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", os.path.join(REPO, "inventory", "testbed"),
                "--limit", "workspace_hosts", os.path.join(REPO, "playbooks", "celery.yml"), "-e", json.dumps(extravars)]
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-6000:] + proc.stderr[-2000:])
            raise SystemExit("celery.yml failed")
        cases = [case for name in os.listdir(junit_dir)
                 for case in ElementTree.parse(os.path.join(junit_dir, name)).iter("testcase")]
    steps = dict((name, 0.0) for name in STEPS)
    for case in cases:
        for name, titles in STEPS.items():
            if any(case.get("name", "").endswith(" " + title) for title in titles):
                steps[name] += float(case.get("time", "0"))
    changed = sum(int(n) for n in re.findall(r"\bchanged=(\d+)", proc.stdout))
    return {"wall_s": wall, "changed": changed, "steps": steps, "tasks": len(cases)}


def measure(args):
    home = os.path.expanduser("~")
    prefix = os.path.join(home, ".cache", "ulhpc-bench", "redis-cold")
    root = os.path.join(home, ".ulhpc", "workspaces", WORKSPACE)
    extravars = {"workspace_name": WORKSPACE, "redis_source_url": "file://" + TARBALL, "redis_version": "8.1.1",
                 "redis_prefix": prefix, "celery_workers": 1}
    teardown = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", os.path.join(REPO, "inventory", "testbed"),
                "--limit", "workspace_hosts", os.path.join(REPO, "playbooks", "teardown.yml"),
                "-e", "workspace_name=" + WORKSPACE]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    rows = []
    try:
        for number in range(args.runs):
            subprocess.run(teardown, cwd=REPO, env=env, capture_output=True, check=False)
            shutil.rmtree(prefix, ignore_errors=True)
            shutil.rmtree(root, ignore_errors=True)
            row = cold_play(extravars)
            rows.append(row)
            log("cold run %d: %.1f s, steps %s" % (number + 1, row["wall_s"],
                                                   dict((k, round(v, 1)) for k, v in row["steps"].items())))
    finally:
        subprocess.run(teardown, cwd=REPO, env=env, capture_output=True, check=False)
        shutil.rmtree(prefix, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
    return {"runs": rows}


def report(data, args):
    rows = data["runs"]

    def med(values):
        return statistics.median(values)
    irreducible = [sum(r["steps"].values()) for r in rows]
    ratios = [r["wall_s"] / i for r, i in zip(rows, irreducible)]
    lines = [
        "# A cold `celery.yml` against its irreducible steps (issue #13)",
        "",
        "Machine: %s. Date: %s. Test cluster: one Slurm node (playbooks/testbed.yml)." % (
            machine(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
        "Command: `.venv/bin/python benchmarks/bench_cold.py --runs %d`. Each run starts without workspace," % args.runs,
        "Redis prefix or venv (pip's wheel cache stays); one Celery worker, Flower on, Redis 8.1.1 built",
        "from the local tarball. Step times are the tasks' own, from the same run's junit callback.",
        "",
        "| run | wall | Redis build | pip installs | service jobs start | irreducible sum | rest | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for number, (row, total, ratio) in enumerate(zip(rows, irreducible, ratios), 1):
        lines.append("| %d | %.1f s | %.1f s | %.1f s | %.1f s | %.1f s | %.1f s | %.2f |" % (
            number, row["wall_s"], row["steps"]["build"], row["steps"]["pip"], row["steps"]["jobs"], total,
            row["wall_s"] - total, ratio))
    lines += [
        "",
        "Median: %.1f s against %.1f s of irreducible steps, ratio %.2f (goal: at most 1.3)." % (
            med([r["wall_s"] for r in rows]), med(irreducible), med(ratios)),
        "",
        "Raw data: `%s`" % json.dumps(data, sort_keys=True),
        "",
    ]
    return "\n".join(lines)


def main():
    return benchlib.main(__file__, __doc__, "cold.md", measure, report)


if __name__ == "__main__":
    sys.exit(main())
