# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The UL HPC tutorial's Celery application, configured from a workspace's ``celery.ini``.

``celery -A ulhpccelery worker`` finds ``app`` here; ``from ulhpccelery import tasks``
gives the tasks ``add``, ``mul``, ``xsum`` (and ``slow_add``, to watch workers scale).
"""
from .app import app  # noqa: F401

__version__ = "0.1.0"
__all__ = ["app", "__version__"]
