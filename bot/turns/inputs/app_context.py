"""App context: what a user views in Slack while the bot's agent view is open.

Slack sends `app_context_changed` when the user moves around Slack with the agent view
open, and a message written in the bot's messages tab carries the same `context` inline
as `app_context`: `{"entities": [{"type": "slack#/types/channel_id", "value": "C…",
"team_id": "T…"}, …]}` (tests/payloads/65-68). Only what this module validates goes any
further: known entity types, values in the shape of Slack's ids and message ts, entities
of this installation's workspace (or org), at most MAX_ENTITIES. Each kept entity is one
short string ("channel C123", "message C123 1780935307.411989", "canvas F123",
"list F123"), safe in a Job, a state fact and a prompt line.

The user's latest view is remembered per installation and user (facts.VIEWING); a
message's own `app_context` counts for that message instead.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, Literal

from bot.store.facts import VIEWING
from bot.store.state import Facts

log = logging.getLogger(__name__)
EntityKind = Literal["channel", "message", "canvas", "list"]
MAX_ENTITIES = 4
_TYPES: dict[str, EntityKind] = {
    "slack#/types/channel_id": "channel",
    "slack#/types/message_context": "message",
    "slack#/types/canvas_id": "canvas",
    "slack#/types/list_id": "list",
}
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{1,20}")  # public, private/group DM, DM
FILE_ID = re.compile(r"F[A-Z0-9]{1,20}")  # canvases and lists are files
TEAM_ID = re.compile(r"[TE][A-Z0-9]{1,20}")
MESSAGE_TS = re.compile(r"\d{10}\.\d{6}")
_PART = re.compile(r"[A-Z0-9]{2,21}|\d{10}\.\d{6}")


def parse(context: Any, team: str) -> tuple[str, ...]:
    """The valid entities of a Slack `context` / `app_context` for installation `team`
    (a workspace id, or the org's for an org-wide install), in Slack's order; () for an
    empty or unusable context."""
    entities = context.get("entities") if isinstance(context, Mapping) else None
    if not isinstance(entities, list):
        return ()
    kept: list[str] = []
    for raw in entities[:20]:  # Slack sends a few; never walk a huge list
        found = _entity(raw, team) if isinstance(raw, Mapping) else None
        if found and found not in kept:
            kept.append(found)
    return tuple(kept[:MAX_ENTITIES])


def _entity(raw: Mapping[str, Any], team: str) -> str | None:
    kind = _TYPES.get(str(raw.get("type")))
    if kind is None or not _same_installation(raw, team):
        return None
    value = raw.get("value")
    if kind == "channel":
        return f"channel {value}" if _is(CHANNEL_ID, value) else None
    if kind == "message":
        if not isinstance(value, Mapping):
            return None
        channel, ts = value.get("channel_id"), value.get("message_ts")
        return (
            f"message {channel} {ts}" if _is(CHANNEL_ID, channel) and _is(MESSAGE_TS, ts) else None
        )
    return f"{kind} {value}" if _is(FILE_ID, value) else None


def _same_installation(raw: Mapping[str, Any], team: str) -> bool:
    """No `team_id` (Slack leaves it off canvases and lists), or this workspace's, or an
    org-wide install's own org; an entity of another workspace is not the bot's to read."""
    entity_team = raw.get("team_id")
    if entity_team is None:
        return True
    if not _is(TEAM_ID, entity_team):
        return False
    return entity_team == team or raw.get("enterprise_id") == team


def _is(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def split(entity: str) -> tuple[EntityKind, list[str]] | None:
    """("channel", ["C123"]), ("message", ["C123", "<ts>"]), …; None for a string that
    `parse` did not make (a fact written by another release)."""
    kind, *parts = entity.split(" ")
    known: dict[str, EntityKind] = {k: k for k in _TYPES.values()}
    if kind not in known or not parts or not all(_is(_PART, p) for p in parts):
        return None
    return known[kind], parts


def remember(state: Facts, team: str, user: str, entities: tuple[str, ...]) -> None:
    """Keep `user`'s view for VIEWING.ttl; an empty view clears it."""
    state.set_fact(
        VIEWING.key(team, user), json.dumps(list(entities)) if entities else None, VIEWING.ttl
    )


def remembered(state: Facts, team: str, user: str) -> tuple[str, ...]:
    """`user`'s latest remembered view (() if none, expired, or unreadable)."""
    try:
        raw = state.fact(VIEWING.key(team, user))
        found = json.loads(raw) if raw else []
    except Exception as exc:  # context is optional: a store error never fails a turn
        log.warning("viewing context of %s unavailable: %s", user, exc)
        return ()
    if not isinstance(found, list):
        return ()
    return tuple(e for e in found[:MAX_ENTITIES] if isinstance(e, str) and split(e))
