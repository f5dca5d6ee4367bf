"""ulhpccelery.transport: one redis-py client per channel and connection pool."""
import os
import sys

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                           "roles", "celery", "files", "ulhpccelery")
sys.path.insert(0, PACKAGE_DIR)

from kombu.transport import redis as kombu_redis  # noqa: E402

from ulhpccelery import config, transport  # noqa: E402


class FakeClient:
    def __init__(self, pool):
        self.connection_pool = pool


def channel(monkeypatch):
    """A Channel without a broker: its pool is an object, and clients are counted."""
    chan = transport.Channel.__new__(transport.Channel)
    chan._pool = object()
    built = []

    def create_client(asynchronous=False):
        built.append(FakeClient(chan._pool))
        return built[-1]

    monkeypatch.setattr(chan, "_create_client", create_client)
    return chan, built


def test_commands_share_one_client_while_the_pool_is_the_same(monkeypatch):
    chan, built = channel(monkeypatch)
    seen = []
    for _attempt in range(3):
        with chan.conn_or_acquire() as client:
            seen.append(client)
    assert len(built) == 1 and seen == [built[0]] * 3


def test_a_new_pool_after_a_connection_error_gets_a_new_client(monkeypatch):
    chan, built = channel(monkeypatch)
    with chan.conn_or_acquire() as first:
        pass
    chan._pool = object()  # what kombu's _disconnect_pools leads to
    with chan.conn_or_acquire() as second:
        pass
    assert first is not second and second.connection_pool is chan._pool and len(built) == 2


def test_a_given_client_is_used_as_is(monkeypatch):
    chan, built = channel(monkeypatch)
    given = FakeClient(None)
    with chan.conn_or_acquire(given) as client:
        assert client is given
    assert not built


def test_the_transport_is_kombus_redis_transport_with_this_channel():
    assert issubclass(transport.Transport, kombu_redis.Transport)
    assert transport.Transport.Channel is transport.Channel
    module, name = config.TRANSPORT.split(":")
    assert getattr(sys.modules[module], name) is transport.Transport


def test_clients_and_workers_use_it_and_flower_gets_kombus_own(tmp_path):
    """Flower's broker pages refuse a transport they do not know by name."""
    ini = tmp_path / "celery.ini"
    ini.write_text("[redis]\nbroker_password=pw\nbroker_hostname=node-1\nbroker_port=64001\n")
    parser = config.read_config(str(ini))
    assert config.celery_settings(parser)["broker_transport"] == config.TRANSPORT
    assert config.celery_settings(parser, worker="celery-worker-1")["broker_transport"] == config.TRANSPORT
    assert "broker_transport" not in config.celery_settings(parser, stock_transport=True)
