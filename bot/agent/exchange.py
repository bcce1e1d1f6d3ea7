"""One exchange in a persona's messages: the prompt made of queued Slack messages (their ts
ride along as metadata), and what answered it: its text, the tools it used and the pages
they cited; plus the handled ts a snapshot keeps for replays (bot/store/inbox.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from strands.types.content import ContentBlock, Message

from bot.agent.prompt import prompt_blocks
from bot.answer.sources import Source, merge, sources_in
from bot.jobs import Job
from bot.store.snapshots import is_complete_exchange_end, last_prompt

HANDLED_KEPT = 200  # Slack ts of handled messages kept per persona (bot.store.inbox replays)


def tools_used(messages: list[Message]) -> tuple[str, ...]:
    """Names of the tools called after the last prompt from Slack."""
    _, tail = last_prompt(messages)
    names = [block["toolUse"]["name"] for m in tail for block in m["content"] if "toolUse" in block]
    return tuple(dict.fromkeys(names))


def sources_used(messages: list[Message]) -> tuple[Source, ...]:
    """The pages cited by the results of the tools called after the last prompt from Slack
    (a few, distinct, safe links: bot/answer/sources.py)."""
    _, tail = last_prompt(messages)
    results = [
        block["toolResult"]
        for m in tail
        for block in m["content"]
        if "toolResult" in block and block["toolResult"].get("status") == "success"
    ]
    return merge(sources_in(result.get("content") or []) for result in results)


def message_text(message: Message) -> str:
    return "\n".join(block["text"] for block in message["content"] if "text" in block).strip()


def last_answered(messages: list[Message]) -> tuple[list[str], str]:
    """The Slack ts of the last answered prompt, and its answer (([], "") if none): the text
    of every assistant message after it (text before a tool call, then the final answer),
    as the stream showed it."""
    asked, tail = last_prompt(messages)
    if not tail or not is_complete_exchange_end(tail[-1]):
        return [], ""
    said = [message_text(m) for m in tail if m["role"] == "assistant"]
    return asked, "\n\n".join(text for text in said if text)


def with_handled(app_data: dict[str, Any], jobs: list[Job]) -> dict[str, Any]:
    """The snapshot's app data, remembering that `jobs` were handled by this turn."""
    handled = [*app_data.get("handled", ()), *(job.ts for job in jobs)]
    return {**app_data, "handled": handled[-HANDLED_KEPT:]}


def prompt_for(
    jobs: list[Job], preamble: Sequence[str] = (), file_input: dict[str, Any] | None = None
) -> list[Message]:
    """One user message for the queued Slack messages; their ts ride along as metadata.

    `preamble`: context texts that come first (the thread so far, other apps' posts). Per
    message: its text, then the blocks of its files from `file_input` (job ts ->
    bot.agent.prompt.FileInput, from bot.turns.files.read_for_jobs), then a note on unreadable
    files."""
    file_input = file_input or {}
    return [
        {
            "role": "user",
            "content": [ContentBlock(text=text) for text in preamble]
            + [
                block
                for job in jobs
                for block in prompt_blocks(job.text, job.files, file_input.get(job.ts))
            ],
            "metadata": {"custom": {"slack_ts": [job.ts for job in jobs]}},
        }
    ]
