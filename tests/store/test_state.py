"""The coordination-state contract, run against real Redis and the in-process backend."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import redis
from redis.exceptions import RedisError

from bot.jobs import Job
from bot.store.memory_state import MemoryState
from bot.store.redis_facts import recent_keys
from bot.store.redis_state import RedisState, connect
from bot.store.state import State
from bot.store.thread_lock import LeaseLost
from tests.fakes.ports import free_port


def job(ts: str, thread: str = "100.1", kind: str = "turn", user: str = "U1") -> Job:
    return Job(kind=kind, team="T1", channel="C1", thread_ts=thread, ts=ts, user=user, text=ts)


def redis_state(request: pytest.FixtureRequest, lock_ttl: float) -> RedisState:
    """`connect` detects the mode: `redis_url` is a single Redis, the other a cluster."""
    url = request.getfixturevalue("redis_url" if request.param == "redis" else "redis_cluster_url")
    state = RedisState(connect(url), lock_ttl=lock_ttl)
    assert state.cluster == (request.param == "cluster")
    return state


@pytest.fixture(params=["redis", "cluster", "memory"])
def state(request: pytest.FixtureRequest) -> State:
    if request.param == "memory":
        return MemoryState(lock_ttl=3)
    return redis_state(request, 3)


@pytest.fixture(params=["redis", "cluster"])
def short_lease_state(request: pytest.FixtureRequest) -> RedisState:
    return redis_state(request, 1)


@pytest.fixture(params=["redis", "cluster"])
def long_lease_state(request: pytest.FixtureRequest) -> RedisState:
    return redis_state(request, 30)


def test_accept_dedups_on_any_shared_key(state: State) -> None:
    assert state.accept(job("0.1", kind="reset", thread="50.5"), ["reset:1"])
    assert not state.is_joined(job("0.1", thread="50.5").session_id)  # resets join nothing
    assert state.accept(job("1.1"), ["msg:C1:1.1", "event:Ev1"])
    assert not state.accept(job("1.1"), ["msg:C1:1.1", "event:Ev2"])  # double delivery
    assert not state.accept(job("1.1"), ["msg:C1:1.9", "event:Ev1"])  # retry
    assert state.is_duplicate(job("1.1"), ["msg:C1:1.1", "event:Ev3"])
    assert not state.is_duplicate(job("1.1"), ["msg:C1:1.8", "event:Ev3"])
    assert [j.ts for j in state.queued(job("1.1").session_id)] == ["1.1"]
    assert state.is_joined(job("1.1").session_id)


def test_not_joined_is_known_only_for_threads_begun_since_the_state_holds_its_data(
    state: State,
) -> None:
    """A thread that began after the state's data did: "not joined" is final (no storage
    call). An older one (or any, before the first claim): None, the session store is asked
    and its answer kept."""
    later = f"{time.time() + 3600:.6f}"
    assert state.claim_epoch()  # marks since when each shard's data is continuous
    state.replay_done()
    assert state.is_joined(job("1.1", thread=later).session_id) is False
    old, other = job("1.1", thread="1700000000.000100"), job("1.1", thread="1700000001.1")
    assert state.is_joined(old.session_id) is None
    state.note_joined(old.session_id, False)
    state.note_joined(other.session_id, True)
    assert state.is_joined(old.session_id) is False and state.is_joined(other.session_id)
    assert state.accept(job(later, thread=later), [f"msg:{later}"])
    assert state.accept(job("1.2", thread=old.thread_ts), ["msg:1.2"])  # joins after all
    assert state.is_joined(job(later, thread=later).session_id) is True
    assert state.is_joined(old.session_id) is True


def test_one_caller_claims_a_new_epoch_and_turns_wait_for_its_replay(state: State) -> None:
    assert state.claim_epoch() and state.replaying()  # the state is new: replay it
    assert not state.claim_epoch()  # one claimer
    state.replay_done()
    assert not state.replaying() and not state.claim_epoch()


def test_the_check_before_an_accept_claims_every_lost_part_at_once(state: State) -> None:
    elsewhere = Job(kind="turn", team="T9", channel="D9", thread_ts="1.1", ts="1", user="U1")
    assert state.claim_epoch(job("1").session_id)  # new: this thread's part, and the rest
    assert state.replaying(elsewhere.session_id) and not state.claim_epoch()
    assert not state.claim_epoch(elsewhere.session_id)
    state.replay_done()
    assert not state.replaying(job("1").session_id) and not state.replaying()


def test_a_replayed_message_is_queued_before_later_ones(state: State) -> None:
    sid = job("1").session_id
    for ts in ("1700000005.000100", "1700000009.000100"):  # arrived after Redis lost 3 and 7
        state.accept(job(ts), [f"msg:{ts}"])
    for ts in ("1700000003.000100", "1700000007.000100"):
        replayed = dataclasses.replace(job(ts), replayed=True)
        assert state.accept(replayed, [f"msg:{ts}"])
    late = dataclasses.replace(job("reset-1700000008.000100-ab", kind="reset"), replayed=True)
    assert state.accept(late, ["reset:ab"])
    assert [j.ts for j in state.queued(sid)] == [
        "1700000003.000100",
        "1700000005.000100",
        "1700000007.000100",
        "reset-1700000008.000100-ab",
        "1700000009.000100",
    ]


def test_inbox_is_drained_in_order_and_only_by_the_lock_holder(state: State) -> None:
    sid = job("1").session_id
    for ts in ("2.1", "2.2", "2.3"):
        state.accept(job(ts), [f"msg:{ts}"])
    assert state.wait_for_work(1) == sid
    lease = state.try_lease(sid)
    assert lease is not None and state.try_lease(sid) is None
    queued = state.queued(sid)
    assert [j.ts for j in queued] == ["2.1", "2.2", "2.3"]
    state.finish(lease, queued[:2])
    assert [j.ts for j in state.queued(sid)] == ["2.3"]
    assert lease.release_if_idle() is False  # work left: keep the lock
    state.finish(lease, queued[2:])
    assert lease.release_if_idle() is True
    assert state.try_lease(sid) is not None


def test_orphans_are_threads_with_work_and_no_lock_holder(state: State) -> None:
    sid = job("3.1").session_id
    state.accept(job("3.1"), ["msg:3.1"])
    assert state.orphans() == [sid]
    lease = state.try_lease(sid)
    assert state.orphans() == []
    lease.release()  # a worker that failed mid-turn: its work stays queued
    assert state.orphans() == [sid]


def test_a_lost_lease_cannot_finish(state: State) -> None:
    sid = job("4.1").session_id
    state.accept(job("4.1"), ["msg:4.1"])
    first = state.try_lease(sid)
    first.release()
    assert state.try_lease(sid) is not None
    with pytest.raises(LeaseLost):
        state.finish(first, state.queued(sid))
    assert [j.ts for j in state.queued(sid)] == ["4.1"]


def test_watchdog_keeps_a_long_turn_locked(state: State) -> None:
    sid = job("5.1").session_id
    lease = state.try_lease(sid)
    lease.start_watchdog()
    time.sleep(4)  # longer than the 3 s TTL
    assert state.try_lease(sid) is None
    assert not lease.lost.is_set()
    lease.stop_watchdog()
    lease.release()


def test_wait_for_work_wakes_on_accept(state: State) -> None:
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(state.wait_for_work(3)))
    waiter.start()
    time.sleep(0.2)
    state.accept(job("6.1"), ["msg:6.1"])
    waiter.join(5)
    assert got == [job("6.1").session_id]


def test_a_nudge_ends_a_wait_for_work_without_work(state: State) -> None:
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(state.wait_for_work(30)))
    waiter.start()
    time.sleep(0.2)
    state.nudge()  # a stopping worker's: it need not wait out its timeout
    waiter.join(10)
    assert not waiter.is_alive() and got == [None]
    state.accept(job("6.2"), ["msg:6.2"])
    assert state.wait_for_work(1) == job("6.2").session_id  # real work still comes through


def test_sticky_persona_and_recent_thread(state: State) -> None:
    sid = job("7.1").session_id
    state.set_sticky_persona(sid, "critic")
    assert state.sticky_persona(sid) == "critic"
    state.set_sticky_persona(sid, None)
    assert state.sticky_persona(sid) is None
    state.accept(job("7.2", thread="200.1", user="U9"), ["msg:7.2"])
    assert state.recent_thread("T1", "C1", "U9") == "200.1"
    assert state.recent_thread("T1", "C1", "U8") is None


def test_redis_lease_expires_when_its_holder_dies(short_lease_state: RedisState) -> None:
    state = short_lease_state
    sid = job("8.1").session_id
    dead = state.try_lease(sid)  # never renewed, as if the worker was killed
    assert dead is not None
    time.sleep(1.3)
    taker = state.try_lease(sid)
    assert taker is not None
    assert not dead.renew()


def test_orphan_sweep_reaches_past_busy_threads(long_lease_state: RedisState) -> None:
    state = long_lease_state
    busy = []
    for i in range(5):
        state.accept(job(f"9.{i}", thread=f"90.{i}"), [f"msg:9.{i}"])
        busy.append(state.try_lease(job("x", thread=f"90.{i}").session_id))
    state.accept(job("9.9", thread="99.9"), ["msg:9.9"])
    found = state.orphans(limit=2) + state.orphans(limit=2) + state.orphans(limit=2)
    assert found == [job("x", thread="99.9").session_id]


def test_lease_survives_a_redis_restart_that_forgot_it() -> None:
    from tests.fakes.redis_server import RedisServer

    with RedisServer() as server:
        state = RedisState(connect(server.url), lock_ttl=3)
        sid = job("10.1").session_id
        lease = state.try_lease(sid)
        lease.start_watchdog()
        server.restart(down_seconds=0.5)  # no persistence: the lock key is gone
        time.sleep(3.5)
        assert not lease.lost.is_set()
        assert state.try_lease(sid) is None  # still ours
        lease.stop_watchdog()
        lease.release()
        assert state.try_lease(sid) is not None


def test_finish_pops_only_the_jobs_it_handled(state: State) -> None:
    """If the inbox changed under the turn (Redis lost it), newer jobs are not popped."""
    sid = job("11.1").session_id
    state.accept(job("11.1"), ["msg:11.1"])
    lease = state.try_lease(sid)
    handled = state.queued(sid)
    state.finish(lease, handled)  # handled once...
    state.accept(job("11.2"), ["msg:11.2"])
    state.finish(lease, handled)  # ...a repeated finish must not eat the newcomer
    assert [j.ts for j in state.queued(sid)] == ["11.2"]


def test_small_facts_are_shared_and_expire(state: State) -> None:
    state.set_fact("stream:a", "1.5", ttl=1)
    assert state.fact("stream:a") == "1.5" and state.fact("stream:b") is None
    time.sleep(1.2)
    assert state.fact("stream:a") is None
    state.set_fact("stop:a", "yes")
    state.set_fact("stop:a", None)
    assert state.fact("stop:a") is None
    assert state.add_once("votes:a", "U1") and not state.add_once("votes:a", "U1")
    assert state.add_once("votes:a", "U2")
    assert state.count("feedback", "alice:up") == 1 and state.count("feedback", "alice:up") == 2
    assert state.counts("feedback") == {"alice:up": 2} and state.counts("none") == {}
    for note in ("a", "b", "c"):
        state.append_note("ctx", note, max_notes=2)
    assert state.notes("ctx") == ["b", "c"]
    state.drop_notes("ctx", 1)
    assert state.notes("ctx") == ["c"] and state.notes("other") == []


def test_queue_stats_count_every_queued_message_and_the_oldest_age(state: State) -> None:
    assert state.queue_stats() == (0, 0.0)
    now = time.time()
    old, new = f"{now - 30:.6f}", f"{now - 5:.6f}"
    state.accept(job(new, thread="300.1"), [f"msg:{new}"])
    state.accept(job(old, thread="300.2"), [f"msg:{old}"])
    other = Job(
        kind="turn", team="T2", channel="D9", thread_ts="300.3", ts=f"{now:.6f}", user="U1"
    )  # another team and channel: another shard
    state.accept(other, ["msg:other"])
    state.accept(job(f"{now - 1:.6f}", thread="300.2"), ["msg:later"])
    count, age = state.queue_stats()
    assert count == 4 and 29 <= age < 40
    sid = job(old, thread="300.2").session_id
    lease = state.try_lease(sid)
    state.finish(lease, state.queued(sid)[:1])  # the oldest answered
    count, age = state.queue_stats()
    assert count == 3 and 4 <= age < 15


def test_spend_counts_uses_in_a_fixed_window(state: State) -> None:
    assert [state.spend("budget:a", 3, 0.5) for _ in range(5)] == [True] * 3 + [False] * 2
    assert state.spend("budget:b", 3, 0.5)  # each key has its own budget
    time.sleep(0.6)
    assert state.spend("budget:a", 3, 0.5)  # a new window: counted from one again


def test_spend_is_atomic_across_workers(state: State) -> None:
    granted: list[bool] = []
    lock = threading.Lock()

    def spend_ten() -> None:
        got = [state.spend("budget:shared", 50, 30) for _ in range(10)]
        with lock:
            granted.extend(got)

    threads = [threading.Thread(target=spend_ten) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 50 and granted.count(False) == 50


def test_spend_raises_when_redis_is_down() -> None:
    """Callers fail open on the error: it must not look like an exhausted budget."""
    down = RedisState(redis.Redis(port=free_port(), socket_connect_timeout=0.2))
    with pytest.raises(RedisError):
        down.spend("budget:a", 3, 1)


def test_recents_keep_the_newest_members_with_their_first_fields(state: State) -> None:
    key = "home:T1:U1"
    state.upsert_recent(key, "a", 1.0, {"status": "active"}, {"title": "A"}, limit=2)
    state.upsert_recent(key, "b", 2.0, {"status": "active"}, {"title": "B"}, limit=2)
    state.upsert_recent(key, "a", 3.0, {"status": "closed"}, {"title": "not kept"}, limit=2)
    assert state.recents(key) == [
        ("a", {"status": "closed", "title": "A"}),  # newest first; the title set once
        ("b", {"status": "active", "title": "B"}),
    ]
    state.upsert_recent(key, "c", 4.0, {"status": "active"}, {}, limit=2)
    assert [member for member, _ in state.recents(key)] == ["c", "a"]  # b dropped: bounded
    state.upsert_recent(key, "b", 5.0, {"status": "active"}, {"title": "B2"}, limit=2)
    assert state.recents(key)[0] == ("b", {"status": "active", "title": "B2"})  # a new entry
    assert state.recents("home:T1:U2") == []  # another user's collection
    assert state.forget_team("T1") >= 1 and state.recents(key) == []


def test_concurrent_upserts_of_one_key_lose_nothing(state: State) -> None:
    key = "home:T1:U1"

    def upsert(member: str) -> None:
        for n in range(20):
            state.upsert_recent(key, member, time.time(), {"n": str(n)}, {"who": member}, 10)

    workers = [threading.Thread(target=upsert, args=(f"m{i}",)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(state.recents(key)) == [(f"m{i}", {"n": "19", "who": f"m{i}"}) for i in range(4)]


def test_a_users_recents_live_in_one_cluster_slot() -> None:
    order, entries = recent_keys("home:T1:U1")
    assert order.split("}")[0] == entries.split("}")[0] == "tsb:recent:{home:T1:U1"
