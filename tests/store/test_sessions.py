"""Session storage over real HTTP to moto's S3 server, and on the local file store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from strands import Agent

from bot.store.sessions import FencingError, SessionStore
from tests.fakes.model import ScriptedModel


def s3_store(s3_env: dict[str, str], session_dir: Path) -> SessionStore:
    return SessionStore(bucket=s3_env["SESSION_BUCKET"], prefix="bot/", directory=session_dir)


def agent_on(store: SessionStore, session_id: str, agent_id: str = "default"):
    manager = store.manager(session_id)
    agent = Agent(model=ScriptedModel(), agent_id=agent_id, session_manager=manager,
                  callback_handler=None)
    return agent, manager


def test_s3_turn_is_written_only_on_commit(s3_env: dict[str, str], session_dir: Path) -> None:
    store = s3_store(s3_env, session_dir)
    agent, manager = agent_on(store, "T1_C1_1-1")
    agent("hello")
    keys = [o["Key"] for o in store.client.list_objects_v2(
        Bucket=store.bucket, Prefix="bot/")["Contents"]]
    assert not any("message_" in k for k in keys)  # buffered until commit
    manager.commit(agent)
    restored, _ = agent_on(store, "T1_C1_1-1")
    assert [m["role"] for m in restored.messages] == ["user", "assistant"]


def test_stale_writer_is_fenced(s3_env: dict[str, str], session_dir: Path) -> None:
    """Two workers restored the same session; the one whose lock expired must not overwrite."""
    store = s3_store(s3_env, session_dir)
    first, first_manager = agent_on(store, "T1_C1_2-1")
    first("one")
    first_manager.commit(first)
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
    agent, manager = agent_on(store, "T1_C1_3-1")
    agent("one")
    manager.commit(agent)
    a, a_manager = agent_on(store, "T1_C1_3-1")
    b, b_manager = agent_on(store, "T1_C1_3-1")
    b.state.set("k", "b")
    b_manager.commit(b)
    a.state.set("k", "a")
    with pytest.raises(FencingError):
        a_manager.commit(a)


def test_one_shared_s3_client_per_store(s3_env: dict[str, str], session_dir: Path) -> None:
    store = s3_store(s3_env, session_dir)
    assert store.manager("T1_C1_4-1").client is store.manager("T1_C1_4-2").client is store.client


@pytest.mark.parametrize("backend", ["file", "s3"])
def test_delete_removes_every_persona(backend: str, request: pytest.FixtureRequest,
                                      session_dir: Path) -> None:
    if backend == "s3":
        store = s3_store(request.getfixturevalue("s3_env"), session_dir)
    else:
        store = SessionStore(bucket=None, prefix="", directory=session_dir)
    for persona in ("alice", "bob"):
        agent, manager = agent_on(store, "T1_C1_5-1", persona)
        agent("hi")
        manager.commit(agent)
    assert store.exists("T1_C1_5-1")
    assert store.delete("T1_C1_5-1") is True
    assert not store.exists("T1_C1_5-1")
    assert store.delete("T1_C1_5-1") is False
    fresh, _ = agent_on(store, "T1_C1_5-1", "alice")
    assert fresh.messages == []


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


def test_restore_fetches_only_messages_this_process_has_not_seen(
    s3_env: dict[str, str], session_dir: Path
) -> None:
    ours, theirs = s3_store(s3_env, session_dir), s3_store(s3_env, session_dir)
    for text in ("one", "two"):
        agent, manager = agent_on(ours, "T1_C1_6-1")
        agent(text)
        manager.commit(agent)
    agent, manager = agent_on(theirs, "T1_C1_6-1")  # another process: cold cache
    assert theirs.cache.misses == 4
    agent("three")
    manager.commit(agent)
    misses = ours.cache.misses
    restored, _ = agent_on(ours, "T1_C1_6-1")
    assert ours.cache.misses - misses == 2  # only the other process's new turn was fetched
    assert [m["content"][0]["text"] for m in restored.messages if m["role"] == "user"] == [
        "one", "two", "three"]
    key = theirs.manager("T1_C1_6-1")._get_message_path("T1_C1_6-1", "default", 0)
    theirs.client.put_object(Bucket=theirs.bucket, Key=key, Body=json.dumps(
        {**json.loads(theirs.client.get_object(Bucket=theirs.bucket, Key=key)["Body"].read()),
         "message": {"role": "user", "content": [{"text": "rewritten"}]}}).encode())
    restored, _ = agent_on(ours, "T1_C1_6-1")
    assert restored.messages[0]["content"] == [{"text": "rewritten"}]  # new ETag, refetched
