"""ulhpccelery.transport: one redis-py client per channel and connection pool."""
import json
import os
import sys

import pytest

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


# --- RESERVE: taking a task and recording it as unacknowledged in one step -------------------

class FakeConnection:
    def __init__(self):
        self.sent = []
        self._sock = object()

    def send_command(self, *args):
        self.sent.append(list(args))

    def disconnect(self):
        self._sock = None


class FakeBrpopClient:
    """The channel's BRPOP client: replies are queued by the test, in order."""

    def __init__(self, replies):
        self.connection = FakeConnection()
        self.replies = list(replies)
        self.parsed = []

    def parse_response(self, connection, command, **options):
        self.parsed.append(command)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


class FakeShared:
    def __init__(self):
        self.loaded = []

    def script_load(self, script):
        self.loaded.append(script)


class FakeKombuConnection:
    def __init__(self):
        self.delivered = []

    def _deliver(self, payload, queue):
        self.delivered.append((queue, payload))


def payload(tag):
    return {"body": "e30=", "properties": {"delivery_tag": tag, "delivery_info": {"exchange": "", "routing_key": "celery"}}}


def consuming(monkeypatch, queues, replies, prefix=""):
    """A channel consuming ``queues`` (with acknowledgements) over a scripted BRPOP connection."""
    chan = transport.Channel.__new__(transport.Channel)
    chan.reserved_tags, chan._no_ack_consumers, chan._consumers = set(), {}, {"ctag"}
    chan._active_queues = list(queues)
    chan._queue_cycle = kombu_redis.cycle_by_name("round_robin")()
    chan._queue_cycle.update(queues)
    chan.global_keyprefix = prefix
    chan.unacked_key, chan.unacked_index_key = "unacked:w1", "unacked_index:w1"
    chan.priority_steps = [0, 3, 6, 9]
    chan.brpop_timeout = 1
    chan.connection_errors = (ConnectionError,)
    shared = FakeShared()
    monkeypatch.setattr(chan, "_create_client", lambda asynchronous=False: shared)
    chan._pool = object()
    chan.__dict__["client"] = FakeBrpopClient(replies)
    chan.__dict__["connection"] = FakeKombuConnection()
    monkeypatch.setattr(chan, "_flush_brpop_reauth", lambda: None)
    monkeypatch.setattr(type(chan), "active_queues", property(lambda self: set(self._active_queues)))
    return chan, shared


def one_round(chan):
    """kombu's cycle: send (start), then read the reply; Empty means nothing was delivered."""
    chan._brpop_start()
    try:
        return chan._brpop_read()
    except transport.Empty:
        return None


def test_a_task_is_taken_and_recorded_by_one_script_over_every_key_in_kombus_order(monkeypatch):
    item = json.dumps(payload("tag-1")).encode()
    chan, _shared = consuming(monkeypatch, ["celery"], [[b"celery", item, 1]])
    assert one_round(chan) is True
    sent = chan.client.connection.sent[0]
    sep = chan.sep
    assert sent[:2] == ["EVALSHA", transport.RESERVE_SHA]
    assert sent[2:] == [6, "celery", "celery%s3" % sep, "celery%s6" % sep, "celery%s9" % sep,
                        "unacked:w1", "unacked_index:w1"]
    assert chan.connection.delivered == [("celery", payload("tag-1"))]
    assert chan.reserved_tags == {"tag-1"} and chan._in_poll is None


def test_a_recorded_task_is_not_recorded_again_and_an_unrecorded_one_is(monkeypatch):
    chan, _shared = consuming(monkeypatch, ["celery"], [])
    chan.reserved_tags.add("tag-1")
    written = []
    monkeypatch.setattr(kombu_redis.QoS, "append", lambda self, message, tag: written.append(tag))

    class QuietQoS(transport.QoS):
        restore_at_shutdown = False  # no requeue at the test process's exit

    qos = QuietQoS(chan)

    class Message:
        delivery_tag = "x"

    qos.append(Message(), "tag-1")
    qos.append(Message(), "tag-2")
    assert written == ["tag-2"] and not chan.reserved_tags and set(qos._delivered) == {"tag-1"}


