# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmarks of the Celery scenario (issue #6).

Run from the repository root, as root (the measurements then run as the unprivileged test
user, like the integration tests) or as an ordinary user, on a machine with the test cluster:

    .venv/bin/python benchmarks/bench_celery.py [--sample 10000] [--total 1000000] [--out FILE]

(a) playbooks/celery.yml cold (fresh workspace, fresh Redis prefix, fresh venv) and warm
    (everything up: changed=0) wall time; in the cold run the Redis build (download, unpack,
    make, install) and the pip installs (venv + ulhpccelery) are timed from the task events.
(b) the tutorial's workload of `add` tasks, on one worker job of 2 cores: per-task
    `.delay()` then `.get()` throughput on a sample (--sample), with our configuration
    (acks late, prefetch 1) and with Celery's defaults (acks early, prefetch 4) on the same
    broker; and all --total additions through the batched API (ulhpccelery.batch.add_many).
Flower is off during (b): its events would slow the workers down.
Writes benchmarks/results/celery.md (machine and date included).
"""
import argparse
import json
import os
import platform
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import BUILD_TASKS, PIP_TASKS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
WORKSPACE = "b-celery"
TARBALL = os.environ.get("WS_REDIS_TARBALL", "/var/cache/ulhpc-testbed/valkey_8.1.1+dfsg1.orig.tar.xz")

WORKLOAD = r"""
import json, sys, time
from ulhpccelery import tasks
from ulhpccelery.batch import add_many
mode, n = sys.argv[1], int(sys.argv[2])
out = {}
if mode == "sample":
    start = time.perf_counter()
    results = [tasks.add.delay(i, i + 1) for i in range(n)]
    submitted = time.perf_counter()
    values = [r.get(timeout=600) for r in results]
    end = time.perf_counter()
    assert values == [2 * i + 1 for i in range(n)]
    out = {"n": n, "submit_s": submitted - start, "total_s": end - start, "tasks_per_s": n / (end - start)}
else:
    chunk = int(sys.argv[3])
    start = time.perf_counter()
    values = add_many(zip(range(n), range(1, n + 1)), chunk_size=chunk, timeout=600)
    end = time.perf_counter()
    assert len(values) == n and values[-1] == 2 * n - 1 and sum(values) == n * n
    out = {"n": n, "chunk_size": chunk, "total_s": end - start, "adds_per_s": n / (end - start)}
