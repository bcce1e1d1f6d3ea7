"""The fake's views.publish and chat.getPermalink refuse what Slack's references refuse."""

from __future__ import annotations

import json

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.slack_api import FakeSlack

HOME = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]}


def error(call) -> str:
    with pytest.raises(SlackApiError) as raised:
        call()
    return raised.value.response["error"]


def test_a_published_home_view_is_what_the_user_sees(slack: FakeSlack, client: WebClient) -> None:
    response = client.views_publish(user_id="U1", view=HOME)
    assert response["view"]["type"] == "home" and response["view"]["hash"]
    assert slack.views.published("U1") == HOME
    assert slack.views.published("U2") is None


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"view": HOME}, "invalid_arguments"),  # user_id required
        ({"user_id": "U1"}, "invalid_arguments"),  # view required
        ({"user_id": "U1", "view": {**HOME, "type": "modal"}}, "invalid_arguments"),
        ({"user_id": "U1", "view": {"type": "home"}}, "invalid_arguments"),  # no blocks
        ({"user_id": "U1", "view": {**HOME, "blocks": HOME["blocks"] * 101}}, "invalid_arguments"),
        ({"user_id": "U1", "view": {**HOME, "blocks": [{"type": "bogus"}]}}, "invalid_arguments"),
        ({"user_id": "U1", "view": "{not json"}, "invalid_arguments"),
        ({"user_id": "U1", "view": {**HOME, "pad": "x" * 260_000}}, "view_too_large"),
        ({"user_id": "U1", "view": HOME, "hash": "stale"}, "hash_conflict"),
    ],
)
def test_views_publish_refuses(client: WebClient, arguments: dict, expected: str) -> None:
    assert error(lambda: client.api_call("views.publish", json=arguments)) == expected


def test_a_hundred_blocks_are_fine_and_a_stale_hash_conflicts(client: WebClient) -> None:
    first = client.views_publish(user_id="U1", view={**HOME, "blocks": HOME["blocks"] * 100})
    client.views_publish(user_id="U1", view=HOME, hash=first["view"]["hash"])
    stale = first["view"]["hash"]  # replaced by the second publish
    assert error(lambda: client.views_publish(user_id="U1", view=HOME, hash=stale)) == (
        "hash_conflict"
    )


def test_a_disabled_home_tab_is_not_enabled(slack: FakeSlack, client: WebClient) -> None:
    slack.views.home_tab_enabled = False
    assert error(lambda: client.views_publish(user_id="U1", view=HOME)) == "not_enabled"


def test_a_button_beyond_block_kit_limits_is_refused(client: WebClient) -> None:
    button = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "x"}}
    block = {**HOME["blocks"][0], "accessory": {**button, "value": "v" * 2001}}
    view = json.dumps({**HOME, "blocks": [block]})
    assert error(lambda: client.views_publish(user_id="U1", view=view)) == "invalid_arguments"


def test_permalinks_of_known_messages(slack: FakeSlack, client: WebClient) -> None:
    root = slack.add_message("C1", "question")
    reply = slack.add_message("C1", "more", thread_ts=root)
    link = client.chat_getPermalink(channel="C1", message_ts=root)["permalink"]
    assert link == f"https://test.slack.com/archives/C1/p{root.replace('.', '')}"
    assert client.chat_getPermalink(channel="C1", message_ts=reply)["permalink"].endswith(
        f"?thread_ts={root}&cid=C1"
    )
    assert error(lambda: client.chat_getPermalink(channel="C1", message_ts="1.2")) == (
        "message_not_found"
    )
    assert error(lambda: client.chat_getPermalink(channel="C9", message_ts=root)) == (
        "channel_not_found"
    )
    missing = {"channel": "C1"}
    assert error(lambda: client.api_call("chat.getPermalink", params=missing)) == (
        "message_not_found"
    )
