"""The launcher's service library (roles/launcher/files/ws-lib.sh), sourced by bash.

Real processes and sockets on 127.0.0.1; nothing is mocked. A "foreign" listener is a process
outside the service's process tree, as another user's would be.
"""
import json
import os
import random
import shutil
import socket
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LIB = os.path.join(REPO, "roles", "launcher", "files", "ws-lib.sh")
LISTEN = ("import socket, sys, time; s = socket.socket(); s.bind((sys.argv[1], int(sys.argv[2]))); "
          "s.listen(); time.sleep(float(sys.argv[3]))")


def bash(script, tmp_path, **env):
    """Run `script` after sourcing the library; returns the CompletedProcess."""
    full = dict(os.environ, WS_SERVICE="svc", WS_NAME="t", WS_LAUNCHER="local", WS_BIND_ADDRESS="127.0.0.1",
                WS_CONN_FILE=str(tmp_path / "svc.json"), WS_RUN_DIR=str(tmp_path), WS_PORT_SPAN="50",
                PY=sys.executable, LISTEN=LISTEN)
    full.pop("SLURM_JOB_ID", None)
    full.update({k: str(v) for k, v in env.items()})
    return subprocess.run(["bash", "-c", ". %s\n%s" % (LIB, script)], capture_output=True, text=True,
                          timeout=60, env=full, check=False)


@pytest.fixture
def base():
    """A port range of 50 that nothing else on this machine uses right now."""
    for _attempt in range(50):
        start = random.randrange(20000, 30000, 50)
        if all(_free(port) for port in range(start, start + 50)):
            return start
    pytest.fail("no free port range found")


def _free(port):
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def held(port):
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def test_library_is_shellcheck_clean():
    shellcheck = shutil.which("shellcheck") or os.path.join(os.path.dirname(sys.executable), "shellcheck")
    proc = subprocess.run([shellcheck, "-s", "bash", LIB, os.path.join(os.path.dirname(LIB), "load-modules.sh")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_connection_file_quotes_every_value(tmp_path):
    proc = bash('ws_write_connection address=127.0.0.1 port=64001 "note=a \\"q\\" \\\\ b\n\tc" big=12345678901234567890',
                tmp_path, WS_SECRET_FILES='["/s/p"]')
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "svc.json").read_text())
    assert data["port"] == 64001 and data["note"] == 'a "q" \\ b\n\tc' and data["big"] == "12345678901234567890"
    assert data["secret_files"] == ["/s/p"] and data["service"] == "svc" and data["job_id"] is None
    assert oct((tmp_path / "svc.json").stat().st_mode & 0o777) == "0o600"
    bad = bash("ws_write_connection 'no-equals'", tmp_path)
    assert bad.returncode == 1 and "not key=value" in bad.stderr


def test_pick_port_skips_a_held_port_and_starts_at_the_job_rule(base, tmp_path):
    seed = 4242
    first = base + seed % 50
    proc = bash("ws_pick_port", tmp_path, WS_PORT_BASE=base, SLURM_JOB_ID=seed)
    assert proc.stdout.strip() == str(first)
    sock = held(first)
    try:
        proc = bash("ws_pick_port", tmp_path, WS_PORT_BASE=base, SLURM_JOB_ID=seed)
        assert proc.stdout.strip() == str(base + (seed + 1) % 50)
    finally:
        sock.close()


def test_wait_ready_accepts_only_the_service_own_listener(base, tmp_path):
    ours = bash('"$PY" -c "$LISTEN" 127.0.0.1 %d 5 & pid=$!; ws_wait_ready $pid 127.0.0.1 %d 10; echo rc=$?; kill $pid'
                % (base, base), tmp_path)
    assert "rc=0" in ours.stdout, ours.stderr
    sock = held(base + 1)
    try:
        # The "service" cannot bind (someone else holds the port) and exits: 2, naming the port.
        foreign = bash('"$PY" -c "$LISTEN" 127.0.0.1 %d 5 & ws_wait_ready $! 127.0.0.1 %d 10; echo rc=$?'
                       % (base + 1, base + 1), tmp_path)
        assert "rc=2" in foreign.stdout and "port %d on 127.0.0.1 is held by another process" % (base + 1) in foreign.stderr
        # A live service next to a foreign listener on its port is never "ready".
        squatted = bash('sleep 30 & pid=$!; ws_wait_ready $pid 127.0.0.1 %d 1; echo rc=$?; kill $pid' % (base + 1), tmp_path)
        assert "rc=2" in squatted.stdout
    finally:
        sock.close()
    died = bash("true & ws_wait_ready $! 127.0.0.1 %d 5; echo rc=$?" % (base + 2), tmp_path)
    assert "rc=1" in died.stdout and "exited before it listened" in died.stderr


