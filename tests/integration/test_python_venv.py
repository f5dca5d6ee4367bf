"""The python_venv role as the unprivileged test user, through molecule/python_venv/converge.yml.

A small venv (six / idna) built from the `python3` of the test cluster's Lmod module
lang/Python/3.11: created, left alone on a re-run, changed when the list changes, installed
offline from a wheelhouse, and refused (nothing created) for a bad interpreter or module.
"""
import os

import pytest
import yaml

from conftest import REPO, run_as, run_playbook

CONVERGE = "../molecule/python_venv/converge.yml"
TEST_USER = os.environ.get("WS_TEST_USER", "wsuser")
HOME = os.path.expanduser("~" + TEST_USER)
CACHE = os.path.join(HOME, ".cache", "ulhpc-test")
VENV = os.path.join(CACHE, "venv-t-python-venv")
WHEELS = os.path.join(CACHE, "wheelhouse-t-python-venv")
REQ = os.path.join(VENV, "ulhpc-requirements.txt")
with open(os.path.join(REPO, "roles", "python_venv", "defaults", "main.yml")) as _defaults:
    DEFAULT_PACKAGES = yaml.safe_load(_defaults)["python_venv_packages"]
SHOW = ("import importlib.metadata as md, os, sys; "
        "print(sys.prefix, os.environ.get('LOADEDMODULES', '-'), "
        "' '.join(sorted(d.metadata['Name'].lower() for d in md.distributions())))")


def converge(check=False, **extra):
    return run_playbook(CONVERGE, dict({"python_venv_path": VENV}, **extra), check=check)


def show(wrapper=True):
    """(prefix, loaded modules, installed distributions) as seen through the venv's python."""
    exe = os.path.join(VENV, "bin", "ulhpc-python" if wrapper else "python")
    proc = run_as([exe, "-c", SHOW])
    assert proc.returncode == 0, proc.stderr
    prefix, modules, *dists = proc.stdout.split()
    return prefix, modules, set(dists)


def read(path):
    with open(path) as handle:
        return handle.read()


@pytest.fixture(scope="module")
def created():
    run_as(["rm", "-rf", VENV], check=True)
    result = converge()
    assert result.rc == 0, result.stdout[-4000:]
    return result


def test_creates_the_venv_from_the_module_python(created):
    assert created.changed > 0
    prefix, modules, dists = show()
    assert prefix == VENV
    assert "lang/Python/3.11" in modules.split(":")
    assert "six" in dists
    # The venv was made by the module's python3 (its bin dir is the venv's home).
    assert "home = /opt/testbed/python/3.11/bin" in read(os.path.join(VENV, "pyvenv.cfg"))
    lines = read(REQ).splitlines()
    assert "# modules: lang/Python/3.11" in lines and lines[-1] == "six==1.17.0"
    assert "/bin/python (wrapper %s/bin/ulhpc-python, ready True)" % VENV in " ".join(created.stdout.split())


def test_second_run_changes_nothing(created):
    before = os.stat(REQ).st_mtime_ns
    again = converge()
    assert again.rc == 0 and again.changed == 0, again.stdout[-4000:]
    assert os.stat(REQ).st_mtime_ns == before


def test_check_mode_reports_a_change_and_makes_none(created):
    before = read(REQ)
    checked = converge(check=True, python_venv_extra_packages=["idna==3.10"])
    assert checked.rc == 0, checked.stdout[-4000:]
    assert checked.changed > 0
    assert "Would create or update %s (pip install of six==1.17.0, idna==3.10)" % VENV in " ".join(checked.stdout.split())
    assert read(REQ) == before
    assert "idna" not in show()[2]


def test_changed_list_is_applied(created):
    result = converge(python_venv_packages=["idna==3.10"])
    assert result.rc == 0 and result.changed > 0, result.stdout[-4000:]
    dists = show()[2]
    assert "idna" in dists and "six" not in dists  # six left the list: uninstalled
    assert read(REQ).splitlines()[-1] == "idna==3.10"
    again = converge(python_venv_packages=["idna==3.10"])
    assert again.rc == 0 and again.changed == 0, again.stdout[-4000:]


def test_offline_install_from_a_wheelhouse(created):
    # Fails without an index: the recorded list stays as it was, so the next run retries.
    before = read(REQ)
    offline = converge(python_venv_packages=["six==1.17.0"], python_venv_pip_args=["--no-index"])
    assert offline.rc != 0
    assert "pip install into %s failed" % VENV in offline.stdout
    assert read(REQ) == before
    proc = run_as([os.path.join(VENV, "bin", "python"), "-m", "pip", "download", "--no-deps",
                   "-d", WHEELS, "six==1.17.0"])
    assert proc.returncode == 0, proc.stderr
    result = converge(python_venv_packages=["six==1.17.0"],
                      python_venv_pip_args=["--no-index", "--find-links", WHEELS])
    assert result.rc == 0 and result.changed > 0, result.stdout[-4000:]
    dists = show()[2]
    assert "six" in dists and "idna" not in dists


