"""Finding 11: the in-process state (no REDIS_URL) must not grow with input. What Redis
expires (facts, sets, notes, budgets, dedup marks, joined flags) expires here too and is
purged as writes go on; a thread's emptied queue is dropped; every kind of entry is
bounded, however many distinct threads, messages and keys come in."""

from __future__ import annotations

import time
from collections.abc import Sized

from bot.jobs import Job
from bot.store.memory_state import MemoryState

THREADS = 3_000
TTL = 1.0  # longer than writing them all takes
PURGE_EVERY = 1_000  # bot.store.ttl_map.PURGE_EVERY: writes between two purges


def held(state: MemoryState) -> int:
    """Entries in every container the state keeps (its facts, sets, queues, flags...)."""
    return sum(
        len(value)
        for value in vars(state).values()
        if isinstance(value, Sized) and not isinstance(value, str | bytes | tuple)
    )


def answer_all(state: MemoryState) -> None:
    """What the worker does with each queued thread: lease, answer, finish, release."""
    while (sid := state.wait_for_work(0)) is not None:
        lease = state.try_lease(sid)
        assert lease is not None
        state.finish(lease, state.queued(sid))
        assert lease.release_if_idle()


def test_many_distinct_expired_facts_are_purged(tmp_path) -> None:
    state = MemoryState()
    before = held(state)
    for i in range(THREADS):
        root = f"{1_700_000_000 + i}.000100"
        job = Job(kind="help", team="T1", channel="C1", thread_ts=root, ts=root, user="U1")
        sid = job.session_id
        state.set_fact(f"waiting:{sid}:{root}", "1", ttl=TTL)
        state.add_once(f"stop-seen:msg:T1:C1:{root}", "1", ttl=TTL)
        state.append_note(f"context:{sid}", "another app's post", ttl=TTL)
        state.spend(f"budget:T{i}:chat.postMessage", 10, window=TTL)
        assert state.accept(job, [])
        answer_all(state)
    assert held(state) >= THREADS  # grown meanwhile (expiring, not yet expired)
    time.sleep(TTL)  # every TTL above is over
    for _ in range(PURGE_EVERY):  # later, ordinary traffic: one key written again and again
        state.set_fact("busy:T1_C1_1-1", "1", ttl=60)
    assert held(state) <= before + 1


def test_every_kind_of_entry_is_bounded_and_an_evicted_join_is_not_a_no() -> None:
    state = MemoryState(max_entries=100)
    future = time.time() + 3_600  # threads that began after this state did
    roots = [f"{future + i:.6f}" for i in range(1_000)]
    for i, root in enumerate(roots):
        job = Job(kind="turn", team="T1", channel="C1", thread_ts=root, ts=root, user=f"U{i}")
        assert state.accept(job, [f"msg:T1:C1:{root}"])
        state.set_sticky_persona(job.session_id, "critic")
        answer_all(state)
    assert held(state) <= 9 * 100 + 1  # each kind of fact at most max_entries
    first, last = (
        Job(kind="turn", team="T1", channel="C1", thread_ts=r, ts=r, user="U1")
        for r in (roots[0], roots[-1])
    )
    assert state.is_joined(last.session_id) is True
    # its flag was dropped for room: "not joined" is not known, the session store says
    assert state.is_joined(first.session_id) is None
