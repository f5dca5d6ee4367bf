# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kombu's Redis transport, where taking a task and recording it as unacknowledged is one step.

kombu takes a task with BRPOP and records it in the consumer's unacknowledged hash with a
second command, from Python, once the reply has been read. A worker killed between the two
(SIGKILL, the OOM killer, a lost node), or a Redis server that stops between them, loses the
task: it is in no queue and in no hash. Here a Lua script pops the task and records it in the
same atomic step (RESERVE below), so what a dead worker held is always in its hash, where the
restarted worker finds it (ulhpccelery.recovery); a Redis restart replays the script's effects
whole or not at all.

Redis cannot block inside a script, so a consumer with nothing to take waits with
``BLMOVE key key RIGHT RIGHT``, which blocks until the list holds something and then moves its
last element onto itself (no change, nothing taken), and then runs the script again. Redis has
no blocking command that watches several lists without taking from them, so it waits on one
key, the queue it took its last task from (at first the first one it consumes), for at most
WAIT_SECONDS: a task that arrives in another of its queues (a Celery worker also has its own,
``<worker>.dq``), or with a priority, while it is idle is taken within that time. A busy
consumer never waits.

kombu's own path is kept for consumers without acknowledgements (nothing to record) and with
a global key prefix (the script names keys as they are).

Also: kombu builds a new ``redis.Redis`` for every publish, and for every acknowledgement a
worker records; each costs about 45 us (redis-py fills a table of some 170 reply callbacks),
about a tenth of a worker's main process in the tutorial's loop (py-spy,
benchmarks/results/throughput.md). A channel here keeps one client while its connection pool
is the same: kombu drops the pool after a connection error, and the next command then builds a
client on the new pool. A redis-py client takes a connection from the pool for each command, so
sharing it between threads is safe.

Its connections follow Redis when it moves (ulhpccelery.follow), given celery.ini's
``connection_file`` as the transport option of that name.

Selected by ``broker_transport = "ulhpccelery.transport:Transport"`` (ulhpccelery.config), in
clients and workers; Flower keeps kombu's own, which its broker pages know by name.
"""
from contextlib import contextmanager
from queue import Empty
from time import monotonic

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads
from redis.exceptions import NoScriptError

from . import lua
from .config import CONNECTION_FILE_OPTION
from .follow import following

# KEYS: the queue keys in the order to take from (kombu's: priority, then queue), then the
# consumer's unacknowledged hash and its index. Returns false, or {key, task, recorded}:
# recorded is 0 when the task is not a kombu message the script can read (it is then handed
# over as kombu's BRPOP would, and recorded from Python). The hash entry is what kombu's QoS
# writes, [message, exchange, routing_key], with the message as it was sent.
RESERVE = """
local n = #KEYS - 2
for i = 1, n do
  local item = redis.call('RPOP', KEYS[i])
  if item then
    local ok, message = pcall(cjson.decode, item)
    local props = ok and type(message) == 'table' and message.properties
    local tag = type(props) == 'table' and props.delivery_tag
    if type(tag) ~= 'string' then
      return {KEYS[i], item, 0}
    end
    local info = type(props.delivery_info) == 'table' and props.delivery_info or {}
    local now = redis.call('TIME')
    redis.call('ZADD', KEYS[n + 2], now[1] .. '.' .. string.format('%06d', now[2]), tag)
    redis.call('HSET', KEYS[n + 1], tag,
               '[' .. item .. ',' .. cjson.encode(info.exchange or '') .. ',' .. cjson.encode(info.routing_key or '') .. ']')
    return {KEYS[i], item, 1}
  end
end
return false
"""
RESERVE_SHA = lua.sha(RESERVE)
# The longest an idle consumer waits on one key before it looks at all of them again: a bound on
# the delay of a task in another queue (kombu's BRPOP timeout, 1 s, would be the bound otherwise),
# for 5 wake-ups a second of an idle worker (each a BLMOVE and a script call): measured idle, its
# main process used 0.4 % of a core in all (0.23 s of CPU in 60 s, Celery's own timers included).
WAIT_SECONDS = 0.2


class QoS(kombu_redis.QoS):
    """kombu's Redis QoS that does not record again what RESERVE recorded."""

    def append(self, message, delivery_tag):
        recorded = self.channel.reserved_tags
        if delivery_tag in recorded:
            recorded.discard(delivery_tag)
            virtual.QoS.append(self, message, delivery_tag)
        else:
            super().append(message, delivery_tag)