def test_dropping_the_modules_rewrites_the_wrapper_only(created):
    cfg = os.stat(os.path.join(VENV, "pyvenv.cfg")).st_ino
    result = converge(python_venv_modules=[], python_venv_interpreter="/usr/bin/python3")
    assert result.rc == 0 and result.changed > 0, result.stdout[-4000:]
    # Same interpreter (both resolve to /usr/bin/python3.11): the venv is kept, not re-created.
    assert os.stat(os.path.join(VENV, "pyvenv.cfg")).st_ino == cfg
    assert show()[1] == "-"
    assert "# modules: -" in read(REQ).splitlines()


LOCAL = os.path.join(CACHE, "tlocalpkg")
WRITE_LOCAL = """
import os, sys
root, value = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(root, "tlocalpkg"), exist_ok=True)
with open(os.path.join(root, "pyproject.toml"), "w") as handle:
    handle.write('[build-system]\\nrequires = ["setuptools>=61"]\\nbuild-backend = "setuptools.build_meta"\\n'
                 '[project]\\nname = "tlocalpkg"\\nversion = "1.0"\\n')
with open(os.path.join(root, "tlocalpkg", "__init__.py"), "w") as handle:
    handle.write("VALUE = %s\\n" % value)
"""


def local_value():
    proc = run_as([os.path.join(VENV, "bin", "python"), "-c", "import tlocalpkg; print(tlocalpkg.VALUE)"])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_a_local_package_is_installed_again_only_when_its_source_changes(created):
    """The digest of the source tree decides (no remote call per file on a warm run)."""
    run_as(["rm", "-rf", LOCAL], check=True)
    run_as(["python3", "-c", WRITE_LOCAL, LOCAL, "1"], check=True)
    local = {"python_venv_local_packages": [LOCAL]}
    first = converge(**local)
    assert first.rc == 0 and first.changed > 0, first.stdout[-4000:]
    assert local_value() == "1"
    again = converge(**local)
    assert again.rc == 0 and again.changed == 0, again.stdout[-4000:]
    run_as(["python3", "-c", WRITE_LOCAL, LOCAL, "2"], check=True)
    checked = converge(check=True, **local)
    assert checked.rc == 0 and checked.changed > 0, checked.stdout[-4000:]
    assert "Would pip install tlocalpkg into %s" % VENV in " ".join(checked.stdout.split())
    assert local_value() == "1"
    applied = converge(**local)
    assert applied.rc == 0 and applied.changed > 0, applied.stdout[-4000:]
    assert local_value() == "2"
    # Caches next to the sources do not count as a change.
    run_as(["mkdir", "-p", os.path.join(LOCAL, "tlocalpkg", "__pycache__")], check=True)
    run_as(["touch", os.path.join(LOCAL, "tlocalpkg", "__pycache__", "x.pyc")], check=True)
    final = converge(**local)
    assert final.rc == 0 and final.changed == 0, final.stdout[-4000:]


BAD = os.path.join(CACHE, "venv-t-python-venv-bad")


@pytest.mark.parametrize("extra, message", [
    ({"python_venv_interpreter": "/opt/no/such/python3"},
     "python interpreter '/opt/no/such/python3' not found or not executable"),
    ({"python_venv_interpreter": "python9.9", "python_venv_modules": []},
     "python interpreter 'python9.9' not found or not executable"),
    ({"python_venv_modules": ["lang/NoSuchPython/9.9"]},
     "environment module 'lang/NoSuchPython/9.9' cannot be loaded"),
    ({"python_venv_path": "relative/venv"}, "python_venv_path must be an absolute path"),
    # The default pins need Python >= 3.11 (simulated with a higher minimum than the 3.11 here).
    ({"python_venv_packages": DEFAULT_PACKAGES, "__python_venv_default_packages_min_python": "99.0"},
     "the default python_venv_packages are pinned for Python >= 99.0, but python3 is Python 3.11"),
    ({"python_venv_packages": ["--index-url=http://example.invalid/"]},
     "packages must be pip requirement specifiers"),
])
def test_bad_input_fails_clearly_and_creates_nothing(extra, message):
    run_as(["rm", "-rf", BAD], check=True)  # nothing left by an earlier run may pass for "created nothing"
    result = run_playbook(CONVERGE, dict({"python_venv_path": BAD}, **extra))
    assert result.rc != 0
    assert message in " ".join(result.stdout.split()), result.stdout[-4000:]
    assert not os.path.exists(BAD)
