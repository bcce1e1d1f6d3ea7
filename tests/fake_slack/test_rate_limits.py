"""The fake Slack Web API's rate limits: tiers per workspace and method, chat.postMessage
bursts per channel, non-Marketplace reads, and switching them off."""

from __future__ import annotations

import json
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.slack_api import FakeSlack


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
