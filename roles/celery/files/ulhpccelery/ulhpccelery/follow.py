# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connections that go to the address Redis publishes now, not the one it had at start.

Redis publishes its address in ``run/redis.json`` (celery.ini's ``connection_file``); when its job
ends and another one starts it elsewhere (``scancel``, walltime with ``workspace_continuation``),
the file names the new node and port. A redis-py connection keeps its host and port from its
pool, and a pool keeps them for its life, so a client process (a notebook's kernel) went on
reconnecting to the old address until its retries ran out. A connection of the class made here
reads the file each time it connects (a new socket, or the same connection object after a
disconnect), and connects where Redis is now; without a readable file it keeps its address. The
file is in the user's 0700 workspace, and TLS checks the server's certificate as before.
"""
from . import config


def following(base, path):
    """A subclass of the redis-py connection class ``base`` that connects to the address
    published in ``path``. Made when a pool is made (kombu makes its connection class then, too)."""

    class Following(base):
        def _connect(self):
            published = config.published_address(path)
            if published:
                self.host, self.port = published
            return super()._connect()

    Following.__name__ = Following.__qualname__ = "Following" + base.__name__
    return Following