def test_serve_moves_on_when_the_port_is_sniped(base, tmp_path):
    # The first start lets a process outside the service's tree (double fork) bind the picked
    # port just before the service does, as a neighbour watching the node would.
    script = r'''
tries=0
start() {
  tries=$((tries + 1))
  if [ "$tries" = 1 ]; then
    ( "$PY" -c "$LISTEN" "$WS_ADDRESS" "$WS_PORT" 20 >/dev/null 2>&1 & ) ; sleep 0.5
  fi
  "$PY" -c "$LISTEN" "$WS_ADDRESS" "$WS_PORT" 20 >/dev/null 2>&1 &
  WS_PID=$!
}
ws_serve start; rc=$?
echo "rc=$rc tries=$tries port=$WS_PORT"
kill "$WS_PID"
pkill -f "$LISTEN" 2>/dev/null
'''
    proc = bash(script, tmp_path, WS_PORT_BASE=base, SLURM_JOB_ID=0, WS_TIMEOUT=10)
    assert "rc=0 tries=2" in proc.stdout, proc.stdout + proc.stderr
    assert "port=%d" % base not in proc.stdout
    assert "taken by another process" in proc.stderr


def test_serve_with_a_fixed_taken_port_fails_naming_it(base, tmp_path):
    sock = held(base)
    try:
        proc = bash('start() { sleep 1 & WS_PID=$!; }; ws_serve start %d; echo rc=$?' % base, tmp_path, WS_PORT_BASE=base)
    finally:
        sock.close()
    assert "rc=1" in proc.stdout and "port %d on 127.0.0.1 is already in use" % base in proc.stderr


def test_stop_pid_kills_what_ignores_term(tmp_path):
    proc = bash("(trap '' TERM; sleep 30) & p=$!; sleep 0.3; SECONDS=0; ws_stop_pid $p 1; "
                "kill -0 $p 2>/dev/null && echo alive; echo took=$SECONDS", tmp_path)
    # SECONDS counts whole seconds: a 1 s grace reads 1 or 2 (3 on a loaded machine), never 30.
    took = int(proc.stdout.split("took=")[1])
    assert "alive" not in proc.stdout and 1 <= took <= 3 and "killing it" in proc.stderr, proc.stdout


def test_tls_issue_gives_a_certificate_that_verifies_for_the_address(tmp_path):
    import ssl
    ca = tmp_path / "ca"
    ca.mkdir()
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", str(ca / "ca.key")], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-x509", "-new", "-key", str(ca / "ca.key"), "-days", "2", "-subj", "/CN=t",
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
                    "-out", str(ca / "ca.crt")], check=True, capture_output=True)
    proc = bash('ws_tls_issue 127.0.0.1 && echo "$WS_TLS_CERT $WS_TLS_KEY"', tmp_path,
                WS_TLS_CA_CERT=ca / "ca.crt", WS_TLS_CA_KEY=ca / "ca.key")
    assert proc.returncode == 0, proc.stderr
    cert, key = proc.stdout.split()
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(ca / "ca.crt"))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    import threading

    def serve():
        conn, _peer = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"ok")

    thread = threading.Thread(target=serve)
    thread.start()
    with client_ctx.wrap_socket(socket.create_connection(listener.getsockname()), server_hostname="127.0.0.1") as tls:
        assert tls.recv(2) == b"ok"
    thread.join()
    listener.close()
    missing = bash("ws_tls_issue 127.0.0.1", tmp_path, WS_TLS_CA_CERT="/nonexistent", WS_TLS_CA_KEY="/nonexistent")
    assert missing.returncode == 1 and "cannot be read" in missing.stderr


def test_serve_refuses_an_address_that_is_not_the_node(base, tmp_path):
    proc = bash('start() { sleep 1 & WS_PID=$!; }; ws_serve start; echo rc=$?', tmp_path,
                WS_PORT_BASE=base, WS_BIND_ADDRESS="192.0.2.254")
    assert "rc=1" in proc.stdout and "192.0.2.254 is not an address of" in proc.stderr


def test_may_restart_backs_off_and_gives_up_past_the_bound(tmp_path):
    # Three deaths with WS_RESTARTS=2: restart after 1 s, then 2 s, then give up.
    proc = bash("SECONDS=0; for i in 1 2 3; do ws_may_restart thing 137 && echo restart-$i; done; "
                "echo took=$SECONDS", tmp_path, WS_RESTARTS=2)
    assert proc.stdout.split() == ["restart-1", "restart-2", "took=3"], proc.stdout
    assert "thing died (status 137): restart 1 of at most 2 in 10 minutes, in 1 s" in proc.stderr
    assert "restart 2 of at most 2 in 10 minutes, in 2 s" in proc.stderr
    assert "thing died (status 137) 3 times in 10 minutes, more than workspace_restarts (2)" in proc.stderr


