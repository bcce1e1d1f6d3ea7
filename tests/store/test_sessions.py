"""Session storage over real HTTP to moto's S3 server, and on the local file store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from strands import Agent
from strands.session.snapshot_session_manager import SnapshotSessionManager
from strands.storage import S3Storage

from bot.jobs import Job
from bot.store.inbox import Inbox
from bot.store.memory_state import MemoryState
from bot.store.redis_state import RedisState, connect
from bot.store.sessions import LEGACY_GRACE_SECONDS, FencingError, SessionStore
from tests.fakes.model import ScriptedModel
from tests.store.old_layout import old_worker_turns


def s3_store(s3_env: dict[str, str], session_dir: Path, **kwargs) -> SessionStore:
    return SessionStore(
        bucket=s3_env["SESSION_BUCKET"], prefix="bot/", directory=session_dir, **kwargs
    )


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, session_dir: Path) -> SessionStore:
    """The session store on the local file store and on S3 (moto)."""
    if request.param == "s3":
        return s3_store(request.getfixturevalue("s3_env"), session_dir)
    return SessionStore(bucket=None, prefix="", directory=session_dir)


def agent_on(store: SessionStore, session_id: str, agent_id: str = "default"):
    manager = store.manager(session_id)
    agent = Agent(
        model=ScriptedModel(), agent_id=agent_id, session_manager=manager, callback_handler=None
    )
    return agent, manager


def turn(store: SessionStore, session_id: str, text: str, agent_id: str = "default") -> None:
    agent, manager = agent_on(store, session_id, agent_id)
    agent(text)
    manager.commit(agent)


def user_texts(agent: Agent) -> list[str]:
    return [m["content"][0]["text"] for m in agent.messages if m["role"] == "user"]


def test_s3_turn_is_written_only_on_commit(s3_env: dict[str, str], session_dir: Path) -> None:
    store = s3_store(s3_env, session_dir)
    agent, manager = agent_on(store, "T1_C1_1-1")
    agent("hello")
    assert not list(store.blobs.keys("session"))  # nothing before commit
    manager.commit(agent)
    assert list(store.blobs.keys("session")) == [
        "session/T1_C1_1-1/scopes/agent/default/snapshots/snapshot_latest.json"
    ]
    restored, _ = agent_on(s3_store(s3_env, session_dir), "T1_C1_1-1")  # another process
    assert [m["role"] for m in restored.messages] == ["user", "assistant"]


def test_stale_writer_is_fenced(s3_env: dict[str, str], session_dir: Path) -> None:
    """Two workers restored the same session; the one whose lock expired must not overwrite."""
    store = s3_store(s3_env, session_dir)
    turn(store, "T1_C1_2-1", "one")
    stale, stale_manager = agent_on(store, "T1_C1_2-1")
    fresh, fresh_manager = agent_on(store, "T1_C1_2-1")
    fresh("fresh turn")
    fresh_manager.commit(fresh)
    stale("stale turn")
    with pytest.raises(FencingError):
        stale_manager.commit(stale)
    restored, _ = agent_on(store, "T1_C1_2-1")
    assert "fresh turn" in str(restored.messages) and "stale turn" not in str(restored.messages)


def test_agent_state_is_fenced_by_etag(s3_env: dict[str, str], session_dir: Path) -> None:
    store = s3_store(s3_env, session_dir)
    turn(store, "T1_C1_3-1", "one")
    a, a_manager = agent_on(store, "T1_C1_3-1")
    b, b_manager = agent_on(store, "T1_C1_3-1")
    b.state.set("k", "b")
    b_manager.commit(b)
    a.state.set("k", "a")
    with pytest.raises(FencingError):
        a_manager.commit(a)


def test_a_new_session_is_created_once(s3_env: dict[str, str], session_dir: Path) -> None:
    store = s3_store(s3_env, session_dir)
    a, a_manager = agent_on(store, "T1_C1_3-2")
    b, b_manager = agent_on(store, "T1_C1_3-2")
    a("first")
    a_manager.commit(a)
    b("also first")
    with pytest.raises(FencingError):  # If-None-Match: *
        b_manager.commit(b)


def test_a_hot_thread_costs_one_request_per_turn_at_any_length(
    s3_env: dict[str, str], session_dir: Path
) -> None:
    """Restore + save: one PUT when this process wrote the thread last, one GET more when
    another process did, whatever the thread's length."""
    facts = MemoryState()  # the shared state store (Redis) both processes use
    ours = s3_store(s3_env, session_dir, facts=facts)
    theirs = s3_store(s3_env, session_dir, facts=facts)
    sid = f"T1_C1_{time.time() + 2 * LEGACY_GRACE_SECONDS:.6f}".replace(".", "-")
    ours.snapshots_since()  # read once per process (warm-up does it)
    costs = []
    for i in range(30):
        before = ours.blobs.requests
        turn(ours, sid, f"q{i}")
        costs.append(ours.blobs.requests - before)
    assert costs == [2] + [1] * 29  # the first: GET (none yet) + PUT
    turn(theirs, sid, "from another process")
    before = ours.blobs.requests
    agent, _ = agent_on(ours, sid)
    assert ours.blobs.requests - before == 1  # the generation changed: GET
    assert user_texts(agent)[-1] == "from another process"


