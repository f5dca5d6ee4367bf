"""Verify the python_venv scenario: the venv works, through its module-loading wrapper."""
import os

VENV = "~/.cache/ulhpc-test/venv-molecule-python-venv"


def venv(host):
    return host.run("echo " + VENV).stdout.strip()


def test_wrapper_loads_module_and_runs_venv_python(host):
    path = venv(host)
    cmd = host.run(
        "env -i HOME=$HOME PATH=/usr/bin:/bin %s/bin/ulhpc-python -c "
        "'import os, sys, six; print(sys.prefix, os.environ[\"LOADEDMODULES\"], six.__version__)'" % path)
    assert cmd.rc == 0, cmd.stderr
    prefix, modules, six_version = cmd.stdout.split()
    assert prefix == path
    assert "lang/Python/3.11" in modules.split(":")
    assert six_version == "1.17.0"


def test_requirements_file_records_the_list(host):
    req = host.file(os.path.join(venv(host), "ulhpc-requirements.txt"))
    assert req.is_file
    lines = req.content_string.splitlines()
    assert "# modules: lang/Python/3.11" in lines
    assert lines[-1] == "six==1.17.0"
    assert any(line.startswith("# interpreter: /") for line in lines)


def test_pip_sees_the_package(host):
    cmd = host.run("%s/bin/python -m pip show six" % venv(host))
    assert cmd.rc == 0
    assert "Version: 1.17.0" in cmd.stdout
