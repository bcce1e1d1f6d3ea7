"""Titles: a short name for a thread's conversation, from the request that started it.

Slack shows an agent session's title when people look back for a conversation (the agent
view's history, the bot's Home tab), so it should read like a subject line: the request's
first sentence, without mentions, links, formatting or a greeting, cut at a word. Slack
takes at most 200 characters; a subject line needs far fewer.
"""

from __future__ import annotations

import re

TITLE_MAX = 60  # Slack allows 200 (agents.sessions.setStatus `title`); a glance needs ~60
UNTITLED = "Conversation"

_MENTION = re.compile(r"<[@#!][^>]*>")  # <@U123>, <#C123|name>, <!here>
_LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]*))?>")  # <url|label> -> label (or url)
_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\((?:[^)]*)\)")  # [label](url) -> label
_CODE = re.compile(r"```.*?(```|$)", re.DOTALL)
_FORMATTING = re.compile(r"[*_~`>#]+")
_GREETING = re.compile(
    r"^(?:hi|hey|hello|yo|hiya|good (?:morning|afternoon|evening)|please|pls|can you|"
    r"could you|would you)\b[\s,!:.-]*",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s|\n")


def session_title(request: str, limit: int = TITLE_MAX) -> str:
    """A subject line for a conversation that `request` (a Slack message's text) started."""
    text = _CODE.sub(" ", request)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _MARKDOWN_LINK.sub(r"\1", _MENTION.sub(" ", text))
    text = _FORMATTING.sub("", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = " ".join(lines[0].split()) if lines else ""
    for _ in range(2):  # "hey, can you …"
        text = _GREETING.sub("", text).strip()
    first = _SENTENCE_END.split(text, maxsplit=1)[0].strip().rstrip(".!:;,")
    if not first:
        return UNTITLED
    first = first[0].upper() + first[1:]
    if len(first) <= limit:
        return first
    cut = first.rfind(" ", 0, limit - 1)
    return first[: cut if cut > limit // 2 else limit - 1].rstrip(" ,;:-") + "…"
