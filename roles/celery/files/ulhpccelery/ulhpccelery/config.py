# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read ``celery.ini`` and turn it into Celery settings.

Where the file is looked up, first match wins:

1. the ``ULHPCCELERY_CONFIG`` environment variable;
2. ``<venv>/etc/ulhpccelery/celery.ini`` (the ``celery`` role links it to its workspace);
3. ``~/.ulhpc/workspaces/default/config/celery.ini``.

``[redis]`` holds ``broker_password``, ``broker_hostname`` and ``broker_port`` exactly as
in the UL HPC tutorial; the broker (and result backend) URL is
``redis://:{password}@{hostname}:{port}/0``.  ``[celery]`` holds the worker settings;
a key missing there keeps Celery's own default.
"""
import configparser
import os
import sys
from urllib.parse import quote

ENV_VAR = "ULHPCCELERY_CONFIG"
DEFAULT_PATH = os.path.join("~", ".ulhpc", "workspaces", "default", "config", "celery.ini")


def config_path():
    """The path of the celery.ini in use (see the module docstring)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return os.path.expanduser(env)
    in_venv = os.path.join(sys.prefix, "etc", "ulhpccelery", "celery.ini")
    if os.path.exists(in_venv):
        return in_venv
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


def broker_url(params):
    """The tutorial's ``redis://:{password}@{hostname}:{port}/0`` (password percent-encoded)."""
    values = dict(params)
    values["password"] = quote(values["password"], safe="")
    return "redis://:{password}@{hostname}:{port}/0".format(**values)


def celery_settings(parser):
    """Celery settings from a parsed celery.ini."""
    params = {
        "password": parser.get("redis", "broker_password").strip(),
        "hostname": parser.get("redis", "broker_hostname").strip(),
        "port": parser.getint("redis", "broker_port"),
    }
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
    }
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
    return settings
