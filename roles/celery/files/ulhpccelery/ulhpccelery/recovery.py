# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Requeue the tasks that workers died holding (SIGKILL, the OOM killer, a lost node).

With acks late, kombu keeps every task a worker took and has not acknowledged yet in an
"unacked" hash; a worker that shuts down requeues its own, a killed one cannot. Each worker
of the workspace has a hash of its own (``config.worker_keys``), and a worker never runs twice
under one name, so when the worker service script restarts a dead worker, the new process
requeues everything its predecessor held at once, before it consumes. The hashes of other
workers (one that was scaled away, say) and kombu's shared one are swept the way kombu does
it, for what is older than visibility_timeout.

A worker whose connection to Redis broke (Redis restarted) lives on, but what it had taken and
not started is gone from its memory (Celery drops it: it cannot be acknowledged on the new
connection), and a task taken just as Redis died may never have reached it at all. Both stay in
its hash. When it has connected again, it requeues every entry of its hash older than the new
connection but the tasks it still runs (``requeue_stranded``); else they would wait for
visibility_timeout, an hour by default, and their results for as long.
"""
import logging

from . import config

LOG = logging.getLogger(__name__)
DEFAULT_VISIBILITY = 3600  # kombu's own default
BATCH = 1000


def sweeps(worker, index_keys, visibility_timeout):
    """What to sweep: [(transport options naming one worker's unacked keys, minimum age)].

    ``index_keys``: the ``unacked_index*`` keys found in Redis. The worker's own set goes first
    with age 0 (its predecessor is dead); every other one waits for visibility_timeout.
    """
    own = config.worker_keys(worker)
    found = set(index_keys)
    plan = [(own, 0)] if own["unacked_index_key"] in found else []
    for key in sorted(found - {own["unacked_index_key"]}):
        other = config.worker_name_of(key)
        if other is not None:
            plan.append((config.worker_keys(other), visibility_timeout))
        elif key == "unacked_index":
            plan.append(({"unacked_key": "unacked", "unacked_index_key": key,
                          "unacked_mutex_key": "unacked_mutex"}, visibility_timeout))
    return plan


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _restore(app, keys, age):
    """Requeue the entries of one unacked set older than ``age`` seconds; returns how many."""
    with app.connection_for_write(transport_options=dict(keys, visibility_timeout=age)) as conn:
        channel = conn.default_channel
        client, restored = channel.client, 0
        left = client.zcard(keys["unacked_index_key"])
        while left:
            # kombu's own sweep (under its mutex), in batches: it requeues each entry whose
            # delivery is older than the channel's visibility_timeout, here ``age``.
            channel.qos.restore_visible(start=0, num=BATCH, interval=1)
            now = client.zcard(keys["unacked_index_key"])
            if now >= left:  # nothing old enough left, or another sweep holds the mutex
                break
            restored, left = restored + left - now, now
        return restored


def recover(app, worker):
    """Requeue what ``worker``'s dead predecessor held and what other workers left behind for
    longer than visibility_timeout. Returns {worker or "shared": number requeued}."""
    visibility = int((app.conf.broker_transport_options or {}).get("visibility_timeout", DEFAULT_VISIBILITY))
    with app.connection_for_write() as conn:
        index_keys = [_text(key) for key in conn.default_channel.client.scan_iter(match="unacked_index*")]
    done = {}
    for keys, age in sweeps(worker, index_keys, visibility):
        count = _restore(app, keys, age)
        if count:
            owner = config.worker_name_of(keys["unacked_index_key"]) or "shared"
            done[owner] = count
            whose = ("this worker's previous process" if owner == worker
                     else "kombu's shared keys" if owner == "shared" else "worker " + owner)
            LOG.warning("requeued %d unacknowledged task(s) of %s%s", count, whose,
                        "" if owner == worker else " (older than visibility_timeout, %d s)" % visibility)
    return done


def stranded(entries, held, before):
    """The delivery tags to requeue of a worker that connected again: ``entries``, the
    [(tag, time taken)] of its unacked index, taken before ``before`` (Redis's time when it
    connected) and not among ``held``, the tags of the tasks it still runs."""
    return [tag for tag, taken in entries if taken <= before and tag not in held]


def held_tags():
    """The delivery tags of the tasks this worker process runs now (Celery's worker state)."""
    from celery.worker import state  # pylint: disable=import-outside-toplevel

    return {request.message.delivery_tag for request in list(state.active_requests) if request.message is not None}


def requeue_stranded(app, worker, held):
    """Requeue the tasks in ``worker``'s unacked hash that it no longer holds (see the module's
    docstring); returns how many."""
    keys = config.worker_keys(worker)
    with app.connection_for_write(transport_options=keys) as conn:
        channel = conn.default_channel
        client = channel.client
        # The entries' times are Redis's (ulhpccelery.transport's RESERVE): compare with its clock.
        seconds, micro = client.time()
        entries = [(_text(tag), taken) for tag, taken in
                   client.zrange(keys["unacked_index_key"], 0, -1, withscores=True)]
        tags = stranded(entries, held, seconds + micro / 1e6)
        for tag in tags:
            # kombu's own requeue of one entry, in a transaction that watches the hash: a task
            # acknowledged meanwhile is only dropped from the index.
            channel.qos.restore_by_tag(tag, client)
        return len(tags)


def requeue_gone(app, workers):
    """Requeue everything the named workers held: the caller knows they are gone (their job
    ended), e.g. a worker killed when its tasks outlived the stop timeout."""
    return {worker: _restore(app, config.worker_keys(worker), 0) for worker in workers}


def main(argv=None):
    """``python -m ulhpccelery.recovery WORKER...``: requeue what these gone workers held;
    prints {worker: number requeued} as JSON (the celery role runs it after scaling down)."""
    import argparse
    import json

    from .app import app

    parser = argparse.ArgumentParser(prog="python -m ulhpccelery.recovery", description=main.__doc__)
    parser.add_argument("workers", nargs="+", help="names of workers whose jobs have ended (celery-worker-<n>)")
    args = parser.parse_args(argv)
    print(json.dumps(requeue_gone(app, args.workers), sort_keys=True))


if __name__ == "__main__":
    main()