print(json.dumps(out))
"""


def run_playbook(extravars):
    """Run playbooks/celery.yml with ansible-runner; (wall seconds, rc, changed, {task: seconds})."""
    import ansible_runner
    os.environ["ANSIBLE_CONFIG"] = os.path.join(REPO, "ansible.cfg")
    with tempfile.TemporaryDirectory(prefix="bench-celery-") as pdd:
        start = time.perf_counter()
        run = ansible_runner.run(private_data_dir=pdd, project_dir=REPO,
                                 playbook=os.path.join(REPO, "playbooks", "celery.yml"),
                                 inventory=os.path.join(REPO, "inventory", "testbed"), limit="workspace_hosts",
                                 extravars=extravars, quiet=True)
        wall = time.perf_counter() - start
        durations = {}
        for event in run.events:
            data = event.get("event_data", {})
            if event.get("event") in ("runner_on_ok", "runner_on_failed") and "duration" in data:
                task = data.get("task", "")
                durations[task] = durations.get(task, 0.0) + float(data["duration"])
        stats = run.stats or {}
        if run.rc != 0:
            sys.stderr.write(run.stdout.read()[-4000:])
            raise SystemExit("celery.yml failed")
        return wall, run.rc, sum(stats.get("changed", {}).values()), durations


def workload(*args):
    venv_python = os.path.expanduser("~/.ulhpc/workspaces/%s/venv-celery/bin/python" % WORKSPACE)
    proc = subprocess.run([venv_python, "-c", WORKLOAD] + [str(a) for a in args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit("workload failed: " + proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(sample, total):
    home = os.path.expanduser("~")
    prefix = os.path.join(home, ".cache", "ulhpc-bench", "redis")
    root = os.path.join(home, ".ulhpc", "workspaces", WORKSPACE)
    base = {"workspace_name": WORKSPACE, "redis_source_url": TARBALL, "redis_version": "8.1.1", "redis_prefix": prefix,
            "celery_workers": 1, "celery_worker_cores": 2, "celery_flower": False}
    ours = dict(base)
    defaults = dict(base, celery_acks_late=False, celery_prefetch_multiplier=4)
    shutil.rmtree(prefix, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    out = {}
    try:
        wall, _rc, changed, durations = run_playbook(ours)
        out["cold"] = {"wall_s": wall, "changed": changed,
                       "redis_build_s": sum(durations.get(t, 0.0) for t in BUILD_TASKS),
                       "pip_s": sum(durations.get(t, 0.0) for t in PIP_TASKS)}
        wall, _rc, changed, _durations = run_playbook(ours)
        out["warm"] = {"wall_s": wall, "changed": changed}
        out["ours_sample"] = workload("sample", sample)
        out["ours_batched"] = [workload("batched", total, chunk) for chunk in (10000, 50000)]
        run_playbook(defaults)
        out["defaults_sample"] = workload("sample", sample)
    finally:
        subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", os.path.join(REPO, "inventory", "testbed"),
                        "--limit", "workspace_hosts", os.path.join(REPO, "playbooks", "teardown.yml"),
                        "-e", "workspace_name=" + WORKSPACE], cwd=REPO, capture_output=True, check=False)
        shutil.rmtree(prefix, ignore_errors=True)
    return out


def machine():
    cpus = os.cpu_count()
    with open("/proc/meminfo") as handle:
        mem_kb = int(handle.readline().split()[1])
    return "%s, %d CPUs, %.0f GiB, Python %s" % (platform.platform(), cpus, mem_kb / 2 ** 20, platform.python_version())


def report(data, sample, total):
    cold, warm = data["cold"], data["warm"]
    best = min(data["ours_batched"], key=lambda r: r["total_s"])
    lines = [
        "# Celery scenario benchmarks (issue #6)",
        "",
        "Machine: %s. Date: %s. Test cluster: one Slurm node (playbooks/testbed.yml), shared with" % (
            machine(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
        "whatever else ran at the time. Command: `.venv/bin/python benchmarks/bench_celery.py`.",
        "",
        "## (a) `playbooks/celery.yml` provisioning",
        "",
        "| run | wall time | changed | of which: Redis build | pip installs |",
        "|---|---|---|---|---|",
        "| cold (fresh workspace, prefix, venv) | %.1f s | %d | %.1f s | %.1f s |" % (
            cold["wall_s"], cold["changed"], cold["redis_build_s"], cold["pip_s"]),
        "| warm (all up) | %.1f s | %d | - | - |" % (warm["wall_s"], warm["changed"]),
        "",
        "The Redis build is `make -j$(nproc)` of 7.0.15; pip installs come from the machine's",
        "package index configuration (wheels cached by pip after the first run).",
        "",
        "## (b) the tutorial's workload: `add` tasks, one worker job of 2 cores (concurrency 2)",
        "",
        "| what | tasks | submit | total | rate |",
        "|---|---|---|---|---|",
    ]
    for label, key in (("per task `.delay()`/`.get()`, our configuration (acks late, prefetch 1)", "ours_sample"),
                       ("per task `.delay()`/`.get()`, Celery defaults (acks early, prefetch 4)", "defaults_sample")):
        row = data[key]
        lines.append("| %s | %d | %.1f s | %.1f s | %.0f tasks/s |" % (
            label, row["n"], row["submit_s"], row["total_s"], row["tasks_per_s"]))
    for row in data["ours_batched"]:
        lines.append("| batched `add_many`, chunk_size %d | %d | - | %.1f s | %.0f additions/s |" % (
            row["chunk_size"], row["n"], row["total_s"], row["adds_per_s"]))
    per_task = data["ours_sample"]["tasks_per_s"]
    lines += [
        "",
        "All %d additions through the batched API took %.1f s (best chunk size %d; aim: under 15 s)." % (
            total, best["total_s"], best["chunk_size"]),
        "At the per-task rate above, the tutorial's loop of %d `.delay()` + `.get()` would take about"
        " %.0f min." % (total, total / per_task / 60),
        "",
        "Raw data: `%s`" % json.dumps(data, sort_keys=True),
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=10000)
    parser.add_argument("--total", type=int, default=10 ** 6)
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results", "celery.md"))
    parser.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if os.geteuid() == 0:
        home = pwd.getpwnam(TEST_USER).pw_dir
        argv = ["runuser", "-u", TEST_USER, "--", "env", "-i", "HOME=" + home, "USER=" + TEST_USER,
                "LANG=C.UTF-8", "PATH=%s:/usr/local/bin:/usr/bin:/bin" % VENV_BIN,
                os.path.join(VENV_BIN, "python"), os.path.abspath(__file__), "--json-only",
                "--sample", str(args.sample), "--total", str(args.total)]
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-4000:])
            return 1
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    else:
        data = measure(args.sample, args.total)
        if args.json_only:
            print(json.dumps(data))
            return 0
    text = report(data, args.sample, args.total)
    with open(args.out, "w") as handle:
        handle.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
