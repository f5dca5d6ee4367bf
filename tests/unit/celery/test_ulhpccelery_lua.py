"""ulhpccelery.lua: a script is sent by its SHA-1, and loaded only when the server does not know it."""
import hashlib
import os
import sys

import pytest

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                           "roles", "celery", "files", "ulhpccelery")
sys.path.insert(0, PACKAGE_DIR)

from ulhpccelery import lua  # noqa: E402

SOURCE = "return redis.call('GET', KEYS[1])"


class Server:
    """A redis-py client of a server whose script cache starts with ``known``."""

    def __init__(self, known=(), fail_load=None):
        self.scripts = {lua.sha(source): source for source in known}
        self.fail_load = fail_load
        self.calls = []

    def evalsha(self, digest, numkeys, *keys_and_args):
        self.calls.append(("evalsha", digest, numkeys) + keys_and_args)
        if digest not in self.scripts:
            raise lua.NoScriptError("NOSCRIPT No matching script.")
        return "ran %s" % keys_and_args[0]

    def script_load(self, source):
        self.calls.append(("script_load",))
        if self.fail_load:
            raise self.fail_load
        self.scripts[lua.sha(source)] = source
        return lua.sha(source)


def test_the_sha_is_what_redis_names_the_script_by():
    assert lua.sha(SOURCE) == hashlib.sha1(SOURCE.encode()).hexdigest()


def test_a_known_script_costs_one_call():
    server = Server(known=[SOURCE])
    assert lua.call(server, SOURCE, lua.sha(SOURCE), 1, "key", "arg") == "ran key"
    assert server.calls == [("evalsha", lua.sha(SOURCE), 1, "key", "arg")]


def test_a_new_or_restarted_server_gets_the_script_loaded_then_run():
    server = Server()
    assert lua.call(server, SOURCE, lua.sha(SOURCE), 1, "key") == "ran key"
    assert [call[0] for call in server.calls] == ["evalsha", "script_load", "evalsha"]
    # Loaded once: the next call is one EVALSHA again.
    lua.call(server, SOURCE, lua.sha(SOURCE), 1, "key")
    assert [call[0] for call in server.calls] == ["evalsha", "script_load", "evalsha", "evalsha"]


def test_a_failing_load_is_not_swallowed():
    server = Server(fail_load=ConnectionError("Redis went away"))
    with pytest.raises(ConnectionError, match="Redis went away"):
        lua.call(server, SOURCE, lua.sha(SOURCE), 1, "key")
