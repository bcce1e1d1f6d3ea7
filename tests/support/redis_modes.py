"""Process-level tests that run twice: on a single Redis and on the session's Redis Cluster
(tests/conftest.py `redis_url`), the mode detected by the bot from REDIS_URL."""

from __future__ import annotations

import pytest

ON_BOTH = pytest.mark.parametrize("redis_url", ["single", "cluster"], indirect=True)