def test_may_restart_never_restarts_a_clean_end_or_with_zero(tmp_path):
    proc = bash("ws_may_restart thing 0 || echo no-0; WS_RESTARTS=0 ws_may_restart thing 9 || echo no-9", tmp_path,
                WS_RESTARTS=5)
    assert proc.stdout.split() == ["no-0", "no-9"], proc.stdout
    assert "thing ended (status 0): ending the service" in proc.stderr


def test_may_restart_forgets_deaths_older_than_ten_minutes(tmp_path):
    old = "__ws_deaths=($(( $(date +%s) - 700 )) $(( $(date +%s) - 650 )))"
    proc = bash(old + "; ws_may_restart thing 1 && echo restarted", tmp_path, WS_RESTARTS=1)
    assert proc.stdout.split() == ["restarted"], proc.stderr
    assert "restart 1 of at most 1" in proc.stderr


def test_a_second_term_does_not_cut_the_cleanup_short(tmp_path):
    """scancel --signal=TERM, then the plain scancel's SIGTERM while the service still finishes:
    the shell keeps waiting for it (exiting would orphan it), then ends."""
    script = ("ws_init\n"
              "(trap 'sleep 2; echo service-done >> %s; exit 0' TERM; while :; do sleep 0.1; done) & svc=$!\n"
              "ws_on_exit ws_stop_pid \"$svc\" 30\n"
              "wait \"$svc\"\n") % (tmp_path / "out")
    proc = subprocess.Popen(["bash", "-c", ". %s\n%s" % (LIB, script)], stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, WS_SERVICE="svc", WS_CONN_FILE=str(tmp_path / "svc.json")))
    import time
    time.sleep(0.5)
    proc.send_signal(15)
    time.sleep(0.5)
    proc.send_signal(15)  # the second one, while the service takes its 2 s
    _out, err = proc.communicate(timeout=30)
    assert (tmp_path / "out").read_text() == "service-done\n", err
    assert "stopped" in err and proc.returncode == 143, (proc.returncode, err)


def test_instance_lock_keeps_a_second_instance_out_while_any_process_of_the_first_lives(tmp_path):
    """The first instance takes the lock and leaves an orphan (a server whose job shell was
    killed): the second instance waits WS_TIMEOUT, fails naming the holder, and gets the lock
    once the orphan is gone."""
    first = bash("umask 077; ws_instance_lock || exit 9; (exec sleep 30) >/dev/null 2>&1 & echo $!", tmp_path, SLURM_JOB_ID="77")
    assert first.returncode == 0, first.stderr
    orphan = int(first.stdout.split()[-1])
    lock = tmp_path / "svc.lock"
    assert lock.read_text().endswith("job 77\n") and (lock.stat().st_mode & 0o077) == 0
    try:
        second = bash("umask 077; ws_instance_lock && echo started", tmp_path, WS_TIMEOUT=1)
        assert second.returncode == 1 and "started" not in second.stdout
        assert "another instance of svc runs (" in second.stderr and "job 77)" in second.stderr
        assert "still runs after 1 s: not starting a second one on the same data" in second.stderr
    finally:
        os.kill(orphan, 9)
    for _try in range(50):
        if not os.path.exists("/proc/%d" % orphan):
            break
        import time
        time.sleep(0.1)
    third = bash("umask 077; ws_instance_lock && echo started", tmp_path, WS_TIMEOUT=5)
    assert third.stdout.split() == ["started"], third.stderr
    assert "job 77" not in lock.read_text()


def test_address_of_reads_address_and_port_of_a_connection_file(tmp_path):
    conn = tmp_path / "redis.json"
    conn.write_text('{"address": "10.0.0.7", "port": 64123, "job_id": "42", "pid": 7}\n')
    proc = bash('ws_address_of "%s"; ws_address_of "%s.missing"; echo end' % (conn, conn), tmp_path)
    assert proc.stdout.split() == ["10.0.0.7:64123", "end"]


