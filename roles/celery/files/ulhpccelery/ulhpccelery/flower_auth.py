# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Put every Flower page behind its authentication.

Flower 2.2 leaves ``/metrics`` and ``/healthcheck`` open even with ``basic_auth`` set; on a
shared node anyone could read the task names, worker names and counts. Flower's config file
(flowerconfig.py, written by the celery role) calls ``protect_all_handlers()`` before the app
starts, which wraps every HTTP method of every Flower handler with tornado's
``authenticated`` check (Flower's own check then answers 401 without credentials).
"""
import tornado.web

_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")


def protect_all_handlers(handlers=None):
    """Wrap the methods of Flower's handlers (or of `handlers`); returns the wrapped classes."""
    if handlers is None:
        from flower.urls import handlers as flower_handlers
        handlers = [entry[1] if isinstance(entry, tuple) else entry.handler_class for entry in flower_handlers]
    wrapped = []
    for handler in handlers:
        if not isinstance(handler, type) or not issubclass(handler, tornado.web.RequestHandler):
            continue
        if issubclass(handler, tornado.web.StaticFileHandler) or handler.__dict__.get("_ulhpc_protected"):
            continue
        for name in _METHODS:
            method = handler.__dict__.get(name)
            if method is not None:
                setattr(handler, name, tornado.web.authenticated(method))
        handler._ulhpc_protected = True
        wrapped.append(handler)
    return wrapped
