# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Submit many small tasks in batches.

One message per ``add`` costs a broker round trip and a result key each; for the
tutorial's 10**6 additions, send them as chunks (Celery's ``chunks``): ``chunk_size``
additions travel in one message, run in one task, and come back as one result::

    from ulhpccelery.batch import add_many
    sums = add_many(zip(range(10**6), range(1, 10**6 + 1)), chunk_size=10000)

which is ``tasks.add.chunks(pairs, chunk_size).group().apply_async()`` with the
results flattened back in order.
"""
from .tasks import add

DEFAULT_CHUNK_SIZE = 10000


def submit_add_many(pairs, chunk_size=DEFAULT_CHUNK_SIZE):
    """Send ``add(x, y)`` for every (x, y) of `pairs` in chunks; returns a GroupResult."""
    pairs = [tuple(pair) for pair in pairs]
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    return add.chunks(pairs, chunk_size).group().apply_async()


def add_many(pairs, chunk_size=DEFAULT_CHUNK_SIZE, timeout=None):
    """``[x + y for (x, y) in pairs]`` computed by the workers, in order."""
    result = submit_add_many(pairs, chunk_size)
    return [value for chunk in result.get(timeout=timeout) for value in chunk]
