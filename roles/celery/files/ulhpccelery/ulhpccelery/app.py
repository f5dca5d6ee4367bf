# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Celery application, configured lazily from celery.ini (see ``ulhpccelery.config``)."""
import os
import signal

from celery import Celery
from celery.signals import worker_process_init, worker_ready

from . import config

READY_FILE_VAR = "ULHPCCELERY_READY_FILE"
POOL_IGNORE_TERM_VAR = "ULHPCCELERY_POOL_IGNORE_TERM"


class _App(Celery):
    def on_configure(self):
        # Read celery.ini when the app is first used, so that importing the package
        # (e.g. in a notebook before the workspace exists) does not fail.
        self.conf.update(config.celery_settings(config.read_config()))


app = _App("ulhpccelery", include=["ulhpccelery.tasks"])


@worker_ready.connect
def _write_ready_file(sender=None, **kwargs):
    """Let a service script know the worker consumes: touch $ULHPCCELERY_READY_FILE."""
    path = os.environ.get(READY_FILE_VAR)
    if path:
        with open(path, "w") as handle:
            handle.write("%s\n" % getattr(sender, "hostname", ""))


@worker_process_init.connect
def _pool_ignores_term(**kwargs):
    """Under Slurm, scancel sends SIGTERM to every process of the job: let the pool processes
    finish their task while the main process does the warm shutdown (which requeues the
    reserved tasks and then closes the pool). Set by the worker service script."""
    if os.environ.get(POOL_IGNORE_TERM_VAR) == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
