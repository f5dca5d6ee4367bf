# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Celery application, configured lazily from celery.ini (see ``ulhpccelery.config``)."""
import ctypes
import logging
import os
import signal
import sys

from celery import Celery, bootsteps
from celery.signals import worker_init, worker_process_init, worker_ready

from . import config, recovery

READY_FILE_VAR = "ULHPCCELERY_READY_FILE"
POOL_IGNORE_TERM_VAR = "ULHPCCELERY_POOL_IGNORE_TERM"
LOG = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class _App(Celery):
    def on_configure(self):
        # Read celery.ini when the app is first used, so that importing the package
        # (e.g. in a notebook before the workspace exists) does not fail.
        settings = config.celery_settings(config.read_config(), worker=os.environ.get(config.WORKER_VAR),
                                          stock_transport=os.environ.get(config.STOCK_TRANSPORT_VAR) == "1")
        self.conf.update(settings)
        # Celery makes the result backend after this, from result_backend's scheme and these.
        self.loader.override_backends = config.backend_overrides(settings)


app = _App("ulhpccelery", include=["ulhpccelery.tasks"])


@worker_init.connect
def _recover_unacked(sender=None, **kwargs):
    """Before consuming: requeue what a dead predecessor of this worker held, and what any
    worker left longer than visibility_timeout ago (ulhpccelery.recovery)."""
    worker = os.environ.get(config.WORKER_VAR)
    if worker:
        try:
            recovery.recover(app, worker)
        except Exception as exc:  # pylint: disable=broad-except
            # Consuming matters more: what is left waits for visibility_timeout, as in kombu.
            LOG.error("could not requeue the unacknowledged tasks of %s: %s", worker, exc)


class RequeueStranded(bootsteps.StartStopStep):
    """After the worker's connection to Redis broke and came back (Redis restarted): requeue
    what it had taken and no longer holds (ulhpccelery.recovery.requeue_stranded). Started with
    each connection, after the task consumer and before the event loop takes any task."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, parent):
        worker = os.environ.get(config.WORKER_VAR)
        if not worker or parent.restart_count <= 0:  # 0: the first connection (see _recover_unacked)
            return
        try:
            count = recovery.requeue_stranded(parent.app, worker, recovery.held_tags())
        except Exception as exc:  # pylint: disable=broad-except
            # Consuming matters more: what is left waits for visibility_timeout, as in kombu.
            LOG.error("could not requeue the tasks %s took before its connection broke: %s", worker, exc)
            return
        if count:
            LOG.warning("requeued %d task(s) %s had taken before its connection to Redis broke "
                        "and no longer holds", count, worker)


app.steps["consumer"].add(RequeueStranded)


@worker_ready.connect
def _write_ready_file(sender=None, **kwargs):
    """Let a service script know the worker consumes: touch $ULHPCCELERY_READY_FILE."""
    path = os.environ.get(READY_FILE_VAR)
    if path:
        with open(path, "w") as handle:
            handle.write("%s\n" % getattr(sender, "hostname", ""))


def _die_with_parent():
    """Linux: SIGKILL this pool process when the worker's main process dies. A pool process
    whose main process was killed can no longer acknowledge its task (which the restarted
    worker requeues anyway), and with Slurm's proctrack/linuxproc it even escapes the job and
    runs on after scancel. Elsewhere this is a no-op."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError) as exc:
        LOG.warning("pool process %d will not die with its worker: %s", os.getpid(), exc)
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


@worker_process_init.connect
def _pool_process_init(**kwargs):
    """Under Slurm, scancel sends SIGTERM to every process of the job: let the pool processes
    finish their task while the main process does the warm shutdown (which requeues the
    reserved tasks and then closes the pool). Set by the worker service script. And a pool
    process dies with the main process (_die_with_parent)."""
    if os.environ.get(POOL_IGNORE_TERM_VAR) == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _die_with_parent()
