"""The durable inbox: nothing acked is lost when Redis loses everything, nothing handled is
answered twice. Real Redis (FLUSHALL), S3 over HTTP (moto), signed requests, the worker."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest
import redis

from bot.intake.reset import reset_job
from bot.jobs import Job
from bot.store.blobs import FileBlobs, S3Blobs
from bot.store.inbox import POST_CLAIM_SECONDS, Inbox, record_key
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.support.bot import answers, model_called, now_ts, settle, wait_answered
from tests.support.harness import Bot, base_env


def turn(ts: str, thread: str = "1.0") -> Job:
    return Job(
        kind="turn",
        team="T1",
        channel="C1",
        thread_ts=thread,
        ts=ts,
        user="U1",
        text=f"message {ts}",
    )


@pytest.fixture(params=["file", "s3"])
def inbox(request: pytest.FixtureRequest, session_dir: Path) -> Inbox:
    if request.param == "file":
        return Inbox(FileBlobs(session_dir))
    env = request.getfixturevalue("s3_env")
    return Inbox(S3Blobs(env["SESSION_BUCKET"], "bot/"))


def test_a_record_is_written_once_and_replayed_until_done(inbox: Inbox) -> None:
    first, second, old = turn(now_ts()), turn(now_ts()), turn(now_ts(ago=2 * 3600))
    assert inbox.record(first) is True
    assert inbox.record(first) is False  # a retry or the other event of the same message
    assert inbox.record(second) and inbox.record(old)
    reset = reset_job("T1", "C1", "1.0", "U1", "C1")
    assert inbox.record(reset)
    inbox.done(reset)
    inbox.done(reset)  # idempotent
    replayed = inbox.recent()
    assert [job.ts for job in replayed] == [first.ts, second.ts]  # not the old one
    assert all(job.replayed for job in replayed)
    assert dataclasses.replace(replayed[0], replayed=False) == first


def test_a_reset_id_carries_its_time() -> None:
    reset = reset_job("T1", "C1", "1.0", "U1", "C1")
    hour = time.strftime("%Y%m%d%H", time.gmtime())
    assert record_key(reset).startswith(f"inbox/{hour}/") or time.gmtime().tm_min == 0


def test_redis_flushed_mid_load_loses_nothing_and_doubles_nothing(
    make_bot, fake_slack: FakeSlack, s3_env: dict[str, str], redis_url: str
) -> None:
    gate = threading.Event()
    gate.set()
    model = ScriptedModel(block_until=gate)
    bot = make_bot(model, SESSION_BUCKET=s3_env["SESSION_BUCKET"])
    done = bot.mention("answered before", ts=now_ts())
    fake_slack.wait_for("chat.postMessage", count=1)
    bot.reply("answered last", thread_ts=done["ts"], ts=now_ts())  # the thread's last prompt
    fake_slack.wait_for("chat.postMessage", count=2)
    settle(bot)
    gate.clear()  # the next answers are held while Redis forgets everything
    running = bot.mention("running during the flush", ts=now_ts())
    model_called(model)
    queued = bot.reply("queued during the flush", thread_ts=running["ts"], ts=now_ts())
    redis.Redis.from_url(redis_url).flushall()
    gate.set()
    wait_answered(fake_slack, ("running during the flush", "queued during the flush"))
    time.sleep(3)  # a sweep (2 s) replays the inbox; anything doubled would show by now
    settle(bot, timeout=15)
    assert answers(fake_slack, "answered before") == 1
    assert answers(fake_slack, "answered last") == 1
    assert answers(fake_slack, "running during the flush") == 1
    assert answers(fake_slack, "queued during the flush") == 1
    asked = [m["content"][0]["text"] for call in model.calls for m in call["messages"][-1:]]
    assert asked.count("answered before") == asked.count("answered last") == 1, asked
    assert queued


def test_a_restarted_single_process_replays_what_it_had_not_answered(
    make_bot, fake_slack: FakeSlack, session_dir: Path
) -> None:
    """The embedded default (in-process state, file store): a crash used to lose the queue.
    The first process acks the message and dies before its worker takes it."""
    env = base_env(fake_slack.base_url, SESSION_DIR=str(session_dir))
    crashed = Bot(env, ScriptedModel())
    crashed._thread.start()  # serving requests; its worker never runs
    crashed.mention("before the crash", ts=now_ts())
    crashed.server.shutdown()
    crashed.server.server_close()
    second = make_bot(ScriptedModel(), redis=False)
    wait_answered(fake_slack, ("before the crash",), timeout=15)
    settle(second, timeout=10)
    assert answers(fake_slack, "before the crash") == 1


def test_a_post_is_claimed_once_and_taken_over_only_when_abandoned(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = turn(now_ts())
    assert inbox.claim_post(job, 0) is True
    assert inbox.claim_post(job, 0) is False  # another process holds it
    assert inbox.claim_post(job, 1) is True  # each part on its own
    assert inbox.take_over_post(job, 0) is False  # fresh: its poster may still be posting
    later = time.time() + POST_CLAIM_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    won = [inbox.take_over_post(job, 0) for _ in range(2)]
    assert won == [True, False]  # taken over once; the new claim is fresh again
