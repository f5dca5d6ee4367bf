# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read ``celery.ini`` and turn it into Celery settings.

Where the file is looked up, first match wins:

1. the ``ULHPCCELERY_CONFIG`` environment variable (the workers' and Flower's jobs set it);
2. ``./celery.ini``, in the current directory, as the UL HPC tutorial reads it;
3. ``$WS_ROOT/config/celery.ini`` (a Jupyter server of the workspace sets ``WS_ROOT``);
4. ``<venv>/etc/ulhpccelery/celery.ini`` (the ``celery`` role links it to its workspace);
5. ``~/.ulhpc/workspaces/default/config/celery.ini``.

``[redis]`` holds ``broker_password``, ``broker_hostname`` and ``broker_port`` as in the UL HPC
tutorial, plus ``broker_username`` (the Redis ACL user), ``broker_tls``, ``broker_ca_file`` and
``connection_file``: the file where the workspace's Redis job publishes its address. When that
file exists and names an address and a port, they win over ``broker_hostname`` and
``broker_port``, so a process started after Redis moved (a new job, node or port) finds it
without anybody editing celery.ini.
The broker (and result backend) URL is ``rediss://{username}:{password}@{hostname}:{port}/0``
with TLS, verified against ``broker_ca_file`` for the host name: a password is only sent to
the server that holds a certificate of the user's CA. Without ``broker_tls`` it is the
tutorial's ``redis://...``.  ``[celery]`` holds the worker settings; a key missing there keeps
Celery's own default.
"""
import configparser
import json
import os
import ssl
import sys
from urllib.parse import quote

ENV_VAR = "ULHPCCELERY_CONFIG"
# Set by the worker service script to the worker's name (celery-worker-<n>): see worker_keys().
WORKER_VAR = "ULHPCCELERY_WORKER"
# About a minute of retries: 0, 0.5, 1, 1.5, 2, 2, ... s between attempts.
PUBLISH_RETRY = {"max_retries": 35, "interval_start": 0, "interval_step": 0.5, "interval_max": 2}
# Exponential from 10 ms, at most 5 s apart, with full jitter: about a minute on average (110 s at most).
RESULT_RETRIES = 30
# kombu's Redis transport, minus a redis-py client built for every command (ulhpccelery.transport).
TRANSPORT = "ulhpccelery.transport:Transport"
# Celery's Redis result backend whose connections follow Redis when it moves (ulhpccelery.backend),
# given to Celery as the class of the redis:// and rediss:// schemes (backend_overrides). Not as
# a "class+rediss://..." result_backend: kombu's URL sanitizer does not parse that form, and
# would print the password wherever it shows the URL.
BACKEND = "ulhpccelery.backend:Backend"
# The broker transport option that names Redis's connection file (read by ulhpccelery.transport
# and ulhpccelery.backend).
CONNECTION_FILE_OPTION = "connection_file"
# Set to 1 by the Flower service script: Flower's broker pages (queue lengths) know kombu's own
# transports only, by name, and refuse any other ("'redis' broker is not supported").
STOCK_TRANSPORT_VAR = "ULHPCCELERY_STOCK_TRANSPORT"
# kombu's Redis transport keeps each delivered, not yet acknowledged task in these keys.
UNACKED_KEYS = ("unacked_key", "unacked_index_key", "unacked_mutex_key")
DEFAULT_PATH = os.path.join("~", ".ulhpc", "workspaces", "default", "config", "celery.ini")


def config_path():
    """The path of the celery.ini in use (see the module docstring)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return os.path.expanduser(env)
    candidates = [os.path.abspath("celery.ini")]
    if os.environ.get("WS_ROOT"):
        candidates.append(os.path.join(os.environ["WS_ROOT"], "config", "celery.ini"))
    candidates.append(os.path.join(sys.prefix, "etc", "ulhpccelery", "celery.ini"))
    for path in candidates:
        if os.path.exists(path):
            return path
    return os.path.expanduser(DEFAULT_PATH)


def read_config(path=None):
    """Parse celery.ini; raises RuntimeError with the path when it is missing or incomplete."""
    path = path or config_path()
    parser = configparser.ConfigParser(interpolation=None)
    if not parser.read(path):
        raise RuntimeError(
            "ulhpccelery: cannot read %s; set %s to the path of your workspace's celery.ini "
            "(created by the ulhpc.workspace.celery role)" % (path, ENV_VAR))
    if not parser.has_section("redis"):
        raise RuntimeError("ulhpccelery: %s has no [redis] section" % path)
    for key in ("broker_password", "broker_hostname", "broker_port"):
        if not parser.get("redis", key, fallback="").strip():
            raise RuntimeError("ulhpccelery: %s: [redis] %s is missing or empty" % (path, key))
    return parser


def published_address(path):
    """(address, port) from a Redis connection file, or None when it is missing, unreadable
    or names no address and port (Redis is away: the celery.ini values are the fallback)."""
    if not path:
        return None
    try:
        with open(os.path.expanduser(path)) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    address, port = data.get("address"), data.get("port")
    if not isinstance(address, str) or not address or isinstance(port, bool) or not isinstance(port, int):
        return None
    if not 0 < port < 65536:
        return None
    return address, port


