"""ulhpccelery.recovery: which unacked sets a starting worker sweeps, and how old an entry must be."""
import os
import sys

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                           "roles", "celery", "files", "ulhpccelery")
sys.path.insert(0, PACKAGE_DIR)

from ulhpccelery import config, recovery  # noqa: E402


def test_own_set_first_and_at_once_the_others_after_the_visibility_timeout():
    found = ["unacked_index:celery-worker-2", "unacked_index", "unacked_index:celery-worker-1", "unacked_indexes"]
    plan = recovery.sweeps("celery-worker-1", found, 3600)
    assert plan == [
        (config.worker_keys("celery-worker-1"), 0),
        ({"unacked_key": "unacked", "unacked_index_key": "unacked_index", "unacked_mutex_key": "unacked_mutex"}, 3600),
        (config.worker_keys("celery-worker-2"), 3600),
    ]


def test_nothing_to_sweep_without_unacked_sets():
    assert recovery.sweeps("celery-worker-1", [], 3600) == []


def test_a_new_worker_with_nothing_of_its_own_still_sweeps_the_others():
    assert recovery.sweeps("celery-worker-3", ["unacked_index:celery-worker-1"], 60) == [
        (config.worker_keys("celery-worker-1"), 60)]
