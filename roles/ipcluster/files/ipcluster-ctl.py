# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helper of the ulhpc.workspace.ipcluster role (and of its service script).

Prints one JSON object on stdout (or key=value words with --kv). Subcommands:

  profile IPYTHON_DIR PROFILE [--ipython BIN] [--block TEXT] [--check]
      resolve the profile directory; create the parallel profile with
      `BIN profile create --parallel` when --ipython is given and it is missing;
      with --block, put TEXT in ipcluster_config.py's managed block, and return the
      digest of the file's other lines (settings_sha256).
  wait IPYTHON_DIR PROFILE CLUSTER_ID ENGINES TIMEOUT [--log FILE]... [--kv]
      connect as a client and wait until ENGINES engines have registered and
      answer; on timeout exit 1 with the tail of the controller's, engines' and
      service's logs. Needs ipyparallel (run it with the workspace venv's python).
  stop IPYTHON_DIR PROFILE CLUSTER_ID MARKER TIMEOUT [--ipcluster BIN] [--check]
      make sure nothing of the cluster is left: `ipcluster stop` when a cluster
      file remains, then engine jobs (squeue: job name ipengine-CLUSTER_ID) and
      processes of this user carrying WS_IPCLUSTER=MARKER in their environment
      are waited for, then cancelled/killed; exit 1 if some survive.

Standard library only, except `wait` (ipyparallel). Python >= 3.8.
"""
from __future__ import absolute_import, division, print_function

import argparse
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

__metaclass__ = type

TAIL_LINES = 25


def emit(data, code=0):
    sys.stdout.write(json.dumps(data, sort_keys=True) + "\n")
    sys.stdout.flush()
    sys.exit(code)


def expand(path):
    return os.path.abspath(os.path.expanduser(path))


def profile_dir(args):
    return os.path.join(expand(args.ipython_dir), "profile_" + args.profile)


def tail(path, lines=TAIL_LINES):
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 16384))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    return "\n".join(text.splitlines()[-lines:])


def cluster_file(pdir, cluster_id):
    return os.path.join(pdir, "security", "cluster-%s.json" % cluster_id)


def read_cluster_file(pdir, cluster_id):
    try:
        with open(cluster_file(pdir, cluster_id)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def engine_sets(cluster):
    """(job ids, output files) of the engine sets recorded in a cluster file."""
    jobs, outputs = [], []
    for eset in ((cluster or {}).get("engines") or {}).get("sets", {}).values():
        if eset.get("job_id"):
            jobs.append(str(eset["job_id"]))
        if eset.get("output_file"):
            outputs.append(eset["output_file"])
        for engine in (eset.get("engines") or {}).values():
            if engine.get("output_file"):
                outputs.append(engine["output_file"])
    return jobs, outputs


BLOCK_BEGIN = "# BEGIN ulhpc.workspace.ipcluster managed block: set the role's variables, do not edit"
BLOCK_END = "# END ulhpc.workspace.ipcluster managed block: set the role's variables, do not edit"


def with_block(text, block):
    """(the config text with the managed block replaced, or added at the end; the text outside
    the block). The outside part is the user's own: its digest fingerprints their settings."""
    lines = text.splitlines()
    try:
        start = lines.index(BLOCK_BEGIN)
        end = lines.index(BLOCK_END, start)
    except ValueError:
        start = end = None
    outside = lines if start is None else lines[:start] + lines[end + 1:]
    managed = [BLOCK_BEGIN] + block.splitlines() + [BLOCK_END]
    new = lines + managed if start is None else lines[:start] + managed + lines[end + 1:]
    return "\n".join(new) + "\n", "\n".join(outside) + "\n"


