"""Argument rules of the fake Slack Web API, each beside its documentation source.

Method references: docs.slack.dev/reference/methods/<method> (arguments and error codes as
mirrored in github.com/smstoslack/slack_kit priv/docs/methods/<method>.json). Block Kit
limits: docs.slack.dev/reference/block-kit/blocks/<block>. A rule raises `Refused(error)`;
where the docs give a limit but no error name, the comment says which name we chose.
"""

from __future__ import annotations

import json
import re
from typing import Any


class Refused(Exception):
    """The call is answered `{"ok": false, "error": <error>}`."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


# chat.update `msg_too_long`: "The `text` field cannot exceed 4,000 characters."
UPDATE_TEXT_MAX = 4_000
# chat.postMessage reference, "Truncating content": Slack truncates messages whose text is
# over 40,000 characters (no error; changelog 2018-04-truncating-really-long-messages).
POST_TEXT_TRUNCATE = 40_000
# `markdown_text` of chat.postMessage/update/postEphemeral/startStream/appendStream/
# stopStream: "Limit this field to 12,000 characters."
MARKDOWN_TEXT_MAX = 12_000
# Block Kit: "You can include up to 50 blocks in each message" (docs.slack.dev/reference/
# block-kit/blocks); chat.startStream/appendStream/stopStream `msg_blocks_too_many`: "Max
# blocks exceeded, blocks are limited to 50 per message."
BLOCKS_MAX = 50
# Section block: `text` "Maximum length for the text in this field is 3000 characters";
# `fields` "Maximum number of items is 10. Maximum length for the text in each item is
# 2000 characters" (docs.slack.dev/reference/block-kit/blocks/section-block).
SECTION_TEXT_MAX, SECTION_FIELDS_MAX, SECTION_FIELD_MAX = 3_000, 10, 2_000
# Markdown block: "The cumulative limit for all markdown blocks in a single payload is
# 12,000 characters" (docs.slack.dev/reference/block-kit/blocks/markdown-block).
MARKDOWN_BLOCKS_MAX = 12_000
# Header block `text` "Maximum length ... is 150 characters" (header-block); context block
# "Maximum number of items is 10" (context-block); actions block "a maximum of 25 elements"
# (actions-block); `block_id` "Maximum length ... 255 characters ... should be unique for
# each message" (every block's reference page).
HEADER_TEXT_MAX, CONTEXT_ELEMENTS_MAX, ACTIONS_ELEMENTS_MAX, BLOCK_ID_MAX = 150, 10, 25, 255
# Button element: `text` "Maximum length ... 75 characters", `value` "Maximum length ...
# 2000 characters", `action_id` "Maximum length ... 255 characters"
# (docs.slack.dev/reference/block-kit/block-elements/button-element).
BUTTON_TEXT_MAX, BUTTON_VALUE_MAX, ACTION_ID_MAX = 75, 2_000, 255
# The block types docs.slack.dev/reference/block-kit/blocks lists for messages.
MESSAGE_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
        "plan",
        "task_card",
    }
)
# Rich text for chat.update's `block_mismatch` (see slack_chat.update): Slack translates a
# markdown block into rich_text blocks (markdown-block reference), so both count.
RICH_TEXT_TYPES = frozenset({"rich_text", "markdown"})
# Streaming chunks (docs.slack.dev/messaging/sending-and-scheduling-messages#text-streaming,
# and slack_sdk.models.messages.chunk): markdown_text {text}, task_update {id, title,
# status: pending|in_progress|complete|error}, plan_update {title}, blocks {blocks}.
TASK_STATUSES = frozenset({"pending", "in_progress", "complete", "error"})
# task_update `sources`: url source elements, {"type": "url", "url", "text"} ("A URL source
# element that displays a URL source for referencing within a task card block": docs.slack.
# dev/reference/block-kit/block-elements/url-source-element; slack_sdk UrlSourceElement,
# whose `url` and `text` are required).
# "Each task_update and plan_update chunk is limited to 256 characters" (Slack's guidance:
# github.com/slackapi/slack-skills-plugin, skills/block-kit/references/
# agent-progress-design.md): the chunk's own text (task: title, details and output together;
# plan: title); over it, `invalid_chunks` (our choice: the guidance names no error).
CHUNK_TEXT_MAX = 256
# chat.startStream `task_display_mode`: "A "timeline" displays individual tasks with text
# and "plan" displays all tasks together" (docs.slack.dev/reference/methods/chat.startStream;
# slack_sdk's WebClient.chat_startStream: `task_display_mode: Optional[str] = None,
# # timeline, plan`). Another value: `invalid_arguments` (our choice of name).
TASK_DISPLAY_MODES = frozenset({"timeline", "plan"})


# chat.postMessage `unfurl_links` ("Pass true to enable unfurling of primarily text-based
# content") and `unfurl_media` ("Pass false to disable unfurling of media content"), both
# boolean; "If you want to suppress link unfurls in messages containing Block Kit blocks,
# set `unfurl_links` and `unfurl_media` to false." chat.update, chat.startStream and
# chat.postEphemeral document neither. A value that is not a boolean: `invalid_arguments`
# (our choice of name).
UNFURL_ARGS = ("unfurl_links", "unfurl_media")
# Broadcast mentions (docs.slack.dev/messaging/formatting-message-text, "Special mentions"):
# <!here>, <!channel>, <!everyone> (and the legacy <!group>), optionally with a |label, and
# user groups <!subteam^ID>. The bare words @here/@channel/@everyone are counted too: how a
# `markdown` block translates them is not documented, so the fake assumes the worst.
BROADCAST = re.compile(
    r"<!(?:here|channel|everyone|group)(?:\|[^>]*)?>|<!subteam\^[^>]*>"
    r"|(?<![\w@])@(?:here|channel|everyone)\b",
    re.IGNORECASE,
)


def unfurl_flags(params: dict[str, Any]) -> dict[str, bool]:
    """The unfurl arguments given to chat.postMessage, checked to be booleans."""
    flags = {}
    for key in UNFURL_ARGS:
        if key in params:
            value = params[key]
            text = str(value).lower()
            if not isinstance(value, bool) and text not in ("true", "false", "1", "0"):
                raise Refused("invalid_arguments")
            flags[key] = value if isinstance(value, bool) else text in ("true", "1")
    return flags


def is_given(params: dict[str, Any], key: str) -> bool:
    """Present and not empty (Slack treats `text=""` as no text)."""
    return params.get(key) not in (None, "", [])


def decode(params: dict[str, Any], key: str, error: str) -> Any:
    """A JSON argument sent as a JSON value or as a URL-encoded JSON string."""
    value = params.get(key)
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            raise Refused(error) from None
    return value


def _text(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, dict) else ""


def _check_element(element: Any) -> None:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        raise Refused("invalid_blocks_format")
    if len(str(element.get("action_id", ""))) > ACTION_ID_MAX:
        raise Refused("invalid_blocks")
    if element["type"] == "button" and (
        not _text(element.get("text"))
        or len(_text(element.get("text"))) > BUTTON_TEXT_MAX
        or len(str(element.get("value", ""))) > BUTTON_VALUE_MAX
    ):
        raise Refused("invalid_blocks")


def _check_block(block: dict[str, Any]) -> None:
    kind = block["type"]
    if kind not in MESSAGE_BLOCK_TYPES or len(str(block.get("block_id", ""))) > BLOCK_ID_MAX:
        raise Refused("invalid_blocks")
    if kind == "section":
        fields = block.get("fields") or []
        if not _text(block.get("text")) and not fields:  # "text ... required unless fields"
            raise Refused("invalid_blocks")
        if len(_text(block.get("text"))) > SECTION_TEXT_MAX or len(fields) > SECTION_FIELDS_MAX:
            raise Refused("invalid_blocks")
        if any(len(_text(f)) > SECTION_FIELD_MAX for f in fields):
            raise Refused("invalid_blocks")
        if "accessory" in block:
            _check_element(block["accessory"])
    elif kind == "markdown" and not isinstance(block.get("text"), str):
        raise Refused("invalid_blocks")  # markdown-block: `text` is required
    elif kind == "header" and not 0 < len(_text(block.get("text"))) <= HEADER_TEXT_MAX:
        raise Refused("invalid_blocks")
    elif kind in ("actions", "context", "context_actions"):
        elements = block.get("elements")
        top = ACTIONS_ELEMENTS_MAX if kind == "actions" else CONTEXT_ELEMENTS_MAX
        if not isinstance(elements, list) or not 0 < len(elements) <= top:
            raise Refused("invalid_blocks")
        for element in elements:
            _check_element(element)


def check_blocks(blocks: Any, too_many: str = "invalid_blocks") -> list[dict[str, Any]]:
    """Validate one payload's `blocks`; `too_many` is the error the method documents for
    more than 50 (streaming methods: `msg_blocks_too_many`; others only `invalid_blocks`)."""
    if not isinstance(blocks, list) or any(
        not isinstance(b, dict) or not isinstance(b.get("type"), str) for b in blocks
    ):
        raise Refused("invalid_blocks_format")  # "not a valid JSON object or doesn't match"
    if len(blocks) > BLOCKS_MAX:
        raise Refused(too_many)
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    if len(ids) != len(set(ids)):
        raise Refused("invalid_blocks")  # block_id "should be unique for each message"
    for block in blocks:
        _check_block(block)
    if sum(len(b.get("text", "")) for b in blocks if b["type"] == "markdown") > (
        MARKDOWN_BLOCKS_MAX
    ):
        raise Refused("invalid_blocks")
    return blocks


def message_blocks(
    params: dict[str, Any], too_many: str = "invalid_blocks"
) -> list[dict[str, Any]] | None:
    """The call's `blocks`, decoded and validated (None when not given)."""
    if params.get("blocks") in (None, ""):
        return None
    return check_blocks(decode(params, "blocks", "invalid_blocks_format"), too_many)


