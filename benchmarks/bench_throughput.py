# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-task throughput of the workspace against the tutorial done by hand (issue #13).

Run from the repository root, as root (the measurements then run as the unprivileged test
user) or as an ordinary user, on a machine with the test cluster:

    .venv/bin/python benchmarks/bench_throughput.py [--tasks 5000] [--rounds 3] [--parts rounds,settings,curves]

Side by side in one run, on the same Redis binary and the same Celery:

- by hand: what the tutorial has people type. A Redis started with a stock configuration
  (``protected-mode``, ``port``, ``requirepass``), a minimal application written here that
  reads ``celery.ini`` from the working directory and uses the same ``redis://`` URL as broker
  and result backend, and ``celery -A <app> worker -c 2``;
- the workspace: ``playbooks/celery.yml`` with one worker job of 2 cores and Flower off.

Each round runs the tutorial's loop (``add.delay(i, i + 1)`` for --tasks tasks, then ``.get()``
on each) against both, in alternating order, and prints the ratio. Then it measures what each
setting costs (one setting changed at a time, against the defaults in the same run), the
batched API against a by-hand ``chunks()`` call for 10^6 additions, and the throughput
against chunk size and worker cores (plotted to results/throughput.png when matplotlib is
installed: ``make bench`` installs it).
Writes benchmarks/results/throughput.md (machine and date included).
"""
import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import REPO, log, machine, play, run

WORKSPACE = "b-throughput"
TARBALL = os.environ.get("WS_REDIS_TARBALL", "/var/cache/ulhpc-testbed/valkey_8.1.1+dfsg1.orig.tar.xz")
REDIS_VERSION = "8.1.1"
RESULTS = os.path.join(REPO, "benchmarks", "results")
BASE_VARS = {"workspace_name": WORKSPACE, "redis_source_url": "file://" + TARBALL, "redis_version": REDIS_VERSION,
             "celery_workers": 1, "celery_worker_cores": 2, "celery_flower": False}

# The interpreter both venvs are made from (celery_venv_interpreter's default).
BASE_PYTHON = "/usr/bin/python3"
HAND_PACKAGES = ["celery[redis]==5.7.0", "redis==8.1.0"]
# The by-hand application: what a user writes after reading the tutorial.
HAND_APP = {
    "__init__.py": "",
    "celery.py": '''import configparser
from celery import Celery

parser = configparser.ConfigParser()
parser.read("celery.ini")
params = dict(parser["redis"])
url = "redis://:{broker_password}@{broker_hostname}:{broker_port}/0".format(**params)
app = Celery("handcelery", broker=url, backend=url, include=["handcelery.tasks"])
''',
    "tasks.py": '''from .celery import app


@app.task
def add(x, y):
    return x + y
''',
}

# The client: the tutorial's loop, or one batched call; prints one JSON line.
CLIENT = r"""
import importlib, json, sys, time
tasks = importlib.import_module(sys.argv[1] + ".tasks")
mode, n = sys.argv[2], int(sys.argv[3])
if mode == "loop":
    start = time.perf_counter()
    results = [tasks.add.delay(i, i + 1) for i in range(n)]
    submitted = time.perf_counter()
    values = [r.get(timeout=600) for r in results]
    end = time.perf_counter()
    assert values == [2 * i + 1 for i in range(n)]
    print(json.dumps({"n": n, "submit_s": submitted - start, "total_s": end - start, "per_s": n / (end - start)}))
else:
    chunk = int(sys.argv[4])
    pairs = list(zip(range(n), range(1, n + 1)))
    start = time.perf_counter()
    chunks = tasks.add.chunks(pairs, chunk).group().apply_async().get(timeout=900)
    end = time.perf_counter()
    values = [v for c in chunks for v in c]
    assert len(values) == n and sum(values) == n * n
    print(json.dumps({"n": n, "chunk": chunk, "total_s": end - start, "per_s": n / (end - start)}))
