"""Benchmarks of ulhpc.workspace.slurm_job waiting (issue #3).

Run as an ordinary user on a machine with a Slurm cluster, from the repository root:

    .venv/bin/python benchmarks/bench_slurm_job.py [--runs 5] [--wait 60] [--out FILE]

(a) overhead of `state: running` + `ready_file` over the moment the file appears: the job
    writes the file (atomically, after sleeping) and the module process is timed until it
    exits; overhead = exit time - file mtime.  Median over --runs.  Measured for the module
    run directly (python, no Ansible controller) and through `ansible localhost -m`.
(b) scheduler queries per minute of waiting: a job that stays pending (`--begin=now+1hour`)
    is awaited for --wait seconds with the default poll_interval (5 s); the module returns
    `queries`.  For one job (the module), and for ten jobs awaited together (the same client
    code waiting on ten ids; and the module waiting on one 10-task array job).
(c) the same waits written as a plain `until:`/`retries:` loop over `squeue` (playbook
    benchmarks/slurm_job_until.yml): queries per minute with delay 5 and delay 1, and the
    overhead over the ready file appearing (`until` squeue says RUNNING, then
    `ansible.builtin.wait_for` the file).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, ".collections"))

from ansible_collections.ulhpc.workspace.plugins.module_utils import _slurm_client  # noqa: E402

VENV_BIN = os.path.join(REPO, ".venv", "bin")
MODULE = os.path.join(REPO, "plugins", "modules", "slurm_job.py")
PREFIX = "bench-slurmjob-"
TIME = "00:05:00"


def env():
    environ = dict(os.environ)
    environ["PYTHONPATH"] = os.path.join(REPO, ".collections")
    environ["ANSIBLE_CONFIG"] = os.path.join(REPO, "ansible.cfg")
    environ["PATH"] = VENV_BIN + ":" + environ.get("PATH", "/usr/bin:/bin")
    return environ


def run_module_direct(args):
    """Run the module file as Ansible would (args file), return (result, exit wall time)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
        path = handle.name
    try:
        proc = subprocess.run([sys.executable, MODULE, path], capture_output=True, text=True, env=env(),
                              cwd=REPO, check=False)
        end = time.time()
    finally:
        os.unlink(path)
    return json.loads(proc.stdout), end


def run_module_ansible(args):
    argv = [os.path.join(VENV_BIN, "ansible"), "localhost", "-i", os.path.join(REPO, "inventory", "localhost"),
            "-o", "-m", "ulhpc.workspace.slurm_job", "-a", json.dumps(args)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env(), cwd=REPO, check=False)
    end = time.time()
    line = [x for x in proc.stdout.splitlines() if x.startswith("localhost | ")][-1]
    return json.loads(line.split(" => ", 1)[1]), end


def cancel(name):
    subprocess.run(["scancel", "--user=" + _slurm_client.current_user(), "--name=" + name],
                   capture_output=True, check=False)


def ready_script(ready):
    return ("#!/bin/bash\nsleep 3\necho \"{\\\"job_id\\\": \\\"$SLURM_JOB_ID\\\"}\" > %s.tmp\n"
            "mv %s.tmp %s\nsleep 120\n" % (ready, ready, ready))


def bench_ready(runs, workdir, through):
    overheads = []
    for index in range(runs):
        name = "%sready-%s-%d" % (PREFIX, through, index)
        ready = os.path.join(workdir, name + ".json")
        args = {"name": name, "content": ready_script(ready), "state": "running", "ready_file": ready,
                "chdir": workdir, "time": TIME, "timeout": 120}
        try:
            result, end = (run_module_direct if through == "module" else run_module_ansible)(args)
            if result.get("failed"):
                raise RuntimeError(result.get("msg"))
            overheads.append(end - os.stat(ready).st_mtime)
        finally:
            cancel(name)
    return overheads


def bench_pending_module(wait, workdir, array=None):
    name = PREFIX + ("pend-array" if array else "pend-1")
    args = {"name": name, "content": "#!/bin/bash\nsleep 1\n", "state": "running", "timeout": wait,
            "chdir": workdir, "time": TIME, "extra_args": ["--begin=now+1hour"]}
    if array:
        args["array"] = array
    try:
        result, _end = run_module_direct(args)
    finally:
        cancel(name)
    # one query went to the name lookup and one to sbatch before the wait started
    return result["queries"], result["waited"]


class _Module(object):
    """The two AnsibleModule methods SlurmClient uses, for the 10-job client benchmark."""

    def get_bin_path(self, name, required=False):
        for directory in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
            path = os.path.join(directory, name)
            if os.access(path, os.X_OK):
                return path
        return None

    def run_command(self, argv, environ_update=None, data=None, binary_data=False, cwd=None):
        environ = dict(os.environ)
        environ.update(environ_update or {})
        proc = subprocess.run(argv, capture_output=True, env=environ, input=data, cwd=cwd, check=False)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def bench_pending_client(wait, count, workdir):
    ids = []
    name = PREFIX + "pend-10"
    try:
        for _i in range(count):
            out = subprocess.run(["sbatch", "--parsable", "--job-name=" + name, "--begin=now+1hour",
                                  "--time=" + TIME, "--chdir=" + workdir, "--wrap=sleep 1"],
                                 capture_output=True, text=True, check=True).stdout
            ids.append(out.strip().split(";")[0])
        client = _slurm_client.SlurmClient(_Module())
        res = client.wait(ids, lambda jobs: all(j["state"] == "RUNNING" for j in jobs.values()), wait, 5.0,
                          user=client.user)
        assert res.timed_out and len(res.jobs) == count
        return client.queries, res.waited
    finally:
        cancel(name)


