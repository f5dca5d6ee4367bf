# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Celery's Redis result backend, whose connections follow Redis when it moves (ulhpccelery.follow).

Given to Celery as the class of result_backend's ``redis`` and ``rediss`` schemes (the app's
loader's ``override_backends``, ulhpccelery.config.backend_overrides); the connection file comes as
the broker transport option ``connection_file``.

Two changes to what Celery sends Redis for each task (issue #13), with the same outcome:

- a worker stores a result in one script (STORE) instead of a GET, then a MULTI of SET and PUBLISH;
- a client reads every result already waiting on its pub/sub connection before it asks Redis for
  one (ResultConsumer).

And a ``get()`` that waits reads its result again when its pub/sub connection was connected
again (Redis restarted), so a result published meanwhile is not waited for until the timeout.
"""
import redis
from celery import states
from celery.backends import redis as celery_redis
from celery.exceptions import BackendStoreError
from celery.result import AsyncResult
from kombu.utils.encoding import bytes_to_str

from . import lua
from .config import CONNECTION_FILE_OPTION
from .follow import following

# Most pub/sub messages read in one go before a result is asked for: bounds the time one
# get() spends on other results' messages while workers keep publishing.
DRAIN_LIMIT = 1000
# Celery keeps a stored success: a task delivered twice (at-least-once) must not replace it.
# Celery reads the stored result, then writes; this script does both at once, so the check
# also holds against a second worker writing in between. KEYS[1]: the result key; ARGV: the
# encoded result (JSON) and its lifetime in seconds (0: none). Returns 0 when a success was
# there (nothing written or published), 1 when the result was stored and published.
STORE = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, meta = pcall(cjson.decode, current)
  if ok and type(meta) == 'table' and meta.status == 'SUCCESS' then
    return 0
  end
end
local seconds = tonumber(ARGV[2])
if seconds > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', seconds)
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
"""
STORE_SHA = lua.sha(STORE)


class ResultConsumer(celery_redis.ResultConsumer):
    """Celery's consumer of result messages, which reads the messages already received first.

    Celery subscribes to a task's result channel when it sends the task, and the worker publishes
    the result there. But ``get()`` on a result first fetches it with a ``GET`` and reads one
    message per wait, so in the tutorial's loop (send many tasks, then ``get()`` each) every result
    costs a round trip to Redis while its message, already on the socket, is never read. Reading
    what is buffered first fills the waiting results, and their ``get()`` then returns at once
    (issue #13: about 0.2 ms of the client's CPU per task). A result whose message has not come
    yet is fetched as before, so nothing published before the subscription is missed."""

    def _wait_for_pending(self, result, timeout=None, on_interval=None, on_message=None, **kwargs):
        # A get(on_message=...) sees every message of its task (a task's progress states):
        # reading them here, before Celery installs that callback, would hide them from it.
        if on_message is None:
            self.drain_buffered()
        seen = self._subscription()

        def interval():
            nonlocal seen
            if on_interval:
                on_interval()
            # A result published while the pub/sub connection was down never comes as a
            # message: Celery reads the stored results when it replaces that connection, but
            # before it subscribes again, and redis-py may reconnect it without Celery knowing.
            # Read this wait's result again once a new connection is subscribed.
            now = self._subscription()
            if now != seen:
                seen = now
                if now is not None:
                    self.on_wait_for_pending(result, timeout=timeout, **kwargs)

        yield from super()._wait_for_pending(result, timeout=timeout, on_interval=interval,
                                             on_message=on_message, **kwargs)

    def _subscription(self):
        """The pub/sub object and its socket now (None while it has none): another pair means
        it was connected again. The pair holds the objects, which compare by identity (not by
        id(), which a new socket may reuse)."""
        pubsub = self._pubsub
        sock = getattr(getattr(pubsub, "connection", None), "_sock", None)
        return None if sock is None else (pubsub, sock)

    def on_wait_for_pending(self, result, **kwargs):
        # A result set is fetched as before; one result is done when its cache is filled (by
        # a message: reading it also ended the subscription, as Celery's fetch would).
        if isinstance(result, AsyncResult) and result._cache is not None:
            return
        super().on_wait_for_pending(result, **kwargs)

    def drain_buffered(self):
        """Read the result messages that are already there, never waiting for one."""
        with self._locked():
            for _count in range(DRAIN_LIMIT):
                pubsub = self._pubsub  # a reconnection in _drain_one replaces it
                # Another thread waits on the socket: it reads the messages.
                if pubsub is None or self._socket_waiter or not self._drain_one(pubsub, 0):
                    return


class Backend(celery_redis.RedisBackend):
    """RedisBackend with connections that read Redis's published address when they connect."""

    ResultConsumer = ResultConsumer

    def _store_result(self, task_id, result, state, traceback=None, request=None, **kwargs):
        # The script reads the stored result as JSON: another serializer keeps Celery's way.
        if self.serializer != "json":
            return super()._store_result(task_id, result, state, traceback=traceback, request=request, **kwargs)
        meta = self._get_result_meta(result=result, state=state, traceback=traceback, request=request)
        meta["task_id"] = bytes_to_str(task_id)
        value = self.encode(meta)
        if len(value) > self._MAX_STR_VALUE_SIZE:
            raise BackendStoreError("value too large for Redis backend", state=state, task_id=task_id)
        expires = self.failure_expires if state == states.FAILURE else self.expires
        self.ensure(self._store_unless_succeeded, (self.get_key_for_task(task_id), value, expires or 0))
        return result

    def _store_unless_succeeded(self, key, value, expires):
        return lua.call(self.client, STORE, STORE_SHA, 1, key, value, int(expires))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        path = (self.app.conf.broker_transport_options or {}).get(CONNECTION_FILE_OPTION)
        if path:
            base = self.connparams.get("connection_class", redis.Connection)
            self.connparams["connection_class"] = following(base, path)
