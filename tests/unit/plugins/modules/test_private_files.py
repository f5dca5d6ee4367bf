"""private_files: directories, files and links in one call; private modes; honest check mode."""
import os

import pytest

from ansible_collections.ulhpc.workspace.plugins.modules import private_files

from module_harness import file_mode as mode, module_runner


@pytest.fixture
def run(monkeypatch):
    return module_runner(monkeypatch, private_files.main)


def test_makes_everything_once_with_private_modes(run, tmp_path):
    root = tmp_path / "ws"
    args = {
        "directories": [str(root), str(root / "run")],
        "files": [{"path": str(root / "config" / "a.ini"), "content": "secret=1\n"},
                  {"path": str(root / "run" / "s.sh"), "content": "#!/bin/sh\n", "mode": "0700"}],
        "links": [{"path": str(root / "etc" / "a.ini"), "src": str(root / "config" / "a.ini")}],
    }
    first = run(args)
    assert first["changed"] and not first.get("failed")
    assert (root / "config" / "a.ini").read_text() == "secret=1\n"
    assert mode(root) == mode(root / "run") == mode(root / "config") == mode(root / "etc") == 0o700
    assert mode(root / "config" / "a.ini") == 0o600 and mode(root / "run" / "s.sh") == 0o700
    assert os.readlink(str(root / "etc" / "a.ini")) == str(root / "config" / "a.ini")
    assert "secret=1" not in repr(first)  # contents are never returned
    second = run(args)
    assert not second["changed"] and second["changed_paths"] == []
    assert sorted(os.listdir(str(root / "config"))) == ["a.ini"]  # no temporary file left


def test_rewrites_only_what_differs(run, tmp_path):
    conf = tmp_path / "c.conf"
    other = tmp_path / "other.conf"
    link = tmp_path / "l"
    conf.write_text("old\n")
    other.write_text("same\n")
    os.chmod(str(other), 0o644)
    os.symlink("elsewhere", str(link))
    os.chmod(str(tmp_path), 0o755)
    result = run({"directories": [str(tmp_path)],
                  "files": [{"path": str(conf), "content": "new\n"}, {"path": str(other), "content": "same\n"}],
                  "links": [{"path": str(link), "src": str(conf)}]})
    assert result["changed_paths"] == [str(tmp_path), str(conf), str(other), str(link)]
    assert conf.read_text() == "new\n" and mode(conf) == 0o600 and mode(other) == 0o600
    assert mode(tmp_path) == 0o700 and os.readlink(str(link)) == str(conf)


def test_check_mode_reports_and_writes_nothing(run, tmp_path):
    target = tmp_path / "new" / "f"
    result = run({"files": [{"path": str(target), "content": "x"}]}, check=True)
    assert result["changed"] and result["changed_paths"] == [str(tmp_path / "new"), str(target)]
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("args, message", [
    ({"files": [{"path": "relative/f", "content": "x"}]}, "relative/f is not an absolute path"),
    ({"files": [{"path": "/tmp/f", "content": "x", "mode": "rw"}]}, "mode 'rw' of /tmp/f is not an octal mode"),
])
def test_bad_input_is_refused_before_anything_changes(run, args, message):
    result = run(args)
    assert result["failed"] and message in result["msg"] and "nothing was changed" in result["msg"]


def test_a_path_in_the_way_fails_the_whole_call_before_any_change(run, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    first = tmp_path / "first"
    result = run({"directories": [str(first), str(blocker)]})
    assert result["failed"] and "blocker exists and is not a directory" in result["msg"]
    assert not first.exists()
