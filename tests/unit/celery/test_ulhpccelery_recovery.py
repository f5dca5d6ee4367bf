"""ulhpccelery.recovery: which unacked sets a starting worker sweeps, how old an entry must be, and
what a worker requeues when its connection to Redis came back."""
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


def test_a_reconnected_worker_requeues_what_it_took_before_and_no_longer_runs():
    entries = [("taken-and-dropped", 100.0), ("still-running", 101.0), ("taken-at-the-connection", 102.5),
               ("taken-after", 102.6)]
    assert recovery.stranded(entries, {"still-running"}, 102.5) == ["taken-and-dropped", "taken-at-the-connection"]


def test_nothing_to_requeue_when_the_worker_runs_everything_it_took():
    assert recovery.stranded([("a", 1.0), ("b", 2.0)], {"a", "b"}, 10.0) == []
    assert recovery.stranded([], set(), 10.0) == []


class _Message:
    def __init__(self, tag):
        self.delivery_tag = tag


class _Request:
    def __init__(self, message):
        self.message = message


def test_held_tags_are_the_delivery_tags_of_the_running_tasks(monkeypatch):
    from celery.worker import state
    running = [_Request(_Message("t1")), _Request(_Message("t2")), _Request(None)]
    monkeypatch.setattr(state, "active_requests", running)
    assert recovery.held_tags() == {"t1", "t2"}


class _Parent:
    def __init__(self, restart_count):
        self.restart_count = restart_count
        self.app = object()


def _step(monkeypatch, calls, fail=None):
    from ulhpccelery.app import RequeueStranded

    def requeue(app, worker, held):
        calls.append((worker, held))
        if fail:
            raise fail
        return 2

    monkeypatch.setattr(recovery, "requeue_stranded", requeue)
    monkeypatch.setattr(recovery, "held_tags", lambda: {"t1"})
    return RequeueStranded.__new__(RequeueStranded)


def test_the_step_requeues_after_a_reconnection_only(monkeypatch, caplog):
    calls = []
    step = _step(monkeypatch, calls)
    monkeypatch.setenv(config.WORKER_VAR, "celery-worker-1")
    step.start(_Parent(0))  # the first connection: worker_init's recovery did it
    assert calls == []
    step.start(_Parent(1))
    assert calls == [("celery-worker-1", {"t1"})]
    assert "requeued 2 task(s) celery-worker-1 had taken before its connection to Redis broke" in caplog.text


def test_the_step_does_nothing_outside_a_worker_service(monkeypatch):
    calls = []
    step = _step(monkeypatch, calls)
    monkeypatch.delenv(config.WORKER_VAR, raising=False)
    step.start(_Parent(3))
    assert calls == []


def test_a_failed_requeue_is_logged_and_the_worker_goes_on(monkeypatch, caplog):
    calls = []
    step = _step(monkeypatch, calls, fail=ConnectionError("Redis went away again"))
    monkeypatch.setenv(config.WORKER_VAR, "celery-worker-2")
    step.start(_Parent(2))  # no exception: consuming matters more
    assert calls == [("celery-worker-2", {"t1"})]
    assert "could not requeue the tasks celery-worker-2 took before its connection broke: Redis went away again" in caplog.text


def test_the_step_is_part_of_every_worker_consumer():
    from ulhpccelery.app import RequeueStranded, app
    assert RequeueStranded in app.steps["consumer"]
