"""The fake's views.open accepts a trigger once, within 3 s, as Slack documents."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes import slack_modals
from tests.fakes.slack_api import FakeSlack

MODAL = {
    "type": "modal",
    "title": {"type": "plain_text", "text": "Asks"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [
        {
            "type": "input",
            "block_id": "b",
            "label": {"type": "plain_text", "text": "Day"},
            "element": {"type": "datepicker", "action_id": "value"},
        }
    ],
}


def refusal(call) -> dict:
    with pytest.raises(SlackApiError) as raised:
        call()
    return dict(raised.value.response.data)


def test_a_trigger_opens_one_modal_for_its_user(slack: FakeSlack, client: WebClient) -> None:
    trigger = slack.modals.trigger("U1")
    opened = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert opened["id"] and opened["blocks"] == MODAL["blocks"]
    assert slack.modals.opened("U1") == [opened] and slack.modals.opened("U2") == []
    again = refusal(lambda: client.views_open(trigger_id=trigger, view=MODAL))  # used once
    assert again["error"] == "invalid_arguments"
    assert again["response_metadata"]["messages"] == ["invalid `trigger_id`"]


def test_an_expired_or_unknown_trigger_is_refused(
    slack: FakeSlack, client: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert refusal(lambda: client.views_open(trigger_id="1.2.x", view=MODAL))["error"] == (
        "invalid_arguments"
    )
    monkeypatch.setattr(slack_modals, "TRIGGER_SECONDS", 0.0)
    late = slack.modals.trigger("U1")
    assert refusal(lambda: client.views_open(trigger_id=late, view=MODAL))["error"] == (
        "invalid_arguments"
    )
    assert slack.modals.opened("U1") == []
