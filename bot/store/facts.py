"""The registry of small shared facts: every key family the bot keeps through `State`'s
string-keyed calls (`set_fact`/`fact`, `add_once`, `append_note`/`notes`/`drop_notes`,
`count`/`counts`, `spend`, `upsert_recent`/`recents`), each declared once with its key
shape and how long it lives.

A call site builds its key with `FAMILY.key(*parts)` (the parts joined by ":" after the
prefix) and passes `FAMILY.ttl`; nothing else invents a key. The backends add their own
kind prefix in Redis (`<PREFIX>fact:`, `set:`, `notes:`, `count:`, `spend:`, `recent:`;
bot/store/redis_facts.py), so two families of different kinds may share a prefix (VOTERS,
VOTE). Changing a prefix orphans the keys already stored, and the uninstall SCAN
(`State.forget_team`) finds a team's keys by their `<team>_` / `<team>:` parts: keep them.

The thread's own coordination keys (queue, lock, joined, persona, dedup marks) are not
here: they live in bot/store/redis_keys.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from bot.store.dedup import DEDUP_TTL_SECONDS
from bot.store.state import JOINED_TTL_SECONDS

Kind = Literal["fact", "set", "note", "count", "spend", "recent"]


@dataclass(frozen=True)
class Family:
    """One family of keys: its `State` kind, its key prefix, how long a key lives (seconds;
    for "spend", the counting window; math.inf: never expires), and what it is for."""

    kind: Kind
    prefix: str
    ttl: float
    doc: str

    def key(self, *parts: str) -> str:
        """`<prefix>:<part>:<part>…` (the bare prefix for a family of one key)."""
        return ":".join((self.prefix, *parts))


# --- facts (set_fact / fact) -------------------------------------------------------------

# bot/answer/progress.py, when a turn starts: the ts it answers; messages arriving meanwhile wait.
# Outlives any turn, and a crashed turn's flag clears itself soon after.
BUSY = Family("fact", "busy", 15 * 60, "busy:<session>: a turn is running (its first ts)")
# bot/answer/progress.py: a message that arrived while its thread was busy got the waiting reaction
# (removed when its turn starts); as long as BUSY, the turn it waits behind.
WAITING = Family("fact", "waiting", BUSY.ttl, "waiting:<session>:<ts>: reacted as waiting")
# bot/answer/stop.py, set by a listener (Stop button, a stop word), read by the running turn:
# a request outlives any answer, then expires on its own.
STOP = Family("fact", "stop", 600, "stop:<session>: stop the answer to this ts (or '*')")
# bot/answer/stream_messages.py: the bot messages an answer streamed into, so a retried attempt
# finishes them; a day covers any retry of one message.
STREAM = Family("fact", "stream", 24 * 3600, "stream:<session>:<ts>: the answer's messages")
# bot/turns/conversation.py, on a reset: the time it happened, so the thread read for context
# starts after it; as long as the thread's other state (the joined flag).
RESET = Family("fact", "reset", JOINED_TTL_SECONDS, "reset:<session>: when it was reset")
# bot/answer/feedback.py: one user's current vote on one answer, so a switch moves it; as long
# as the thread's other state.
VOTE = Family("fact", "vote", JOINED_TTL_SECONDS, "vote:<session>:<ts>:<user>: up or down")
# bot/turns/attempts.py, by the thread lock's holder: the head message's attempts and delivery
# state; two days is far beyond any retry horizon.
ATTEMPTS = Family("fact", "attempts", 2 * 24 * 3600, "attempts:<session>: retry record")
# bot/store/sessions.py, on each save: the session's generation, validating each process's
# cached snapshots; a day, then no cached copy is trusted (it is read from the store again).
GENERATION = Family("fact", "gen", 24 * 3600, "gen:<session>: the stored generation")
# bot/store/sessions.py, on uninstall (kept by State.forget_team: KEPT_ON_UNINSTALL): turns
# already running must not store; a day is far longer than a turn, its retries and the queue.
UNINSTALLED = Family("fact", "uninstalled", 24 * 3600, "uninstalled:<team>_: when")
# bot/listeners/events/app_context_changed.py (written), bot/turns/inputs/gather.py (read): what
# a user views in Slack, from `app_context_changed` (validated entities, bot/turns/inputs/
# app_context.py). Slack sends it only when the view changes, with the agent view open: an
# hour, then an unchanged view is too old to tell the model about.
VIEWING = Family("fact", "viewing", 3_600, "viewing:<team>:<user>: what they view in Slack")
# bot/store/questions.py: a tool's question to a person (MCP elicitation), kept open by the
# process whose tool call waits for it: refreshed every few seconds, so it closes soon after
# that process dies. Its reply, given by whichever process the person's click reaches, is
# read within seconds; an hour is far more than any question waits.
QUESTION = Family("fact", "question", 10, "question:<id>: open, with what it asks")
QUESTION_REPLY = Family("fact", "question-reply", 3_600, "question-reply:<id>: the reply")

# --- sets (add_once) ---------------------------------------------------------------------

# bot/intake/intake.py, on a stop word: its dedup keys, so a Slack retry cannot stop the next
# answer; as long as the message dedup marks (bot/store/dedup.py).
STOP_SEEN = Family("set", "stop-seen", DEDUP_TTL_SECONDS, "stop-seen:<dedup key>: handled")
# bot/turns/inputs/thread_notes.py: another app's post noted once even when Slack retries it;
# an hour covers Slack's retries.
CONTEXT_SEEN = Family("set", "context-seen", 3_600, "context-seen:<session>: noted post ts")
# bot/answer/feedback.py: the users who voted on one answer (each counts once); as long as the
# thread's other state.
VOTERS = Family("set", "vote", JOINED_TTL_SECONDS, "vote:<session>:<ts>: the voters")
# bot/turns/approval_turns.py: the messages told, once, that they wait for an approval; as
# long as an approval may wait (APPROVAL_TIMEOUT_SECONDS is at most a few days in practice).
APPROVAL_WAITERS = Family("set", "approval-wait", 7 * 24 * 3600, "approval-wait:<session>: ts")
# bot/store/questions.py: a question that has its reply (the first reply wins); a day outlives
# any click on its message.
QUESTION_REPLIED = Family("set", "question-replied", 24 * 3600, "question-replied:<id>")

# --- notes (append_note / notes / drop_notes) ----------------------------------------------

# bot/turns/inputs/thread_notes.py: other apps' posts in a thread, for its next turn (dropped once
# used); as long as the thread's other state.
CONTEXT = Family("note", "context", JOINED_TTL_SECONDS, "context:<session>: apps' posts")
# bot/turns/undelivered.py: answers stored but never shown in a thread, reported once Slack takes
# a post there; kept days (REPORT_DAYS) and longer.
UNDELIVERED = Family("note", "undelivered", JOINED_TTL_SECONDS, "undelivered:<session>")
# bot/turns/undelivered.py: the threads with an UNDELIVERED note, swept by one process at a time.
UNDELIVERED_THREADS = Family(
    "note", "undelivered-threads", JOINED_TTL_SECONDS, "the threads with unshown answers"
)

# bot/store/questions.py: the questions shown in a thread, so the next one closes those whose
# process died while they were open; a day outlives any question.
QUESTIONS_SHOWN = Family("note", "questions", 24 * 3600, "questions:<session>: shown there")

# --- counts (count / counts) ---------------------------------------------------------------

# bot/answer/feedback.py: votes per persona ({"<persona>:up": n, "<persona>:down": n}); kept.
FEEDBACK = Family("count", "feedback", math.inf, "feedback: votes per persona, never expire")

# --- spend (fixed-window counters; ttl is the window) -------------------------------------

# bot/slack/budget.py: a workspace's calls of one Slack method, counted in thirds of Slack's
# minute (WINDOWS_PER_MINUTE), so a burst spends a third of the budget, not all of it.
BUDGET = Family("spend", "budget", 60.0 / 3, "budget:<team>:<method>: Slack calls")
# bot/intake/intake.py: notes about refused messages (a full queue), at most so many a minute.
REFUSALS = Family("spend", "refusals", 60, "refusals:<session>: refusal notes")
# bot/turns/worker.py: one process per window reports unshown answers (undelivered.REPORT_SECONDS).
REPORTER = Family("spend", "undelivered-reporter", 30.0, "undelivered-reporter: the sweep")
# bot/turns/approval_turns.py: one process at a time lists the approvals due to expire.
APPROVAL_SWEEP = Family("spend", "approval-sweep", 10.0, "approval-sweep: the expiry sweep")

# --- recents (upsert_recent / recents: bounded, newest first) -------------------------------

# bot/answer/home_threads.py, when a turn ends or a thread is reset: one user's latest threads
# with the bot, for the Home tab (HOME_THREADS_MAX of them); as long as the thread's other state.
# In Redis the key is its own hash tag: one user's threads are in one slot.
HOME_THREADS = Family("recent", "home", JOINED_TTL_SECONDS, "home:<team>:<user>: threads")

FAMILIES: tuple[Family, ...] = (
    BUSY,
    WAITING,
    STOP,
    STREAM,
    RESET,
    VOTE,
    ATTEMPTS,
    GENERATION,
    UNINSTALLED,
    VIEWING,
    QUESTION,
    QUESTION_REPLY,
    STOP_SEEN,
    CONTEXT_SEEN,
    VOTERS,
    APPROVAL_WAITERS,
    QUESTION_REPLIED,
    CONTEXT,
    UNDELIVERED,
    UNDELIVERED_THREADS,
    QUESTIONS_SHOWN,
    FEEDBACK,
    BUDGET,
    REFUSALS,
    REPORTER,
    APPROVAL_SWEEP,
    HOME_THREADS,
)
