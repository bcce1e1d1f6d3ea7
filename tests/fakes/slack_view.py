"""What a user sees of the bot's messages in the fake Slack: `MessageView`s."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .slack_rules import BROADCAST


@dataclass(frozen=True)
class TaskCard:
    """A task card of a streamed message, as its last `task_update` left it."""

    id: str
    title: str
    status: str  # pending, in_progress, complete, error
    sources: tuple[tuple[str, str], ...] = ()  # (url, text) of each url source element
    details: str | None = None
    output: str | None = None


@dataclass(frozen=True)
class MessageView:
    ts: str
    channel: str
    thread_ts: str | None
    text: str  # what the user reads (see `visible_text`)
    streaming: bool  # still streaming (and not expired)
    has_stop: bool  # shows a Stop button (action_id `stop_answer`)
    has_feedback: bool  # shows 👍/👎 (a context_actions block with feedback_buttons)
    metadata: dict[str, Any] | None
    deleted: bool
    pings: tuple[str, ...] = ()  # broadcast mentions it would notify (<!channel>, @here...)
    unfurls: bool | None = None  # chat.postMessage without both unfurl arguments false;
    # None: a streamed message (chat.startStream documents no unfurl arguments)
    tasks: tuple[TaskCard, ...] = ()  # a streamed message's task cards, in order of arrival
    plan_title: str | None = None  # the last plan_update's title
    task_display_mode: str | None = None  # as chat.startStream was given it
    context: tuple[str, ...] = ()  # the mrkdwn/plain texts of its context blocks, in order


def _rich_texts(node: Any) -> list[str]:
    """The `text` of every element of a rich_text block, in order."""
    if isinstance(node, list):
        return [t for item in node for t in _rich_texts(item)]
    if not isinstance(node, dict):
        return []
    own = [node["text"]] if node.get("type") == "text" and isinstance(node.get("text"), str) else []
    return own + _rich_texts(node.get("elements"))


def _plain(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, dict) else ""


def visible_text(message: dict[str, Any]) -> str:
    """Slack renders `blocks` when there are any (`text` is then only the notification):
    the markdown of rich_text/markdown blocks; else the sections' texts; else `text`."""
    blocks = [b for b in message.get("blocks") or [] if isinstance(b, dict)]
    rich = [
        "".join(_rich_texts(b.get("elements")))
        if b["type"] == "rich_text"
        else str(b.get("text", ""))
        for b in blocks
        if b.get("type") in ("rich_text", "markdown")
    ]
    if rich:
        return "\n".join(rich)
    sections = [
        "\n".join([_plain(b.get("text"))] + [_plain(f) for f in b.get("fields") or []])
        for b in blocks
        if b.get("type") == "section"
    ]
    if sections:
        return "\n".join(s for s in sections if s)
    return str(message.get("text") or "")


def _elements(blocks: list[Any]) -> list[dict[str, Any]]:
    out = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        out += [e for e in block.get("elements") or [] if isinstance(e, dict)]
        if isinstance(block.get("accessory"), dict):
            out.append(block["accessory"])
    return out


def _strings(node: Any) -> list[str]:
    """Every string a message carries for display: `text` fields at any depth, task titles."""
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    if not isinstance(node, dict):
        return []
    own = [
        v
        for k, v in node.items()
        if k in ("text", "title", "details", "output") and isinstance(v, str)
    ]
    return own + [s for k, v in node.items() if not isinstance(v, str) for s in _strings(v)]


def pings(message: dict[str, Any]) -> tuple[str, ...]:
    """The broadcast mentions in what the message shows or notifies (text, blocks, chunks)."""
    found = [
        m.group(0)
        for s in _strings({k: message.get(k) for k in ("text", "blocks", "chunks", "markdown")})
        for m in BROADCAST.finditer(s)
    ]
    markdown = message.get("markdown")
    if isinstance(markdown, str):
        found += [m.group(0) for m in BROADCAST.finditer(markdown)]
    return tuple(found)


def _unfurls(message: dict[str, Any]) -> bool | None:
    if message.get("streaming") is not None or "started" in message:
        return None
    return not (message.get("unfurl_links") is False and message.get("unfurl_media") is False)


def _cards(message: dict[str, Any]) -> tuple[TaskCard, ...]:
    return tuple(
        TaskCard(
            id=card["id"],
            title=card.get("title", ""),
            status=card.get("status", ""),
            sources=tuple((s["url"], s["text"]) for s in card.get("sources") or []),
            details=card.get("details"),
            output=card.get("output"),
        )
        for card in (message.get("tasks") or {}).values()
    )


def view(message: dict[str, Any]) -> MessageView:
    blocks = list(message.get("blocks") or [])
    return MessageView(
        ts=message["ts"],
        channel=message["channel"],
        thread_ts=message.get("thread_ts"),
        text=visible_text(message),
        streaming=bool(message.get("streaming")),
        has_stop=any(
            e.get("type") == "button" and e.get("action_id") == "stop_answer"
            for e in _elements(blocks)
        ),
        has_feedback=any(
            b.get("type") == "context_actions"
            and any(
                isinstance(e, dict) and e.get("type") == "feedback_buttons"
                for e in b.get("elements") or []
            )
            for b in blocks
            if isinstance(b, dict)
        ),
        metadata=message.get("metadata"),
        deleted=bool(message.get("deleted")),
        pings=pings(message),
        unfurls=_unfurls(message),
        tasks=_cards(message),
        plan_title=message.get("plan_title"),
        task_display_mode=message.get("task_display_mode"),
        context=tuple(
            _plain(e)
            for b in blocks
            if isinstance(b, dict) and b.get("type") == "context"
            for e in b.get("elements") or []
            if isinstance(e, dict) and e.get("type") in ("mrkdwn", "plain_text")
        ),
    )


def is_stale(message: MessageView) -> bool:
    """What a user would see as broken: still streaming, a Stop button left, empty, or a
    task card still in progress (its stream stopped: it spins for ever)."""
    spinning = any(task.status == "in_progress" for task in message.tasks)
    return message.streaming or message.has_stop or not message.text.strip() or spinning
