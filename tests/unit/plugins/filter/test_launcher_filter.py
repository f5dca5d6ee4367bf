"""The launcher_errors filter: every bad launcher value reported at once, with its own message."""
import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.ulhpc.workspace.plugins.filter import launcher

GOOD = {"service": "redis-server", "state": "started", "script": "ws_log hi\n", "env": {"REDIS_PORT": "1"},
        "config_files": ["/tmp/a.conf", {"path": "/tmp/b.conf", "content": "x"}], "timeout": 0,
        "modules": ["lang/Python", "tools/Redis"], "slurm": {"cpus_per_task": 2}}


def errors(**changes):
    return launcher.launcher_errors(dict(GOOD, **changes))


def test_a_good_call_has_no_error():
    assert errors() == []
    assert launcher.FilterModule().filters()["launcher_errors"] is launcher.launcher_errors


@pytest.mark.parametrize("name", ["Redis", "a b", "x" * 41, "", "redis\n"])
def test_service_names(name):
    assert errors(service=name) == ['launcher_service "%s" must be 1-40 characters of [a-z0-9_-]' % name]


def test_an_empty_body_only_for_a_stopped_service():
    assert errors(script="  \n") == ["launcher_script (the service body) is empty for service redis-server"]
    assert errors(script="", state="stopped") == []


def test_env_names():
    assert errors(env={"1X": "a", "A-B": "b", "OK": "c"}) == [
        "launcher_env keys must be shell variable names: 1X, A-B"]
    assert errors(env={"WS_ROOT": "/x"}) == ["launcher_env must not set WS_* variables (the preamble owns them)"]


def test_config_file_dicts_need_path_and_content():
    assert errors(config_files=[{"path": "/a"}]) == [
        "launcher_config_files: a dict item needs path and content (of service redis-server)"]


def test_timeout_and_modules():
    assert errors(timeout=-1) == ["launcher_timeout must be 0 (workspace_timeout) or more seconds"]
    assert errors(timeout="30") == [] and errors(timeout="soon") == []  # as Jinja's int: 0
    assert errors(modules=["lang/Python 3"]) == ["environment module names must not contain spaces"]


def test_all_messages_at_once_with_the_slurm_ones_last():
    found = errors(service="Bad", env={"WS_X": "1"}, slurm={"nodes": "two"})
    assert found[0].startswith('launcher_service "Bad"') and found[1].startswith("launcher_env must not")
    assert len(found) == 3 and found[2].startswith("launcher_slurm of service Bad")


def test_not_a_dict():
    with pytest.raises(AnsibleFilterError, match="expected a dict"):
        launcher.launcher_errors(["redis"])
