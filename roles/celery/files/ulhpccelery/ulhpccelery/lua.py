# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lua scripts sent to Redis by their SHA-1 (EVALSHA), loaded when the server does not know them.

A script is sent whole only once per server: a new server, or one that restarted (its script
cache is empty), answers NOSCRIPT to the first EVALSHA, and the script is loaded then. Used by
ulhpccelery.transport (RESERVE) and ulhpccelery.backend (STORE).
"""
import hashlib

from redis.exceptions import NoScriptError


def sha(source):
    """The SHA-1 by which Redis knows the script ``source``."""
    return hashlib.sha1(source.encode()).hexdigest()


def call(client, source, digest, numkeys, *keys_and_args):
    """EVALSHA of ``source`` (whose SHA-1 is ``digest``) on a redis-py client; loads the script
    and runs it again when the server answers NOSCRIPT."""
    try:
        return client.evalsha(digest, numkeys, *keys_and_args)
    except NoScriptError:
        client.script_load(source)
        return client.evalsha(digest, numkeys, *keys_and_args)
