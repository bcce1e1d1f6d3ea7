"""The Home tab in tests: opening it, reading what the user sees there, clicking Reset."""

from __future__ import annotations

import re
from typing import Any

from bot.agent.home import HOME_RESET_ACTION
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import button_action, home_opened_event, load
from tests.support.harness import Bot
from tests.support.wait import wait_until

VIEW_CLICK = "86_block_actions_button_in_view.form.json"  # a real click in a view (a modal)
_LINK = re.compile(r"^\*<([^|>]+)\|([^>]*)>\*\n(?:`([^`]*)` · )?(active|closed) · last activity")


def open_home(bot: Bot, slack: FakeSlack, user: str = "U1") -> dict[str, Any]:
    """Open `user`'s Home tab; the view it shows once the bot has published it (fails the
    test if it does not within 5 s)."""
    count = len(slack.calls("views.publish"))
    status, body = bot.event(home_opened_event("home", user=user))
    assert status == 200, body
    slack.wait_for("views.publish", count=count + 1, timeout=5)
    view = slack.views.published(user)
    assert view is not None
    return view


def home_threads(view: dict[str, Any]) -> list[dict[str, str]]:
    """The threads a Home view lists, top to bottom: link, title, persona, status, and the
    Reset button's action_id and value."""
    listed = []
    for block in view["blocks"]:
        found = _LINK.match((block.get("text") or {}).get("text", ""))
        if block["type"] == "section" and found:
            button = block.get("accessory") or {}
            listed.append(
                {
                    "link": found.group(1),
                    "title": found.group(2),
                    "persona": found.group(3) or "",
                    "status": found.group(4),
                    "action_id": button.get("action_id", ""),
                    "value": button.get("value", ""),
                }
            )
    return listed


def click_reset(bot: Bot, value: str, user: str = "U1", team: str = "T1") -> None:
    """`user` clicks a Reset button (its `value`) on their Home tab: body 86's click in a
    view, made a click in the Home view (`view.type` home, no channel, as Slack sends it)."""
    payload = load(VIEW_CLICK)
    payload["team"]["id"] = team
    payload["user"].update(id=user, team_id=team)
    payload["view"].update(type="home", team_id=team, app_installed_team_id=team, blocks=[])
    payload["actions"] = [button_action(HOME_RESET_ACTION, value)]
    status, body = bot.interact(payload)
    assert status == 200, body


def wait_home(slack: FakeSlack, user: str, check: Any, what: str) -> dict[str, Any]:
    """Wait until `user`'s published Home view passes `check`; fail the test if not in 10 s."""
    return wait_until(
        lambda: (view := slack.views.published(user)) is not None and check(view) and view,
        10,
        what,
    )
