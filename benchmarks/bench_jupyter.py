# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the Jupyter scenario (issue #4): time from `ansible-playbook playbooks/jupyter.yml`
to the server accepting the password.

Run from the repository root, as root (the runs are then made as the unprivileged test user,
like the integration tests) or as an ordinary user, on a machine with the test cluster:

    .venv/bin/python benchmarks/bench_jupyter.py [--warm 3] [--cold-server 2] [--cold 1] [--out FILE]

Three situations, each timed from the start of ansible-playbook until a login with the
password works over HTTP (POST /login with _xsrf, then GET /api/status with the cookie):
  cold         nothing there: no venv (pip installs the tutorial's list from the index),
               no kernelspec, no workspace, no job;
  cold server  the venv and kernel exist, no job (e.g. after the walltime ended);
  warm         everything up: the re-run must report changed=0 and keep the same job.
Workspace b-jupyter, venv ~/.cache/ulhpc-test/venv-bench-jupyter. Writes
benchmarks/results/jupyter.md (machine and date included).
"""
import argparse
import http.cookiejar
import json
import os
import platform
import pwd
import re
import ssl
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
WORKSPACE = "b-jupyter"


def user():
    return TEST_USER if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name


def home():
    return pwd.getpwnam(user()).pw_dir


def as_user(argv):
    env = ["env", "-i", "HOME=" + home(), "USER=" + user(), "LOGNAME=" + user(), "LANG=C.UTF-8",
           "PATH=%s:/usr/local/bin:/usr/bin:/bin" % VENV_BIN]
    if os.geteuid() == 0:
        return ["runuser", "-u", user(), "--"] + env + argv
    return env + argv


def venv():
    return os.path.join(home(), ".cache", "ulhpc-test", "venv-bench-jupyter")


def root():
    return os.path.join(home(), ".ulhpc", "workspaces", WORKSPACE)


def playbook(**extra):
    extravars = dict({"workspace_name": WORKSPACE, "python_venv_path": venv()}, **extra)
    argv = as_user([os.path.join(VENV_BIN, "ansible-playbook"), "-i", "inventory/testbed", "-l", "workspace_hosts",
                    "playbooks/jupyter.yml", "-e", json.dumps(extravars)])
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg")))
    if proc.returncode != 0:
        sys.exit("playbook failed:\n" + proc.stdout[-5000:] + proc.stderr[-2000:])
    recap = re.search(r"changed=(\d+)", proc.stdout.rsplit("PLAY RECAP", 1)[-1])
    return int(recap.group(1)) if recap else -1


def login_ok(conn, password):
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    jar = http.cookiejar.CookieJar()
    handlers = [urllib.request.HTTPCookieProcessor(jar), NoRedirect]
    scheme = "https" if conn.get("tls") == 1 else "http"
    if scheme == "https":  # verify the server against the user's CA, as the role does
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=conn["ca_cert"])))
    opener = urllib.request.build_opener(*handlers)
    base = "%s://%s:%s/" % (scheme, conn["address"], conn["port"])
    try:
        opener.open(base + "login", timeout=5).read()
        xsrf = [c.value for c in jar if c.name == "_xsrf"][0]
        form = urllib.parse.urlencode({"password": password, "_xsrf": xsrf}).encode()
        try:
            opener.open(base + "login", data=form, timeout=5).read()
        except urllib.error.HTTPError as exc:
            if exc.code != 302:
                return False
        return opener.open(base + "api/status", timeout=5).status == 200
    except (OSError, IndexError, urllib.error.URLError):
        return False


def read_user_file(path):
    proc = subprocess.run(as_user(["cat", path]), capture_output=True, text=True, check=True)
    return proc.stdout


def timed_start(**extra):
    """(seconds until the password is accepted, playbook seconds, changed, job id)."""
    start = time.monotonic()
    changed = playbook(**extra)
    ran = time.monotonic() - start
    conn = json.loads(read_user_file(os.path.join(root(), "run", "jupyter.json")))
    password = read_user_file(os.path.join(root(), "secrets", "jupyter.password"))
    deadline = time.monotonic() + 120
    while not login_ok(conn, password):
        if time.monotonic() > deadline:
            sys.exit("the server never accepted the password")
        time.sleep(0.2)
    return time.monotonic() - start, ran, changed, conn["job_id"]


def stop():
    playbook(jupyter_state="stopped")


def wipe():
    stop()
    kernels = os.path.join(home(), ".local", "share", "jupyter", "kernels", "ulhpc-" + WORKSPACE)
    subprocess.run(as_user(["rm", "-rf", venv(), root(), kernels]), check=True)


def loadavg():
    with open("/proc/loadavg") as handle:
        return "/".join(handle.read().split()[:3])


def fmt(values):
    if not values:
        return "-"
    if len(values) == 1:
        return "%.1f s" % values[0]
    return "%.1f s (median of %d; min %.1f, max %.1f)" % (
        statistics.median(values), len(values), min(values), max(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warm", type=int, default=3)
    parser.add_argument("--cold-server", type=int, default=2)
    parser.add_argument("--cold", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results", "jupyter.md"))
    args = parser.parse_args()

    load_start = loadavg()
    rows = {"cold": [], "cold server": [], "warm": []}
    notes = []
    for dummy in range(args.cold):
        wipe()
        rows["cold"].append(timed_start())
    for dummy in range(args.cold_server):
        stop()
        rows["cold server"].append(timed_start())
    if not rows["cold"] and not rows["cold server"]:
        timed_start()
    job = json.loads(read_user_file(os.path.join(root(), "run", "jupyter.json")))["job_id"]
    for dummy in range(args.warm):
        result = timed_start()
        rows["warm"].append(result)
        if result[2] != 0 or result[3] != job:
            notes.append("warm run reported changed=%s, job %s (expected 0, %s)" % (result[2], result[3], job))
    stop()

    cpu = "?"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    lines = [
        "# Jupyter scenario: ansible-playbook to a working password login",
        "",
        "Produced by `benchmarks/bench_jupyter.py` on %s UTC." % time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "Machine: %s, %d cores (shared), %s, Python %s, one-node Slurm test cluster; runs as `%s`."
        % (cpu, os.cpu_count(), platform.platform(), platform.python_version(), user()),
        "",
        "Load average (1/5/15 min) at start %s, at end %s: the 2 cores are shared with other test suites,"
        % (load_start, loadavg()),
        "so the numbers vary from run to run.",
        "",
        "Time from the start of `ansible-playbook playbooks/jupyter.yml` to a login with the password",
        "accepted over HTTP (the playbook itself returns only after such a login).",
        "",
        "| situation | to password accepted | playbook wall time | changed |",
        "|---|---|---|---|",
    ]
    for name, values in rows.items():
        if values:
            lines.append("| %s | %s | %s | %s |" % (
                name, fmt([v[0] for v in values]), fmt([v[1] for v in values]), ", ".join(str(v[2]) for v in values)))
    lines += [
        "",
        "- cold: no venv, kernelspec, workspace or job; pip installs jupyter, matplotlib, ipyparallel,",
        "  mpi4py and ipykernel (pinned) from the package index, so this depends on the network and pip's cache.",
        "- cold server: venv and kernel in place, no job: password hash check, config, sbatch, Jupyter start.",
        "- warm: everything up; the re-run changes nothing and keeps the job (Ansible's per-task cost dominates).",
    ]
    lines += ["- NOTE: " + note for note in notes]
    with open(args.out, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
