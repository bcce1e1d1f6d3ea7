"""The fake Slack Web API's streams (chat.startStream / appendStream / stopStream): their
arguments and chunks, the streaming state, what the final message keeps, their lifetime,
and which messages count as stale."""

from __future__ import annotations

import time
from typing import Any

import pytest
from slack_sdk import WebClient

from tests.fakes.slack_api import FakeSlack
from tests.support.slack_calls import FEEDBACK, STOP, refused, section, start


# --- streams -------------------------------------------------------------------------
def test_stream_start_rules(slack: FakeSlack, client: WebClient) -> None:
    assert (
        refused(client.chat_startStream, channel="C1", thread_ts="1.0", recipient_team_id="T1")
        == "missing_recipient_user_id"
    )
    assert (
        refused(client.chat_startStream, channel="C1", thread_ts="1.0", recipient_user_id="U1")
        == "missing_recipient_team_id"
    )
    assert client.chat_startStream(channel="D1", thread_ts="1.0")["ok"]  # a DM needs none
    assert (
        refused(client.api_call, "chat.startStream", json={"channel": "D1"}) == "invalid_arguments"
    )  # thread_ts required
    assert (
        refused(start, client, markdown_text="a", chunks=[{"type": "markdown_text", "text": "b"}])
        == "cannot_provide_both_markdown_text_and_chunks"
    )
    assert refused(start, client, markdown_text="m" * 12_001) == "msg_too_long"


@pytest.mark.parametrize(
    "chunk",
    [
        {"type": "nonsense"},
        {"type": "markdown_text"},
        {"type": "task_update", "id": "t1", "title": "calc", "status": "running"},
        {"type": "task_update", "title": "calc", "status": "pending"},
        {"type": "plan_update"},
        {"type": "blocks"},
    ],
)
def test_invalid_chunks(client: WebClient, chunk: dict[str, Any]) -> None:
    assert refused(start, client, chunks=[chunk]) == "invalid_chunks"


def test_chunk_blocks_follow_block_rules(client: WebClient) -> None:
    many = [{"type": "blocks", "blocks": [section("b")] * 51}]
    assert refused(start, client, chunks=many) == "msg_blocks_too_many"
    ts = start(client, markdown_text="a")
    assert (
        refused(client.chat_stopStream, channel="C1", ts=ts, blocks=[section("b")] * 51)
        == "msg_blocks_too_many"
    )


def test_append_and_stop_rules(client: WebClient) -> None:
    ts = start(client, markdown_text="Hello")
    append = client.chat_appendStream
    assert refused(append, channel="C1", ts=ts) == "markdown_text_or_chunks_required"
    assert refused(
        append,
        channel="C1",
        ts=ts,
        markdown_text="a",
        chunks=[{"type": "markdown_text", "text": "b"}],
    ) == ("cannot_provide_both_markdown_text_and_chunks")
    assert (
        refused(append, channel="C1", ts=ts, chunks=[{"type": "markdown_text", "text": "b"}])
        == "streaming_mode_mismatch"
    )
    assert refused(append, channel="C1", ts="9.9", markdown_text="a") == "message_not_found"
    assert (
        refused(
            client.chat_stopStream,
            channel="C1",
            ts=ts,
            chunks=[{"type": "markdown_text", "text": "b"}],
        )
        == "streaming_mode_mismatch"
    )
    by_chunks = start(client, chunks=[{"type": "markdown_text", "text": "x"}])
    assert refused(append, channel="C1", ts=by_chunks, markdown_text="y") == (
        "streaming_mode_mismatch"
    )
    client.chat_stopStream(channel="C1", ts=ts)
    assert refused(append, channel="C1", ts=ts, markdown_text="a") == (
        "message_not_in_streaming_state"
    )
    assert refused(client.chat_stopStream, channel="C1", ts=ts) == (
        "message_not_in_streaming_state"
    )


def test_update_while_streaming_then_block_mismatch(slack: FakeSlack, client: WebClient) -> None:
    ts = start(client, markdown_text="Streaming **answer**")
    assert refused(client.chat_update, channel="C1", ts=ts, text="x") == (
        "streaming_state_conflict"
    )
    [streaming] = slack.stale_messages("C1")
    assert streaming.streaming and streaming.text == "Streaming **answer**"
    client.chat_stopStream(channel="C1", ts=ts, blocks=[FEEDBACK])
    [done] = slack.bot_messages("C1", "1.0")
    assert (done.streaming, done.has_feedback, done.text) == (False, True, "Streaming **answer**")
    assert slack.stale_messages() == []
    assert refused(client.chat_update, channel="C1", ts=ts, text="final") == "block_mismatch"
    assert (
        refused(
            client.chat_update,
            channel="C1",
            ts=ts,
            text="final",
            blocks=[section("final"), FEEDBACK],
        )
        == "block_mismatch"
    )
    client.chat_update(
        channel="C1", ts=ts, text="final", blocks=[{"type": "markdown", "text": "final"}, FEEDBACK]
    )
    assert slack.thread_text("C1", "1.0") == "final"