def write_over(path, text):
    """Replace path's content atomically, keeping its mode."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, os.stat(path).st_mode & 0o7777)
    os.rename(tmp, path)


def cmd_profile(args):
    pdir = profile_dir(args)
    config = os.path.join(pdir, "ipcluster_config.py")
    result = {"ipython_dir": expand(args.ipython_dir), "profile": args.profile,
              "profile_dir": pdir, "config_file": config, "exists": os.path.isfile(config),
              "changed": False}
    if not result["exists"] and args.ipython:
        result["changed"] = True
        if not args.check:
            proc = subprocess.run(
                [args.ipython, "profile", "create", "--parallel", "--profile=" + args.profile,
                 "--ipython-dir=" + result["ipython_dir"]],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
            if proc.returncode != 0 or not os.path.isfile(config):
                result["msg"] = "ipython profile create failed (rc=%d): %s" % (proc.returncode, proc.stdout[-2000:])
                emit(result, 1)
            result["exists"] = True
    if args.block is not None and os.path.isfile(config):
        # In the same call as the profile (one remote call where blockinfile and a stat of the
        # file took two more on every run).
        with open(config) as handle:
            text = handle.read()
        new, outside = with_block(text, args.block)
        result["settings_sha256"] = hashlib.sha256(outside.encode("utf-8")).hexdigest()
        if new != text:
            result["changed"] = result["block_changed"] = True
            if not args.check:
                write_over(config, new)
    emit(result)


def log_tails(pdir, cluster_id, extra_logs):
    jobs, outputs = engine_sets(read_cluster_file(pdir, cluster_id))
    logs = list(extra_logs)
    logs += sorted(glob.glob(os.path.join(pdir, "log", "ipcontroller-%s-*.log" % cluster_id)))[-1:]
    logs += outputs
    tails = {}
    for path in logs:
        text = tail(path)
        if text is not None:
            tails[path] = text
    return jobs, tails


def error_lines(paths, limit=12):
    """The last lines mentioning an error (each with the line after it) of some log files."""
    found = []
    for path in paths:
        lines = (tail(path, 400) or "").splitlines()
        for i, line in enumerate(lines):
            if "error" in line.lower() and "ERROR | \n" not in line:
                found.extend(lines[i:i + 2])
    return found[-limit:]


def cmd_wait(args):
    import ipyparallel

    pdir = profile_dir(args)
    deadline = time.time() + args.timeout
    client, error, ready = None, None, 0
    real_stdout, sys.stdout = sys.stdout, sys.stderr  # ipyparallel prints progress: keep stdout JSON only
    while time.time() < deadline:
        if args.watch_pid and not _alive(args.watch_pid):
            error = "ipcluster (pid %d) exited" % args.watch_pid
            break
        try:
            if client is None:
                client = ipyparallel.Client(profile_dir=pdir, cluster_id=args.cluster_id,
                                            timeout=max(1, min(10, deadline - time.time())))
            ready = len(client.ids)
            if ready >= args.engines:
                view = client[:]
                view.block = True
                answers = view.apply_async(_engine_info).get(timeout=max(1, deadline - time.time()))
                error = None
                break
        except Exception as exc:  # any failure is retried until the deadline
            error = "%s: %s" % (type(exc).__name__, exc)
            if client is not None and not isinstance(exc, ipyparallel.error.TimeoutError):
                try:
                    client.close()
                except Exception:
                    pass
                client = None
        time.sleep(0.5)
    else:
        error = error or "timeout"
    if error is not None:
        sys.stdout = real_stdout
        # Inside the job (--kv) the --log files are the script's own output: only their error lines.
        jobs, tails = log_tails(pdir, args.cluster_id, [] if args.kv else args.log)
        data = {"failed": True, "engines": ready, "requested": args.engines, "engine_jobs": jobs,
                "last_error": error, "log_tails": tails,
                "msg": "%d of %d engines registered with cluster %r (profile %r) after %d s (%s)"
                       % (ready, args.engines, args.cluster_id, args.profile,
                          args.timeout - max(0, deadline - time.time()), error)}
        if args.kv:
            for path, text in tails.items():
                sys.stderr.write("--- tail of %s\n%s\n" % (path, text))
            errors = error_lines(args.log)
            if errors:
                sys.stderr.write("--- error lines of %s\n%s\n" % (", ".join(args.log), "\n".join(errors)))
            sys.stderr.write("ipcluster: " + data["msg"] + "\n")
            sys.exit(1)
        emit(data, 1)
    sys.stdout = real_stdout
    jobs, dummy = engine_sets(read_cluster_file(pdir, args.cluster_id))
    info = {
        "engines": len(client.ids),
        "ids": list(client.ids),
        "hosts": sorted(set(a["host"] for a in answers)),
        "engine_slurm_jobs": sorted(set(a["slurm_job_id"] for a in answers if a["slurm_job_id"])),
        "engine_jobs": jobs,
        "profile_dir": pdir,
        "client_file": os.path.join(pdir, "security", "ipcontroller-%s-client.json" % args.cluster_id),
    }
    client.close()
    info["default_client_file"] = link_default_client(pdir, args.cluster_id)
    if args.kv:
        words = ["engines=%d" % info["engines"], "profile_dir=" + pdir]
        if jobs:
            words.append("engine_job_id=" + ",".join(jobs))
        sys.stdout.write(" ".join(words) + "\n")
        sys.exit(0)
    emit(info)


DEFAULT_CLIENT = "ipcontroller-client.json"


def link_default_client(pdir, cluster_id):
    """Point the profile's ipcontroller-client.json at this cluster's file, so that a bare
    ``ipp.Client()`` in a kernel of this profile (the workspace kernel runs with it) connects
    to it, as in the tutorial. A regular file there is somebody else's cluster: left alone."""
    target = "ipcontroller-%s-client.json" % cluster_id
    link = os.path.join(pdir, "security", DEFAULT_CLIENT)
    if os.path.islink(link) and os.readlink(link) == target:
        return link
    if os.path.lexists(link) and not os.path.islink(link):
        return None
    tmp = link + ".%d.tmp" % os.getpid()
    os.symlink(target, tmp)
    os.replace(tmp, link)
    return link


def unlink_default_client(pdir, cluster_id):
    link = os.path.join(pdir, "security", DEFAULT_CLIENT)
    if os.path.islink(link) and os.readlink(link) == "ipcontroller-%s-client.json" % cluster_id:
        os.remove(link)
        return True
    return False


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _engine_info():
    import os as eos
    import socket as esocket
    return {"host": esocket.gethostname(), "pid": eos.getpid(),
            "slurm_job_id": eos.environ.get("SLURM_JOB_ID", "")}


