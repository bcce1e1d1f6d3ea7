"""The state store this configuration asks for: Redis (one server or a cluster) if REDIS_URL
is set, else in this process only."""

from __future__ import annotations

import logging

from bot.config.settings import Config
from bot.store.memory_state import MemoryState
from bot.store.redis_state import RedisState
from bot.store.state import State

log = logging.getLogger(__name__)


def build_state(config: Config) -> State:
    """RedisState on REDIS_URL (REDIS_CLUSTER: a cluster), else MemoryState (one process)."""
    if config.redis_url:
        return RedisState.from_url(
            config.redis_url, cluster=config.redis_cluster, lock_ttl=config.lock_ttl_seconds
        )
    log.warning(
        "REDIS_URL is not set: dedup, queues and thread locks live in this process only. "
        "Run exactly ONE worker process; set REDIS_URL to scale out."
    )
    return MemoryState(lock_ttl=config.lock_ttl_seconds)
