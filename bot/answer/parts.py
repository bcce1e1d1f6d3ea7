"""The parts of an answer: what each Slack message of it holds, and the metadata that names
the message it answers (so a replay posts only the parts Slack does not have)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.answer.slack_format import neutralise_mentions
from bot.answer.sources import Source
from bot.jobs import Job

ANSWER_EVENT = "thread_bot_answer"  # message metadata: which Slack message an answer is for


def tools_line(tools: tuple[str, ...]) -> dict:
    """A compact context line naming the tools an answer used."""
    names = neutralise_mentions(", ".join(f"`{name}`" for name in tools))
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f":hammer_and_wrench: Used {names}"}],
    }


class Speaker(Protocol):
    """Who an answer is from (bot.agent.personas.Persona is one): the name and icon its
    messages show, and the id its 👍/👎 buttons record."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def icon_emoji(self) -> str | None: ...

    @property
    def icon_url(self) -> str | None: ...


@dataclass(frozen=True)
class Part:
    """Part `index` of the `count` messages of an answer to `job`, from `speaker` (None:
    a note, without feedback buttons), naming on its last message the `tools` it used and
    linking the `sources` they cited."""

    job: Job
    text: str
    index: int
    count: int
    speaker: Speaker | None = None
    tools: tuple[str, ...] = ()
    sources: tuple[Source, ...] = ()
    actions: tuple[dict, ...] = ()  # blocks for its last message instead of 👍/👎 (approvals)

    @property
    def last(self) -> bool:
        return self.index == self.count - 1

    def metadata(self) -> dict:
        payload = {"for_ts": self.job.ts, "part": self.index, "parts": self.count}
        return {"event_type": ANSWER_EVENT, "event_payload": payload}


def parts_of(
    job: Job,
    texts: list[str],
    speaker: Speaker | None,
    tools: tuple[str, ...] = (),
    sources: tuple[Source, ...] = (),
    actions: tuple[dict, ...] = (),
) -> list[Part]:
    """The parts of an answer to `job` whose messages show `texts`."""
    count = len(texts)
    return [
        Part(job, text, i, count, speaker, tools, sources, actions) for i, text in enumerate(texts)
    ]
