"""Calls to the fake Slack Web API through a real slack_sdk WebClient: the blocks the bot
sends, and helpers that expect a refusal or start a stream (tests/fake_slack/)."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

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


def refused(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(SlackApiError) as err:
        call(*args, **kwargs)
    return str(err.value.response["error"])


def start(client: WebClient, channel: str = "C1", **kwargs: Any) -> str:
    return client.chat_startStream(channel=channel, thread_ts="1.0", **RECIPIENT, **kwargs)["ts"]
