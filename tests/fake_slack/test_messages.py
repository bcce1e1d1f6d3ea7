"""The fake Slack Web API refuses what Slack's documentation says Slack refuses
(tests/fakes/slack_rules.py and friends), through a real slack_sdk WebClient: message
content, blocks and their limits, and chat.update / chat.delete on recorded messages."""

from __future__ import annotations

from slack_sdk import WebClient

from tests.fakes.slack_api import FakeSlack, Workspace
from tests.support.slack_calls import BUTTON, FEEDBACK, STOP, refused, section


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


# --- channel membership: reads of a channel the bot is not in ------------------------
def test_reads_of_a_channel_the_bot_is_not_in_are_refused(
    slack: FakeSlack, client: WebClient
) -> None:
    ts = slack.add_message("C2", "in a channel the bot left")
    assert client.conversations_history(channel="C2")["messages"][0]["ts"] == ts
    slack.messages.leave("C2")
    assert refused(client.conversations_history, channel="C2") == "not_in_channel"
    assert refused(client.conversations_replies, channel="C2", ts=ts) == "channel_not_found"
    assert client.conversations_history(channel="C1")["ok"]  # a member elsewhere
