"""ulhpccelery.backend: a result stored in one script call, results already received as messages
not fetched again."""
import contextlib
import hashlib
import json
import os
import sys

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                           "roles", "celery", "files", "ulhpccelery")
sys.path.insert(0, PACKAGE_DIR)

from celery import Celery, states  # noqa: E402
from celery.backends import redis as celery_redis  # noqa: E402

from ulhpccelery import backend, lua  # noqa: E402


class Result:
    """What on_wait_for_pending needs of an AsyncResult: its cache."""


def consumer(monkeypatch, messages, waiter=False):
    """A ResultConsumer whose pub/sub connection holds ``messages`` (task ids) already received;
    reading one fills the waiting result of that id, as Celery's on_state_change does."""
    cons = backend.ResultConsumer.__new__(backend.ResultConsumer)
    cons._pubsub = object()
    cons._socket_waiter = waiter
    cons.waiting = {}
    cons.fetched = []
    monkeypatch.setattr(cons, "_locked", contextlib.nullcontext)

    def drain_one(pubsub, timeout):
        assert timeout == 0  # never waits for a message
        if not messages:
            return False
        task_id = messages.pop(0)
        if task_id in cons.waiting:
            cons.waiting[task_id]._cache = {"status": "SUCCESS", "task_id": task_id}
        return True

    monkeypatch.setattr(cons, "_drain_one", drain_one)
    monkeypatch.setattr(celery_redis.ResultConsumer, "on_wait_for_pending",
                        lambda self, result, **kwargs: self.fetched.append(result))

    def base_wait(self, result, timeout=None, on_interval=None, on_message=None, **kwargs):
        # Celery's: fetch (on_wait_for_pending), then read messages with on_message installed.
        self.on_wait_for_pending(result, timeout=timeout, **kwargs)
        self.on_message = on_message
        return iter(())

    monkeypatch.setattr(celery_redis.ResultConsumer, "_wait_for_pending", base_wait)
    return cons


def wait(cons, result, **kwargs):
    list(cons._wait_for_pending(result, **kwargs))


def waiting(cons, task_id, monkeypatch):
    monkeypatch.setattr(backend, "AsyncResult", Result)
    result = Result()
    result._cache = None
    cons.waiting[task_id] = result
    return result


def test_a_result_whose_message_came_is_not_fetched(monkeypatch):
    messages = ["a", "b", "c"]
    cons = consumer(monkeypatch, messages)
    first, third = waiting(cons, "a", monkeypatch), waiting(cons, "c", monkeypatch)
    wait(cons, first)
    assert cons.fetched == [] and messages == []  # every buffered message read in one go
    assert third._cache["task_id"] == "c"  # its get() will return at once


def test_a_result_whose_message_has_not_come_is_fetched(monkeypatch):
    cons = consumer(monkeypatch, ["a"])
    late = waiting(cons, "b", monkeypatch)
    wait(cons, late)
    assert cons.fetched == [late]


def test_a_result_set_is_fetched_as_before(monkeypatch):
    cons = consumer(monkeypatch, [])

    class Set:
        _cache = {"status": "SUCCESS"}

    group = Set()
    wait(cons, group)
    assert cons.fetched == [group]


def test_a_get_with_on_message_leaves_the_messages_to_its_callback(monkeypatch):
    messages = ["a"]
    cons = consumer(monkeypatch, messages)
    result = waiting(cons, "a", monkeypatch)
    seen = []
    wait(cons, result, on_message=seen.append)
    assert messages == ["a"] and cons.fetched == [result] and cons.on_message == seen.append


def test_a_reconnection_while_reading_is_followed(monkeypatch):
    messages = ["a", "b"]
    cons = consumer(monkeypatch, messages)
    first = cons._pubsub
    read = cons._drain_one

    def drain_one(pubsub, timeout):
        assert pubsub is cons._pubsub  # never the connection a reconnection replaced
        cons._pubsub = object()
        return read(pubsub, timeout)

    monkeypatch.setattr(cons, "_drain_one", drain_one)
    cons.drain_buffered()
    assert messages == [] and cons._pubsub is not first


def test_one_wait_reads_at_most_the_limit(monkeypatch):
    monkeypatch.setattr(backend, "DRAIN_LIMIT", 5)
    messages = ["m%d" % n for n in range(8)]
    cons = consumer(monkeypatch, messages)
    cons.drain_buffered()
    assert len(messages) == 3


def test_nothing_is_read_while_another_thread_waits_on_the_socket(monkeypatch):
    messages = ["a"]
    cons = consumer(monkeypatch, messages, waiter=True)
    cons.drain_buffered()
    assert messages == ["a"]


def test_the_backend_uses_this_consumer():
    app = Celery("t", backend="redis://127.0.0.1:1/0")
    assert backend.Backend.ResultConsumer is backend.ResultConsumer
    assert issubclass(backend.Backend, type(app.backend))


