"""The one fake clock of the unit tests: time moves only when the code under test sleeps."""


class FakeClock(object):
    """monotonic() (or the clock itself, called) reads the time; sleep() advances it, records
    the pause and calls on_sleep(clock) when set (a test's way to change the world meanwhile)."""

    def __init__(self, start=0.0):
        self.now = start
        self.sleeps = []
        self.on_sleep = None

    def monotonic(self):
        return self.now

    __call__ = monotonic

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(self)
