"""Answer message: one answer's Slack messages, from the first status to the final word.

`AnswerMessage` owns them, each step in one place:

    with answers.open(batch, persona) as message:  # "is thinking…" (or a reaction) shows;
        message.start()                            # the model is about to write: stream it
        ...  # the agent's events go to message.on_event; a Stop request calls the cancel
        ...  # it registered with message.on_stop
        message.deliver(text)  # or message.fail(apology): Slack shows it, final
    # on exit: the stream is closed, the status cleared if no answer will clear it, and an
    # answer left unfinished (an error; the worker retries) is remembered, so the retry
    # finishes the messages it streamed instead of leaving them beside a second copy.

The stream (bot/answer/stream.py) is None where streaming is off or impossible (a DM's
top level); a workspace that refuses it, or whose budget is spent, gets the answer posted.
The messages' shared facts (bot/answer/stream_messages.py) are forgotten once it is final.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from bot.answer.parts import Speaker, parts_of
from bot.answer.progress import Progress
from bot.answer.question_message import QuestionMessage
from bot.answer.reply import Replier
from bot.answer.session import AgentSessions, SessionStatus
from bot.answer.slack_format import split_parts
from bot.answer.sources import Source
from bot.answer.stream import AnswerStream
from bot.answer.stream_messages import Message, forget_messages
from bot.answer.titles import session_title
from bot.jobs import Job, message_time
from bot.slack.budget import SlackBudget
from bot.store.inbox import Inbox
from bot.store.questions import Questions
from bot.store.state import Facts

# A message this old may have been tried before (by a process that died): its answer asks
# storage for messages an earlier attempt left, when shared state does not know of any.
RETRY_AGE_SECONDS = 5.0
UNFINISHED_KEPT = 10_000  # retries come within seconds; older ones are moot


class AnswerMessages:
    """What the answers of one process share: Slack, the state store, which workspaces
    refused streaming, and which answers were left unfinished here."""

    def __init__(
        self, replier: Replier, state: Facts, streaming: bool = True, inbox: Inbox | None = None
    ) -> None:
        self.replier, self.state, self.streaming, self.inbox = replier, state, streaming, inbox
        self.budget = SlackBudget(state)
        self.progress = Progress(replier.clients, state)
        self.sessions = AgentSessions(replier.clients)
        self.refused: set[str] = set()  # workspaces where streaming was refused
        self.unfinished: set[str] = set()  # ts of answers whose stream opened, then failed

    def open(self, batch: list[Job], speaker: Speaker) -> AnswerMessage:
        """The message answering `batch` (its last job), shown as `speaker`."""
        return AnswerMessage(self, batch, speaker)

    def stream(
        self, job: Job, identity: dict[str, str], earlier: bool = False
    ) -> AnswerStream | None:
        """The stream of the answer to `job`; `earlier`: an earlier attempt surely ran. It
        has its own Stop button unless Slack's session shows one."""
        if not self.streaming or not AnswerStream.possible(job):
            return None
        age = time.time() - (message_time(job.ts) or time.time())
        earlier = earlier or job.ts in self.unfinished or age > RETRY_AGE_SECONDS
        return AnswerStream(
            self.replier.clients.for_job(job),
            self.state,
            job,
            identity,
            self.refused,
            recipient_team=job.user_team,
            budget=self.budget,
            inbox=self.inbox,
            maybe_earlier=earlier,
            stop_button=not self.sessions.has_stop_button(job),
        )

    def left_unfinished(self, job: Job) -> None:
        """`job`'s answer failed after its stream opened: the retry looks for its messages."""
        if len(self.unfinished) > UNFINISHED_KEPT:
            self.unfinished.clear()
        self.unfinished.add(job.ts)


