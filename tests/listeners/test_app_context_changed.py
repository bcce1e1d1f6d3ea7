"""`app_context_changed` through the real endpoint: acknowledged, and what the user views is
remembered per workspace and user, validated; an empty context clears it.

Bodies: the stored 66 and 67 (tests/payloads/README.md: node-slack-sdk's type tests of
`AppContextChangedEvent`), moved into workspace T1 (ids only), and the builders of
tests/fakes/slack_payloads.py.
"""

from __future__ import annotations

import redis

from bot.store.facts import VIEWING
from bot.store.redis_keys import PREFIX
from bot.turns.inputs.app_context import remembered
from tests.fakes.slack_payloads import channel_entity, context_changed_event, load
from tests.support.harness import Bot

TS = "1780935307.411989"


def stored(name: str) -> dict:
    event = load(name)["event"]
    for entity in (event.get("context") or {}).get("entities", []):
        entity["team_id"] = "T1"
    return event


def test_a_viewed_message_is_remembered_for_its_user(make_bot, redis_url) -> None:
    bot: Bot = make_bot()
    status, _ = bot.event(stored("66_app_context_changed_message.json"))
    assert status == 200
    assert remembered(bot.runtime.state, "T1", "U06MCF88LQY") == (f"message C07U19RTY90 {TS}",)
    assert remembered(bot.runtime.state, "T1", "U1") == ()
    key = f"{PREFIX}fact:{VIEWING.key('T1', 'U06MCF88LQY')}"
    assert 0 < redis.Redis.from_url(redis_url).ttl(key) <= VIEWING.ttl  # it expires


def test_an_empty_context_clears_what_was_remembered(make_bot) -> None:
    bot: Bot = make_bot()
    bot.event(context_changed_event([channel_entity("C2")], user="U06MCF88LQY"))
    assert remembered(bot.runtime.state, "T1", "U06MCF88LQY") == ("channel C2",)
    status, _ = bot.event(stored("67_app_context_changed_empty.json"))
    assert status == 200
    assert remembered(bot.runtime.state, "T1", "U06MCF88LQY") == ()


def test_another_workspaces_entities_are_not_remembered(make_bot) -> None:
    bot: Bot = make_bot()
    event = context_changed_event([channel_entity("C2", team="T2"), channel_entity("C3")])
    assert bot.event(event)[0] == 200
    assert remembered(bot.runtime.state, "T1", "U1") == ("channel C3",)
