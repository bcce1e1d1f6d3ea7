"""Connecting to Redis: a single Redis or a cluster, with long timeouts for the worker
(BRPOP waits on it) or short ones for the ack path (Slack waits 3 s for it)."""

from __future__ import annotations

import logging
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

log = logging.getLogger(__name__)
Client = redis.Redis | RedisCluster
_OPTIONS = {"socket_timeout": 10, "socket_connect_timeout": 5, "retry_on_timeout": True}
# The ack path (Slack waits 3 s): a hanging Redis is given up on after 0.5 s, and only a
# refused or reset connection (instant) is retried once, never a timeout.
QUICK_TIMEOUT = 0.5


def _quick_options() -> dict[str, Any]:
    return {
        "socket_timeout": QUICK_TIMEOUT,
        "socket_connect_timeout": QUICK_TIMEOUT,
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    }


def is_cluster(url: str, timeout: float = 5) -> bool:
    """Does `url` point at a Redis Cluster node? Raises if Redis is unreachable."""
    probe = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return probe.info("cluster").get("cluster_enabled") == 1
    except redis.ResponseError as exc:  # INFO refused by a restricted managed Redis
        log.warning(
            "could not ask Redis whether it is a cluster (%s); assuming it is not: "
            "set REDIS_CLUSTER=1 if it is",
            exc,
        )
        return False
    finally:
        probe.close()


def connect(url: str, cluster: bool | None = None, quick: bool = False) -> Client:
    """A client for `url`: RedisCluster when `cluster` (None: ask the server), else Redis.
    `rediss://` is TLS in both (redis-py's SSLConnection for every node). `quick`: short
    timeouts and no retry of a timeout, for calls Slack's ack waits on."""
    if cluster is None:
        cluster = is_cluster(url, QUICK_TIMEOUT if quick else 5)
    options = _quick_options() if quick else _OPTIONS
    if cluster:
        return RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, health_check_interval=30, **options)
