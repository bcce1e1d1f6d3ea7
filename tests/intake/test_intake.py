"""The ack path on its own: the Intake driven directly, on MemoryState or a real redis-server
(behind a proxy that can refuse connections), the durable inbox on files, notes posted to
the fake Slack Web API."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from redis.exceptions import RedisError

from bot.answer.stop import STOP_ANY, stop_key
from bot.config import settings as config_module
from bot.intake.intake import QUEUE_FULL, UNAVAILABLE, Intake
from bot.jobs import Job, JobKind
from bot.slack.clients import SlackClients, slack_client
from bot.slack.payloads import LAST_SLACK_RETRY
from bot.store.blobs import FileBlobs
from bot.store.dedup import dedup_keys
from bot.store.inbox import Inbox
from bot.store.memory_state import MemoryState
from bot.store.redis_state import RedisState
from bot.store.sessions import SessionStore
from bot.store.state import CLOCK_SKEW_SECONDS, State
from tests.fakes.ports import free_port
from tests.fakes.redis_server import RedisServer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.tcp_proxy import TcpProxy
from tests.support.harness import base_env
from tests.support.wait import wait_until

MakeIntake = Callable[..., Intake]


def message(ts: str | None = None, thread_ts: str = "1.0", kind: JobKind = "turn") -> Job:
    """A message of U1 in C1's thread `thread_ts` (its ts: now, unless given)."""
    ts = ts or f"{time.time():.6f}"
    return Job(kind=kind, team="T1", channel="C1", thread_ts=thread_ts, ts=ts, user="U1", text=ts)


@pytest.fixture
def queued_turns() -> list[Job]:
    """What the intake's `on_queued` was called with (the "waiting" reaction)."""
    return []


@pytest.fixture
def make_intake(
    fake_slack: FakeSlack, tmp_path: Path, queued_turns: list[Job]
) -> Iterator[MakeIntake]:
    """`make_intake(state, queue_max=…, inbox=…)`: an Intake on `state`, its durable inbox and
    sessions in tmp_path, its background work on one thread."""
    pools: list[ThreadPoolExecutor] = []
    config = config_module.load(base_env(fake_slack.base_url))
    slack = SlackClients(config, slack_client(config), lambda token: slack_client(config, token))

    def make(state: State, queue_max: int = 10, inbox: Inbox | None = None) -> Intake:
        pool = ThreadPoolExecutor(1)
        pools.append(pool)
        sessions = SessionStore(bucket=None, prefix="", directory=tmp_path / "sessions")
        return Intake(
            state,
            inbox or Inbox(FileBlobs(tmp_path / "inbox")),
            sessions,
            slack,
            queue_max=queue_max,
            background=pool,
            on_queued=queued_turns.append,
        )

    yield make
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


def drain(intake: Intake) -> None:
    """Wait for what the ack handed to the background (notes, reactions) to be done: the
    pool has one thread, so a task submitted now runs after them."""
    intake.background.submit(lambda: None).result(timeout=10)


def test_a_message_counts_once_by_event_id_and_by_channel_and_ts(
    make_intake: MakeIntake, queued_turns: list[Job]
) -> None:
    state = MemoryState()
    intake = make_intake(state)
    job = message()
    assert intake.accept(job, "EvMention") is True
    assert intake.accept(job, "EvMention", retry=1) is False  # Slack's retry
    assert intake.accept(job, "EvMessage") is False  # the same message as `message`
    assert intake.take(job, "EvMessage", retry=2) is False
    drain(intake)
    assert [queued.ts for queued in state.queued(job.session_id)] == [job.ts]
    assert [queued.ts for queued in queued_turns] == [job.ts]
    assert [record.ts for record in intake.inbox.recent()] == [job.ts]


def test_past_the_threads_cap_a_message_is_refused_with_one_note(
    make_intake: MakeIntake, fake_slack: FakeSlack
) -> None:
    state = MemoryState()
    intake = make_intake(state, queue_max=2)
    first, second, third = message("1.1"), message("1.2"), message("1.3")
    assert intake.accept(first, "Ev1") and intake.accept(second, "Ev2")
    assert intake.accept(third, "Ev3") is False  # taken (acked), not queued
    assert intake.accept(third, "Ev3", retry=1) is False  # its retry: a duplicate
    drain(intake)
    assert [job.ts for job in state.queued(first.session_id)] == ["1.1", "1.2"]
    notes = fake_slack.calls("chat.postEphemeral")
    assert len(notes) == 1
    assert notes[0].params["text"] == QUEUE_FULL.format(count=2)
    assert notes[0].params["user"] == "U1" and notes[0].params["thread_ts"] == "1.0"
    assert [job.ts for job in intake.inbox.recent()] == ["1.1", "1.2"]  # third marked done


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def test_redis_down_holds_a_message_and_queues_it_when_back(
    make_intake: MakeIntake, own_redis: RedisServer
) -> None:
    with TcpProxy(own_redis.port) as proxy:
        intake = make_intake(RedisState.from_url(proxy.url))
        job = message()
        proxy.refuse()
        assert intake.accept(job, "EvHeld") is True  # recorded durably: acked
        assert intake.pending.holds(job.session_id)
        assert list(intake.inbox.blobs.keys("inbox/pending/"))  # any process can find it
        behind = message()
        assert intake.accept(behind, "EvBehind") is True  # waits behind the first
        time.sleep(1.0)
        direct = RedisState.from_url(own_redis.url)
        assert direct.queued(job.session_id) == []
        proxy.accept()
        wait_until(lambda: len(direct.queued(job.session_id)) == 2, 10, "the held messages queued")
        queued = direct.queued(job.session_id)
        assert [q.ts for q in queued] == [job.ts, behind.ts]  # in arrival order
        assert all(q.replayed for q in queued)  # the turn checks its session first
        # the flusher lets go of the thread (and its markers) just after queueing them
        wait_until(lambda: not intake.pending.holds(job.session_id), 5, "the thread let go")
        wait_until(lambda: not list(intake.inbox.blobs.keys("inbox/pending/")), 5, "no marker")
        assert intake.accept(job, "EvHeld", retry=1) is False  # a late retry: a duplicate


