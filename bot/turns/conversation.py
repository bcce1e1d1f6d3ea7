"""Conversation: handle the queued messages of one thread while holding its lock.

Turns are answered in arrival order. Consecutive messages for the same persona are
coalesced into one turn; a reset is a barrier that runs on its own, so it never
interleaves with a turn of the same thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from slack_sdk.errors import SlackApiError

from bot.agent.help import help_text
from bot.agent.personas import Persona, Personas
from bot.agent.turn import run_turn
from bot.answer.progress import Progress
from bot.answer.reply import Replier
from bot.answer.stream import AnswerStream
from bot.errors import is_transient
from bot.jobs import DM_THREAD, Job, message_time
from bot.obs import logs, metrics, telemetry
from bot.slack.budget import SlackBudget
from bot.store.facts import RESET
from bot.store.inbox import Inbox
from bot.store.sessions import FencingError, SessionStore, Uninstalled
from bot.store.state import State
from bot.store.thread_lock import Lease, LeaseLost
from bot.turns import undelivered
from bot.turns.files import FileLimits
from bot.turns.thread_context import ThreadReader, wants_earlier
from bot.turns.thread_notes import consumed, notes_text, pending_notes
from bot.turns.turn_budget import take_batch
from bot.turns.undelivered import Undelivered

log = logging.getLogger(__name__)
GREETING = "Hi! Ask me anything in this thread — I'll remember the conversation."
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
# A message this old may have been tried before (by a process that died): its turn asks
# storage for messages an earlier attempt left, when shared state does not know of any.
RETRY_AGE_SECONDS = 5.0
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


class Conversation:
    def __init__(
        self,
        state: State,
        store: SessionStore,
        personas: Personas,
        replier: Replier,
        streaming: bool = True,
        reader: ThreadReader | None = None,
        bot_user_id: Callable[[Job], str] = lambda job: "",
        file_limits: FileLimits | None = None,
        inbox: Inbox | None = None,
    ) -> None:
        self.state = state
        self.budget = SlackBudget(state)
        self.inbox = inbox
        self.store = store
        self.personas = personas
        self.replier = replier
        self.streaming = streaming
        self.progress = Progress(replier.clients, state)
        self.stream_refused: set[str] = set()  # workspaces where streaming was refused
        self.failed: set[str] = set()  # messages whose turn failed here, to be retried
        self.reader = reader
        self.bot_user_id = bot_user_id
        self.file_limits = file_limits or FileLimits()

    def handle(self, jobs: list[Job], lease: Lease, final_attempt: bool = True) -> list[Job]:
        """Handle the next turn (or reset) from `jobs`; return the jobs it consumed (the
        head of `jobs`, except a stored answer's replay: exactly the jobs it answers).

        Storage and connection errors propagate so the worker retries the turn later, except
        on the final attempt, where the user gets a short explanation instead.
        """
        if not self.replier.clients.installed(jobs[0]):  # uninstalled or revoked meanwhile
            log.warning(
                "session %s: the app is no longer installed there; dropping %d queued messages",
                jobs[0].session_id,
                len(jobs),
            )
            return list(jobs)
        if (
            jobs[0].replayed
            and jobs[0].kind == "turn"
            and self.store.handled(jobs[0].session_id, jobs[0].ts, self.personas.ids)
        ):
            log.info(
                "session %s: %s was handled before the state store lost it; skipped",
                jobs[0].session_id,
                jobs[0].ts,
            )
            return jobs[:1]
        if jobs[0].kind == "reset":
            self.reset(jobs[0])
            return self._done(jobs[:1])
        if jobs[0].kind == "help":
            self._post(lambda: self.replier.note(jobs[0], help_text(self.personas)))
            return self._done(jobs[:1])
        persona, refused = self.personas.choose(
            jobs[0].channel, jobs[0].persona, self.state.sticky_persona(jobs[0].session_id)
        )
        if persona is None:  # kept to other channels (only_in_channels): say so, run nothing
            self._post(lambda: self.replier.note(jobs[0], refused))
            return self._done(jobs[:1])
        batch = [jobs[0]]
        for job in jobs[1:]:
            if job.kind != "turn" or (job.persona and job.persona != persona.id):
                break
            batch.append(job)
        limits = self.file_limits  # the rest of a burst waits for the next turn
        batch = take_batch(batch, limits.max_files, limits.max_turn_bytes, limits.max_bytes)
        if jobs[0].persona:
            self.state.set_sticky_persona(jobs[0].session_id, persona.id)
        return self.answer(persona, batch, lease, final_attempt)

    def answer(
        self, persona: Persona, batch: list[Job], lease: Lease, final_attempt: bool = True
    ) -> list[Job]:
        """Answer `batch` (or replay the stored answer of those of its jobs an interrupted
        turn answered); return the jobs answered."""
        last = batch[-1]
        logs.bind(persona=persona.id, ts=",".join(job.ts for job in batch))
        telemetry.batch(persona.id, batch)
        if not any(job.text.strip() or job.files for job in batch):
            telemetry.note(outcome="greeting")
            self._post(lambda: self.replier.answer(last, GREETING, persona))
            return self._done(batch)
        turn = metrics.Turn(persona.id, batch)
        identity = self.replier.identity(persona)
        stream = self._stream(last, identity)
        shown = self.progress.started(batch, identity)
        failed = True
        noted = [0]
        try:
            result = run_turn(
                self.store,
                self.personas,
                persona,
                batch,
                lease,
                stream,
                context=lambda has_history: self._context(batch, has_history, noted),
                token=self.replier.clients.for_job(last).token or "",
                file_limits=self.file_limits,
            )
            failed = False
            consumed(self.state, last.session_id, noted[0])  # used by a committed turn
        except Uninstalled:  # delete_team ran meanwhile: store and post nothing
            turn.done("uninstalled")
            log.info(
                "session %s: the app was uninstalled there; nothing stored or posted",
                last.session_id,
            )
            if stream is not None:
                stream.close()
            return list(batch)
        except (LeaseLost, FencingError):
            turn.done("lock_lost")
            if stream is not None:
                stream.close()  # the next holder replaces the half-streamed message
                self._failed(last)
            raise
        except Exception as exc:
            transient = is_transient(exc)
            if transient or len(batch) == 1:  # else each message is tried (and counted) alone
                turn.done("storage_error" if transient else "model_error")
            if (transient and not final_attempt) or (len(batch) > 1 and not transient):
                if stream is not None:
                    stream.close()  # replaced when its message is answered
                    self._failed(last)
                if transient:
                    raise
                # One poisoned message must not sink its neighbours: answer them one by one,
                # so only the message that really fails gets the apology.
                log.warning(
                    "session %s: a turn of %d messages failed (%s); answering them one at a time",
                    last.session_id,
                    len(batch),
                    type(exc).__name__,
                )
                return self.answer(persona, batch[:1], lease, final_attempt)
            self._report_failure(last, exc, stream)
            return self._done(batch)
        finally:
            self.progress.finished(batch, shown, failed)
        stopped = stream is not None and stream.stopped
        telemetry.note(
            outcome="stopped" if stopped else "answered", stored_answer=result.replayed or None
        )  # posted without a model call
        answered = result.done[-1]
        posted = self.replier.posted_parts(answered) if result.replayed else frozenset()
        if posted:
            log.info(
                "session %s: answer to %s was already posted (parts %s)",
                answered.session_id,
                answered.ts,
                sorted(posted),
            )
        if result.replayed and stream is not None and answered is not last:
            stream.close()  # it was for another message: the answered one's may have streamed
            stream = self._stream(answered, identity, earlier=True)
        if lease.lost.is_set():  # the next holder delivers the stored answer: never both
            turn.done("lock_lost")
            if stream is not None:
                stream.close()
                self._failed(answered)
            lease.check()
        self._deliver(
            answered,
            list(result.done),
            stream,
            lambda: self.replier.deliver(
                answered, result.text, persona, stream, posted, tools=result.tools
            ),
        )
        if stream is None or not stream.streamed:
            metrics.first_text(answered)
        turn.done("replayed" if result.replayed else "stopped" if stopped else "answered")
        return list(result.done)

    def _done(self, jobs: list[Job]) -> list[Job]:
        """Mark handled jobs that no snapshot remembers (see bot.store.inbox); returns them."""
        for job in jobs if self.inbox is not None else ():
            try:
                self.inbox.done(job)
            except Exception as exc:  # only a replay after losing Redis would re-post it
                log.warning("could not mark %s handled in the durable inbox: %s", job.ts, exc)
        return list(jobs)

    def _context(self, batch: list[Job], has_history: bool, noted: list[int]) -> list[str]:
        """The thread so far (first turn of a persona mid-thread) and other apps' posts."""
        first, texts = batch[0], []
        if self.reader is not None and wants_earlier(first, has_history):
            since = self.state.fact(RESET.key(first.session_id))
            earlier = self.reader.earlier(
                first.channel,
                first.thread_ts,
                first.ts,
                self.bot_user_id(first),
                since_ts=since,
                client=self.replier.clients.for_job(first),
            )
            texts += [earlier] if earlier else []
        notes, noted[0] = pending_notes(self.state, first.session_id)
        posted = notes_text(notes)
        return [*texts, posted] if posted else texts

    def _stream(
        self, job: Job, identity: dict[str, str], earlier: bool = False
    ) -> AnswerStream | None:
        """The stream of the answer to `job`; `earlier`: an earlier attempt surely ran."""
        if not self.streaming or not AnswerStream.possible(job):
            return None
        age = time.time() - (message_time(job.ts) or time.time())
        earlier = earlier or job.ts in self.failed or age > RETRY_AGE_SECONDS
        return AnswerStream(
            self.replier.clients.for_job(job),
            self.state,
            job,
            identity,
            self.stream_refused,
            recipient_team=job.user_team,
            budget=self.budget,
            inbox=self.inbox,
            maybe_earlier=earlier,
        )

    def _failed(self, job: Job) -> None:
        """`job`'s turn failed after its stream opened: the retry looks for its messages."""
        if len(self.failed) > 10_000:  # retries come within seconds; old ones are moot
            self.failed.clear()
        self.failed.add(job.ts)

    def _report_failure(self, job: Job, exc: Exception, stream: AnswerStream | None) -> None:
        reason = type(exc).__name__
        storage = is_transient(exc)
        telemetry.failed(exc, "storage_error" if storage else "model_error")
        log.error("session %s: turn failed: %s", job.session_id, exc, exc_info=not storage)
        text = (STORAGE_FAILED if storage else MODEL_FAILED).format(reason=reason)
        self._post(
            lambda: self.replier.end_stream(job, stream, text) or self.replier.note(job, text)
        )

    def _post(self, send: Callable[[], object]) -> bool:
        """`send()`; True if Slack refused it for good (given up), False if it was posted."""
        try:
            with telemetry.span("slack.post"):
                send()
            return False
        except SlackApiError as exc:
            error = exc.response.get("error", "")
            if error not in PERMANENT_SLACK_ERRORS:
                raise  # retried: the stored answer is replayed, not recomputed
            log.error("giving up posting to Slack: %s", error)
            return True

    def _deliver(
        self, job: Job, jobs: list[Job], stream: AnswerStream | None, send: Callable[[], object]
    ) -> None:
        """Post the stored answer to `job`. Slack failing: Undelivered (the worker retries
        it, bot/turns/worker.py); refusing for good: recorded, and reported in the thread the
        next time Slack takes a post there (bot/turns/undelivered.py), as after such a refusal."""
        try:
            refused = self._post(send)
        except Exception as exc:
            if stream is not None:
                self._failed(job)  # the retry finishes the messages this one opened
            raise Undelivered(job, jobs) from exc
        if refused:
            undelivered.record(self.state, job, time.time())
        else:
            undelivered.report(self.state, job, lambda text: self.replier.note(job, text))

    def give_up(self, job: Job, attempts: int) -> None:
        """The worker drops `job` after `attempts` failed attempts: apologise if Slack lets
        us (best effort), and mark it handled."""
        try:
            self._post(lambda: self.replier.note(job, GAVE_UP.format(attempts=attempts)))
        except Exception as exc:
            log.error("session %s: could not apologise for %s: %s", job.session_id, job.ts, exc)
        self._done([job])

    def reset(self, job: Job) -> None:
        existed = self.store.delete(job.session_id)
        self.state.set_sticky_persona(job.session_id, None)
        in_dm = job.thread_ts == DM_THREAD
        where = "our DM conversation" if in_dm else "this conversation"
        self._post(
            lambda: self.replier.note(
                job, f":broom: <@{job.user}> reset {where}; I've forgotten everything before this."
            )
        )
        # The thread is read again for context only after this (Slack ts are the time).
        self.state.set_fact(RESET.key(job.session_id), f"{time.time():.6f}", ttl=RESET.ttl)
        outcome = "Reset done" if existed else "Nothing to reset (no memory yet), but it's clear"
        link = "" if in_dm else f" (thread {job.thread_ts})"
        self.replier.ephemeral(
            job.requested_in or job.channel,
            job.user,
            f"{outcome}{link}.",
            thread_ts=job.reply_thread_ts,
            job=job,
        )
