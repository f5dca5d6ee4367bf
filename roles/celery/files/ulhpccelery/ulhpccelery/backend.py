# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Celery's Redis result backend, whose connections follow Redis when it moves (ulhpccelery.follow).

Given to Celery as the class of result_backend's ``redis`` and ``rediss`` schemes (the app's
loader's ``override_backends``, ulhpccelery.config.backend_overrides); the connection file comes as
the broker transport option ``connection_file``.
"""
import redis
from celery.backends.redis import RedisBackend

from .config import CONNECTION_FILE_OPTION
from .follow import following


class Backend(RedisBackend):
    """RedisBackend with connections that read Redis's published address when they connect."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        path = (self.app.conf.broker_transport_options or {}).get(CONNECTION_FILE_OPTION)
        if path:
            base = self.connparams.get("connection_class", redis.Connection)
            self.connparams["connection_class"] = following(base, path)