def bench_until(workdir, mode, delay, wait, index=0):
    """The plain loop: returns (squeue runs, seconds waited, overhead over the ready file or None)."""
    name = PREFIX + "until-%s-%d-%d" % (mode, delay, index)
    ready = os.path.join(workdir, name + ".json")
    if os.path.exists(ready):
        os.unlink(ready)
    script = ready_script(ready) if mode == "ready" else "#!/bin/bash\nsleep 1\n"
    script_path = os.path.join(workdir, name + ".sh")
    with open(script_path, "w") as handle:
        handle.write(script)
    extra = [] if mode == "ready" else ["--begin=now+1hour"]
    retries = max(1, int(wait / delay)) if mode == "pending" else 120
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", os.path.join(REPO, "inventory", "localhost"),
            os.path.join(REPO, "benchmarks", "slurm_job_until.yml"),
            "-e", json.dumps({"bench_name": name, "bench_script": script_path, "bench_delay": delay,
                              "bench_retries": retries, "bench_ready_file": ready if mode == "ready" else "",
                              "bench_sbatch_args": extra + ["--time=" + TIME, "--chdir=" + workdir]})]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env(), cwd=REPO, check=False)
        end = time.time()
    finally:
        cancel(name)
    attempts = seconds = None
    for line in proc.stdout.splitlines():
        if "bench_attempts=" in line:
            words = line.split("bench_attempts=")[1].split('"')[0].split()
            attempts = int(words[0])
            seconds = float(words[1].split("=")[1])
    if attempts is None:
        raise RuntimeError("the until playbook failed:\n" + proc.stdout[-2000:] + proc.stderr[-2000:])
    overhead = end - os.stat(ready).st_mtime if mode == "ready" and os.path.exists(ready) else None
    return attempts, seconds, overhead


def per_minute(queries, seconds):
    return round(queries * 60.0 / seconds, 1) if seconds else None


def as_test_user(argv, user):
    """Re-run this script as the unprivileged test user (root runs `make bench`)."""
    import pwd
    home = pwd.getpwnam(user).pw_dir
    return ["runuser", "-u", user, "--", "env", "-i", "HOME=" + home, "USER=" + user, "LOGNAME=" + user,
            "LANG=C.UTF-8", "PATH=%s:/usr/local/bin:/usr/bin:/bin" % VENV_BIN,
            "ANSIBLE_LOCAL_TEMP=" + os.path.join(home, ".ansible", "tmp")] + argv


