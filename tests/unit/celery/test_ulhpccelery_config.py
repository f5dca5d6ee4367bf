"""ulhpccelery reads the celery.ini the tutorial's code would, and offers the tutorial's names."""
import os
import sys

import pytest

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                           "roles", "celery", "files", "ulhpccelery")
sys.path.insert(0, PACKAGE_DIR)

from ulhpccelery import config  # noqa: E402

INI = """[redis]
broker_password=pw/with:odd@chars
broker_hostname=node-1
broker_port=64001
broker_username=celery
broker_tls=true
broker_ca_file=/home/u/.ulhpc/tls/ca.crt
"""


@pytest.fixture
def places(tmp_path, monkeypatch):
    """A current directory, a workspace root and a venv prefix, each able to hold a celery.ini."""
    cwd, ws_root, prefix = tmp_path / "cwd", tmp_path / "ws", tmp_path / "venv"
    for path in (cwd, ws_root / "config", prefix / "etc" / "ulhpccelery"):
        path.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    monkeypatch.delenv("WS_ROOT", raising=False)
    monkeypatch.setattr(config.sys, "prefix", str(prefix))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return {"cwd": cwd / "celery.ini", "ws": ws_root / "config" / "celery.ini",
            "venv": prefix / "etc" / "ulhpccelery" / "celery.ini", "root": ws_root}


def test_lookup_order(places, monkeypatch):
    default = os.path.join(places["root"].parent, "home", ".ulhpc", "workspaces", "default", "config", "celery.ini")
    assert config.config_path() == default
    places["venv"].write_text(INI)
    assert config.config_path() == str(places["venv"])
    places["ws"].write_text(INI)
    monkeypatch.setenv("WS_ROOT", str(places["root"]))
    assert config.config_path() == str(places["ws"])
    # The tutorial's way: celery.ini in the directory you run from comes first...
    places["cwd"].write_text(INI)
    assert config.config_path() == str(places["cwd"])
    # ...unless a service names its file.
    monkeypatch.setenv(config.ENV_VAR, "/elsewhere/celery.ini")
    assert config.config_path() == "/elsewhere/celery.ini"


def test_settings_from_the_tutorial_keys_plus_tls(places):
    places["cwd"].write_text(INI)
    settings = config.celery_settings(config.read_config())
    assert settings["broker_url"] == "rediss://celery:pw%2Fwith%3Aodd%40chars@node-1:64001/0"
    assert settings["result_backend"] == settings["broker_url"]
    assert settings["broker_use_ssl"]["ssl_ca_certs"] == "/home/u/.ulhpc/tls/ca.crt"


def test_a_missing_key_names_the_file(places):
    places["cwd"].write_text("[redis]\nbroker_password=x\nbroker_hostname=h\n")
    with pytest.raises(RuntimeError, match=r"celery.ini: \[redis\] broker_port is missing"):
        config.read_config()


def test_the_tutorial_module_names(places):
    places["cwd"].write_text(INI)  # the app reads it when first used (no connection is made)
    import ulhpccelery
    from ulhpccelery import tasks
    from ulhpccelery.celery import app
    assert app is ulhpccelery.app and tasks.add.app is app
    assert {"ulhpccelery.tasks.add", "ulhpccelery.tasks.mul", "ulhpccelery.tasks.xsum"} <= set(app.tasks.keys())
