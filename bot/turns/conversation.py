"""Conversation: handle the queued messages of one thread while holding its lock.

Turns are answered in arrival order. Consecutive messages for the same persona are
coalesced into one turn; a reset is a barrier that runs on its own, so it never
interleaves with a turn of the same thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.agent.help import help_text
from bot.agent.home import after_reset
from bot.agent.personas import Persona, Personas
from bot.agent.turn import TurnResult, restore
from bot.answer.home_threads import record_turn
from bot.answer.message import AnswerMessage, AnswerMessages
from bot.answer.reply import Replier
from bot.jobs import DM_THREAD, Job
from bot.obs import logs, metrics, telemetry
from bot.store.facts import RESET
from bot.store.inbox import Inbox
from bot.store.sessions import SessionStore
from bot.store.state import State
from bot.store.thread_lock import Lease
from bot.turns import undelivered
from bot.turns.approval_turns import ApprovalTurns
from bot.turns.failures import GAVE_UP, Verdict, judge, post_or_give_up, report
from bot.turns.inputs.files import FileLimits
from bot.turns.inputs.gather import InputGatherer
from bot.turns.inputs.thread_context import ThreadReader
from bot.turns.turn_budget import take_batch
from bot.turns.undelivered import Undelivered

log = logging.getLogger(__name__)
GREETING = "Hi! Ask me anything in this thread — I'll remember the conversation."


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
        self.state, self.store, self.personas = state, store, personas
        self.replier, self.inbox = replier, inbox
        self.file_limits = file_limits or FileLimits()
        self.answers = AnswerMessages(replier, state, streaming, inbox)
        self.approval_turns = ApprovalTurns(store, personas, replier, state)
        self.progress = self.answers.progress
        self.inputs = InputGatherer(
            state, replier.clients, personas, reader, bot_user_id, self.file_limits
        )

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
        if jobs[0].kind == "resume":  # a decision (the worker puts it before those waiting)
            decided = self.approval_turns.decision_applies(jobs[0])
            if decided is None:
                return self._done(jobs[:1])
            return self.answer(decided, jobs[:1], lease, final_attempt)
        if jobs[0].kind == "reset":
            self.reset(jobs[0])
            return self._done(jobs[:1])
        if jobs[0].kind == "help":
            post_or_give_up(lambda: self.replier.note(jobs[0], help_text(self.personas)))
            return self._done(jobs[:1])
        persona, refused = self.personas.choose(
            jobs[0].channel, jobs[0].persona, self.state.sticky_persona(jobs[0].session_id)
        )
        if persona is None:  # kept to other channels (only_in_channels): say so, run nothing
            post_or_give_up(lambda: self.replier.note(jobs[0], refused))
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
        self.approval_turns.check_waiting(persona, batch)  # AwaitingDecision: the batch waits
        return self.answer(persona, batch, lease, final_attempt)

    def answer(
        self, persona: Persona, batch: list[Job], lease: Lease, final_attempt: bool = True
    ) -> list[Job]:
        """Answer `batch` (or replay the stored answer of those of its jobs an interrupted
        turn answered); return the jobs answered. A failure is judged by bot/turns/failures.py:
        retried (raised to the worker), split, or apologised for."""
        last = batch[-1]
        logs.bind(persona=persona.id, ts=",".join(job.ts for job in batch))
        telemetry.batch(persona.id, batch)
        if not any(job.text.strip() or job.files for job in batch):
            telemetry.note(outcome="greeting")
            post_or_give_up(lambda: self.replier.answer(last, GREETING, persona))
            return self._done(batch)
        turn = metrics.Turn(persona.id, batch)
        with self.answers.open(batch, persona) as message:
            try:
                result = self._turn(persona, batch, lease, message)
            except Exception as exc:
                verdict = judge(exc, len(batch), final_attempt)
                if verdict.outcome is not None:
                    turn.done(verdict.outcome)
                if verdict.action == "retry":
                    raise  # the message is left unfinished: the retry replaces it
                if verdict.action != "split":
                    return self._end_failed(exc, verdict, message, batch, persona)
                reason = type(exc).__name__
            else:
                done = self._deliver(message, result, lease, turn)
                record_turn(self.state, self.replier.clients, done, persona.id)  # Home tab
                return done
        # One poisoned message must not sink its neighbours: answer them one by one, so
        # only the message that really fails gets the apology.
        log.warning(
            "session %s: a turn of %d messages failed (%s); answering them one at a time",
            last.session_id,
            len(batch),
            reason,
        )
        return self.answer(persona, batch[:1], lease, final_attempt)

    def _turn(
        self, persona: Persona, batch: list[Job], lease: Lease, message: AnswerMessage
    ) -> TurnResult:
        """Restore the persona's agent; its stored answer, or a new one from its inputs."""
        restored = restore(self.store, self.personas, persona, batch, message)
        if restored.stored is not None:
            return restored.stored
        message.start()
        if batch[0].kind == "resume":  # a person decided: the agent goes on
            return restored.resume(batch[0], lease, message)
        gathered = self.inputs.gather(batch, persona, restored.has_history)
        result = restored.answer(gathered.inputs, lease, message)
        self.inputs.committed(gathered)
        return result

    def _end_failed(
        self,
        exc: Exception,
        verdict: Verdict,
        message: AnswerMessage,
        batch: list[Job],
        persona: Persona,
    ) -> list[Job]:
        """Drop the batch (uninstalled), or apologise for it; return the jobs consumed."""
        last = batch[-1]
        if verdict.action == "drop":
            log.info(
                "session %s: the app was uninstalled there; nothing stored or posted",
                last.session_id,
            )
            return list(batch)
        report(exc, verdict, last.session_id)
        post_or_give_up(lambda: message.fail(verdict.apology))
        record_turn(self.state, self.replier.clients, batch, persona.id)  # Home tab
        return self._done(batch)

    def _deliver(
        self, message: AnswerMessage, result: TurnResult, lease: Lease, turn: metrics.Turn
    ) -> list[Job]:
        """Post the stored answer; return the jobs it answers. Slack failing: Undelivered
        (the worker retries it, bot/turns/worker.py); refusing for good: recorded, and
        reported in the thread the next time Slack takes a post there
        (bot/turns/undelivered.py)."""
        stopped = message.stopped
        telemetry.note(
            outcome="stopped" if stopped else "answered", stored_answer=result.replayed or None
        )  # posted without a model call
        answered = result.done[-1]
        posted = self._posted_parts(answered) if result.replayed else frozenset()
        if result.replayed:
            message.answering(answered)
        if lease.lost.is_set():  # the next holder delivers the stored answer: never both
            turn.done("lock_lost")
            lease.check()
        text = result.text
        actions: tuple[dict, ...] = ()
        if result.approval is not None:  # the answer is a request for approval
            text, actions = self.approval_turns.asked(result, answered)
        try:
            refused = post_or_give_up(
                lambda: message.deliver(text, posted, result.tools, result.sources, actions)
            )
        except Exception as exc:
            raise Undelivered(answered, list(result.done)) from exc
        if refused:
            undelivered.record(self.state, answered, time.time())
        else:
            undelivered.report(self.state, answered, lambda text: self.replier.note(answered, text))
        if not message.streamed:
            metrics.first_text(answered)
        turn.done("replayed" if result.replayed else "stopped" if stopped else "answered")
        return list(result.done)

    def _posted_parts(self, job: Job) -> frozenset[int]:
        """The parts of the stored answer to `job` Slack already shows."""
        posted = self.replier.posted_parts(job)
        if posted:
            log.info(
                "session %s: answer to %s was already posted (parts %s)",
                job.session_id,
                job.ts,
                sorted(posted),
            )
        return posted

    def _done(self, jobs: list[Job]) -> list[Job]:
        """Mark handled jobs that no snapshot remembers (see bot.store.inbox); returns them."""
        inbox = self.inbox
        for job in jobs:
            if inbox is None:
                break
            try:
                inbox.done(job)
            except Exception as exc:  # only a replay after losing Redis would re-post it
                log.warning("could not mark %s handled in the durable inbox: %s", job.ts, exc)
        return list(jobs)

    def give_up(self, job: Job, attempts: int) -> None:
        """The worker drops `job` after `attempts` failed attempts: apologise if Slack lets
        us (best effort), and mark it handled."""
        try:
            post_or_give_up(lambda: self.replier.note(job, GAVE_UP.format(attempts=attempts)))
        except Exception as exc:
            log.error("session %s: could not apologise for %s: %s", job.session_id, job.ts, exc)
        self.answers.sessions.set(job, "active")  # a crashed attempt may have left processing
        self._done([job])

    def reset(self, job: Job) -> None:
        """Forget the thread's memory (every persona's) and say so in the thread."""
        self.approval_turns.withdraw(job)  # a request waiting here says it was withdrawn
        existed = self.store.delete(job.session_id)
        self.state.set_sticky_persona(job.session_id, None)
        self.answers.sessions.set(job, "closed")
        in_dm = job.thread_ts == DM_THREAD
        where = "our DM conversation" if in_dm else "this conversation"
        post_or_give_up(
            lambda: self.replier.note(
                job, f":broom: <@{job.user}> reset {where}; I've forgotten everything before this."
            )
        )
        # The thread is read again for context only after this (Slack ts are the time).
        self.state.set_fact(RESET.key(job.session_id), f"{time.time():.6f}", ttl=RESET.ttl)
        after_reset(self.state, self.replier.clients, self.personas, job)  # Home tab: closed
        outcome = "Reset done" if existed else "Nothing to reset (no memory yet), but it's clear"
        link = "" if in_dm else f" (thread {job.thread_ts})"
        self.replier.ephemeral(
            job.requested_in or job.channel,
            job.user,
            f"{outcome}{link}.",
            thread_ts=job.reply_thread_ts,
            job=job,
        )
