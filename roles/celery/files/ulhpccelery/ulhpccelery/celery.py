# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the UL HPC tutorial keeps its application: ``from ulhpccelery.celery import app``.

The same ``app`` as ``ulhpccelery.app``; ``celery -A ulhpccelery`` finds either.
"""
from .app import app  # noqa: F401

__all__ = ["app"]