class AnswerMessage:
    """One answer's Slack messages; use it as a context manager (see the module)."""

    def __init__(self, shared: AnswerMessages, batch: list[Job], speaker: Speaker) -> None:
        self.shared, self.batch, self.speaker = shared, batch, speaker
        self.job = batch[-1]  # the message answered
        self.identity = shared.replier.identity(speaker)
        self.stream: AnswerStream | None = None
        self.answered = False  # a stored answer is being delivered (its reply clears the status)
        self.final = False  # Slack shows the answer or the apology, final
        self._shown = ""  # how progress shows (bot.answer.progress.Progress.started)
        self._working = False  # the status (or reaction) and the busy mark are shown
        self._in_session = False  # the thread's agent session shows "processing"

    def __enter__(self) -> AnswerMessage:
        title = session_title(self.batch[0].text)  # Slack keeps it only on creation
        sessions = self.shared.sessions
        self._in_session = sessions.set(self.job, "processing", title, self.identity)
        self.stream = self.shared.stream(self.job, self.identity)
        self._shown = self.shared.progress.started(self.batch, self.identity, self._in_session)
        self._working = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()
        if not self.final and self.stream is not None:
            self.shared.left_unfinished(self.job)
        self._done_working(failed=not self.answered)
        self._leave_session()  # a retry (here or elsewhere) sets it processing again

    # --- while the model writes (bot.agent.turn.LiveAnswer) ----------------------------
    def start(self) -> None:
        """The model is about to write: the answer streams from now on."""
        if self.stream is not None:
            self.stream.start()

    def on_event(self, **event: Any) -> None:
        """Strands' callback handler: the model's text and tool calls, streamed."""
        if self.stream is not None:
            self.stream.on_event(**event)

    def on_stop(self, cancel: Callable[[], None]) -> None:
        """Call `cancel` when the user asks this answer to stop (only a stream has Stop)."""
        if self.stream is not None:
            self.stream.on_stop = cancel

    def so_far(self) -> str:
        """What the model wrote so far."""
        return self.stream.so_far() if self.stream is not None else ""

    def ask(self, requester: str, **asked: Any) -> QuestionMessage:
        """A tool's question to `requester`, shown in this answer's thread (`asked`:
        bot/answer/question_message.py's fields); raises when Slack refuses it."""
        client = self.shared.replier.clients.for_job(self.job)
        questions = Questions(self.shared.state)
        question = QuestionMessage.for_job(
            client, questions, self.job, requester, self.identity, **asked
        )
        return question.post()

    @property
    def stopped(self) -> bool:
        """The user stopped the answer."""
        return self.stream is not None and self.stream.stopped

    @property
    def streamed(self) -> bool:
        """Some of the answer's text reached Slack while the model wrote it."""
        return self.stream is not None and bool(self.stream.streamed)

    # --- the end -------------------------------------------------------------------------
    def answering(self, job: Job) -> None:
        """The stored answer to post is for `job`, another of the batch (an interrupted
        turn's): its own messages, which an earlier attempt may have streamed, are the ones
        to finish."""
        if job is self.job:
            return
        self.job = job
        if self.stream is not None:
            self.stream.close()
            self.stream = self.shared.stream(job, self.identity, earlier=True)

    def deliver(
        self,
        text: str,
        skip_parts: frozenset[int] = frozenset(),
        tools: tuple[str, ...] = (),
        sources: tuple[Source, ...] = (),
        actions: tuple[dict, ...] = (),
    ) -> None:
        """Make Slack show the stored answer `text`, final, once: the streamed messages are
        finished in place (`skip_parts`: parts already posted, found on a replay); the last
        names the `tools` it used and links the `sources` they cited, or shows `actions`
        (an approval request's buttons: the session is then `suspended`, not `active`)."""
        self.answered = True
        self._done_working(failed=False)
        if self.stream is not None:
            self.stream.succeeded()  # its plan (if any) ends as how long it worked
        streamed = self._close()
        self.shared.replier.deliver(
            self.job, text, self.speaker, streamed, skip_parts, tools, sources, actions
        )
        if actions:
            self._leave_session("suspended")
        self._finished(streamed)

    def fail(self, apology: str) -> None:
        """End the answer with `apology`: after what the stream showed, or as a note."""
        self._done_working(failed=True)
        streamed = self._close()
        if streamed:
            shown = self.so_far()
            parts = parts_of(self.job, split_parts(f"{shown}\n\n{apology}".strip()), None)
            self.shared.replier.finish(self.job, streamed, parts)
        else:
            self.shared.replier.note(self.job, apology)
        self._finished(streamed)

    def _done_working(self, failed: bool) -> None:
        """The work is over: clear the busy mark (and the status or reaction) before the
        answer is posted, which may wait on Slack's rate limits; messages arriving
        meanwhile are answered next, without an hourglass that would only cost more calls."""
        if self._working:
            self._working = False
            self.shared.progress.finished(self.batch, self._shown, failed=failed)

    def _close(self) -> list[Message]:
        """Stop streaming (idempotent); the messages it opened, for delivery to finish."""
        if self.stream is None:
            return []
        self.stream.close()
        return list(self.stream.messages)

    def _leave_session(self, status: SessionStatus = "active") -> None:
        """The turn is over: its session is `active` (waiting for the next message), or
        `suspended` (waiting for a person's approval)."""
        if self._in_session:
            self._in_session = False
            self.shared.sessions.set(self.job, status)

    def _finished(self, streamed: list[Message]) -> None:
        self.final = True
        self._leave_session()
        if streamed:  # no later attempt needs them
            forget_messages(self.shared.state, self.job)