def test_watch_address_stops_the_process_when_the_other_service_moves(tmp_path):
    """A missing file (Redis away) and a rewrite with the same address leave the process alone;
    a new address stops it and leaves the flag the body reads with ws_followed."""
    conn = tmp_path / "redis.json"
    conn.write_text('{"address": "127.0.0.1", "port": 64001, "started": "a"}\n')
    script = ('sleep 60 & pid=$!\n'
              'ws_watch_address "$1" "$pid" "$2" 0.2 & watcher=$!\n'
              'sleep 0.5; rm -f "$1"; sleep 0.5\n'
              'printf \'{"address": "127.0.0.1", "port": 64001, "started": "b"}\' > "$1"; sleep 0.5\n'
              'kill -0 "$pid" && echo still-running\n'
              'ws_followed "$2" || echo no-flag\n'
              'printf \'{"address": "127.0.0.1", "port": 64002}\' > "$1"\n'
              'wait "$pid"; echo "status=$?"\n'
              'wait "$watcher"\n'
              'ws_followed "$2" && echo followed\n'
              'ws_followed "$2" || echo flag-gone\n')
    proc = subprocess.run(["bash", "-c", ". %s\n%s" % (LIB, script), "-", str(conn), str(tmp_path / "moved")],
                          capture_output=True, text=True, timeout=60, check=False,
                          env=dict(os.environ, WS_SERVICE="celery-worker-1"))
    assert proc.stdout.split() == ["still-running", "no-flag", "status=143", "followed", "flag-gone"], proc.stderr
    assert "redis moved to 127.0.0.1:64002 (was 127.0.0.1:64001): restarting pid" in proc.stderr


FAKE_SLURM = """#!/bin/bash
# $0 logs its argv and environment's SLURM_ variables, prints what the test asks for.
name=$(basename "$0")
{ printf '%s' "$name"; printf ' [%s]' "$@"; printf ' env:%s' "$(env | grep -c '^SLURM_JOB_NAME=')"; echo; } >> "$FAKE_LOG"
case $name in
  squeue) cat "$FAKE_PENDING" 2>/dev/null ;;
  sbatch) echo "4243;cluster" ;;
esac
"""


@pytest.fixture
def fake_slurm(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("squeue", "sbatch"):
        (bindir / name).write_text(FAKE_SLURM)
        (bindir / name).chmod(0o755)
    (tmp_path / "svc.sh").write_text("#!/bin/bash\n")
    (tmp_path / "svc.sbatch").write_bytes(b"".join(a.encode() + b"\0" for a in (
        str(bindir / "sbatch"), "--parsable", "--job-name=ws-t-svc", "--comment=ulhpc:sha256:ab cd", "--time=00:03:00")))
    return {"PATH": "%s:%s" % (bindir, os.environ["PATH"]), "FAKE_LOG": tmp_path / "calls",
            "FAKE_PENDING": tmp_path / "pending", "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "ws-t-svc"}


def test_queue_successor_submits_the_same_command_line_behind_this_job(tmp_path, fake_slurm):
    proc = bash("ws_queue_successor", tmp_path, WS_CONTINUATION=1, **fake_slurm)
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0].startswith("squeue [-h] [-u]") and "[-n] [ws-t-svc] [-t] [PENDING]" in calls[0]
    # argv as written by slurm_job (a space inside one argument survives), then the dependency
    # and the script; none of this job's SLURM_ variables reaches sbatch
    assert calls[1] == ("sbatch [--parsable] [--job-name=ws-t-svc] [--comment=ulhpc:sha256:ab cd] [--time=00:03:00] "
                        "[--dependency=singleton] [--open-mode=append] [%s] env:0" % (tmp_path / "svc.sh"))
    assert "continuation: queued job 4243 to take over when this job ends" in proc.stderr


def test_queue_successor_leaves_a_waiting_successor_and_is_off_by_default(tmp_path, fake_slurm):
    (tmp_path / "pending").write_text("4250\n")
    proc = bash("ws_queue_successor", tmp_path, WS_CONTINUATION=1, **fake_slurm)
    assert "continuation: job 4250 waits to take over" in proc.stderr
    assert [c.split()[0] for c in (tmp_path / "calls").read_text().splitlines()] == ["squeue"]
    (tmp_path / "calls").unlink()
    bash("ws_queue_successor; ws_write_connection a=1", tmp_path, **fake_slurm)
    assert "sbatch" not in (tmp_path / "calls").read_text()  # off: only ws_write_connection's squeue for the walltime


def test_the_watcher_does_not_hold_the_instance_lock(tmp_path):
    proc = bash('umask 077; ws_instance_lock || exit 9\n'
                'sleep 30 & pid=$!\n'
                'ws_watch_address "%s" "$pid" "%s" 5 & watcher=$!\n'
                'sleep 0.5; ls -l /proc/$watcher/fd | grep -c "svc.lock"; kill "$pid" "$watcher"; wait'
                % (tmp_path / "redis.json", tmp_path / "moved"), tmp_path)
    assert proc.stdout.split() == ["0"], proc.stderr
