"""A tool's question in the thread (MCP elicitation): what the server asks the person who
asked, with **Answer** (opens the form, bot/answer/question_form.py) or, for a link the
server wants them to open, **Open**, and **Decline**; once settled, the outcome without
buttons. The answers themselves are never shown in the thread.

`QuestionMessage` owns that message for the process whose tool call waits: it opens the
shared question (bot/store/questions.py), keeps it open while it waits, reads the reply
(given by whichever process the click or form reached, bot/listeners), and closes it.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from slack_sdk import WebClient

from bot.answer.slack_format import fallback_text, markdown_block, neutralise_mentions, slack_date
from bot.jobs import Job
from bot.store.questions import Question, Questions, Reply

log = logging.getLogger(__name__)
ANSWER_ACTION, OPEN_ACTION, DECLINE_ACTION = "question_answer", "question_open", "question_decline"
KEEP_OPEN_SECONDS = 3.0  # well within QUESTION_OPEN_SECONDS (10)
MESSAGE_SHOWN = 2_000  # characters of the server's message shown in the thread
_OUTCOME = {
    "accept": ":white_check_mark: Answered by <@{by}> {when}",
    "decline": ":no_entry: Declined by <@{by}> {when}",
    "cancel": ":hourglass: Closed {when}: no answer came in time, or the answer stopped",
}
_ENDED = ":hourglass: Closed {when}: the tool call that asked it ended"


def ask_text(question: Question) -> str:
    """The question as Markdown: which server asks whom, and what."""
    said = neutralise_mentions(question.message.strip() or "(no message)")
    said = said if len(said) <= MESSAGE_SHOWN else said[:MESSAGE_SHOWN] + "…"
    quoted = "\n".join(f"> {line}" for line in said.splitlines())
    action = "Open the link" if question.url else "Answer"
    return (
        f":question: *`{question.server}` asks* <@{question.requester}>:\n{quoted}\n"
        f"_{action}, or decline; only <@{question.requester}> can._"
    )


def _buttons(question: Question) -> dict[str, Any]:
    first: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Open" if question.url else "Answer"},
        "action_id": OPEN_ACTION if question.url else ANSWER_ACTION,
        "value": question.id,
        "style": "primary",
    }
    if question.url:
        first["url"] = question.url
    decline = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Decline"},
        "action_id": DECLINE_ACTION,
        "value": question.id,
    }
    return {"type": "actions", "block_id": "question", "elements": [first, decline]}


class QuestionMessage:
    """One question's message in the thread, for the tool call waiting on it (see module)."""

    def __init__(
        self,
        client: WebClient,
        questions: Questions,
        question: Question,
        identity: dict[str, str] | None = None,
    ) -> None:
        self.client, self.questions, self.question = client, questions, question
        self.identity = identity or {}  # the persona's name and icon, as on its answer
        self.ts = ""
        self._kept = 0.0

    @classmethod
    def for_job(
        cls,
        client: WebClient,
        questions: Questions,
        job: Job,
        requester: str,
        identity: dict[str, str] | None = None,
        **asked: Any,
    ) -> QuestionMessage:
        """A new question in `job`'s thread for `requester`, shown as `identity` (`asked`:
        Question's fields server, message, schema, url)."""
        question = Question(
            id=f"{job.session_id}.{uuid.uuid4().hex[:12]}",
            team=job.team,
            channel=job.channel,
            thread_ts=job.thread_ts,
            in_thread=job.reply_in_thread,
            requester=requester,
            **asked,
        )
        return cls(client, questions, question, identity)

    def post(self) -> QuestionMessage:
        """Open the question, then show it (a refused post closes it again and raises)."""
        q = self.question
        self.close_abandoned()
        self.questions.open(q)
        self._kept = time.monotonic()
        text = ask_text(q)
        try:
            posted = self.client.chat_postMessage(
                channel=q.channel,
                thread_ts=q.thread_ts if q.in_thread else None,
                text=fallback_text(text),
                blocks=[markdown_block(text), _buttons(q)],
                unfurl_links=False,
                unfurl_media=False,
                **self.identity,  # type: ignore[arg-type]  # username/icon_* are str
            )
        except Exception:
            self.questions.close(q.id)
            raise
        self.ts = str(posted.get("ts") or "")
        self.questions.shown(self.session_id, q, self.ts)
        return self

    @property
    def session_id(self) -> str:
        return self.question.id.rsplit(".", 1)[0]  # ids are <session>.<random>

    def close_abandoned(self) -> None:
        """Before asking: questions of this thread whose process died say they are closed."""
        for question, ts in self.questions.abandoned(self.session_id):
            ended = _ENDED.format(when=slack_date(time.time()))
            QuestionMessage(self.client, self.questions, question)._show_on(ts, ended)

    def reply(self) -> Reply | None:
        """The person's reply, if one came; keeps the question open meanwhile."""
        if time.monotonic() - self._kept >= KEEP_OPEN_SECONDS:
            self.questions.open(self.question)
            self._kept = time.monotonic()
        return self.questions.reply_to(self.question.id)

    def close(self, reply: Reply | None) -> Reply:
        """Settle the question: with `reply`, or as cancelled (unless a reply came just
        now: it wins); the message shows the outcome, without buttons."""
        qid = self.question.id
        claimed = self.questions.reply(qid, reply or Reply("cancel", ""))  # settled for good
        if reply is None and not claimed:
            for _ in range(10):  # replied just now: its reply is being written
                reply = self.questions.reply_to(qid)
                if reply is not None:
                    break
                time.sleep(0.1)
        settled = reply or Reply("cancel", "")
        self.questions.close(qid)
        self._show(settled)
        return settled

    def _show(self, reply: Reply) -> None:
        self._show_on(
            self.ts, _OUTCOME[reply.action].format(by=reply.by, when=slack_date(time.time()))
        )

    def _show_on(self, ts: str, outcome: str) -> None:
        if not ts:
            return
        text = f"{ask_text(self.question).rsplit(chr(10), 1)[0]}\n{outcome}"
        try:
            self.client.chat_update(
                channel=self.question.channel,
                ts=ts,
                text=fallback_text(text),
                blocks=[markdown_block(text)],
            )
        except Exception as exc:  # the outcome is a courtesy: the tool has its reply
            log.warning("could not show the outcome of question %s: %s", self.question.id, exc)
