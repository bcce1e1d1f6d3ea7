"""Slack format: how an answer's text becomes Slack messages that render as it streamed.

One format end to end: the model writes standard Markdown, the stream sends it as
`markdown_text` chunks, and the message that stays carries the same text in `markdown`
blocks (docs.slack.dev/reference/block-kit/blocks/markdown-block), so bold, links, code
and tables render the same while streaming and after. A message's `text` is only the
notification fallback (`chat.update` refuses more than 4,000 characters of it).

The model's text may have been steered by anyone in the thread (or a file, or another app):
every broadcast mention in it (<!channel>, <!here>, <!everyone>, <!subteam^…>, and the bare
@channel/@here/@everyone) is neutralised on every path to Slack (`neutralise_mentions`).
"""

from __future__ import annotations

import re
from typing import Any

# A markdown block's text is limited to 12,000 characters per message (cumulative): one
# message carries at most PART_CHARS of an answer, with room to spare for a closed fence.
PART_CHARS = 10_000
FALLBACK_CHARS = 3_000  # the notification text: chat.update refuses `text` over 4,000
_FENCE = "```"
_WORD_JOINER = "\u2060"  # invisible: "@\u2060here" reads as @here but notifies nobody
_BROADCAST = re.compile(
    r"<!(here|channel|everyone|group)(?:\|[^>]*)?>"
    r"|<!subteam\^[^|>]*(?:\|@?([^>]*))?>",
    re.IGNORECASE,
)
_OPEN_BROADCAST = re.compile(r"<!(?=here|channel|everyone|group|subteam)", re.IGNORECASE)
_BARE = re.compile(r"@(?=(?:here|channel|everyone)\b)", re.IGNORECASE)
_KEYWORDS = ("here", "channel", "everyone")
HOLD_CHARS = 200  # an unclosed "<" held back longer than this is sent (neutralised)


def _quiet(match: re.Match[str]) -> str:
    name = match.group(1) or (match.group(2) or "").strip() or "group"
    return f"@{_WORD_JOINER}{name}"


def neutralise_mentions(text: str) -> str:
    """`text` with no broadcast mention left: <!channel> (and <!here>, <!everyone>,
    <!subteam^ID|@team>) become a plain "@channel" that notifies nobody, as do the bare
    words; an unclosed "<!channel" is broken too. Idempotent."""
    text = _BROADCAST.sub(_quiet, text)
    text = _OPEN_BROADCAST.sub(f"<{_WORD_JOINER}!", text)
    return _BARE.sub(f"@{_WORD_JOINER}", text)


def release_point(text: str) -> int:
    """How much of streamed `text` can be neutralised and sent now: all but a tail that may
    still become a mention when more text arrives (an unclosed "<…", a trailing "@her")."""
    start = text.find("<", text.rfind(">") + 1)
    if start != -1 and len(text) - start > HOLD_CHARS:
        start = text.rfind("<")
    if start != -1 and len(text) - start <= HOLD_CHARS:
        return start
    at = text.rfind("@", max(0, len(text) - 9))
    word = text[at + 1 :].lower() if at != -1 else ""
    if at != -1 and (word == "" or word.isalpha()) and any(k.startswith(word) for k in _KEYWORDS):
        return at
    return len(text)


def _cut(text: str, size: int) -> int:
    """Where to end a part of at most `size` characters: a paragraph, else a line break."""
    for separator in ("\n\n", "\n"):
        cut = text.rfind(separator, 0, size)
        if cut > size // 2:
            return cut
    return size


def _open_fence(text: str) -> str | None:
    """The opening line of a fenced code block left open at the end of `text`, if any."""
    opening = None
    for line in text.split("\n"):
        if line.lstrip().startswith(_FENCE):
            opening = None if opening is not None else line.strip()
    return opening


def split_parts(text: str, size: int = PART_CHARS) -> list[str]:
    """`text` in parts of at most `size` characters (plus a closing fence), cut at
    paragraph or line breaks where possible. A code block cut in two is closed at the end
    of one part and opened again (same language) at the start of the next. Broadcast
    mentions are neutralised first."""
    text = neutralise_mentions(text)
    parts: list[str] = []
    while len(text) > size:
        cut = _cut(text, size)
        part, text = text[:cut].rstrip("\n"), text[cut:].lstrip("\n")
        fence = _open_fence(part)
        if fence is not None:
            part, text = f"{part}\n{_FENCE}", f"{fence}\n{text}"
        parts.append(part)
    return [*parts, text] if text.strip() or not parts else parts


def _close_fences(parts: list[str]) -> list[str]:
    """Each part renders on its own: a code block left open is closed, and opened again
    (same language) at the start of the next part."""
    closed: list[str] = []
    carry = None
    for part in parts:
        part = f"{carry}\n{part}" if carry else part
        carry = _open_fence(part)
        closed.append(f"{part}\n{_FENCE}" if carry else part)
    return closed


def _word_end(text: str, cut: int) -> int:
    """`cut`, moved back to the end of a word if it falls inside one (a stream rolled over
    on time, not at a break)."""
    if cut >= len(text) or text[cut - 1].isspace() or text[cut].isspace():
        return cut
    space = max(text.rfind("\n", 0, cut), text.rfind(" ", 0, cut))
    return space + 1 if space > 0 else cut


def follow_streamed(text: str, streamed: list[str]) -> list[str]:
    """The parts of `text` when its first parts were streamed into messages as `streamed`:
    each of those messages keeps what it showed (the final text usually starts with it), the
    rest is split as usual. When `text` no longer starts with them, it is split afresh.
    Broadcast mentions are neutralised (the stream sent them neutralised)."""
    text = neutralise_mentions(text)
    if any(not shown.strip() for shown in streamed[:-1]) or not text.startswith(
        "".join(streamed[:-1])
    ):
        return split_parts(text)
    parts, start, end = [], 0, 0
    for shown in streamed[:-1]:
        end += len(shown)
        cut = _word_end(text, end)
        parts.append(text[start:cut].strip("\n"))
        start = cut
    parts += split_parts(text[start:].strip("\n"))
    return _close_fences([part for part in parts if part.strip()] or [""])


def fallback_text(part: str) -> str:
    """A message's `text`: what notifications and screen readers get; blocks render."""
    part = neutralise_mentions(part)
    return part if len(part) <= FALLBACK_CHARS else part[: FALLBACK_CHARS - 1] + "…"


def slack_date(at: float, fallback: str = "just now") -> str:
    """The time `at` as each reader's Slack shows it, in their own time zone ("Today at
    3:04 PM"); `fallback` where the date token cannot be rendered."""
    return f"<!date^{int(at)}^{{date_short_pretty}} at {{time}}|{fallback}>"


def markdown_block(text: str) -> dict[str, Any]:
    """Slack's `markdown` block: standard Markdown, rendered by Slack."""
    return {"type": "markdown", "text": neutralise_mentions(text)}


__all__ = [
    "PART_CHARS",
    "fallback_text",
    "follow_streamed",
    "markdown_block",
    "neutralise_mentions",
    "release_point",
    "slack_date",
    "split_parts",
]
