"""Thread lock: one turn at a time per thread session, kept alive while the turn runs.

A lease has a short TTL so a dead worker frees its threads within seconds; a watchdog renews
it every TTL/3. When renewal fails for longer than the TTL (or another worker owns the lock)
the lease is marked lost and the turn must not write.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod

from bot.obs import metrics

log = logging.getLogger(__name__)


class LeaseLost(RuntimeError):
    """The thread lock expired or was taken over; the holder must stop writing."""


class Lease(ABC):
    def __init__(self, session_id: str, ttl: float) -> None:
        self.session_id = session_id
        self.ttl = ttl
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    @abstractmethod
    def renew(self) -> bool:
        """Extend the lock; False when it is no longer ours. May raise on connection errors."""

    @abstractmethod
    def release_if_idle(self) -> bool:
        """Release only if no work is queued for the thread; False means 'keep draining'."""

    @abstractmethod
    def release(self) -> None:
        """Release unconditionally (error paths)."""

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"lock for {self.session_id} was lost")

    def start_watchdog(self) -> None:
        self._watchdog = threading.Thread(
            target=self._renew_loop, name=f"lease-{self.session_id[:24]}", daemon=True
        )
        self._watchdog.start()

    def stop_watchdog(self) -> None:
        self._stop.set()
        if self._watchdog and self._watchdog is not threading.current_thread():
            self._watchdog.join(timeout=self.ttl)

    def _renew_loop(self) -> None:
        last_ok = time.monotonic()
        while not self._stop.wait(self.ttl / 3):
            try:
                if self.renew():
                    last_ok = time.monotonic()
                    continue
                log.warning("lock for %s taken over; aborting its turn", self.session_id)
                metrics.lock_lost("taken_over")
            except Exception as exc:  # connection blips: keep trying until the TTL runs out
                if time.monotonic() - last_ok < self.ttl:
                    log.warning("renewing lock for %s failed (%s); retrying", self.session_id, exc)
                    continue
                log.error("lock for %s expired while renewal failed: %s", self.session_id, exc)
                metrics.lock_lost("expired")
            self.lost.set()
            return