def check_message(method: str, params: dict[str, Any]) -> list[dict[str, Any]] | None:
    """chat.postMessage / chat.update / chat.postEphemeral content rules; returns blocks."""
    if is_given(params, "markdown_text"):
        # All three document `markdown_text_conflict`: "Markdown text cannot be used in
        # conjunction with `blocks` or `text` argument."
        if is_given(params, "text") or is_given(params, "blocks"):
            raise Refused("markdown_text_conflict")
        if len(params["markdown_text"]) > MARKDOWN_TEXT_MAX:
            raise Refused("msg_too_long")  # limit documented; the error name is our choice
    elif not any(is_given(params, k) for k in ("text", "blocks", "attachments")):
        raise Refused("no_text")  # "No message text provided"
    if method == "chat.update" and len(str(params.get("text") or "")) > UPDATE_TEXT_MAX:
        raise Refused("msg_too_long")
    return message_blocks(params)


def _is_url_source(source: Any) -> bool:
    return (
        isinstance(source, dict)
        and source.get("type") == "url"
        and all(isinstance(source.get(k), str) and source[k] for k in ("url", "text"))
    )


def _task_fields_ok(chunk: dict[str, Any]) -> bool:
    """A task_update's optional fields: text fields are strings, within CHUNK_TEXT_MAX
    together with the title; `sources` a list of url source elements."""
    texts = [chunk.get(k) for k in ("title", "details", "output") if chunk.get(k) is not None]
    if not all(isinstance(t, str) for t in texts) or sum(map(len, texts)) > CHUNK_TEXT_MAX:
        return False
    sources = chunk.get("sources")
    return sources is None or (
        isinstance(sources, list) and all(_is_url_source(s) for s in sources)
    )