def test_a_message_behind_held_ones_waits_for_them(make_intake: MakeIntake) -> None:
    """Redis answers again, but this thread still has messages held: a newer one is held
    too, so the thread's messages reach the queue in the order they came."""
    state = MemoryState()
    intake = make_intake(state)
    older, newer = message(), message()
    intake.pending.hold(older, dedup_keys(older, "EvOlder"))  # as during the outage
    assert intake.accept(newer, "EvNewer") is True
    assert state.queued(newer.session_id) == []  # no turn can answer it before the older
    wait_until(lambda: len(state.queued(older.session_id)) == 2, 5, "both queued")
    assert [job.ts for job in state.queued(older.session_id)] == [older.ts, newer.ts]
    assert all(job.replayed for job in state.queued(older.session_id))


def broken_inbox(tmp_path: Path) -> Inbox:
    """Storage down: every write fails (a file stands where the inbox's folder should be)."""
    blobs = FileBlobs(tmp_path / "broken")
    (tmp_path / "broken" / "inbox").write_text("in the way")
    return Inbox(blobs)


def unreachable_redis() -> RedisState:
    return RedisState.from_url(f"redis://127.0.0.1:{free_port()}/0")


def test_storage_and_redis_down_fail_until_slacks_last_retry_then_the_user_is_told(
    make_intake: MakeIntake, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    intake = make_intake(unreachable_redis(), inbox=broken_inbox(tmp_path))
    job = message()
    with pytest.raises((OSError, RedisError)):  # a 500: Slack retries
        intake.accept(job, "EvBoth")
    assert fake_slack.calls("chat.postMessage") == []
    assert intake.accept(job, "EvBoth", retry=LAST_SLACK_RETRY) is False  # acked
    note = fake_slack.wait_for("chat.postMessage")[0]
    assert note.params["text"] == UNAVAILABLE and note.params["thread_ts"] == "1.0"


def test_a_stop_word_acts_once(make_intake: MakeIntake) -> None:
    state = MemoryState()
    intake = make_intake(state)
    stop = message(kind="stop")
    assert intake.take(stop, "EvStop") is True
    assert state.fact(stop_key(stop.session_id)) == STOP_ANY
    assert state.queued(stop.session_id) == []  # acts at once, never queued
    state.set_fact(stop_key(stop.session_id), None)  # that answer stopped; the next runs
    assert intake.take(stop, "EvStop", retry=1) is False  # a late retry
    assert intake.take(stop, "EvStopAsMessage") is False  # the same message, other event
    assert state.fact(stop_key(stop.session_id)) is None


def store_a_session(intake: Intake, session_id: str) -> None:
    intake.sessions.blobs.put(f"session/{session_id}/default.json", b"{}", None)


def test_joined_is_redis_answer_when_it_has_one(make_intake: MakeIntake) -> None:
    state = MemoryState()
    intake = make_intake(state)
    noted = message(thread_ts="1.0")
    state.note_joined(noted.session_id, True)
    assert intake.is_joined(noted)  # no session stored: Redis's word
    began = time.time() + CLOCK_SKEW_SECONDS + 1  # after Redis's data began
    since_start = message(thread_ts=f"{began:.6f}")
    store_a_session(intake, since_start.session_id)
    assert not intake.is_joined(since_start)  # Redis's "no" is final


def test_joined_asks_the_session_store_when_redis_cannot_say(make_intake: MakeIntake) -> None:
    state = MemoryState()
    intake = make_intake(state)
    old, unknown = message(thread_ts="1.0"), message(thread_ts="2.0")
    store_a_session(intake, old.session_id)
    assert state.is_joined(old.session_id) is None  # begun before Redis's data
    assert intake.is_joined(old) and not intake.is_joined(unknown)
    assert state.is_joined(old.session_id) is True  # noted for next time
    assert state.is_joined(unknown.session_id) is False


def test_joined_asks_the_session_store_when_redis_is_down(make_intake: MakeIntake) -> None:
    intake = make_intake(unreachable_redis())
    joined, other = message(thread_ts="1.0"), message(thread_ts="2.0")
    store_a_session(intake, joined.session_id)
    assert intake.is_joined(joined) and not intake.is_joined(other)