class ScriptClient:
    """A redis-py client that runs STORE's logic on a dict, as Redis would run the script."""

    def __init__(self, loaded=True):
        self.values, self.published, self.loaded, self.calls = {}, [], loaded, []

    def evalsha(self, sha, numkeys, key, value, seconds):
        self.calls.append(("evalsha", sha, numkeys, key, seconds))
        if not self.loaded:
            raise lua.NoScriptError("NOSCRIPT")
        current = self.values.get(key)
        if current is not None and json.loads(current).get("status") == "SUCCESS":
            return 0
        self.values[key] = value
        self.published.append((key, value))
        return 1

    def script_load(self, script):
        assert script == backend.STORE
        self.loaded = True
        return backend.STORE_SHA


def stored_by(client, serializer="json", expires=86400, failure_expires=60):
    app = Celery("t")
    app.conf.result_serializer = serializer
    app.conf.result_expires = expires
    app.conf.result_failure_expires = failure_expires
    store = backend.Backend(app=app, url="redis://127.0.0.1:1/0")
    store.client = client
    store.ensure = lambda fun, args, **policy: fun(*args)
    return store


def test_a_result_is_stored_and_published_in_one_script_call():
    client = ScriptClient()
    store = stored_by(client)
    store.store_result("t1", 3, states.SUCCESS)
    key = store.get_key_for_task("t1")
    assert client.calls == [("evalsha", backend.STORE_SHA, 1, key, 86400)]
    assert json.loads(client.values[key])["result"] == 3 and client.published[0][0] == key
    assert backend.STORE_SHA == hashlib.sha1(backend.STORE.encode()).hexdigest()


def test_a_stored_success_is_kept_when_the_task_runs_again():
    client = ScriptClient()
    store = stored_by(client)
    store.store_result("t1", 3, states.SUCCESS)
    store.store_result("t1", None, states.STARTED)
    key = store.get_key_for_task("t1")
    assert json.loads(client.values[key])["status"] == "SUCCESS" and len(client.published) == 1


def test_a_failure_is_kept_for_result_failure_expires():
    client = ScriptClient()
    store = stored_by(client)
    store.store_result("t1", ValueError("no"), states.FAILURE)
    assert client.calls[-1][-1] == 60


def test_a_new_server_gets_the_script_first():
    client = ScriptClient(loaded=False)
    store = stored_by(client)
    store.store_result("t1", 3, states.SUCCESS)
    assert client.loaded and [call[0] for call in client.calls] == ["evalsha", "evalsha"]


def test_another_serializer_keeps_celerys_way(monkeypatch):
    seen = []
    monkeypatch.setattr(celery_redis.RedisBackend, "_store_result", lambda self, *args, **kwargs: seen.append(args))
    client = ScriptClient()
    store = stored_by(client, serializer="pickle")
    store.store_result("t1", 3, states.SUCCESS)
    assert client.calls == [] and seen


class _Connection:
    def __init__(self, sock):
        self._sock = sock


class _PubSub:
    def __init__(self, sock):
        self.connection = _Connection(sock)


def waiting_through(cons, monkeypatch, steps):
    """Celery's wait, calling on_interval once per step; a step sets the pub/sub socket, or
    replaces the pub/sub object (Celery's own reconnection) when it is a _PubSub."""

    def base_wait(self, result, timeout=None, on_interval=None, on_message=None, **kwargs):
        self.on_wait_for_pending(result, timeout=timeout, **kwargs)
        for step in steps:
            if isinstance(step, _PubSub):
                self._pubsub = step
            else:
                self._pubsub.connection._sock = step
            on_interval()
            yield

    monkeypatch.setattr(celery_redis.ResultConsumer, "_wait_for_pending", base_wait)


def test_a_wait_reads_its_result_again_once_subscribed_on_a_new_connection(monkeypatch):
    cons = consumer(monkeypatch, [])
    old, new = object(), object()
    cons._pubsub = _PubSub(old)
    # redis-py reconnects by itself: the socket goes away, then a new one is subscribed.
    waiting_through(cons, monkeypatch, [old, None, None, new, new])
    result = waiting(cons, "a", monkeypatch)
    wait(cons, result)
    assert cons.fetched == [result, result]  # the first fetch, and once more on the new socket


def test_celery_replacing_the_pubsub_also_reads_the_result_again(monkeypatch):
    cons = consumer(monkeypatch, [])
    sock = object()
    cons._pubsub = _PubSub(sock)
    waiting_through(cons, monkeypatch, [sock, _PubSub(object())])
    result = waiting(cons, "a", monkeypatch)
    wait(cons, result)
    assert cons.fetched == [result, result]


def test_a_steady_connection_costs_no_fetch_per_interval(monkeypatch):
    cons = consumer(monkeypatch, [])
    sock = object()
    cons._pubsub = _PubSub(sock)
    calls = []
    waiting_through(cons, monkeypatch, [sock] * 5)
    result = waiting(cons, "a", monkeypatch)
    wait(cons, result, on_interval=lambda: calls.append(1))
    assert cons.fetched == [result] and calls == [1] * 5  # Celery's own on_interval still runs each time


def test_no_fetch_while_the_connection_is_down(monkeypatch):
    cons = consumer(monkeypatch, [])
    sock = object()
    cons._pubsub = _PubSub(sock)
    waiting_through(cons, monkeypatch, [None, None, None])
    result = waiting(cons, "a", monkeypatch)
    wait(cons, result)
    assert cons.fetched == [result]