"""


class _Skip(Exception):
    """The by-hand side is not part of this run (--parts)."""


class Workspace:
    """The project's side: celery.yml with BASE_VARS plus the variant's settings."""

    def __init__(self):
        self.root = os.path.expanduser("~/.ulhpc/workspaces/" + WORKSPACE)
        self.python = os.path.join(self.root, "venv-celery", "bin", "python")
        self.current = None

    def up(self, **settings):
        extravars = dict(BASE_VARS, **settings)
        if extravars != self.current:
            log("celery.yml %s" % json.dumps(settings, sort_keys=True))
            play(os.path.join(REPO, "playbooks", "celery.yml"), extravars)
            self.current = extravars

    def client(self, *args):
        return run_client(self.python, "ulhpccelery", None, *args)

    def down(self):
        play(os.path.join(REPO, "playbooks", "teardown.yml"), {"workspace_name": WORKSPACE})


class ByHand:
    """The tutorial's side, in a scratch directory: stock Redis conf, minimal app, worker -c 2."""

    def __init__(self, redis_server, concurrency=2):
        self.dir = tempfile.mkdtemp(prefix="bench-by-hand-")
        os.chmod(self.dir, 0o700)
        self.python = os.path.join(self.dir, "venv", "bin", "python")
        self.redis_server = redis_server
        self.concurrency = concurrency
        self.procs = []

    def start(self):
        # The tutorial's venv: `pip install "celery[redis]"` and `pip install redis`, at the
        # versions the workspace pins (and nothing else, such as hiredis).
        subprocess.run([BASE_PYTHON, "-m", "venv", os.path.join(self.dir, "venv")], check=True)
        subprocess.run([self.python, "-m", "pip", "install", "--quiet"] + HAND_PACKAGES, check=True)
        port = free_port()
        password = secrets.token_hex(24)
        app_dir = os.path.join(self.dir, "handcelery")
        os.mkdir(app_dir)
        for name, text in HAND_APP.items():
            with open(os.path.join(app_dir, name), "w") as handle:
                handle.write(text)
        # The tutorial's redis.conf, bound to loopback (tests and benchmarks stay there).
        conf = os.path.join(self.dir, "redis.conf")
        with os.fdopen(os.open(conf, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
            handle.write("protected-mode yes\nport %d\nbind 127.0.0.1\nrequirepass %s\ndir %s\n" % (port, password, self.dir))
        with os.fdopen(os.open(os.path.join(self.dir, "celery.ini"), os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
            handle.write("[redis]\nbroker_password=%s\nbroker_hostname=127.0.0.1\nbroker_port=%d\n" % (password, port))
        out = open(os.path.join(self.dir, "redis.log"), "w")
        self.procs.append(subprocess.Popen([self.redis_server, conf], cwd=self.dir, stdout=out, stderr=subprocess.STDOUT))
        wait_port(port)
        if self.procs[-1].poll() is not None:  # the port was taken in between: never talk to that listener
            raise SystemExit("the by-hand Redis could not listen on %d" % port)
        celery = os.path.join(os.path.dirname(self.python), "celery")
        out = open(os.path.join(self.dir, "worker.log"), "w")
        self.procs.append(subprocess.Popen([celery, "-A", "handcelery", "worker", "-c", str(self.concurrency)],
                                           cwd=self.dir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + 120
        while not self.ping():
            if time.monotonic() > deadline or self.procs[-1].poll() is not None:
                with open(os.path.join(self.dir, "worker.log")) as handle:
                    raise SystemExit("the by-hand worker did not start: " + handle.read()[-2000:])
            time.sleep(1)

    def ping(self):
        code = "from handcelery.celery import app; import sys; sys.exit(0 if app.control.ping(timeout=1) else 1)"
        return subprocess.run([self.python, "-c", code], cwd=self.dir, capture_output=True, check=False).returncode == 0

    def client(self, *args):
        return run_client(self.python, "handcelery", self.dir, *args)

    def stop(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except (PermissionError, ProcessLookupError):
                    proc.terminate()
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("the by-hand Redis did not listen on %d" % port)


def run_client(python, module, cwd, *args):
    env = dict(os.environ)
    if cwd:
        env["PYTHONPATH"] = cwd
    proc = subprocess.run([python, "-c", CLIENT, module] + [str(a) for a in args], cwd=cwd or os.path.expanduser("~"),
                          env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit("client failed: " + proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(args):
    BASE_VARS.update(json.loads(args.set))
    workspace = Workspace()
    data = {"rounds": [], "settings": {}, "batched": {}, "chunks": [], "cores": []}
    workspace.up()
    redis_server = os.path.expanduser("~/.ulhpc/redis/%s/bin/redis-server" % REDIS_VERSION)
    hand = ByHand(redis_server)
    parts = args.parts.split(",")
    try:
        if "rounds" not in parts:
            raise _Skip()
        hand.start()
        # Warm both sides up once (imports, connections, the worker's first fork).
        hand.client("loop", 200)
        workspace.client("loop", 200)
        for number in range(args.rounds):
            sides = [("by_hand", hand), ("workspace", workspace)]
            if number % 2:
                sides.reverse()
            row = {}
            for name, side in sides:
                row[name] = side.client("loop", args.tasks)["per_s"]
            row["ratio"] = row["workspace"] / row["by_hand"]
            log("round %d: %s" % (number + 1, json.dumps(row)))
            data["rounds"].append(row)
        data["batched"]["by_hand"] = hand.client("chunks", args.total, 50000)
        workspace.up()
        data["batched"]["workspace"] = workspace.client("chunks", args.total, 50000)
        log("batched: %s" % json.dumps(data["batched"]))
    except _Skip:
        pass
    finally:
        hand.stop()
    if "settings" in parts:
        for name, settings in SETTINGS:
            rates = []
            for _pair in range(args.repeat):
                workspace.up()
                default = workspace.client("loop", args.tasks)["per_s"]
                workspace.up(**settings)
                rates.append((default, workspace.client("loop", args.tasks)["per_s"]))
            data["settings"][name] = {"settings": settings, "pairs": rates}
            log("setting %s: %s" % (name, rates))
    if "curves" in parts:
        workspace.up()
        for chunk in (100, 1000, 10000, 50000, 200000):
            data["chunks"].append(workspace.client("chunks", args.total, chunk))
            log("chunk %d: %.0f/s" % (chunk, data["chunks"][-1]["per_s"]))
        for workers, cores in ((1, 1), (1, 2), (2, 1), (1, 4)):
            workspace.up(celery_workers=workers, celery_worker_cores=cores)
            rate = statistics.median(workspace.client("loop", args.tasks)["per_s"] for _run in range(args.repeat))
            data["cores"].append({"workers": workers, "cores": cores, "per_s": rate})
            log("workers %d x cores %d: %.0f/s" % (workers, cores, rate))
    workspace.down()
    return data


# One setting changed at a time against the defaults; at-least-once stays on in all but the
# last, which shows what giving it up would buy.
SETTINGS = [
    ("worker log level info (default warning)", {"celery_worker_loglevel": "info"}),
    ("no hiredis (client and worker)", {"celery_packages": ["celery[redis]==5.7.0", "redis==8.1.0", "flower==2.2.0"]}),
    ("prefetch 4 (default 1)", {"celery_prefetch_multiplier": 4}),
    ("no TLS (default on)", {"workspace_tls": False}),
    ("acks early: at-most-once (default acks late)", {"celery_acks_late": False}),
]


def plot(data, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot([r["chunk"] for r in data["chunks"]], [r["per_s"] for r in data["chunks"]], marker="o")
    left.set_xscale("log")
    left.set_xlabel("chunk size (additions per task)")
    left.set_ylabel("additions/s")
    left.set_title("10^6 additions, batched API")
    labels = ["%dx%d" % (r["workers"], r["cores"]) for r in data["cores"]]
    right.bar(labels, [r["per_s"] for r in data["cores"]])
    right.set_xlabel("worker jobs x cores each")
    right.set_ylabel("tasks/s (per-task loop)")
    right.set_title("per-task .delay()/.get()")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return True


def report(data, args):
    png = bool(data["chunks"]) and plot(data, os.path.join(os.path.dirname(args.out), "throughput.png"))
    rounds = data["rounds"]
    ratios = [r["ratio"] for r in rounds]
    lines = [
        "# Per-task throughput against the tutorial done by hand (issue #13)",
        "",
        "Machine: %s. Date: %s. Test cluster: one Slurm node (playbooks/testbed.yml)." % (
            machine(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
        "Command: `.venv/bin/python benchmarks/bench_throughput.py --tasks %d --rounds %d`." % (args.tasks, args.rounds),
        "",
        "By hand: a Redis with the tutorial's stock configuration (`requirepass`, no TLS, no AOF), a",
        "minimal app reading `celery.ini` from its directory with broker = backend = the same",
        "`redis://` URL, `celery -A handcelery worker -c 2` (Celery's defaults: acks early, prefetch 4).",
        "Workspace: `playbooks/celery.yml`, one worker job of 2 cores, Flower off, every default",
        "(TLS, AOF, acks late + reject on worker lost, per-worker unacked keys). Same Redis",
        "binary (%s), same Celery, same client loop (`add.delay(i, i + 1)` x %d, then `.get()`)." % (
            REDIS_VERSION, args.tasks),
        "",
    ]
    if rounds:
        lines += ["| round | by hand (tasks/s) | workspace (tasks/s) | ratio |", "|---|---|---|---|"]
        for number, row in enumerate(rounds, 1):
            lines.append("| %d | %.0f | %.0f | %.2f |" % (number, row["by_hand"], row["workspace"], row["ratio"]))
        lines += ["", "Median ratio %.2f (min %.2f, max %.2f)." % (statistics.median(ratios), min(ratios), max(ratios)), ""]
    batched = data["batched"]
    lines += [] if not batched else [
        "## 10^6 additions in chunks of 50000",
        "",
        "| | seconds | additions/s |",
        "|---|---|---|",
        "| by hand, `add.chunks(pairs, 50000).group().apply_async().get()` | %.1f | %.0f |" % (
            batched["by_hand"]["total_s"], batched["by_hand"]["per_s"]),
        "| workspace, the same call | %.1f | %.0f |" % (batched["workspace"]["total_s"], batched["workspace"]["per_s"]),
        "",
        "Ratio %.2f." % (batched["workspace"]["per_s"] / batched["by_hand"]["per_s"]),
        "",
    ]
    if data["settings"]:
        lines += ["## What each setting costs", "",
                  "Each line: the defaults, then the one setting changed, measured back to back (%d pairs)." % args.repeat,
                  "", "| setting | defaults (tasks/s) | changed (tasks/s) | median ratio |", "|---|---|---|---|"]
        for name, entry in data["settings"].items():
            pairs = entry["pairs"]
            lines.append("| %s | %s | %s | %.2f |" % (
                name, ", ".join("%.0f" % p[0] for p in pairs), ", ".join("%.0f" % p[1] for p in pairs),
                statistics.median(p[1] / p[0] for p in pairs)))
        lines.append("")
    if data["chunks"]:
        lines += ["## Throughput against chunk size and worker cores", ""]
        if png:
            lines += ["![throughput](throughput.png)", ""]
        lines += ["| chunk size | seconds for 10^6 | additions/s |", "|---|---|---|"]
        lines += ["| %d | %.1f | %.0f |" % (r["chunk"], r["total_s"], r["per_s"]) for r in data["chunks"]]
        lines += ["", "| worker jobs x cores | tasks/s (median of %d) |" % args.repeat, "|---|---|"]
        lines += ["| %d x %d | %.0f |" % (r["workers"], r["cores"], r["per_s"]) for r in data["cores"]]
        lines.append("")
    lines += ["Raw data: `%s`" % json.dumps(data, sort_keys=True), ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="pairs per setting, runs per core count")
    parser.add_argument("--total", type=int, default=10 ** 6)
    parser.add_argument("--parts", default="rounds,settings,curves",
                        help="comma-separated: rounds (by hand against the workspace, and batched), settings, curves")
    parser.add_argument("--set", default="{}", help="JSON of extra variables for the workspace side (e.g. '{\"workspace_tls\": false}')")
    parser.add_argument("--out", default=os.path.join(RESULTS, "throughput.md"))
    parser.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return run(__file__, args, measure, report)


if __name__ == "__main__":
    sys.exit(main())
