# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the ipyparallel scenario (issue #5).

Run from the repository root, as root (the runs are then made as the unprivileged test user,
like the integration tests) or as an ordinary user, on a machine with the test cluster:

    .venv/bin/python benchmarks/bench_ipcluster.py [--runs 2] [--points 4000000] [--repeat 3] [--out FILE]

(a) For each engine launcher (local, mpi, slurm), 2 engines, the cluster stopped and the venv
    present: wall time of `ansible-playbook playbooks/ipyparallel.yml` (it returns once the
    login side sees the 2 engines answer), the time inside the controller's job from the
    script's start to the engines registered (connection file `started` -> its write), and
    the warm re-run (changed=0). The cluster is stopped between runs (time reported too).
(b) Monte-Carlo pi (pure Python, --points points) on the local launcher's 2 engines: on one
    engine, then split over both; median of --repeat runs; speedup = t(1) / t(2).
Workspace b-ipcluster, venv ~/.cache/ulhpc-test/venv-jupyter (shared with the tests).
Writes benchmarks/results/ipcluster.md (machine and date included).
"""
import argparse
import datetime
import json
import os
import platform
import pwd
import re
import statistics
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
WORKSPACE = "b-ipcluster"
ENGINES = 2

PI_SCRIPT = r"""
import json, statistics, sys, time
import ipyparallel as ipp
profile, cluster_id, points, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rc = ipp.Client(profile=profile, cluster_id=cluster_id, timeout=30)
rc.wait_for_engines(2, timeout=60)

def count_hits(n, seed):
    import random
    rng = random.Random(seed)
    hits = 0
    for _ in range(n):
        x, y = rng.random(), rng.random()
        if x * x + y * y <= 1.0:
            hits += 1
    return hits

def run(view, chunks):
    share = points // chunks
    start = time.perf_counter()
    hits = view.map_sync(count_hits, [share] * chunks, range(1, chunks + 1))
    elapsed = time.perf_counter() - start
    return elapsed, 4.0 * sum(hits) / (share * chunks)

out = {}
for label, view, chunks in (("1", rc[[rc.ids[0]]], 1),
                            ("2", rc[:], 2)):
    runs = [run(view, chunks) for _ in range(repeat)]
    out[label] = {"times": [t for t, _ in runs], "pi": runs[-1][1]}
