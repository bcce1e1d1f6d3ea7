"""The one wait of the tests: poll a condition until it holds, or fail the test."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(
    condition: Callable[[], Any],
    timeout: float = 10.0,
    what: str = "the condition",
    interval: float = 0.02,
) -> Any:
    """Poll `condition` until it returns something truthy, and return that. When `timeout`
    seconds pass first, raise AssertionError naming `what` and the timeout: a wait never
    returns quietly."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