def write_markdown(summary, path):
    a, b = summary["a_module_overhead_s"], summary["a_ansible_overhead_s"]
    lines = [
        "# slurm_job waiting benchmarks",
        "",
        "Machine: %s. Slurm: %s. Date: %s." % (summary["machine"], summary["slurm"], summary["date"]),
        "Produced by `benchmarks/bench_slurm_job.py` (run as the test user `%s`; the node is shared"
        " with whatever else runs, so scheduling delays vary; the overheads below start when the"
        " job has written its file)." % summary["user"],
        "",
        "## (a) `state: running` + `ready_file`: time from the file appearing to the caller getting the answer",
        "",
        "| how | median | runs | aim |",
        "|---|---|---|---|",
        "| module process (no controller) | %.3f s | %s | <= 0.3 s |" % (a["median"], ", ".join("%.3f" % x for x in a["all"])),
        "| `ansible localhost -m ulhpc.workspace.slurm_job` | %.3f s | %s | |" % (
            b["median"], ", ".join("%.3f" % x for x in b["all"])),
        "| plain loop: `until` squeue RUNNING (delay 1) + `wait_for` the file | %.3f s | %s | |" % (
            summary["c_until_ready_overhead_s"]["median"],
            ", ".join("%.3f" % x for x in summary["c_until_ready_overhead_s"]["all"])),
        "",
        "## (b), (c) scheduler queries per minute of waiting (a job pending for %d s)" % summary["wait"],
        "",
        "| what | queries | seconds | per minute | aim |",
        "|---|---|---|---|---|",
    ]
    rows = (("module, 1 job (poll_interval 5; wait only, without the lookup and sbatch)", "b_module_one_job",
             "per_minute_wait_only"),
            ("module, 1 array job of 10 tasks (wait only)", "b_module_array_10_tasks", "per_minute_wait_only"),
            ("same client code, 10 separate jobs awaited together", "b_client_ten_jobs", "per_minute"))
    for label, key, field in rows:
        item = summary[key]
        lines.append("| %s | %s | %s | %s | <= 15 |" % (label, item["queries"], item["waited_s"], item[field]))
    for label, key in (("plain `until` loop over squeue, delay 5 (per job)", "c_until5"),
                       ("plain `until` loop over squeue, delay 1 (per job)", "c_until1")):
        item = summary[key]
        lines.append("| %s | %s | %s | %s | |" % (label, item["squeue_runs"], item["seconds"], item["per_minute"]))
    lines += ["", "Queries per minute are counted over the wait itself; for the module, the name lookup and",
              "sbatch before it are left out (`queries - 2`). A 60 s wait includes the fast polls at the",
              "start (0.2, 0.5, 1.25, 3.1 s, then every `poll_interval`): steady state is 12 per minute."]
    lines += ["", "Ten jobs awaited by ten plain loops cost ten times the per-job figure; the module's client",
              "asks one squeue per poll whatever the number of jobs.", ""]
    with open(path, "w") as handle:
        handle.write("\n".join(lines))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--wait", type=int, default=60)
    parser.add_argument("--out", default=None, help="write a JSON summary here")
    parser.add_argument("--user", default=os.environ.get("WS_TEST_USER", "wsuser"),
                        help="when run as root, measure as this user")
    parser.add_argument("--markdown", default=os.path.join(REPO, "benchmarks", "results", "slurm_job.md"))
    args = parser.parse_args()
    if os.geteuid() == 0:
        fd, tmp = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        os.chmod(tmp, 0o666)
        try:
            subprocess.run(as_test_user([os.path.join(VENV_BIN, "python"), os.path.abspath(__file__),
                                         "--runs", str(args.runs), "--wait", str(args.wait), "--out", tmp,
                                         "--markdown", ""], args.user), check=True, cwd=REPO)
            with open(tmp) as handle:
                summary = json.load(handle)
        finally:
            os.unlink(tmp)
        os.makedirs(os.path.dirname(args.markdown), exist_ok=True)
        write_markdown(summary, args.markdown)
        print("wrote " + args.markdown)
        return
    workdir = tempfile.mkdtemp(prefix="bench-slurmjob-", dir=os.path.expanduser("~"))
    machine = "%s, %s, %d CPUs, Python %s" % (platform.node(), platform.platform(), os.cpu_count(),
                                              platform.python_version())
    slurm_version = subprocess.run(["squeue", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    summary = {"machine": machine,
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "slurm": slurm_version,
               "user": _slurm_client.current_user(), "wait": args.wait}

    direct = bench_ready(args.runs, workdir, "module")
    summary["a_module_overhead_s"] = {"median": round(statistics.median(direct), 3),
                                      "all": [round(x, 3) for x in direct]}
    print("(a) module, ready file -> module exit: median %.3f s %s" % (statistics.median(direct), direct), flush=True)
    adhoc = bench_ready(args.runs, workdir, "ansible")
    summary["a_ansible_overhead_s"] = {"median": round(statistics.median(adhoc), 3),
                                       "all": [round(x, 3) for x in adhoc]}
    print("(a) ansible -m, ready file -> ansible exit: median %.3f s" % statistics.median(adhoc), flush=True)

    results = {}
    threads = [
        threading.Thread(target=lambda: results.__setitem__("one", bench_pending_module(args.wait, workdir))),
        threading.Thread(target=lambda: results.__setitem__("array", bench_pending_module(
            args.wait, workdir, array="1-10"))),
        threading.Thread(target=lambda: results.__setitem__("ten", bench_pending_client(args.wait, 10, workdir))),
        threading.Thread(target=lambda: results.__setitem__("until5", bench_until(workdir, "pending", 5, args.wait))),
        threading.Thread(target=lambda: results.__setitem__("until1", bench_until(workdir, "pending", 1, args.wait))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    one_q, one_w = results["one"]
    arr_q, arr_w = results["array"]
    ten_q, ten_w = results["ten"]
    summary["b_module_one_job"] = {"queries": one_q, "waited_s": round(one_w, 1),
                                   "per_minute_wait_only": per_minute(one_q - 2, one_w)}
    summary["b_module_array_10_tasks"] = {"queries": arr_q, "waited_s": round(arr_w, 1),
                                          "per_minute_wait_only": per_minute(arr_q - 2, arr_w)}
    summary["b_client_ten_jobs"] = {"queries": ten_q, "waited_s": round(ten_w, 1),
                                    "per_minute": per_minute(ten_q, ten_w)}
    for key in ("until5", "until1"):
        attempts, seconds, _unused = results[key]
        summary["c_" + key] = {"squeue_runs": attempts, "seconds": round(seconds, 1),
                               "per_minute": per_minute(attempts or 0, seconds)}
    overheads = []
    for index in range(args.runs):
        _a, _s, overhead = bench_until(workdir, "ready", 1, 0, index)
        overheads.append(overhead)
    summary["c_until_ready_overhead_s"] = {"median": round(statistics.median(overheads), 3),
                                           "all": [round(x, 3) for x in overheads]}
    print(json.dumps(summary, indent=2))
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(summary, handle, indent=2)
    if args.markdown:
        write_markdown(summary, args.markdown)
    subprocess.run(["rm", "-rf", workdir], check=False)


if __name__ == "__main__":
    main()
