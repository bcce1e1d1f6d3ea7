"""Finding 12: uninstalling the app from a workspace must leave none of its data in the
state store: not other apps' posts (`notes:context:*`, kept 90 days), not sticky personas,
a user's latest thread, queues, joined flags, dedup marks or budgets. The only key left
is the uninstall mark (it stops a turn that was running from storing its answer; it
expires in a day). Another workspace's data stays. A real app_uninstalled delivery, on a
single Redis, a Redis Cluster and the in-process state."""

from __future__ import annotations

from collections.abc import Callable, Sized

import pytest
import redis
from redis.cluster import RedisCluster

from bot.store.memory_state import MemoryState
from tests.fakes.signing import post_event
from tests.fakes.slack_api import FakeSlack, Workspace
from tests.fakes.slack_payloads import event_callback, load, mention_event, message_event
from tests.support.bot import settle
from tests.support.harness import SECRET, Bot, now_ts
from tests.support.oauth import lifecycle_event

GONE, STAYS = Workspace("T1", "xoxb-test-token"), Workspace("T2", "xoxb-test-token")


def keys_naming(bot: Bot, url: str | None, team: str) -> list[str]:
    """Every key (and every member of the shared queues) of the state that names `team`."""
    state = bot.runtime.state
    if isinstance(state, MemoryState):
        found = [
            str(key)
            for value in vars(state).values()
            if isinstance(value, Sized) and not isinstance(value, str | bytes | tuple)
            for key in value
        ]
    else:
        client = state.client
        where = {"target_nodes": RedisCluster.PRIMARIES} if state.cluster else {}
        found = [key.decode() for key in client.scan_iter(match="tsb:*", **where)]
        for key in [k for k in found if k.endswith((":pending", "wakeup"))]:
            found += [
                f"{key} member {m.decode()}"
                for m in (
                    client.zrange(key, 0, -1)
                    if key.endswith("pending")
                    else client.lrange(key, 0, -1)
                )
            ]
    return sorted(key for key in found if team in key)


def use_the_bot(bot: Bot, slack: FakeSlack, team: str, answered: int) -> None:
    """What a workspace leaves in the state: a thread with a sticky persona, a reply, a
    stop word, another app's post (a note for the next turn)."""
    root = now_ts()
    for event in (
        mention_event("default: remember my secret", "C1", root, team=team),
        message_event("and this too", "C1", now_ts(), root, team=team),
    ):
        assert post_event(bot.url, SECRET, event_callback(event, team_id=team))[0] == 200
        answered += 1
        slack.wait_for("chat.postMessage", count=answered, timeout=15)
        settle(bot)
    app_post = load("31_message_other_bot_bot_profile.json")["event"] | {
        "channel": "C1",
        "thread_ts": root,
        "ts": now_ts(),
        "team": team,
    }
    for event in (message_event("stop", "C1", now_ts(), root, team=team), app_post):
        assert post_event(bot.url, SECRET, event_callback(event, team_id=team))[0] == 200


@pytest.mark.parametrize("mode", ["redis", "cluster", "memory"])
def test_uninstall_deletes_every_key_of_the_team_and_only_its(
    mode: str, make_bot: Callable[..., Bot], fake_slack: FakeSlack, request: pytest.FixtureRequest
) -> None:
    url = {
        "redis": lambda: request.getfixturevalue("redis_url"),
        "cluster": lambda: request.getfixturevalue("redis_cluster_url"),
        "memory": lambda: None,
    }[mode]()
    bot = make_bot(redis=url is not None, **({"REDIS_URL": url} if url else {}))
    for team in (GONE.team_id, STAYS.team_id):
        use_the_bot(bot, fake_slack, team, len(fake_slack.calls("chat.postMessage")))
    settle(bot)
    assert any("context:T1_" in key for key in keys_naming(bot, url, "T1"))  # an app's post
    before = keys_naming(bot, url, "T2")

    status, _ = post_event(bot.url, SECRET, lifecycle_event("56_app_uninstalled.json", GONE))
    assert status == 200
    assert keys_naming(bot, url, "T1") == ["tsb:fact:uninstalled:T1_" if url else "uninstalled:T1_"]
    assert keys_naming(bot, url, "T2") == before
    assert len(before) >= 8  # the other team's queue, flags, persona, note... all kept


def test_cluster_scan_reaches_every_primary(redis_cluster_url: str) -> None:
    """The keys of one team spread over all primaries; all of them go."""
    from bot.store.redis_state import RedisState, connect

    state = RedisState(connect(redis_cluster_url))
    for channel in range(40):
        state.set_sticky_persona(f"T1_C{channel}_1700000000-000100", "critic")
        state.set_sticky_persona(f"T2_C{channel}_1700000000-000100", "critic")
    client = redis.RedisCluster.from_url(redis_cluster_url)
    nodes = {client.get_node_from_key(f"tsb:{{s{n}}}:x").name for n in range(64)}
    assert len(nodes) == 3
    assert state.forget_team("T1") == 40
    left = [
        k.decode() for k in client.scan_iter(match="tsb:*", target_nodes=RedisCluster.PRIMARIES)
    ]
    assert not [k for k in left if "T1" in k] and len([k for k in left if "T2" in k]) == 40
