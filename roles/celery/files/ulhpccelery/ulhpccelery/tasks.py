# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tutorial's tasks."""
import time

from .app import app


@app.task
def add(x, y):
    """x + y"""
    return x + y


@app.task
def mul(x, y):
    """x * y"""
    return x * y


@app.task
def xsum(numbers):
    """The sum of a list of numbers."""
    return sum(numbers)


@app.task
def slow_add(x, y, seconds=0.1):
    """x + y after sleeping `seconds` (to watch workers being added or removed)."""
    time.sleep(seconds)
    return x + y
