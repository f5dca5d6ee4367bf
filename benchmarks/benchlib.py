# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the newer benchmarks share: the machine line, timestamps on stderr, timed playbook runs,
and running the measurement as the unprivileged test user when started as root."""
import json
import os
import platform
import pwd
import re
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.environ.get("WS_BENCH_VENV_BIN", os.path.join(REPO, ".venv", "bin"))
TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
# The tasks of a cold celery.yml that the tutorial done by hand waits for too: the Redis build
# (download, unpack, make, install) and the pip installs (the venv's packages, ulhpccelery).
BUILD_TASKS = ("Download the Redis source tarball and verify its checksum", "Unpack the verified tarball",
               "Build Redis with make (1-3 min on 2 cores)", "Install the build into a staging directory",
               "Move the staged install into place")
PIP_TASKS = ("Create or update the virtualenv (pip, minutes on a first install)", "Install the local packages into the venv")


def log(message):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), message))
    sys.stderr.flush()


def machine():
    with open("/proc/meminfo") as handle:
        mem_kb = int(handle.readline().split()[1])
    return "%s, %d CPUs, %.0f GiB, Python %s" % (platform.platform(), os.cpu_count(), mem_kb / 2 ** 20,
                                                 platform.python_version())


def play(path, extravars, check=False, pipelining=None):
    """One ansible-playbook run on the test inventory: {wall_s, changed, ok, skipped}. Fails loudly."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    if pipelining is not None:
        env["ANSIBLE_PIPELINING"] = "True" if pipelining else "False"
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", os.path.join(REPO, "inventory", "testbed"),
            "--limit", "workspace_hosts", path, "-e", json.dumps(extravars)] + (["--check"] if check else [])
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-6000:] + proc.stderr[-2000:])
        raise SystemExit("%s failed" % path)

    def total(key):
        return sum(int(n) for n in re.findall(r"\b%s=(\d+)" % key, proc.stdout))
    return {"wall_s": wall, "changed": total("changed"), "ok": total("ok"), "skipped": total("skipped")}


def run(script, args, measure, report):
    """As root: run `script --json-only <argv>` as the test user and report its data; otherwise
    measure here (print the JSON with --json-only). The report is written to args.out."""
    if os.geteuid() == 0:
        home = pwd.getpwnam(TEST_USER).pw_dir
        argv = ["runuser", "-u", TEST_USER, "--", "env", "-i", "HOME=" + home, "USER=" + TEST_USER,
                "LANG=C.UTF-8", "PATH=%s:/usr/local/bin:/usr/bin:/bin" % VENV_BIN, "WS_BENCH_VENV_BIN=" + VENV_BIN,
                os.path.join(VENV_BIN, "python"), os.path.abspath(script), "--json-only"] + sys.argv[1:]
        proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, cwd=REPO, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-2000:])
            return 1
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    else:
        data = measure(args)
        if args.json_only:
            print(json.dumps(data))
            return 0
    text = report(data, args)
    with open(args.out, "w") as handle:
        handle.write(text)
    print(text)
    return 0


def main(script, doc, default_out, measure, report, runs=3):
    """The command line of a benchmark with only --runs: measure, then write the report to
    --out (default benchmarks/results/<default_out>)."""
    import argparse
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results", default_out))
    parser.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    return run(script, parser.parse_args(), measure, report)
