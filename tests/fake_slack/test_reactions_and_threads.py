"""The fake Slack Web API's rules for reactions, assistant threads, files.info, unknown
methods, and reading history and replies, through a real slack_sdk WebClient."""

from __future__ import annotations

from slack_sdk import WebClient

from tests.fakes.slack_api import FakeSlack
from tests.support.slack_calls import refused


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
