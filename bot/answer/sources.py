"""Sources: the web pages a tool's result cites, as links a user can open.

A tool's result (Strands `toolResult` content: `text` and `json` blocks) may name pages it
read. Its task card shows them as `sources` (url source elements,
docs.slack.dev/reference/block-kit/block-elements/url-source-element), and the stored
answer's last message a short "Sources:" line (bot/answer/reply.py). A tool's output may
have been steered by anyone (a web page, a file), so only plain http(s) links are kept: no
other scheme (`javascript:`, `data:`…), no credentials in the URL, no absurd lengths; a
label is the host and path, short, and neutralised where it is shown as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.answer.slack_format import neutralise_mentions

MAX_SOURCES = 5  # per task card and per answer: a few links, not a bibliography
URL_MAX = 500  # a longer link is dropped, not cut (a cut link leads elsewhere)
LABEL_MAX = 60
# A context block's mrkdwn text holds at most 3,000 characters (docs.slack.dev/reference/
# block-kit/composition-objects/text-object): the Sources line stops before that.
LINE_MAX = 3_000
# Each task_update / plan_update chunk is limited to 256 characters (Slack's guidance:
# slackapi/slack-skills-plugin, skills/block-kit/references/agent-progress-design.md).
CHUNK_TEXT_MAX = 256
# Candidates in free text: up to a space, a quote, or a character Slack's mrkdwn link syntax
# uses (<url|label>); trailing punctuation is dropped below.
_CANDIDATE = re.compile(r"https?://[^\s<>\"'`|\\^{}\[\]]+", re.IGNORECASE)
_TRAILING = ".,;:!?)*_~"


@dataclass(frozen=True)
class Source:
    """A page a tool cited: its `url` (http/https, checked) and a short `text` label."""

    url: str
    text: str

    def element(self) -> dict[str, str]:
        """The url source element of a task card's `sources`."""
        return {"type": "url", "url": self.url, "text": self.text}


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def safe_url(candidate: str) -> str | None:
    """`candidate` as a link worth showing (None: not one): http or https, a host, no
    credentials, no whitespace or control characters, at most URL_MAX characters."""
    url = candidate.rstrip(_TRAILING)
    if url.count("(") < url.count(")"):  # "(see https://x.org/a)" → keep the link only
        url = url[: url.rfind(")")]
    if not 0 < len(url) <= URL_MAX or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  # raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    return url


def label(url: str) -> str:
    """A short readable label: host and path ("example.com/docs/page"), cut to LABEL_MAX."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    return clip(f"{host}{parts.path.rstrip('/')}", LABEL_MAX)


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def sources_in(content: Iterable[Any], limit: int = MAX_SOURCES) -> list[Source]:
    """The distinct safe links in a tool result's content blocks (`text`, `json`), in order,
    at most `limit`."""
    found: dict[str, Source] = {}
    for block in content:
        if not isinstance(block, dict):
            continue
        texts = [block["text"]] if isinstance(block.get("text"), str) else []
        for text in [*texts, *_strings(block.get("json"))]:
            for match in _CANDIDATE.finditer(text):
                url = safe_url(match.group(0))
                if url is not None and url not in found:
                    found[url] = Source(url, label(url))
                if len(found) >= limit:
                    return list(found.values())
    return list(found.values())


def merge(groups: Iterable[Iterable[Source]], limit: int = MAX_SOURCES) -> tuple[Source, ...]:
    """The distinct sources of several results, in order, at most `limit`."""
    found: dict[str, Source] = {}
    for group in groups:
        for source in group:
            found.setdefault(source.url, source)
    return tuple(found.values())[:limit]


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters escaped (docs.slack.dev/messaging/
    formatting-message-text, "Escaping text")."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sources_line(sources: Iterable[Source]) -> dict[str, Any]:
    """A compact context line linking the pages an answer's tools cited."""
    text = ":link: Sources:"
    for n, source in enumerate(sources):
        name = _escape(neutralise_mentions(source.text)).replace("|", "/")
        link = f"{',' if n else ''} <{_escape(source.url)}|{name}>"
        if len(text) + len(link) > LINE_MAX:
            break
        text += link
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


__all__ = ["Source", "clip", "label", "merge", "safe_url", "sources_in", "sources_line"]
