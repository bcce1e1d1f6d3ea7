"""The process-local snapshot cache: bounded by bytes, least recently used out first,
valid only under the thread's current generation, safe to share between threads."""

from __future__ import annotations

import sys
import threading

from bot.store.snapshots import SnapshotCache

KB = b"x" * 1_000


def test_the_byte_bound_evicts_the_least_recently_used() -> None:
    cache = SnapshotCache(max_bytes=4_000)
    for key in ("a", "b", "c", "d"):
        cache.put(key, "g1", f"etag-{key}", KB)
    assert cache.size == 4_000
    assert cache.get("a", "g1") == (KB, "etag-a")  # "b" is now the least recently used
    cache.put("e", "g1", "etag-e", KB)
    kept = {key for key in "abcde" if cache.get(key, "g1") is not None}
    assert kept == {"a", "c", "d", "e"} and cache.size == 4_000


def test_a_rewrite_is_most_recent_and_a_large_snapshot_is_not_kept() -> None:
    cache = SnapshotCache(max_bytes=4_000)
    for key in ("a", "b", "c", "d"):
        cache.put(key, "g1", "e", KB)
    cache.put("a", "g1", "e2", KB)  # written again: now the most recently used
    cache.put("e", "g1", "e", KB)  # so "b" goes
    assert [key for key in "abcde" if cache.get(key, "g1")] == [
        "a",
        "c",
        "d",
        "e",
    ]
    big = b"y" * 1_001  # over a quarter of the bound
    cache.put("f", "g1", "e", big)
    assert cache.get("f", "g1") is None and cache.size == 4_000  # nothing evicted for it
    cache.put("c", "g2", "e", big)  # a new version too large to keep: the old one goes too
    assert cache.get("c", "g1") is None and cache.size == 3_000


def test_a_snapshot_is_valid_only_under_its_generation() -> None:
    cache = SnapshotCache()
    cache.put("s/1", "g1", "etag1", b"one")
    assert cache.get("s/1", "g1") == (b"one", "etag1")
    assert cache.get("s/1", "g2") is None  # another process wrote since
    assert cache.get("s/1", "g1") is None and cache.size == 0  # so it is gone for good
    cache.put("s/1", "g3", "etag3", b"three")
    assert cache.get("s/1", None) is None and cache.size == 0  # the state store forgot


def test_drop_prefix_drops_only_that_session() -> None:
    cache = SnapshotCache()
    for key in ("session/T1_C1/a", "session/T1_C1/b", "session/T1_C2/a"):
        cache.put(key, "g", "e", KB)
    cache.drop_prefix("session/T1_C1/")
    assert [
        k for k in ("session/T1_C1/a", "session/T1_C1/b", "session/T1_C2/a") if cache.get(k, "g")
    ] == ["session/T1_C2/a"]


def test_a_zero_bound_keeps_nothing_from_then_on() -> None:
    """scripts/bench.py's cold run: `store.cache.max_bytes = 0` on a running store."""
    cache = SnapshotCache()
    cache.put("a", "g", "e", KB)
    cache.max_bytes = 0
    cache.put("b", "g", "e", KB)
    assert cache.get("a", "g") is None and cache.get("b", "g") is None and cache.size == 0


def test_threads_sharing_the_cache_keep_its_byte_count_exact() -> None:
    cache = SnapshotCache(max_bytes=40_000)

    errors: list[BaseException] = []

    def churn(worker: int) -> None:
        try:
            work(worker)
        except BaseException as exc:
            errors.append(exc)

    def work(worker: int) -> None:
        for i in range(5_000):
            key = f"{worker}/{i % 60}"
            cache.put(key, "g", "e", KB)
            cache.get(f"{(worker + 1) % 4}/{i % 60}", "g")
            if i % 31 == 0:
                cache.drop_prefix(f"{worker}/1")

    threads = [threading.Thread(target=churn, args=(n,)) for n in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: an unguarded cache breaks here
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    kept = [f"{w}/{i}" for w in range(4) for i in range(60) if cache.get(f"{w}/{i}", "g")]
    assert cache.size == len(kept) * len(KB) <= 40_000