def check_chunks(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate a streaming call's `chunks` (`invalid_chunks`: "Chunks submitted with this
    message are not valid."); blocks inside `blocks` chunks follow the block rules."""
    if params.get("chunks") in (None, ""):
        return []
    chunks = decode(params, "chunks", "invalid_chunks")
    if not isinstance(chunks, list) or any(not isinstance(c, dict) for c in chunks):
        raise Refused("invalid_chunks")
    for chunk in chunks:
        kind = chunk.get("type")
        if kind == "markdown_text":
            ok = isinstance(chunk.get("text"), str)
        elif kind == "task_update":
            ok = all(isinstance(chunk.get(k), str) and chunk[k] for k in ("id", "title")) and (
                chunk.get("status") in TASK_STATUSES and _task_fields_ok(chunk)
            )
        elif kind == "plan_update":
            ok = isinstance(chunk.get("title"), str) and len(chunk["title"]) <= CHUNK_TEXT_MAX
        elif kind == "blocks":
            ok = isinstance(chunk.get("blocks"), list)
        else:
            ok = False
        if not ok:
            raise Refused("invalid_chunks")
    chunk_blocks = [b for c in chunks if c["type"] == "blocks" for b in c["blocks"]]
    if chunk_blocks:
        check_blocks(chunk_blocks, "msg_blocks_too_many")
    return chunks


def check_stream_call(method: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """chat.startStream / appendStream / stopStream content rules; returns the chunks."""
    markdown = params.get("markdown_text")
    if markdown is not None and len(str(markdown)) > MARKDOWN_TEXT_MAX:
        raise Refused("msg_too_long")  # "Limit this field to 12,000 characters" (our name)
    if is_given(params, "markdown_text") and is_given(params, "chunks"):
        # appendStream/stopStream: "Cannot provide both `markdown_text` and `chunks` in the
        # same request." startStream does not list the error; we apply it there too (our
        # inference: a stream's mode, below, must be one or the other).
        raise Refused("cannot_provide_both_markdown_text_and_chunks")
    mode = params.get("task_display_mode")
    if method == "chat.startStream" and mode is not None and mode not in TASK_DISPLAY_MODES:
        raise Refused("invalid_arguments")
    if method == "chat.appendStream" and not (
        is_given(params, "markdown_text") or is_given(params, "chunks")
    ):
        raise Refused("markdown_text_or_chunks_required")  # appendStream reference
    return check_chunks(params)


def stream_mode(params: dict[str, Any]) -> str | None:
    """`markdown_text` or `chunks`: what the call streams with (None: neither)."""
    if is_given(params, "chunks"):
        return "chunks"
    return "markdown_text" if is_given(params, "markdown_text") else None


def streamed_markdown(params: dict[str, Any], chunks: list[dict[str, Any]]) -> str:
    text = str(params.get("markdown_text") or "")
    return text + "".join(c["text"] for c in chunks if c["type"] == "markdown_text")


def require(params: dict[str, Any], error: str, *keys: str) -> None:
    """Required arguments: the error each method documents for a missing one."""
    if any(not is_given(params, k) for k in keys):
        raise Refused(error)


def check_assistant(method: str, p: dict[str, Any]) -> dict[str, Any]:
    """assistant.threads.setStatus / setSuggestedPrompts argument rules (their references)."""
    require(p, "channel_not_found", "channel_id")  # "given an invalid channel_id"
    if method == "assistant.threads.setStatus":
        require(p, "invalid_thread_ts", "thread_ts")
        if "status" not in p:  # required; "" clears the status
            raise Refused("invalid_arguments")
        loading = decode(p, "loading_messages", "invalid_arguments")
        if loading is not None and (not isinstance(loading, list) or len(loading) > 10):
            raise Refused("invalid_arguments")  # "Maximum of 10 messages." (our error name)
        return {"ok": True}
    prompts = decode(p, "prompts", "invalid_arguments")
    # `prompts` required; "Each prompt should be supplied with its `title` and `message`".
    if (
        not isinstance(prompts, list)
        or not prompts
        or not all(
            isinstance(x, dict) and is_given(x, "title") and is_given(x, "message") for x in prompts
        )
    ):
        raise Refused("invalid_arguments")
    return {"ok": True}
