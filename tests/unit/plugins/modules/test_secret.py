"""secret: generate once, 0600 in 0700, never regenerate, honest check mode."""
import os

import pytest

from ansible_collections.ulhpc.workspace.plugins.modules import secret

from module_harness import file_mode as mode, module_runner


@pytest.fixture
def run(monkeypatch):
    return module_runner(monkeypatch, secret.main)


def test_creates_a_private_hex_secret_once(run, tmp_path):
    path = tmp_path / "secrets" / "redis.password"
    first = run({"path": str(path)})
    assert first["changed"] and first["created"] and not first.get("failed")
    assert len(first["value"]) == 64 and int(first["value"], 16) >= 0
    assert path.read_text() == first["value"]
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    second = run({"path": str(path)})
    assert not second["changed"] and not second["created"]
    assert second["value"] == first["value"]


def test_urlsafe_format_and_entropy(run, tmp_path):
    result = run({"path": str(tmp_path / "t"), "format": "urlsafe", "bytes": 24})
    assert len(result["value"]) == 32 and "=" not in result["value"]
    assert set(result["value"]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    other = run({"path": str(tmp_path / "u"), "format": "urlsafe", "bytes": 24})
    assert other["value"] != result["value"]


def test_too_few_bytes_is_refused_before_writing(run, tmp_path):
    result = run({"path": str(tmp_path / "s"), "bytes": 15})
    assert result["failed"] and "at least 16" in result["msg"]
    assert not (tmp_path / "s").exists()


def test_check_mode_writes_nothing(run, tmp_path):
    path = tmp_path / "secrets" / "s"
    result = run({"path": str(path)}, check=True)
    assert result["changed"] and result["created"] and result["value"] == ""
    assert not path.parent.exists()


def test_existing_secret_keeps_its_value_and_gets_private_modes(run, tmp_path):
    parent = tmp_path / "secrets"
    parent.mkdir(mode=0o755)
    os.chmod(str(parent), 0o755)
    path = parent / "s"
    path.write_text("given-by-the-user\n")
    os.chmod(str(path), 0o644)
    checked = run({"path": str(path)}, check=True)
    assert checked["changed"] and not checked["created"]
    assert sorted(checked["fixed_modes"]) == sorted([str(parent), str(path)])
    assert mode(path) == 0o644  # check mode changed nothing
    result = run({"path": str(path)})
    assert result["changed"] and result["value"] == "given-by-the-user"
    assert mode(path) == 0o600 and mode(parent) == 0o700
    assert path.read_text() == "given-by-the-user\n"
    assert not run({"path": str(path)})["changed"]


def test_empty_file_is_regenerated(run, tmp_path):
    path = tmp_path / "s"
    path.write_text("")
    result = run({"path": str(path)})
    assert result["created"] and len(result["value"]) == 64 and path.read_text() == result["value"]


def test_directory_path_is_refused(run, tmp_path):
    result = run({"path": str(tmp_path)})
    assert result["failed"] and "is a directory" in result["msg"]


def test_concurrent_first_runs_all_return_the_file_content(tmp_path):
    """Real processes racing on one new path: each returns exactly what the file holds."""
    import json
    import subprocess
    import sys

    runner = (
        "import json, sys\n"
        "from ansible.module_utils import basic\n"
        "from ansible.module_utils.testing import patch_module_args\n"
        "from ansible_collections.ulhpc.workspace.plugins.modules import secret\n"
        "def out(self, **kw):\n"
        "    print(json.dumps(kw)); sys.exit(0)\n"
        "def failed(self, **kw):\n"
        "    out(self, failed=True, **kw)\n"
        "basic.AnsibleModule.exit_json = out\n"
        "basic.AnsibleModule.fail_json = failed\n"
        "with patch_module_args({'path': sys.argv[1]}):\n"
        "    secret.main()\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for round_no in range(15):
        path = tmp_path / ("race%d" % round_no) / "s.password"
        procs = [subprocess.Popen([sys.executable, "-c", runner, str(path)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env) for _racer in range(6)]
        outputs = [proc.communicate(timeout=60) for proc in procs]
        results = [json.loads(out) if out.strip() else {"failed": True, "stderr": err} for out, err in outputs]
        assert all(not r.get("failed") for r in results), [r.get("stderr") or r.get("msg") for r in results]
        assert {r["value"] for r in results} == {path.read_text()}
        assert sum(1 for r in results if r["created"]) >= 1
        assert [p.name for p in path.parent.iterdir()] == ["s.password"]  # no temporary file left


@pytest.mark.parametrize("check", [False, True])
def test_a_file_where_the_directory_goes_is_refused(run, tmp_path, check):
    parent = tmp_path / "secrets"
    parent.write_text("not a directory")
    result = run({"path": str(parent / "s")}, check=check)
    assert result["failed"] and "exists and is not a directory" in result["msg"]
    assert parent.read_text() == "not a directory"


def test_paths_make_several_secrets_in_one_call_and_keep_them(run, tmp_path):
    first_path, second_path = tmp_path / "s" / "a.password", tmp_path / "s" / "b.password"
    second_path.parent.mkdir(mode=0o700)
    second_path.write_text("kept")
    os.chmod(str(second_path), 0o644)
    result = run({"paths": [str(first_path), str(second_path)], "bytes": 16})
    assert result["changed"] and result["created"]
    assert result["values"] == [first_path.read_text(), "kept"] and len(result["values"][0]) == 32
    assert result["fixed_modes"] == [str(second_path)] and mode(second_path) == 0o600
    again = run({"paths": [str(first_path), str(second_path)]})
    assert not again["changed"] and again["values"] == result["values"]


def test_path_and_paths_are_exclusive_and_one_is_needed(run, tmp_path):
    both = run({"path": str(tmp_path / "a"), "paths": [str(tmp_path / "b")]})
    assert both["failed"] and "mutually exclusive" in both["msg"]
    neither = run({})
    assert neither["failed"] and "one of the following is required" in neither["msg"]
    assert list(tmp_path.iterdir()) == []


def test_state_existing_reads_and_never_creates(run, tmp_path):
    there = tmp_path / "s" / "there.password"
    there.parent.mkdir(mode=0o700)
    there.write_text("abc")
    os.chmod(str(there), 0o640)
    missing = tmp_path / "t" / "missing.password"
    refused = run({"paths": [str(there), str(missing)], "state": "existing"})
    assert refused["failed"] and "%s is missing" % missing in refused["msg"]
    assert not missing.parent.exists() and mode(there) == 0o640  # nothing changed, not even a mode
    read = run({"paths": [str(there)], "state": "existing"})
    assert read["values"] == ["abc"] and not read["created"] and mode(there) == 0o600
    (tmp_path / "s" / "empty").write_text("")
    empty = run({"path": str(tmp_path / "s" / "empty"), "state": "existing"})
    assert empty["failed"] and "is empty" in empty["msg"]


def test_existing_paths_are_read_beside_the_secrets_the_call_makes(run, tmp_path):
    made_by_redis = tmp_path / "s" / "redis.password"
    made_by_redis.parent.mkdir(mode=0o700)
    made_by_redis.write_text("r3dis")
    os.chmod(str(made_by_redis), 0o644)
    missing = tmp_path / "s" / "redis-flower.password"
    flower = tmp_path / "s" / "flower.password"
    refused = run({"existing_paths": [str(made_by_redis), str(missing)], "paths": [str(flower)], "bytes": 24})
    assert refused["failed"] and "%s is missing" % missing in refused["msg"]
    assert not flower.exists() and mode(made_by_redis) == 0o644  # nothing made, not even a mode fixed
    missing.write_text("fl0wer")
    checked = run({"existing_paths": [str(made_by_redis), str(missing)], "paths": [str(flower)]}, check=True)
    assert checked["changed"] and checked["created"] and checked["values"] == [""]
    assert checked["existing_values"] == ["r3dis", "fl0wer"] and not flower.exists()
    both = run({"existing_paths": [str(made_by_redis), str(missing)], "paths": [str(flower)], "bytes": 24})
    assert both["existing_values"] == ["r3dis", "fl0wer"] and both["created"] and len(both["values"][0]) == 48
    assert flower.read_text() == both["values"][0] and mode(made_by_redis) == 0o600
    again = run({"existing_paths": [str(made_by_redis)], "path": str(flower)})
    assert not again["changed"] and again["value"] == both["values"][0] and again["existing_values"] == ["r3dis"]
    alone = run({"existing_paths": [str(missing)]})
    assert alone["existing_values"] == ["fl0wer"] and "values" not in alone and "value" not in alone
    neither = run({})
    assert neither["failed"] and "one of the following is required" in neither["msg"]
