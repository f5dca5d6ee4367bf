"""ulhpccelery.follow: a connection connects where the connection file says Redis is now."""
import json
import os
import sys

import redis

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                           "roles", "celery", "files", "ulhpccelery")
sys.path.insert(0, PACKAGE_DIR)

from ulhpccelery import follow  # noqa: E402


class Recording(redis.Connection):
    """A redis-py connection that records where it would connect instead of connecting."""

    def _connect(self):
        self.went = (self.host, self.port)
        return None


def test_each_connect_reads_the_published_address(tmp_path):
    path = tmp_path / "redis.json"
    path.write_text(json.dumps({"address": "node-2", "port": 64002}))
    connection = follow.following(Recording, str(path))(host="node-1", port=64001)
    connection._connect()
    assert connection.went == ("node-2", 64002)
    path.write_text(json.dumps({"address": "node-3", "port": 64003}))  # Redis moved again
    connection._connect()
    assert connection.went == ("node-3", 64003)


def test_without_a_usable_file_the_address_is_kept(tmp_path):
    connection = follow.following(Recording, str(tmp_path / "missing.json"))(host="node-1", port=64001)
    connection._connect()
    assert connection.went == ("node-1", 64001)


def test_the_class_stays_what_it_was(tmp_path):
    cls = follow.following(redis.SSLConnection, str(tmp_path / "redis.json"))
    assert issubclass(cls, redis.SSLConnection) and cls.__name__ == "FollowingSSLConnection"


def test_the_result_backend_follows_too(tmp_path):
    from celery import Celery

    from ulhpccelery import backend

    path = str(tmp_path / "redis.json")
    app = Celery(set_as_current=False)
    app.conf.broker_transport_options = {"connection_file": path}
    result = backend.Backend(app=app, url="rediss://:pw@node-1:64001/0?ssl_cert_reqs=required")
    cls = result.connparams["connection_class"]
    assert issubclass(cls, redis.SSLConnection) and cls.__name__ == "FollowingSSLConnection"
    assert (result.connparams["host"], result.connparams["port"]) == ("node-1", 64001)


def test_the_app_makes_the_following_backend_when_celery_ini_names_a_connection_file(tmp_path, monkeypatch):
    from ulhpccelery import backend
    from ulhpccelery.app import _App

    ini = tmp_path / "celery.ini"
    ini.write_text("[redis]\nbroker_password=pw\nbroker_hostname=node-1\nbroker_port=64001\nconnection_file=%s\n"
                   % (tmp_path / "redis.json"))
    monkeypatch.setenv("ULHPCCELERY_CONFIG", str(ini))
    app = _App("probe", set_as_current=False)
    assert isinstance(app.backend, backend.Backend)
    assert app.backend.connparams["connection_class"].__name__ == "FollowingConnection"
    monkeypatch.setenv("ULHPCCELERY_STOCK_TRANSPORT", "1")  # Flower: Celery's own backend
    assert type(_App("probe", set_as_current=False).backend).__name__ == "RedisBackend"
