"""AnswerMessage's own lifecycle against the strict fake Slack: one final delivery or
apology, closed on any exit, its shared facts forgotten once final and kept while a retry
needs them."""

from __future__ import annotations

import threading

import pytest

from bot.answer.message import AnswerMessage, AnswerMessages
from bot.answer.stop import request_stop
from bot.answer.stream_messages import stream_key
from bot.jobs import Job
from bot.store.memory_state import MemoryState
from tests.fakes.slack_api import FakeSlack
from tests.support.conversation import ASSISTANT, replier
from tests.support.wait import wait_until


def answers(slack: FakeSlack, streaming: bool = True) -> AnswerMessages:
    return AnswerMessages(replier(slack), MemoryState(), streaming=streaming)


def question(slack: FakeSlack) -> Job:
    ts = slack.add_message("C1", "a question")
    return Job("turn", "T1", "C1", ts, ts, "U1", text="a question")


def write(message: AnswerMessage, slack: FakeSlack, text: str) -> None:
    """The model writes `text`; wait until Slack shows it streaming."""
    message.start()
    message.on_event(data=text)
    wait_until(lambda: slack.calls("chat.startStream"), 10, "the stream to start")


def test_delivery_makes_the_streamed_message_final_once_and_forgets_it(
    fake_slack: FakeSlack,
) -> None:
    shared, job = answers(fake_slack), question(fake_slack)
    with shared.open([job], ASSISTANT) as message:
        write(message, fake_slack, "The answer is ")
        assert shared.state.fact(stream_key(job)) is not None  # a retry would find it
        message.deliver("The answer is 42.")
    [shown] = fake_slack.bot_messages("C1", job.ts)
    assert shown.text == "The answer is 42." and shown.has_feedback
    assert fake_slack.stale_messages() == []
    assert len(fake_slack.calls("chat.update")) == 1 and not fake_slack.calls("chat.postMessage")
    assert shared.state.fact(stream_key(job)) is None and shared.unfinished == set()
    assert fake_slack.agent_sessions.statuses("C1", job.ts) == ["processing", "active"]


def test_an_error_closes_the_message_and_the_retry_finishes_it(fake_slack: FakeSlack) -> None:
    shared, job = answers(fake_slack), question(fake_slack)
    with pytest.raises(RuntimeError), shared.open([job], ASSISTANT) as message:
        write(message, fake_slack, "Half an ans")
        raise RuntimeError("the turn failed")
    assert not message.stream._thread.is_alive()  # the flusher stopped
    assert job.ts in shared.unfinished and shared.state.fact(stream_key(job)) is not None
    assert fake_slack.agent_sessions.statuses("C1", job.ts) == ["processing", "active"]
    with shared.open([job], ASSISTANT) as retry:
        assert [m.ts for m in retry.stream.messages] == [m.ts for m in message.stream.messages]
        retry.deliver("Half an answer, then all of it.")
    [shown] = fake_slack.bot_messages("C1", job.ts)
    assert shown.text == "Half an answer, then all of it." and fake_slack.stale_messages() == []
    assert len(fake_slack.calls("chat.startStream")) == 1
    assert shared.state.fact(stream_key(job)) is None


def test_an_apology_ends_what_streamed_without_feedback(fake_slack: FakeSlack) -> None:
    shared, job = answers(fake_slack), question(fake_slack)
    with shared.open([job], ASSISTANT) as message:
        write(message, fake_slack, "Half an ans")
        message.fail(":warning: Sorry.")
    [shown] = fake_slack.bot_messages("C1", job.ts)
    assert shown.text == "Half an ans\n\n:warning: Sorry." and not shown.has_feedback
    assert fake_slack.stale_messages() == [] and shared.unfinished == set()
    assert shared.state.fact(stream_key(job)) is None
    assert fake_slack.agent_sessions.statuses("C1", job.ts) == ["processing", "active"]


def test_without_streaming_the_answer_is_posted_once(fake_slack: FakeSlack) -> None:
    shared, job = answers(fake_slack, streaming=False), question(fake_slack)
    with shared.open([job], ASSISTANT) as message:
        message.start()
        message.on_event(data="ignored: nothing streams")
        assert message.stream is None and message.so_far() == ""
        message.deliver("Posted.")
    assert [m.text for m in fake_slack.bot_messages("C1", job.ts)] == ["Posted."]
    assert (
        not fake_slack.calls("chat.startStream") and len(fake_slack.calls("chat.postMessage")) == 1
    )


def test_a_stop_request_calls_the_registered_cancel(fake_slack: FakeSlack) -> None:
    shared, job = answers(fake_slack), question(fake_slack)
    cancelled = threading.Event()
    with shared.open([job], ASSISTANT) as message:
        message.on_stop(cancelled.set)
        write(message, fake_slack, "Going on and on")
        request_stop(shared.state, job.session_id, job.ts)
        assert cancelled.wait(10) and message.stopped
        message.deliver(f"{message.so_far()}\n\n_(stopped)_")
    [shown] = fake_slack.bot_messages("C1", job.ts)
    assert shown.text == "Going on and on\n\n_(stopped)_"
    assert message.stream.on_stop is None  # the agent it would cancel is let go
