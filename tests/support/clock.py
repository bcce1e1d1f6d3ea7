"""A clock a test moves by hand, for the caches that take a `timer` (cachetools)."""

from __future__ import annotations


class Clock:
    """Seconds as a monotonic timer would give them; time passes only by `advance`."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