def test_an_idle_consumer_waits_without_taking_then_takes(monkeypatch):
    item = json.dumps(payload("tag-2")).encode()
    chan, _shared = consuming(monkeypatch, ["celery"], [None, b"x", [b"celery%s3" % chan_sep().encode(), item, 1]])
    assert one_round(chan) is None  # nothing to take
    assert one_round(chan) is None  # the wait ended: something arrived
    assert one_round(chan) is True
    kinds = [command[0] for command in chan.client.connection.sent]
    assert kinds == ["EVALSHA", "BLMOVE", "EVALSHA"]
    assert chan.client.connection.sent[1] == ["BLMOVE", "celery", "celery", "RIGHT", "RIGHT", transport.WAIT_SECONDS]
    assert chan.client.parsed == ["EVALSHA", "BLMOVE", "EVALSHA"]
    assert chan.connection.delivered == [("celery", payload("tag-2"))]


def chan_sep():
    return transport.Channel.sep


def test_the_wait_follows_the_queue_of_the_last_task(monkeypatch):
    item = json.dumps(payload("tag-3")).encode()
    chan, _shared = consuming(monkeypatch, ["celery", "w1.dq"], [[b"w1.dq", item, 1], None, None])
    assert one_round(chan) is True
    assert one_round(chan) is None
    assert one_round(chan) is None
    assert chan.client.connection.sent[2] == ["BLMOVE", "w1.dq", "w1.dq", "RIGHT", "RIGHT", transport.WAIT_SECONDS]


def test_a_server_without_the_script_gets_it_and_the_next_round_runs_it(monkeypatch):
    item = json.dumps(payload("tag-4")).encode()
    chan, shared = consuming(monkeypatch, ["celery"], [transport.NoScriptError("NOSCRIPT"), [b"celery", item, 1]])
    assert one_round(chan) is None and shared.loaded == [transport.RESERVE]
    assert one_round(chan) is True


def test_a_task_the_script_could_not_read_is_handed_over_unrecorded(monkeypatch):
    chan, _shared = consuming(monkeypatch, ["celery"], [[b"celery", json.dumps(payload("tag-5")).encode(), 0]])
    assert one_round(chan) is True and not chan.reserved_tags


@pytest.mark.parametrize("no_ack, prefix", [(True, ""), (False, "pfx:")])
def test_consumers_without_acks_or_with_a_key_prefix_keep_kombus_brpop(monkeypatch, no_ack, prefix):
    chan, _shared = consuming(monkeypatch, ["celery"], [], prefix=prefix)
    if no_ack:
        chan._no_ack_consumers["ctag"] = "celery"
    started = []
    monkeypatch.setattr(kombu_redis.Channel, "_brpop_start", lambda self, timeout=None: started.append(timeout))
    chan._brpop_start()
    assert started == [None] and not chan.client.connection.sent and chan._pending is None


def test_the_script_records_what_kombus_qos_records():
    """The hash entry must load as kombu's [message, exchange, routing_key] (restore_by_tag)."""
    assert "'[' .. item .. ','" in transport.RESERVE
    assert "KEYS[n + 1], tag" in transport.RESERVE and "KEYS[n + 2], now" in transport.RESERVE


def test_a_channel_given_the_connection_file_makes_connections_that_follow_it(monkeypatch):
    import redis

    monkeypatch.setattr(kombu_redis.Channel, "_connparams",
                        lambda self, asynchronous=False: {"host": "node-1", "port": 64001, "connection_class": redis.SSLConnection})
    chan = transport.Channel.__new__(transport.Channel)
    assert chan._connparams()["connection_class"] is redis.SSLConnection  # no file: kombu's own
    chan.connection_file = "/home/u/.ulhpc/workspaces/w/run/redis.json"
    cls = chan._connparams(asynchronous=True)["connection_class"]
    assert issubclass(cls, redis.SSLConnection) and cls is not redis.SSLConnection
    assert "connection_file" in transport.Channel.from_transport_options


def test_cancelled_consumers_without_acks_are_forgotten(monkeypatch):
    chan, _shared = consuming(monkeypatch, ["celery"], [])
    chan._no_ack_consumers = {"gone": "celery", "ctag": "reply.q"}
    assert chan._reserves(["celery"]) and chan._no_ack_consumers == {"ctag": "reply.q"}
    assert not chan._reserves(["reply.q"])
