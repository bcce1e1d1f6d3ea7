"""A tool's question to the person who asked (MCP elicitation), shared across processes.

The process running the tool call opens the question (`Questions.open`) and keeps it open
while it waits (a short-lived fact it refreshes: a question whose process died is closed
within QUESTION_OPEN_SECONDS). Whichever process receives the person's click or form
(bot/listeners) reads it (`Questions.find`) and gives the reply (`Questions.reply`): the
first reply wins. The waiting process reads the reply (`Questions.reply_to`) and closes it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from bot.store.facts import QUESTION, QUESTION_REPLIED, QUESTION_REPLY, QUESTIONS_SHOWN
from bot.store.state import Facts

Action = Literal["accept", "decline", "cancel"]  # MCP's ElicitResult actions
QUESTION_OPEN_SECONDS = QUESTION.ttl  # an open question is refreshed well within this


@dataclass(frozen=True)
class Question:
    """What a tool asks `requester` in a thread: a form (`schema`, MCP's flat JSON schema
    of primitive fields) or a link to open (`url`)."""

    id: str
    team: str
    channel: str
    thread_ts: str
    in_thread: bool
    requester: str
    server: str
    message: str
    schema: dict[str, Any] = field(default_factory=dict, hash=False)
    url: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> Question | None:
        try:
            return cls.from_dict(json.loads(text or ""))
        except ValueError:
            return None

    @classmethod
    def from_dict(cls, data: Any) -> Question | None:
        try:
            return cls(**data) if isinstance(data, dict) else None
        except TypeError:
            return None


@dataclass(frozen=True)
class Reply:
    """The person's reply: `content` (the form's values) when accepted."""

    action: Action
    by: str
    content: dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> Reply | None:
        try:
            data = json.loads(text or "")
        except (TypeError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("action") not in get_args(Action):
            return None
        content = data.get("content")
        content = content if isinstance(content, dict) else None
        return cls(data["action"], str(data.get("by", "")), content)


class Questions:
    """The open questions and their replies, in the shared facts (bot/store/facts.py)."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts

    def open(self, question: Question) -> None:
        """Open `question`, or keep it open: call at least every QUESTION_OPEN_SECONDS / 3."""
        self.facts.set_fact(QUESTION.key(question.id), question.to_json(), QUESTION_OPEN_SECONDS)

    def find(self, question_id: str) -> Question | None:
        """The question, while its tool call still waits for it."""
        return Question.from_json(self.facts.fact(QUESTION.key(question_id)))

    def reply(self, question_id: str, reply: Reply) -> bool:
        """Give the reply; False when the question already has one (the first one wins)."""
        if not self.facts.add_once(QUESTION_REPLIED.key(question_id), "1", QUESTION_REPLIED.ttl):
            return False
        self.facts.set_fact(QUESTION_REPLY.key(question_id), reply.to_json(), QUESTION_REPLY.ttl)
        return True

    def reply_to(self, question_id: str) -> Reply | None:
        return Reply.from_json(self.facts.fact(QUESTION_REPLY.key(question_id)))

    def shown(self, session_id: str, question: Question, ts: str) -> None:
        """`question` is shown in message `ts` of the thread (its schema is not kept)."""
        kept = {**asdict(question), "schema": {}, "ts": ts}
        note = json.dumps(kept, separators=(",", ":"))
        self.facts.append_note(QUESTIONS_SHOWN.key(session_id), note, 20, QUESTIONS_SHOWN.ttl)

    def abandoned(self, session_id: str) -> list[tuple[Question, str]]:
        """The thread's questions whose tool call ended without settling them (its process
        died), each with its message's ts; they count as settled now. Those still open are
        kept for next time."""
        key = QUESTIONS_SHOWN.key(session_id)
        notes = self.facts.notes(key)
        self.facts.drop_notes(key, len(notes))
        found = []
        for note in notes:
            data = json.loads(note)
            ts = str(data.pop("ts", ""))
            question = Question.from_dict(data)
            if question is None:
                continue
            if self.find(question.id) is not None:  # still asked (a call running beside)
                self.facts.append_note(key, note, 20, QUESTIONS_SHOWN.ttl)
            elif self.reply(question.id, Reply("cancel", "")):  # nobody settled it
                found.append((question, ts))
        return found

    def close(self, question_id: str) -> None:
        """Nobody waits any more: a later click or form is told so."""
        self.facts.set_fact(QUESTION.key(question_id), None)
        self.facts.set_fact(QUESTION_REPLY.key(question_id), None)
