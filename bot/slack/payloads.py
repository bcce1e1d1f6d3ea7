"""Slack payloads: Bolt parses them; the bot only says which installation a request is for.

There is no second validator here. Slack may send `null` for any optional field, leave
fields out, add new ones and invent new event types; Bolt copes with all of that. What
Bolt cannot parse (a JSON array, `"team": 5`, a form whose `payload` is not JSON) was not
sent by Slack, and gets a 400 instead of a 500.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from slack_bolt import BoltContext
from slack_bolt.request import BoltRequest

_PARSE_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError)
LAST_SLACK_RETRY = 3  # Slack retries an event up to 3 times


class MalformedPayload(ValueError):
    pass


def bolt_request(body: str, query: str, headers: dict) -> BoltRequest:
    """Bolt's own parse of a request; MalformedPayload if the body is not a Slack payload."""
    try:
        return BoltRequest(body=body, query=query, headers=headers)
    except _PARSE_ERRORS as exc:
        raise MalformedPayload(
            f"body is not a Slack payload ({type(exc).__name__}: {exc})"
        ) from None


def installation_id(context: BoltContext) -> str:
    """The installation a request belongs to: the org for an org-wide (Enterprise Grid)
    install, else the workspace that installed the bot.

    Bolt reads these from wherever Slack put them for the payload kind (authorizations,
    `team`, `team_id`, `enterprise`, `user.team_id`, …). An org-wide install sends
    `team_id: null` in events but a workspace id in interactive payloads, so keying by the
    org keeps one thread's session the same whichever request arrives. In a Slack Connect
    channel the other organisation's users arrive under this installation too: one session.
    """
    if context.is_enterprise_install and context.enterprise_id:
        return context.enterprise_id
    return context.team_id or context.enterprise_id or ""


def retry_num(headers: Mapping[str, Sequence[str]]) -> int:
    """Slack's X-Slack-Retry-Num (Bolt normalizes header names to lower case)."""
    value = (headers.get("x-slack-retry-num") or ["0"])[0]
    return int(value) if str(value).isdigit() else 0
