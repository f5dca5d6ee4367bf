"""ipcluster-ctl.py profile --block: the managed block of ipcluster_config.py and the digest of
the user's own lines, in the same call that finds the profile."""
import hashlib
import json
import os
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                      "roles", "ipcluster", "files", "ipcluster-ctl.py")
BEGIN = "# BEGIN ulhpc.workspace.ipcluster managed block: set the role's variables, do not edit"
END = "# END ulhpc.workspace.ipcluster managed block: set the role's variables, do not edit"


def profile(tmp_path, block, check=False):
    argv = [sys.executable, SCRIPT, "profile", str(tmp_path), "p", "--block", block] + (["--check"] if check else [])
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def config(tmp_path, text=None):
    path = tmp_path / "profile_p" / "ipcluster_config.py"
    if text is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.chmod(str(path), 0o640)
    return path


def test_the_block_is_added_once_then_replaced_and_the_users_lines_kept(tmp_path):
    path = config(tmp_path, "# ipython's own\nc.Mine = 1\n")
    first = profile(tmp_path, "c.Cluster.n = 2")
    assert first["changed"] and first["block_changed"]
    assert path.read_text() == "# ipython's own\nc.Mine = 1\n%s\nc.Cluster.n = 2\n%s\n" % (BEGIN, END)
    assert oct(path.stat().st_mode & 0o777) == "0o640"  # the file keeps its mode
    again = profile(tmp_path, "c.Cluster.n = 2")
    assert not again["changed"] and again["settings_sha256"] == first["settings_sha256"]
    assert first["settings_sha256"] == hashlib.sha256(b"# ipython's own\nc.Mine = 1\n").hexdigest()
    path.write_text(path.read_text() + "c.Other = 3\n")  # the user's own setting, after the block
    mine = profile(tmp_path, "c.Cluster.n = 4")
    assert mine["settings_sha256"] != first["settings_sha256"]
    assert path.read_text().endswith("%s\nc.Cluster.n = 4\n%s\nc.Other = 3\n" % (BEGIN, END))


def test_check_mode_reports_the_block_change_and_writes_nothing(tmp_path):
    path = config(tmp_path, "c.Mine = 1\n")
    result = profile(tmp_path, "c.Cluster.n = 2", check=True)
    assert result["changed"] and result["block_changed"] and path.read_text() == "c.Mine = 1\n"


def test_no_profile_yet_no_digest(tmp_path):
    result = profile(tmp_path, "c.Cluster.n = 2", check=True)
    assert not result["exists"] and "settings_sha256" not in result
