# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kombu's Redis transport, with one redis-py client per channel instead of one per command.

kombu builds a new ``redis.Redis`` for every publish, and for every acknowledgement and
reservation a worker records; each costs about 45 us (redis-py fills a table of some 170
reply callbacks). In the tutorial's per-task loop that was about a tenth of the worker's
main process (py-spy, benchmarks/results/throughput.md). The client is kept while the
channel's connection pool is the same: kombu drops the pool after a connection error, and
the next command then builds a client on the new pool. A redis-py client takes a connection
from the pool for each command, so sharing it between threads is safe.

Selected by ``broker_transport = "ulhpccelery.transport:Transport"`` (ulhpccelery.config), in clients
and workers; Flower keeps kombu's own, which its broker pages know by name.
"""
from contextlib import contextmanager

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    """A Redis channel that reuses its client."""

    _shared_client = None

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


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`."""

    Channel = Channel