def test_a_cache_gone_stale_without_the_state_store_is_fenced_then_refreshed(
    s3_env: dict[str, str], session_dir: Path
) -> None:
    """Without shared generations (e.g. Redis lost them), the conditional PUT still
    refuses the stale copy, and the next restore reads the stored one."""
    ours, theirs = s3_store(s3_env, session_dir), s3_store(s3_env, session_dir)
    turn(ours, "T1_C1_4-2", "one")
    turn(theirs, "T1_C1_4-2", "two")
    with pytest.raises(FencingError):
        turn(ours, "T1_C1_4-2", "three (stale)")
    agent, _ = agent_on(ours, "T1_C1_4-2")
    assert user_texts(agent) == ["one", "two"]


def test_generations_in_redis(s3_env: dict[str, str], session_dir: Path, redis_url: str) -> None:
    ours = s3_store(s3_env, session_dir, facts=RedisState(connect(redis_url)))
    theirs = s3_store(s3_env, session_dir, facts=RedisState(connect(redis_url)))
    turn(ours, "T1_C1_4-3", "one")
    turn(theirs, "T1_C1_4-3", "two")
    turn(ours, "T1_C1_4-3", "three")  # not fenced: the generation told it to re-read
    agent, manager = agent_on(theirs, "T1_C1_4-3")
    assert manager.restored_from == "storage" and user_texts(agent) == ["one", "two", "three"]


def test_stock_strands_reads_our_snapshots(s3_env: dict[str, str], session_dir: Path) -> None:
    """The format and key layout are Strands' own (SnapshotSessionManager + S3Storage)."""
    store = s3_store(s3_env, session_dir)
    turn(store, "T1_C1_4-4", "remember me")
    stock = SnapshotSessionManager(
        "T1_C1_4-4", storage=S3Storage(s3_env["SESSION_BUCKET"], prefix="bot")
    )  # S3Storage adds the "/"
    agent = Agent(model=ScriptedModel(), session_manager=stock, callback_handler=None)
    assert user_texts(agent) == ["remember me"]
    assert asyncio.run(S3Storage(s3_env["SESSION_BUCKET"], prefix="bot").list("session/"))


def test_old_layout_is_read_migrated_and_reset(store: SessionStore) -> None:
    sid = "T1_C1_5-2"
    old_worker_turns(store, sid, "alice", "one", "two")
    old_worker_turns(store, sid, "bob", "for bob")
    assert store.exists(sid)
    agent, manager = agent_on(store, sid, "alice")
    assert manager.restored_from == "legacy" and user_texts(agent) == ["one", "two"]
    agent("three")
    manager.commit(agent)
    left = list(store.blobs.keys(f"session_{sid}"))
    assert not [k for k in left if "agent_alice" in k]  # migrated: the old objects are gone
    assert [k for k in left if "agent_bob" in k]  # bob's turn comes later
    agent, manager = agent_on(store, sid, "alice")
    assert manager.restored_from == "cache" and user_texts(agent) == ["one", "two", "three"]
    assert store.delete(sid) is True  # both layouts
    assert not list(store.blobs.keys(f"session_{sid}")) + list(store.blobs.keys("session/"))


