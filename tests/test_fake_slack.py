"""The fake Slack Web API refuses what Slack's documentation says Slack refuses
(tests/fakes/slack_rules.py and friends), through a real slack_sdk WebClient."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.slack_api import FakeSlack, Workspace

BUTTON = {
    "type": "button",
    "text": {"type": "plain_text", "text": "Stop"},
    "action_id": "stop_answer",
    "value": "x",
}
STOP = {"type": "actions", "elements": [BUTTON]}
FEEDBACK = {
    "type": "context_actions",
    "elements": [
        {
            "type": "feedback_buttons",
            "action_id": "feedback",
            "positive_button": {"text": {"type": "plain_text", "text": "👍"}, "value": "good"},
            "negative_button": {"text": {"type": "plain_text", "text": "👎"}, "value": "bad"},
        }
    ],
}
RECIPIENT = {"recipient_user_id": "U1", "recipient_team_id": "T1"}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.base_url)


def refused(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(SlackApiError) as err:
        call(*args, **kwargs)
    return str(err.value.response["error"])


def start(client: WebClient, channel: str = "C1", **kwargs: Any) -> str:
    return client.chat_startStream(channel=channel, thread_ts="1.0", **RECIPIENT, **kwargs)["ts"]


# --- chat.postMessage / chat.update / chat.postEphemeral content ---------------------
def test_message_needs_text_or_blocks(client: WebClient) -> None:
    assert refused(client.chat_postMessage, channel="C1") == "no_text"
    assert refused(client.chat_postMessage, channel="C1", text="") == "no_text"
    assert refused(client.chat_postEphemeral, channel="C1", user="U1") == "no_text"
    assert client.chat_postMessage(channel="C1", blocks=[section("b")])["ok"]


def test_post_text_over_40000_is_truncated(slack: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="x" * 40_001)["ts"]
    [message] = slack.bot_messages("C1")
    assert message.ts == ts and len(message.text) == 40_000


def test_update_text_over_4000_is_too_long(client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="short")["ts"]
    assert refused(client.chat_update, channel="C1", ts=ts, text="x" * 4_001) == "msg_too_long"
    assert client.chat_update(channel="C1", ts=ts, text="x" * 4_000)["ok"]


def test_block_limits(client: WebClient) -> None:
    post = client.chat_postMessage
    assert refused(post, channel="C1", blocks=[section("b")] * 51) == "invalid_blocks"
    assert post(channel="C1", blocks=[section("b")] * 50)["ok"]
    assert refused(post, channel="C1", blocks=[section("x" * 3_001)]) == "invalid_blocks"
    markdown = [{"type": "markdown", "text": "m" * 6_001}] * 2
    assert refused(post, channel="C1", blocks=markdown) == "invalid_blocks"
    assert post(channel="C1", blocks=[{"type": "markdown", "text": "m" * 12_000}])["ok"]
    assert refused(post, channel="C1", blocks="[{not json") == "invalid_blocks_format"
    assert refused(post, channel="C1", blocks=[{"text": "no type"}]) == "invalid_blocks_format"
    assert refused(post, channel="C1", blocks=[{"type": "nonsense"}]) == "invalid_blocks"
    long_button = {**BUTTON, "text": {"type": "plain_text", "text": "b" * 76}}
    actions = [{"type": "actions", "elements": [long_button]}]
    assert refused(post, channel="C1", blocks=actions) == "invalid_blocks"
    twins = [{**section("a"), "block_id": "same"}, {**section("b"), "block_id": "same"}]
    assert refused(post, channel="C1", blocks=twins) == "invalid_blocks"


def test_markdown_text_conflicts_and_limit(client: WebClient) -> None:
    assert (
        refused(client.chat_postMessage, channel="C1", markdown_text="**a**", text="a")
        == "markdown_text_conflict"
    )
    assert (
        refused(client.chat_postMessage, channel="C1", markdown_text="**a**", blocks=[section("a")])
        == "markdown_text_conflict"
    )
    assert (
        refused(client.chat_postMessage, channel="C1", markdown_text="m" * 12_001) == "msg_too_long"
    )
    ts = client.chat_postMessage(channel="C1", markdown_text="**a**")["ts"]
    assert (
        refused(client.chat_update, channel="C1", ts=ts, markdown_text="b", text="b")
        == "markdown_text_conflict"
    )
    assert (
        refused(client.chat_update, channel="C1", ts=ts, markdown_text="m" * 12_001)
        == "msg_too_long"
    )


# --- chat.update / chat.delete on recorded messages ---------------------------------
def test_update_applies_as_documented(slack: FakeSlack, client: WebClient) -> None:
    metadata = {"event_type": "answer", "event_payload": {"for_ts": "1.0"}}
    ts = client.chat_postMessage(
        channel="C1",
        thread_ts="1.0",
        text="first",
        blocks=[section("first"), STOP],
        metadata=metadata,
    )["ts"]
    client.chat_update(channel="C1", ts=ts, blocks=[section("second"), FEEDBACK])
    [shown] = slack.bot_messages("C1", "1.0")
    assert (shown.text, shown.has_stop, shown.has_feedback) == ("second", False, True)
    assert shown.metadata == metadata  # kept unless given
    client.chat_update(channel="C1", ts=ts, text="plain")  # text alone: blocks removed
    [shown] = slack.bot_messages("C1", "1.0")
    assert (shown.text, shown.has_feedback) == ("plain", False)
    client.chat_update(channel="C1", ts=ts, text="plain", metadata={})  # {} removes it
    assert slack.bot_messages("C1")[0].metadata is None
    replies = client.conversations_replies(channel="C1", ts="1.0")["messages"]
    assert [m["text"] for m in replies] == ["plain"] and "blocks" not in replies[0]


def test_update_and_delete_errors(slack: FakeSlack, client: WebClient) -> None:
    assert refused(client.chat_update, channel="C1", ts="9.9", text="x") == "message_not_found"
    assert refused(client.chat_delete, channel="C1", ts="9.9") == "message_not_found"
    theirs = slack.add_message("C1", "a user's words")
    assert refused(client.chat_update, channel="C1", ts=theirs, text="x") == ("cant_update_message")
    assert refused(client.chat_delete, channel="C1", ts=theirs) == "cant_delete_message"
    other_app = slack.add_message("C1", "another app", bot_id="BOTHER")
    assert refused(client.chat_delete, channel="C1", ts=other_app) == "cant_delete_message"
    ts = client.chat_postMessage(channel="C1", thread_ts="1.0", text="bye")["ts"]
    assert refused(client.chat_update, channel="C2", ts=ts, text="x") == "message_not_found"
    assert refused(client.chat_update, channel="C1", ts=ts) == "no_text"
    assert client.chat_delete(channel="C1", ts=ts)["ok"]
    assert slack.bot_messages("C1") == [] and slack.bot_messages(include_deleted=True)[0].deleted
    assert client.conversations_replies(channel="C1", ts="1.0")["messages"] == []
    assert refused(client.chat_delete, channel="C1", ts=ts) == "message_not_found"
    assert refused(client.chat_update, channel="C1", ts=ts, text="x") == "message_not_found"


def test_workspaces_own_their_messages(slack: FakeSlack) -> None:
    slack.add_install("code", Workspace(team_id="T2", token="xoxb-two", bot_id="B2"))
    one = WebClient(token="xoxb-one", base_url=slack.base_url)
    two = WebClient(token="xoxb-two", base_url=slack.base_url)
    ts = one.chat_postMessage(channel="C1", text="mine")["ts"]
    assert refused(two.chat_update, channel="C1", ts=ts, text="x") == "cant_update_message"


def test_block_mismatch_on_rich_text(slack: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", blocks=[{"type": "markdown", "text": "**md**"}])[
        "ts"
    ]
    assert (
        refused(client.chat_update, channel="C1", ts=ts, blocks=[section("s")]) == "block_mismatch"
    )
    assert refused(client.chat_update, channel="C1", ts=ts, text="t") == "block_mismatch"
    client.chat_update(
        channel="C1", ts=ts, text="t", blocks=[{"type": "markdown", "text": "new"}, FEEDBACK]
    )
    assert slack.bot_messages("C1")[0].text == "new"
    plain = client.chat_postMessage(channel="C1", text="plain")["ts"]  # no rich text: fine
    assert client.chat_update(channel="C1", ts=plain, blocks=[section("s")])["ok"]


# --- reactions -----------------------------------------------------------------------
def test_reactions(client: WebClient) -> None:
    client.reactions_add(channel="C1", timestamp="1.0", name="eyes")
    assert refused(client.reactions_add, channel="C1", timestamp="1.0", name="eyes") == (
        "already_reacted"
    )
    client.reactions_remove(channel="C1", timestamp="1.0", name="eyes")
    assert refused(client.reactions_remove, channel="C1", timestamp="1.0", name="eyes") == (
        "no_reaction"
    )
    missing = refused(client.api_call, "reactions.add", params={"channel": "C1", "name": "e"})
    assert missing == "no_item_specified"


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


# --- assistant threads, files ------------------------------------------------------
def test_assistant_and_files_arguments(client: WebClient) -> None:
    assert (
        refused(
            client.assistant_threads_setStatus, channel_id="C1", thread_ts="", status="thinking"
        )
        == "invalid_thread_ts"
    )
    assert client.assistant_threads_setStatus(channel_id="C1", thread_ts="1.0", status="")["ok"]
    assert (
        refused(
            client.assistant_threads_setStatus,
            channel_id="C1",
            thread_ts="1.0",
            status="x",
            loading_messages=["m"] * 11,
        )
        == "invalid_arguments"
    )
    assert (
        refused(
            client.assistant_threads_setSuggestedPrompts, channel_id="C1", prompts=[{"title": "t"}]
        )
        == "invalid_arguments"
    )
    assert refused(client.api_call, "files.info", params={}) == "file_not_found"
    assert refused(client.api_call, "no.such.method") == "unknown_method"


def test_history_and_replies(slack: FakeSlack, client: WebClient) -> None:
    first = client.chat_postMessage(channel="C1", text="one")["ts"]
    client.chat_postMessage(channel="C1", text="two")
    history = client.conversations_history(channel="C1", limit=1)
    assert [m["text"] for m in history["messages"]] == ["two"] and history["has_more"]
    assert client.conversations_history(channel="C1", oldest=first)["messages"][0]["text"] == (
        "two"
    )
    assert refused(client.api_call, "conversations.replies", params={"channel": "C1"}) == (
        "thread_not_found"
    )


# --- rate limits ---------------------------------------------------------------------
def limited(client: WebClient, method: str, count: int, **params: Any) -> list[int]:
    statuses = []
    for _ in range(count):
        try:
            client.api_call(method, params=params)
            statuses.append(200)
        except SlackApiError as err:
            statuses.append(err.response.status_code)  # 200: refused for another reason
            if err.response.status_code == 429:
                assert err.response["error"] == "ratelimited"
                assert int(err.response.headers["Retry-After"]) >= 1
    return statuses


def test_tiers_limit_per_workspace_and_method() -> None:
    with FakeSlack(minute=2.0) as slack:
        one = WebClient(token="xoxb-one", base_url=slack.base_url)
        two = WebClient(token="xoxb-two", base_url=slack.base_url)
        assert limited(one, "reactions.remove", 21, channel="C1", timestamp="1", name="x") == [
            200
        ] * 20 + [429]  # Tier 2: 20 a minute
        assert limited(one, "users.info", 100, user="U1") == [200] * 100  # Tier 4
        assert limited(one, "users.info", 1, user="U1") == [429]
        assert limited(two, "users.info", 1, user="U1") == [200]  # another workspace
        assert [c.status for c in slack.calls("users.info")].count(429) == 1
        time.sleep(2.05)  # the window slides on
        assert limited(one, "users.info", 1, user="U1") == [200]


def test_post_message_per_channel_bursts() -> None:
    with FakeSlack(minute=6.0) as slack:  # 10 posts per second of compressed time
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        statuses = limited(client, "chat.postMessage", 11, channel="C1", text="x")
        assert statuses == [200] * 10 + [429]
        assert limited(client, "chat.postMessage", 1, channel="C2", text="x") == [200]


def test_non_marketplace_reads() -> None:
    with FakeSlack(non_marketplace=True, minute=1.0) as slack:
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        for i in range(20):
            slack.add_message("C1", str(i), bot_id="BBOT")
        assert len(client.conversations_history(channel="C1", limit=200)["messages"]) == 15
        assert limited(client, "conversations.history", 1, channel="C1") == [429]


def test_rate_limits_can_be_switched_off() -> None:
    with FakeSlack(rate_limits=False) as slack:
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        assert limited(client, "chat.postMessage", 30, channel="C1", text="x") == [200] * 30
        assert json.loads(json.dumps(slack.bot_messages()[0].text)) == "x"
