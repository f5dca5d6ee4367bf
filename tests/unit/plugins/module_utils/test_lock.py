"""_lock.FileLock with real locks held by another process (fcntl locks are per process)."""
import os
import socket
import stat
import subprocess
import sys
import time

import pytest

from ansible_collections.ulhpc.workspace.plugins.module_utils._lock import FileLock, LockTimeout, describe_holder

HOLD = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600); "
        "fcntl.lockf(fd, fcntl.LOCK_EX); os.ftruncate(fd, 0); os.write(fd, b'node9 pid 4242\\n'); "
        "print('held', flush=True); time.sleep(float(sys.argv[2]))")


def holder(path, seconds):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_takes_a_free_lock_at_once_writes_the_holder_and_keeps_the_file_private(tmp_path):
    path = tmp_path / "svc.launch.lock"
    with FileLock(str(path), 5) as lock:
        assert lock.waited == 0
        assert path.read_text() == "%s pid %d\n" % (socket.gethostname(), os.getpid())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with FileLock(str(path), 0):  # released on exit: free again at once
        pass


def test_waits_for_the_holder_to_let_go(tmp_path):
    path = tmp_path / "svc.launch.lock"
    proc = holder(path, 1.0)
    start = time.monotonic()
    with FileLock(str(path), 30, interval=0.05) as lock:
        assert time.monotonic() - start >= 0.5 and lock.waited > 0.5
        assert proc.poll() is not None
    proc.wait()


def test_times_out_naming_the_holder_and_leaves_its_lock(tmp_path):
    path = tmp_path / "svc.launch.lock"
    proc = holder(path, 30)
    try:
        with pytest.raises(LockTimeout) as info:
            with FileLock(str(path), 0.3, interval=0.05):
                pytest.fail("the lock was taken while another process held it")
        assert "node9 pid 4242" in str(info.value) and str(path) in str(info.value)
        assert info.value.waited >= 0.3
        assert path.read_text() == "node9 pid 4242\n"
    finally:
        proc.kill()
        proc.wait()


def test_a_holder_that_dies_releases_the_lock(tmp_path):
    path = tmp_path / "svc.launch.lock"
    proc = holder(path, 30)
    proc.kill()
    proc.wait()
    with FileLock(str(path), 0):
        pass


def test_a_missing_directory_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        with FileLock(str(tmp_path / "missing" / "x.lock"), 1):
            pass


@pytest.mark.parametrize("text, expected", [("", ""), ("n1 pid 3\nrest", "n1 pid 3"), ("  \n", "")])
def test_describe_holder(text, expected):
    assert describe_holder(text) == expected
