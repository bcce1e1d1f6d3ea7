"""Failures: what a turn does when it fails, and what the user is told.

A failed turn is retried (the error goes to the worker, bot/turns/worker.py, which tries
the thread again later), split (a batch of several messages that the model rejects is
answered one message at a time, so one poisoned message does not sink its neighbours), or
apologised for (the user gets a short note). `judge` decides; the conversation does it.
A post Slack refuses for good is given up (`post_or_give_up`): no retry will fix it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from slack_sdk.errors import SlackApiError

from bot.errors import is_transient
from bot.obs import telemetry
from bot.obs.metrics import Outcome  # how a turn ended: bot_turns_total{outcome}
from bot.store.sessions import FencingError, Uninstalled
from bot.store.thread_lock import LeaseLost

log = logging.getLogger(__name__)
MODEL_FAILED = (
    ":warning: Sorry, I couldn't get an answer from the model just now ({reason}). "
    "Nothing from this attempt was saved, so just send your message again."
)
STORAGE_FAILED = (
    ":warning: Sorry, I couldn't load or save this conversation's memory just now ({reason}). "
    "Please try again in a minute."
)
GAVE_UP = (
    ":warning: Sorry, I couldn't answer this message: {attempts} attempts failed. "
    "Please send it again in a minute."
)
# Slack errors that no retry will fix: give up on posting rather than loop.
PERMANENT_SLACK_ERRORS = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "msg_too_long",
    "no_text",
    "restricted_action",
    "thread_not_found",
    "invalid_auth",
    "account_inactive",
    "token_revoked",
}

# retry: raise to the worker; split: answer the batch one message at a time; apologise:
# tell the user; drop: the app was uninstalled meanwhile, store and post nothing.
Action = Literal["retry", "split", "apologise", "drop"]


@dataclass(frozen=True)
class Verdict:
    """What to do about a failed turn."""

    action: Action
    outcome: Outcome | None  # None: not counted now (each message of a split is, alone)
    apology: str = ""  # the note for the user, when the action is "apologise"


def judge(exc: Exception, batch_size: int, final_attempt: bool) -> Verdict:
    """The verdict on a turn of `batch_size` messages that raised `exc`; `final_attempt`:
    the worker will not try this turn again."""
    if isinstance(exc, Uninstalled):  # delete_team ran meanwhile
        return Verdict("drop", "uninstalled")
    if isinstance(exc, LeaseLost | FencingError):  # the next holder of the thread goes on
        return Verdict("retry", "lock_lost")
    transient = is_transient(exc)
    outcome: Outcome = "storage_error" if transient else "model_error"
    if transient and not final_attempt:
        return Verdict("retry", outcome)
    if not transient and batch_size > 1:
        return Verdict("split", None)
    text = STORAGE_FAILED if transient else MODEL_FAILED
    return Verdict("apologise", outcome, text.format(reason=type(exc).__name__))


def report(exc: Exception, verdict: Verdict, session_id: str) -> None:
    """Log and trace a failure the user is told about."""
    storage = verdict.outcome == "storage_error"
    telemetry.failed(exc, "storage_error" if storage else "model_error")
    log.error("session %s: turn failed: %s", session_id, exc, exc_info=not storage)


def post_or_give_up(send: Callable[[], object]) -> bool:
    """`send()`; True if Slack refused it for good (given up), False if it was posted.
    Any other failure propagates: the worker retries (a stored answer is replayed, not
    recomputed)."""
    try:
        with telemetry.span("slack.post"):
            send()
        return False
    except SlackApiError as exc:
        error = exc.response.get("error", "")
        if error not in PERMANENT_SLACK_ERRORS:
            raise
        log.error("giving up posting to Slack: %s", error)
        return True