def test_stream_chunk_blocks_stay_in_the_final_message(slack: FakeSlack, client: WebClient) -> None:
    ts = start(
        client,
        chunks=[{"type": "markdown_text", "text": "Hi"}, {"type": "blocks", "blocks": [STOP]}],
    )
    client.chat_appendStream(
        channel="C1",
        ts=ts,
        chunks=[
            {"type": "task_update", "id": "t1", "title": "calc", "status": "complete"},
            {"type": "markdown_text", "text": " there"},
        ],
    )
    client.chat_stopStream(channel="C1", ts=ts, blocks=[FEEDBACK])
    [message] = slack.bot_messages("C1")
    assert message.text == "Hi there" and message.has_stop and message.has_feedback
    assert slack.stale_messages("C1") == [message]  # the Stop button is left showing
    assert slack.streams.messages[ts]["markdown"] == "Hi there"
    kinds = [b["type"] for b in slack.streams.messages[ts]["blocks"]]
    assert kinds == ["rich_text", "actions", "context_actions"]


def test_streams_expire_after_their_lifetime(client: WebClient) -> None:
    with FakeSlack(stream_lifetime=0.3) as slack:
        fast = WebClient(token="xoxb-test", base_url=slack.base_url)
        ts = start(fast, markdown_text="a")
        assert slack.bot_messages()[0].streaming
        deadline = time.monotonic() + 5
        while slack.bot_messages()[0].streaming and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not slack.bot_messages()[0].streaming
        assert refused(fast.chat_appendStream, channel="C1", ts=ts, markdown_text="b") == (
            "message_not_in_streaming_state"
        )
        assert slack.stream_lifetime == 0.3


def test_empty_messages_are_stale(slack: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", blocks=[{"type": "divider"}])["ts"]
    assert [m.ts for m in slack.stale_messages()] == [ts]


# --- task cards and plans ----------------------------------------------------------------
def card(**fields: Any) -> dict[str, Any]:
    return {"type": "task_update", "id": "t1", "title": "search", "status": "complete", **fields}


def test_task_display_mode_is_timeline_or_plan(client: WebClient) -> None:
    assert refused(start, client, task_display_mode="grid") == "invalid_arguments"
    for mode in ("timeline", "plan"):
        assert start(client, task_display_mode=mode, chunks=[card()])


@pytest.mark.parametrize(
    "chunk",
    [
        card(sources="https://example.com"),
        card(sources=[{"type": "url", "url": "https://example.com"}]),
        card(sources=[{"type": "link", "url": "https://example.com", "text": "ex"}]),
        card(sources=[{"type": "url", "url": 7, "text": "ex"}]),
        card(title="t" * 257),
        card(title="t" * 200, details="d" * 57),
        card(output=["not text"]),
        {"type": "plan_update", "title": "p" * 257},
    ],
)
def test_task_and_plan_chunk_rules(client: WebClient, chunk: dict[str, Any]) -> None:
    assert refused(start, client, chunks=[chunk]) == "invalid_chunks"


def test_a_streams_cards_and_plan_title_are_what_the_user_sees(
    slack: FakeSlack, client: WebClient
) -> None:
    source = {"type": "url", "url": "https://example.com/a", "text": "example.com/a"}
    working = [{"type": "plan_update", "title": "Working…"}, card(status="in_progress")]
    ts = start(client, task_display_mode="plan", chunks=working)
    client.chat_appendStream(channel="C1", ts=ts, chunks=[card(title="t" * 200, details="d" * 56)])
    [shown] = slack.bot_messages()
    assert (shown.task_display_mode, shown.plan_title) == ("plan", "Working…")
    assert [(c.status, c.details) for c in shown.tasks] == [("complete", "d" * 56)]
    client.chat_appendStream(channel="C1", ts=ts, chunks=[card(sources=[source])])
    client.chat_stopStream(
        channel="C1",
        ts=ts,
        chunks=[
            {"type": "markdown_text", "text": "done"},
            {"type": "plan_update", "title": "Worked for 3s"},
        ],
    )
    [shown] = slack.bot_messages()
    [task] = shown.tasks
    assert (task.title, task.status, task.sources) == (
        "search",
        "complete",
        (("https://example.com/a", "example.com/a"),),
    )
    assert shown.plan_title == "Worked for 3s" and slack.stale_messages() == []
    replies = client.conversations_replies(channel="C1", ts="1.0")["messages"]
    assert all("tasks" not in m and "plan_title" not in m for m in replies)  # the fake's own


def test_a_card_left_in_progress_after_the_stream_stopped_is_stale(
    slack: FakeSlack, client: WebClient
) -> None:
    ts = start(client, chunks=[card(status="in_progress"), {"type": "markdown_text", "text": "a"}])
    client.chat_stopStream(channel="C1", ts=ts)
    [stale] = slack.stale_messages()
    assert not stale.streaming and not stale.has_stop and stale.tasks[0].status == "in_progress"
    other = start(
        client, chunks=[card(status="in_progress"), {"type": "markdown_text", "text": "b"}]
    )
    client.chat_stopStream(channel="C1", ts=other, chunks=[card(status="error")])
    assert [m.ts for m in slack.stale_messages()] == [ts]