def test_rolling_deploy_old_and_new_workers_on_one_bucket(
    s3_env: dict[str, str], session_dir: Path
) -> None:
    """What docs/operations.md promises: an old worker neither sees nor breaks the snapshot; the new
    release keeps the snapshot and does not read what an old worker wrote after it."""
    store = s3_store(s3_env, session_dir)
    sid = "T1_C1_5-3"
    turn(store, sid, "new release")
    old = old_worker_turns(store, sid, "default", "old release")
    assert user_texts(old) == ["old release"]  # it does not read snapshots
    agent, _ = agent_on(s3_store(s3_env, session_dir), sid)
    assert user_texts(agent) == ["new release"]
    assert store.delete(sid) and not list(store.blobs.keys(f"session_{sid}"))


def test_delete_removes_every_persona(store: SessionStore) -> None:
    for persona in ("alice", "bob"):
        turn(store, "T1_C1_5-1", "hi", persona)
    assert store.exists("T1_C1_5-1")
    assert store.delete("T1_C1_5-1") is True
    assert not store.exists("T1_C1_5-1")
    assert store.delete("T1_C1_5-1") is False
    fresh, manager = agent_on(store, "T1_C1_5-1", "alice")  # not restored from the cache
    assert fresh.messages == [] and manager.restored_from == ""


@pytest.mark.parametrize("evil", ["../../etc", "a/b", "..", "x\\..\\y"])
def test_file_store_refuses_ids_that_escape(evil: str, session_dir: Path) -> None:
    store = SessionStore(bucket=None, prefix="", directory=session_dir)
    with pytest.raises(ValueError):
        store.delete(evil)
    with pytest.raises(ValueError):
        store.manager(evil)
    assert list(session_dir.parent.iterdir()) == [session_dir]


def test_ping_reports_missing_bucket(s3_env: dict[str, str], session_dir: Path) -> None:
    store = SessionStore(bucket="no-such-bucket", prefix="", directory=session_dir)
    with pytest.raises(Exception, match="404|Not Found|NoSuchBucket"):
        store.ping()


def test_one_shared_s3_client_per_store(s3_env: dict[str, str], session_dir: Path) -> None:
    store = s3_store(s3_env, session_dir)
    assert store.manager("T1_C1_6-1").blobs is store.manager("T1_C1_6-2").blobs is store.blobs


def test_delete_team_removes_only_that_teams_sessions_and_inbox(store: SessionStore) -> None:
    """An uninstall: every session of T1 in both layouts, and its durable inbox records;
    T12 (a longer id with the same start) and T2 keep theirs."""
    for sid in ("T1_C1_6-1", "T1_D1_dm", "T12_C1_6-1", "T2_C1_6-1"):
        turn(store, sid, "hi")
    old_worker_turns(store, "T1_C2_6-2", "default", "old layout")
    inbox = Inbox(store.blobs)
    for team in ("T1", "T2"):
        inbox.record(Job("turn", team, "C1", "6.1", f"{time.time():.6f}", "U1", "hi"))
    agent_on(store, "T1_C1_6-1")  # cached in this process
    assert store.delete_team("T1") == 3
    for sid in ("T1_C1_6-1", "T1_D1_dm", "T1_C2_6-2"):
        assert not store.exists(sid)
        fresh, manager = agent_on(store, sid)  # not restored from the cache either
        assert fresh.messages == [] and manager.restored_from == ""
    assert all(store.exists(sid) for sid in ("T12_C1_6-1", "T2_C1_6-1"))
    teams = [key.split("/")[2].split("_")[0] for key in store.blobs.keys("inbox/")]
    assert teams == ["T2"]
    assert store.delete_team("T1") == 0
