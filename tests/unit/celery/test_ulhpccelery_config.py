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


def test_a_worker_keeps_its_unacked_tasks_under_keys_of_its_own(places):
    places["cwd"].write_text(INI + "[celery]\nvisibility_timeout = 600\n")
    parser = config.read_config()
    client = config.celery_settings(parser)
    worker = config.celery_settings(parser, worker="celery-worker-2")
    assert client["broker_transport_options"] == {"visibility_timeout": 600}
    assert worker["broker_transport_options"] == {
        "visibility_timeout": 600, "unacked_key": "unacked:celery-worker-2",
        "unacked_index_key": "unacked_index:celery-worker-2", "unacked_mutex_key": "unacked_mutex:celery-worker-2"}
    # The result backend's options are never the worker's keys.
    assert worker["result_backend_transport_options"] == {"visibility_timeout": 600}
    assert config.worker_name_of("unacked_index:celery-worker-2") == "celery-worker-2"
    assert config.worker_name_of("unacked_index") is None


def test_clients_ride_out_a_short_redis_restart_but_not_forever(places):
    places["cwd"].write_text(INI)
    settings = config.celery_settings(config.read_config())
    policy = settings["task_publish_retry_policy"]
    waits = [min(policy["interval_start"] + k * policy["interval_step"], policy["interval_max"])
             for k in range(policy["max_retries"])]
    assert 45 <= sum(waits) <= 90, sum(waits)
    assert settings["result_backend_always_retry"] is True
    # Celery's backoff: base 10 ms doubled per retry, capped at the maximum; full jitter draws
    # each sleep from [0, that], so about half of this on average.
    longest = sum(min(10 * 2 ** k, settings["result_backend_max_sleep_between_retries_ms"])
                  for k in range(settings["result_backend_max_retries"])) / 1000
    assert 90 <= longest <= 150, longest


def test_the_published_redis_address_wins_over_the_ini(places, tmp_path):
    """Redis moved (a new job, node or port): a process started now finds it through the
    connection file named in celery.ini, with the ini's credentials and TLS."""
    conn = tmp_path / "redis.json"
    places["cwd"].write_text(INI + "connection_file=%s\n" % conn)
    conn.write_text('{"address": "10.0.0.7", "port": 64123, "job_id": "42"}\n')
    settings = config.celery_settings(config.read_config())
    assert settings["broker_url"] == settings["result_backend"] == "rediss://celery:pw%2Fwith%3Aodd%40chars@10.0.0.7:64123/0"
    assert settings["broker_use_ssl"]["ssl_ca_certs"] == "/home/u/.ulhpc/tls/ca.crt"
    # The transport and the result backend follow the file afterwards (ulhpccelery.follow).
    assert settings["broker_transport_options"]["connection_file"] == str(conn)


def test_flower_on_kombus_transport_gets_celerys_backend_and_no_file_option(places, tmp_path):
    """Flower's service script starts it again when Redis moves; its broker pages want kombu's names."""
    conn = tmp_path / "redis.json"
    places["cwd"].write_text(INI + "connection_file=%s\n" % conn)
    settings = config.celery_settings(config.read_config(), stock_transport=True)
    assert "connection_file" not in settings.get("broker_transport_options", {})
    assert config.backend_overrides(settings) == {}


def test_without_a_connection_file_celerys_own_backend_is_kept(places):
    places["cwd"].write_text(INI)
    assert config.backend_overrides(config.celery_settings(config.read_config())) == {}


def test_celery_makes_the_following_backend_from_the_plain_url(places, tmp_path):
    """The URL stays plain (Celery and kombu mask its password wherever they show it); the loader
    maps its scheme to ulhpccelery.backend."""
    from celery import Celery
    from celery.app.backends import by_url
    from kombu.utils.url import maybe_sanitize_url

    from ulhpccelery import backend as ulhpc_backend

    conn = tmp_path / "redis.json"
    places["cwd"].write_text(INI + "connection_file=%s\n" % conn)
    settings = config.celery_settings(config.read_config())
    app = Celery(set_as_current=False)
    app.loader.override_backends = config.backend_overrides(settings)
    cls, url = by_url(settings["result_backend"], app.loader)
    assert cls is ulhpc_backend.Backend and url == settings["result_backend"]
    assert "pw" not in maybe_sanitize_url(settings["result_backend"])


@pytest.mark.parametrize("content", [None, "", "not json", "[1]", '{"address": "n", "port": "64001"}',
                                     '{"address": "", "port": 64001}', '{"address": "n", "port": 0}',
                                     '{"address": "n", "port": true}', '{"port": 64001}'])
def test_without_a_usable_published_address_the_ini_holds(places, tmp_path, content):
    conn = tmp_path / "redis.json"
    places["cwd"].write_text(INI + "connection_file=%s\n" % conn)
    if content is not None:
        conn.write_text(content)
    assert config.celery_settings(config.read_config())["broker_url"].endswith("@node-1:64001/0")
