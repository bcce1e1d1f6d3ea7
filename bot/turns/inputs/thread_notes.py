"""Thread notes: other apps' posts in a joined thread, kept for the thread's next turn.

Another app's post is never a turn (bot/intake/route.py routes it as a `BotPost`); it is
noted once, shown to the next turn of the thread as context, and dropped once that turn is
committed.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.jobs import Job
from bot.store.facts import CONTEXT, CONTEXT_SEEN
from bot.store.state import Facts
from bot.turns.inputs.thread_entries import QUOTED, app_label, entry

NOTES_HEADER = f"Posted in this thread by other apps since your last answer ({QUOTED}):"
MAX_NOTES = 20


@dataclass(frozen=True)
class BotPost:
    job: Job  # kind "note", never queued: names the thread; text is the post's (capped)
    name: str  # the app's bot name (chosen by whoever posts: data, never a label)
    bot_id: str = ""  # Slack's id of the app (B…), which the poster cannot choose


def notes_key(session_id: str) -> str:
    return CONTEXT.key(session_id)


def remember(state: Facts, post: BotPost) -> None:
    """Note an app's post for the thread's next turn, once even when Slack retries it.

    A state error propagates (Slack gets a 500 and retries); if it struck between the two
    calls, the retry finds the post seen and the note is lost, never doubled."""
    job = post.job
    if state.add_once(CONTEXT_SEEN.key(job.session_id), job.ts, ttl=CONTEXT_SEEN.ttl):
        state.append_note(
            notes_key(job.session_id),
            entry(app_label(post.bot_id, post.name), job.text),
            max_notes=MAX_NOTES,
            ttl=CONTEXT.ttl,
        )


def pending_notes(state: Facts, session_id: str) -> tuple[list[str], int]:
    """The notes waiting for the next turn, and how many to pass to `consumed` after it."""
    notes = state.notes(notes_key(session_id))
    return notes, len(notes)


def consumed(state: Facts, session_id: str, count: int) -> None:
    """Drop the `count` oldest notes; call only once the turn that used them is committed."""
    state.drop_notes(notes_key(session_id), count)


def notes_text(notes: list[str]) -> str | None:
    return "\n".join([NOTES_HEADER, *notes]) if notes else None
