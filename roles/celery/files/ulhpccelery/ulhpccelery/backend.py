# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Celery's Redis result backend, whose connections follow Redis when it moves (ulhpccelery.follow).

Selected by ``result_backend = "ulhpccelery.backend:Backend+redis[s]://..."`` (ulhpccelery.config):
Celery reads what is before ``+`` as the backend class and the rest as its URL.
"""
import redis
from celery.backends.redis import RedisBackend

from .follow import following

CONNECTION_FILE_OPTION = "connection_file"


class Backend(RedisBackend):
    """RedisBackend with connections that read Redis's published address when they connect."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        path = (self.app.conf.broker_transport_options or {}).get(CONNECTION_FILE_OPTION)
        if path:
            base = self.connparams.get("connection_class", redis.Connection)
            self.connparams["connection_class"] = following(base, path)