print(json.dumps(out))
rc.close()
"""


def home():
    return pwd.getpwnam(TEST_USER).pw_dir


def as_user(argv):
    env = ["env", "-i", "HOME=" + home(), "USER=" + TEST_USER, "LOGNAME=" + TEST_USER, "LANG=C.UTF-8",
           "PATH=%s:/usr/local/bin:/usr/bin:/bin" % VENV_BIN,
           "ANSIBLE_LOCAL_TEMP=" + os.path.join(home(), ".ansible", "tmp"),
           "ANSIBLE_CONFIG=" + os.path.join(REPO, "ansible.cfg")]
    if os.geteuid() == 0:
        return ["runuser", "-u", TEST_USER, "--"] + env + argv
    return env + argv


def venv_python():
    return os.path.join(home(), ".cache", "ulhpc-test", "venv-jupyter", "bin", "python")


def extravars(launcher, **more):
    values = {"workspace_name": WORKSPACE, "ipcluster_profile": WORKSPACE,
              "ipcluster_engine_launcher": launcher, "ipcluster_engines": ENGINES,
              "python_venv_path": os.path.join(home(), ".cache", "ulhpc-test", "venv-jupyter")}
    if launcher == "mpi":
        values["ipcluster_mpi_modules"] = ["mpi/OpenMPI"]
    values.update(more)
    return values


def playbook(launcher, **more):
    argv = as_user([os.path.join(VENV_BIN, "ansible-playbook"), "-i", "inventory/testbed", "-l", "workspace_hosts",
                    "playbooks/ipyparallel.yml", "-e", json.dumps(extravars(launcher, **more))])
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit("playbook failed (%s):\n%s\n%s" % (launcher, proc.stdout[-4000:], proc.stderr[-2000:]))
    changed = sum(int(m) for m in re.findall(r"changed=(\d+)", proc.stdout.split("PLAY RECAP")[-1]))
    return elapsed, changed


def in_job_seconds():
    """Seconds from the service script's start to the connection file's write."""
    path = os.path.join(home(), ".ulhpc", "workspaces", WORKSPACE, "run", "ipcluster.json")
    with open(path) as handle:
        conn = json.load(handle)
    started = datetime.datetime.fromisoformat(conn["started"]).timestamp()
    return os.stat(path).st_mtime - started


def fmt(values):
    if len(values) == 1:
        return "%.1f" % values[0]
    return "%.1f (min %.1f, max %.1f)" % (statistics.median(values), min(values), max(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=2, help="cold starts per launcher")
    parser.add_argument("--points", type=int, default=4000000, help="Monte-Carlo points")
    parser.add_argument("--repeat", type=int, default=3, help="pi runs per engine count")
    parser.add_argument("--launchers", default="local,mpi,slurm")
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results", "ipcluster.md"))
    args = parser.parse_args()

    rows = []
    pi = None
    for launcher in args.launchers.split(","):
        playbook(launcher, ipcluster_state="stopped")
        starts, in_job, warm, stops = [], [], [], []
        for dummy in range(args.runs):
            elapsed, changed = playbook(launcher)
            starts.append(elapsed)
            in_job.append(in_job_seconds())
            elapsed, changed = playbook(launcher)
            if changed:
                raise SystemExit("warm re-run of %s changed %d tasks" % (launcher, changed))
            warm.append(elapsed)
            if launcher == "local" and pi is None:
                proc = subprocess.run(as_user([venv_python(), "-c", PI_SCRIPT, WORKSPACE, "ws-" + WORKSPACE,
                                               str(args.points), str(args.repeat)]),
                                      capture_output=True, text=True, timeout=900, check=False)
                if proc.returncode != 0:
                    raise SystemExit("pi run failed:\n" + proc.stderr[-3000:])
                pi = json.loads(proc.stdout.strip().splitlines()[-1])
            elapsed, changed = playbook(launcher, ipcluster_state="stopped")
            stops.append(elapsed)
        rows.append((launcher, starts, in_job, warm, stops))
        print(launcher, "start", fmt(starts), "in job", fmt(in_job), "warm", fmt(warm), "stop", fmt(stops))

    load = os.getloadavg()
    lines = [
        "# ipyparallel scenario: start to N engines ready, and Monte-Carlo pi speedup",
        "",
        "Machine: %s, %d CPUs, Python %s, %s; Slurm test cluster (one node). Date: %s UTC."
        % (platform.node(), os.cpu_count(), platform.python_version(), platform.platform(),
           datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")),
        "Load average at the end: %.2f %.2f %.2f (the machine is shared: other jobs may run)." % load,
        "Command: `.venv/bin/python benchmarks/bench_ipcluster.py --runs %d --points %d --repeat %d`"
        % (args.runs, args.points, args.repeat),
        "",
        "## Start to %d engines ready (seconds, median of %d)" % (ENGINES, args.runs),
        "",
        "Cluster stopped, venv present. *playbook* = wall time of `ansible-playbook playbooks/ipyparallel.yml`",
        "(returns once the login side sees the engines answer); *in job* = controller's script start to",
        "the engines registered (connection file written); *warm re-run* = the same playbook with",
        "the cluster up (changed=0); *stop* = `ipcluster_state=stopped` until no job and no process is left.",
        "",
        "| engine launcher | playbook (cold) | in job | warm re-run | stop |",
        "|---|---|---|---|---|",
    ]
    for launcher, starts, in_job, warm, stops in rows:
        lines.append("| %s | %s | %s | %s | %s |" % (launcher, fmt(starts), fmt(in_job), fmt(warm), fmt(stops)))
    if pi:
        t1, t2 = statistics.median(pi["1"]["times"]), statistics.median(pi["2"]["times"])
        lines += [
            "",
            "## Monte-Carlo pi, %d points, local engines (seconds, median of %d)" % (args.points, args.repeat),
            "",
            "| engines | time | pi estimate | speedup |",
            "|---|---|---|---|",
            "| 1 | %.2f | %.5f | 1.00 |" % (t1, pi["1"]["pi"]),
            "| 2 | %.2f | %.5f | %.2f |" % (t2, pi["2"]["pi"], t1 / t2),
            "",
            "The machine has 2 cores shared with the controller and with other users' jobs, so the",
            "ideal speedup is 2 and anything else running on it lowers what is measured.",
        ]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
