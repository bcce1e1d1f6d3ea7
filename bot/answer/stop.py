"""Stop: ask the answer a thread is producing right now to stop.

A stop request is a small shared fact, `stop:<session_id>`, set at once by the listener (a
Stop button click, or a message that is only "stop" / "stop answering" / "cancel"); it is
never queued behind the turn it means to stop. The turn that is answering checks it while
it streams; a turn clears it when it starts, so a request that found nothing running has
no effect on the next question.

The fact's value says which answer to stop: the ts of the message being answered (the
button names its answer), or STOP_ANY (a stop word: whatever is running).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from bot.store.facts import STOP
from bot.store.state import Facts

STOP_ACTION = "stop_answer"  # action_id of the Stop button
STOP_ANY = "*"
_SESSION = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_TS = re.compile(r"^\d{1,12}\.\d{1,8}$")


def stop_key(session_id: str) -> str:
    return STOP.key(session_id)


def stop_value(session_id: str, for_ts: str) -> str:
    """The Stop button's value: `<session_id>|<for_ts>`."""
    return f"{session_id}|{for_ts}"


def parse_stop_value(value: Any) -> tuple[str, str] | None:
    """(session_id, for_ts) from a Stop button's value; None if it is not one of ours."""
    if not isinstance(value, str):
        return None
    session, _, for_ts = value.partition("|")
    if not _SESSION.match(session) or not _TS.match(for_ts):
        return None
    return session, for_ts


def stop_block(session_id: str, for_ts: str) -> dict[str, Any]:
    """An actions block with the Stop button for the message that answers `for_ts`."""
    button = ButtonElement(
        action_id=STOP_ACTION,
        text="Stop",
        style="danger",
        value=stop_value(session_id, for_ts),
    )
    return ActionsBlock(elements=[button]).to_dict()


def request_stop(state: Facts, session_id: str, for_ts: str = STOP_ANY) -> None:
    state.set_fact(stop_key(session_id), for_ts, ttl=STOP.ttl)


def stop_requested(state: Facts, session_id: str, answering: Iterable[str]) -> bool:
    """Whether the turn answering the messages `answering` (their ts) should stop now."""
    value = state.fact(stop_key(session_id))
    return value is not None and (value == STOP_ANY or value in set(answering))


def clear_stop(state: Facts, session_id: str) -> None:
    """At the start of a turn: forget a request that found nothing running."""
    state.set_fact(stop_key(session_id), None)
