"""The chaos tests' fixtures: a seeded random, a fault-injecting S3 proxy, a Redis to restart."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from tests.fakes.redis_server import RedisServer
from tests.fakes.s3_server import FaultyProxy, S3Server
from tests.support.chaos_checks import SEED
from tests.support.chaos_cluster import ContinueProxy


@pytest.fixture
def rng() -> random.Random:
    print(f"CHAOS_SEED={SEED}")
    return random.Random(SEED)


@pytest.fixture
def s3_proxy(s3_server: S3Server) -> Iterator[FaultyProxy]:
    with ContinueProxy(s3_server.endpoint_url) as proxy:
        yield proxy


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own, to restart (the session one is shared)."""
    with RedisServer() as server:
        yield server