def squeue_jobs(cluster_id):
    squeue = shutil.which("squeue")
    if not squeue:
        return []
    user = os.environ.get("USER") or str(os.getuid())
    proc = subprocess.run([squeue, "-h", "-u", user, "-n", "ipengine-" + cluster_id, "-o", "%i %T"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    if proc.returncode != 0:
        return []
    return [line.split()[0] for line in proc.stdout.splitlines()
            if line.strip() and line.split()[1:2] != ["COMPLETED"]]


def marked_processes(marker):
    """PIDs of this user's processes whose environment holds WS_IPCLUSTER=marker."""
    needle = ("WS_IPCLUSTER=" + marker).encode()
    uid, found = os.getuid(), []
    mine = (os.getpid(), os.getppid())
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in mine:
            continue
        try:
            if os.stat("/proc/" + entry).st_uid != uid:
                continue
            with open("/proc/%s/environ" % entry, "rb") as handle:
                env = handle.read().split(b"\0")
            with open("/proc/%s/stat" % entry, "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if needle in env and state != b"Z":
            found.append(int(entry))
    return sorted(found)


def cmd_stop(args):
    pdir = profile_dir(args)
    changed = False
    actions = []
    has_file = os.path.isfile(cluster_file(pdir, args.cluster_id))
    jobs, procs = squeue_jobs(args.cluster_id), marked_processes(args.marker)
    if args.check:
        emit({"changed": bool(has_file or jobs or procs), "cluster_file": has_file,
              "engine_jobs": jobs, "processes": procs})
    if has_file and args.ipcluster and os.access(args.ipcluster, os.X_OK):
        subprocess.run([args.ipcluster, "stop", "--profile-dir=" + pdir, "--cluster-id=" + args.cluster_id],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
        changed = True
        actions.append("ipcluster stop")
    if has_file and os.path.isfile(cluster_file(pdir, args.cluster_id)):
        os.remove(cluster_file(pdir, args.cluster_id))
        changed = True
    if not args.check and unlink_default_client(pdir, args.cluster_id):
        actions.append("removed " + DEFAULT_CLIENT)
    deadline = time.time() + args.timeout
    grace = time.time() + min(20, args.timeout / 2.0)
    signalled = set()
    while True:
        jobs, procs = squeue_jobs(args.cluster_id), marked_processes(args.marker)
        if not jobs and not procs:
            break
        now = time.time()
        if now >= deadline:
            emit({"changed": changed, "failed": True, "engine_jobs": jobs, "processes": procs,
                  "actions": actions,
                  "msg": "cluster %r still has engine jobs %s / processes %s after %d s; "
                         "cancel them with scancel / kill" % (args.cluster_id, jobs, procs, args.timeout)}, 1)
        if now >= grace:
            scancel = shutil.which("scancel")
            for job in jobs:
                if scancel and ("job", job) not in signalled:
                    subprocess.run([scancel, job], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
                    signalled.add(("job", job))
                    actions.append("scancel " + job)
                    changed = True
            for pid in procs:
                sig = signal.SIGKILL if ("pid", pid) in signalled else signal.SIGTERM
                try:
                    os.kill(pid, sig)
                except OSError:
                    continue
                signalled.add(("pid", pid))
                actions.append("kill -%d %d" % (sig, pid))
                changed = True
        time.sleep(1)
    emit({"changed": changed, "engine_jobs": [], "processes": [], "actions": actions})


def main():
    parser = argparse.ArgumentParser(prog="ipcluster-ctl")
    sub = parser.add_subparsers(dest="command")
    for name in ("profile", "wait", "stop"):
        cmd = sub.add_parser(name)
        cmd.add_argument("ipython_dir")
        cmd.add_argument("profile")
        if name in ("wait", "stop"):
            cmd.add_argument("cluster_id")
        if name == "wait":
            cmd.add_argument("engines", type=int)
        if name == "stop":
            cmd.add_argument("marker")
        if name in ("wait", "stop"):
            cmd.add_argument("timeout", type=float)
        if name in ("profile", "stop"):
            cmd.add_argument("--check", action="store_true")
    sub.choices["profile"].add_argument("--ipython", default="")
    sub.choices["profile"].add_argument("--block", help="the managed block of ipcluster_config.py, written when it differs")
    sub.choices["wait"].add_argument("--log", action="append", default=[])
    sub.choices["wait"].add_argument("--kv", action="store_true")
    sub.choices["wait"].add_argument("--watch-pid", type=int, default=0, help="fail early when this process exits")
    sub.choices["stop"].add_argument("--ipcluster", default="")
    args = parser.parse_args()
    if args.command == "profile":
        cmd_profile(args)
    elif args.command == "wait":
        cmd_wait(args)
    elif args.command == "stop":
        cmd_stop(args)
    else:
        parser.error("a subcommand is required")


if __name__ == "__main__":
    main()