class Channel(kombu_redis.Channel):
    """A Redis channel that reserves tasks atomically and reuses its client."""

    QoS = QoS
    # celery.ini's connection_file (ulhpccelery.config): connections go where Redis is now.
    from_transport_options = kombu_redis.Channel.from_transport_options + (CONNECTION_FILE_OPTION,)
    connection_file = None
    _shared_client = None
    # The command whose reply the BRPOP connection waits for: None (kombu's BRPOP), EVALSHA
    # (RESERVE) or BLMOVE (the wait).
    _pending = None
    _wait_next = False
    _wait_queue = None

    def __init__(self, *args, **kwargs):
        # Delivery tags RESERVE recorded, until QoS.append sees them; consumer tag -> queue of
        # the consumers without acknowledgements.
        self.reserved_tags = set()
        self._no_ack_consumers = {}
        super().__init__(*args, **kwargs)

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        pool = self.pool
        shared = self._shared_client
        if shared is None or shared.connection_pool is not pool:
            shared = self._shared_client = self._create_client()
        yield shared

    def _connparams(self, asynchronous=False):
        params = super()._connparams(asynchronous=asynchronous)
        if self.connection_file:
            params["connection_class"] = following(params["connection_class"], self.connection_file)
        return params

    def basic_consume(self, queue, *args, **kwargs):
        no_ack = kwargs.get("no_ack", args[0] if args else False)
        tag = kwargs.get("consumer_tag", args[2] if len(args) > 2 else None)
        if no_ack:
            self._no_ack_consumers[tag] = queue
        return super().basic_consume(queue, *args, **kwargs)

    def basic_get(self, queue, no_ack=False, **kwargs):
        if no_ack or not self._reserves([queue]):
            return super().basic_get(queue, no_ack=no_ack, **kwargs)
        keys = [self._q_for_pri(queue, pri) for pri in self.priority_steps]
        with self.conn_or_acquire() as client:
            reply = lua.call(client, RESERVE, *self._reserve_args(keys))
            self._maybe_update_queues_expire(client, queue)
        if not reply:
            return None
        _key, payload = self._taken(reply)
        message = self.Message(payload, channel=self)
        self.qos.append(message, message.delivery_tag)
        return message

    def _reserves(self, queues):
        """Whether taking from ``queues`` goes through RESERVE."""
        if self.global_keyprefix:
            return False
        consuming = getattr(self, "_consumers", ())
        # Forget cancelled consumers (a client makes one per control reply it waits for).
        self._no_ack_consumers = {tag: queue for tag, queue in self._no_ack_consumers.items() if tag in consuming}
        return not set(self._no_ack_consumers.values()).intersection(queues)

    def _reserve_args(self, keys):
        return [RESERVE_SHA, len(keys) + 2, *keys, self.unacked_key, self.unacked_index_key]

    def _taken(self, reply):
        """(queue, payload) of a RESERVE reply; remembers the tag when RESERVE recorded it."""
        key, item, recorded = reply
        payload = loads(bytes_to_str(item))
        if recorded:
            self.reserved_tags.add(payload["properties"]["delivery_tag"])
        return bytes_to_str(key).rsplit(self.sep, 1)[0], payload

    def _brpop_start(self, timeout=None):
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues or not self._reserves(queues):
            self._pending = None
            return super()._brpop_start(timeout)
        if timeout is None:
            timeout = self.brpop_timeout
        if self._wait_next:
            queue = self._wait_queue if self._wait_queue in queues else queues[0]
            key = self._q_for_pri(queue, 0)
            command = ["BLMOVE", key, key, "RIGHT", "RIGHT", min(timeout or WAIT_SECONDS, WAIT_SECONDS)]
        else:
            keys = [self._q_for_pri(queue, pri) for pri in self.priority_steps for queue in queues]
            command = ["EVALSHA", *self._reserve_args(keys)]
        self._pending = command[0]
        self._in_poll = self.client.connection
        self._brpop_sent_at = monotonic()
        self.client.connection.send_command(*command)

    def _brpop_read(self, **options):
        pending, self._pending = self._pending, None
        if pending is None:
            return super()._brpop_read(**options)
        try:
            try:
                reply = self.client.parse_response(self.client.connection, pending, **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            except NoScriptError:
                # A new or restarted server: load the script; the next round runs it.
                with self.conn_or_acquire() as client:
                    client.script_load(RESERVE)
                raise Empty()
            if pending == "BLMOVE":
                # Something arrived (or the wait timed out): the next round takes it.
                self._wait_next = False
                raise Empty()
            if not reply:
                self._wait_next = True
                raise Empty()
            queue, payload = self._taken(reply)
            self._queue_cycle.rotate(queue)
            self._wait_queue = queue
            self.connection._deliver(payload, queue)
            return True
        finally:
            self._in_poll = None
            self._flush_brpop_reauth()


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`."""

    Channel = Channel