def broker_url(params):
    """``redis[s]://[user]:{password}@{hostname}:{port}/0`` (user and password percent-encoded)."""
    values = dict(params)
    values["password"] = quote(values["password"], safe="")
    values["username"] = quote(values.get("username") or "", safe="")
    values["scheme"] = "rediss" if values.get("tls") else "redis"
    return "{scheme}://{username}:{password}@{hostname}:{port}/0".format(**values)


def tls_options(ca_file):
    """What kombu and Celery's result backend pass to redis-py: verify the chain and the name."""
    return {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": ca_file, "ssl_check_hostname": True}


def worker_keys(worker):
    """kombu's unacked keys of one worker: ``unacked:<worker>`` and so on.

    With one shared hash (kombu's default) the tasks of a worker killed with SIGKILL come back
    only after visibility_timeout (an hour), because nothing tells them from the tasks that
    live workers hold. With a hash of its own, a worker restarted under the same name knows
    that everything in it belonged to its dead predecessor and requeues it at once
    (ulhpccelery.recovery)."""
    names = {"unacked_key": "unacked", "unacked_index_key": "unacked_index", "unacked_mutex_key": "unacked_mutex"}
    return {option: "%s:%s" % (prefix, worker) for option, prefix in names.items()}


def worker_name_of(index_key):
    """The worker whose unacked index ``index_key`` is (None for kombu's shared one)."""
    prefix = "unacked_index:"
    return index_key[len(prefix):] if index_key.startswith(prefix) else None


def backend_overrides(settings):
    """The result backend classes an app with ``settings`` gives Celery's loader (its
    ``override_backends``): ulhpccelery.backend when the connections follow a connection file."""
    if CONNECTION_FILE_OPTION in settings.get("broker_transport_options", {}) and settings.get("broker_transport") == TRANSPORT:
        return {"redis": BACKEND, "rediss": BACKEND}
    return {}


def celery_settings(parser, worker=None, stock_transport=False):
    """Celery settings from a parsed celery.ini; ``worker``: the name of the worker that
    consumes with them (its own unacked keys), None for a client."""
    tls = parser.getboolean("redis", "broker_tls", fallback=False)
    params = {
        "password": parser.get("redis", "broker_password").strip(),
        "hostname": parser.get("redis", "broker_hostname").strip(),
        "port": parser.getint("redis", "broker_port"),
        "username": parser.get("redis", "broker_username", fallback="").strip(),
        "tls": tls,
    }
    connection_file = parser.get("redis", "connection_file", fallback="").strip()
    published = published_address(connection_file)
    if published:
        params["hostname"], params["port"] = published
    url = broker_url(params)
    settings = {
        "broker_url": url,
        "result_backend": url,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "broker_connection_retry_on_startup": True,
        # Each worker also consumes its own queue (<name>.dq): a task can be sent to one
        # worker (the playbook's smoke test does, so a backlog does not delay it).
        "worker_direct": True,
        # Redis may go away for a moment (the job restarts a killed server on the same port):
        # sending a task and reading a result retry for about a minute, then fail with the
        # connection error (never hang). Celery's defaults give up within a second.
        "task_publish_retry_policy": dict(PUBLISH_RETRY),
        "result_backend_always_retry": True,
        "result_backend_max_retries": RESULT_RETRIES,
        "result_backend_max_sleep_between_retries_ms": 5000,
    }
    if tls:
        ca_file = parser.get("redis", "broker_ca_file", fallback="").strip()
        if not ca_file:
            raise RuntimeError("ulhpccelery: [redis] broker_tls is on but broker_ca_file is empty")
        settings["broker_use_ssl"] = tls_options(ca_file)
        settings["redis_backend_use_ssl"] = tls_options(ca_file)
    if parser.has_section("celery"):
        section = parser["celery"]
        if "acks_late" in section:
            settings["task_acks_late"] = section.getboolean("acks_late")
        if "reject_on_worker_lost" in section:
            settings["task_reject_on_worker_lost"] = section.getboolean("reject_on_worker_lost")
        if "prefetch_multiplier" in section:
            settings["worker_prefetch_multiplier"] = section.getint("prefetch_multiplier")
        if "concurrency" in section:
            settings["worker_concurrency"] = section.getint("concurrency")
        if "visibility_timeout" in section:
            options = {"visibility_timeout": section.getint("visibility_timeout")}
            settings["broker_transport_options"] = options
            settings["result_backend_transport_options"] = dict(options)
        if "result_expires" in section:
            settings["result_expires"] = section.getint("result_expires")
    if not stock_transport:
        # kombu's Redis transport with one client per channel and one script per task taken
        # (ulhpccelery.transport); its connections and the result backend's go where the
        # connection file says Redis is now (ulhpccelery.follow). Flower, on kombu's transport,
        # is started again by its service script when Redis moves.
        settings["broker_transport"] = TRANSPORT
        if connection_file:
            settings["broker_transport_options"] = dict(settings.get("broker_transport_options", {}),
                                                        **{CONNECTION_FILE_OPTION: os.path.expanduser(connection_file)})
    if worker:
        settings["broker_transport_options"] = dict(settings.get("broker_transport_options", {}), **worker_keys(worker))
    return settings
