"""Prompt: what a Slack message and its files become in the model's prompt, and what of
them the stored session keeps.

The files were read before the turn (bot/turns/inputs/files.py, within the turn's budget) into a
`FileInput` per message: content blocks and the problems of the files that could not be
sent. `prompt_blocks` puts a message's text, its files' blocks, and a note on the unreadable
ones into the prompt; `answer_note` tells the user about the same problems.

Storage: image and PDF bytes reach the model once, in the turn that brought them.
`shrink_for_storage` replaces them (and their label) in the stored user message with a
placeholder, "[image photo.png was shown to you in this turn]". Kept, they would be stored
as base64 and resent with every later turn of the window: megabytes per turn, soon over
the providers' request limits. So later turns know that a file was shown, not what it
showed (attach it again to ask again). Text files stay, bounded by the reader's cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from strands.types.content import ContentBlock, Message

NO_TEXT = "(The user sent files without a message.)"
MediaKind = Literal["image", "PDF"]  # as the prompt names them
_LABEL = re.compile(r"^File (?P<name>.+) \((?:image|PDF)\):$")


@dataclass
class FileInput:
    """One message's files as read: their content blocks, and why the others were not."""

    blocks: list[ContentBlock] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def display_name(file: Mapping[str, Any]) -> str:
    """A Slack file's name on one line of the prompt (its title or id if it has none)."""
    name = str(file.get("name") or file.get("title") or file.get("id") or "a file")
    return " ".join(name.split())[:200]


def media_label(name: str, kind: MediaKind) -> ContentBlock:
    """The text block before an image or PDF block, "File photo.png (image):", which
    `shrink_for_storage` replaces along with the block."""
    return {"text": f"File {name} ({kind}):"}


def prompt_blocks(
    text: str, files: Iterable[Mapping[str, Any]], read: FileInput | None
) -> list[ContentBlock]:
    """One Slack message's part of the prompt: its text, its files, what could not be read."""
    files = list(files)
    blocks: list[ContentBlock] = [{"text": text if text or not files else NO_TEXT}]
    if not files:
        return blocks
    if read is None:  # nobody read them: say so rather than let the model guess
        names = ", ".join(display_name(f) for f in files)
        return [*blocks, {"text": f"[Attached but not read, so you have not seen them: {names}]"}]
    blocks += read.blocks
    if read.problems:
        blocks.append(
            {
                "text": "[Attached but unreadable, so you have not seen them (the user "
                f"is told): {'; '.join(read.problems)}]"
            }
        )
    return blocks


def answer_note(problems: list[str]) -> str:
    """Appended to the answer so the user learns which files were not read, and why."""
    return "\n\n:warning: I couldn't read " + "; ".join(problems) + "." if problems else ""


def shrink_for_storage(messages: list[Message]) -> None:
    """In place, replace the image and document blocks of user messages (with their "File …"
    label) by a text placeholder. Call after the model call, before the session is written:
    the session manager stores these very message objects."""
    for message in messages:
        content = message.get("content") or []
        if message.get("role") != "user" or not any(
            "image" in b or "document" in b for b in content
        ):
            continue
        kept: list[ContentBlock] = []
        for block in content:
            kind = "image" if "image" in block else "PDF" if "document" in block else None
            if kind is None:
                kept.append(block)
                continue
            label = _LABEL.match(kept[-1].get("text", "")) if kept else None
            if label:
                kept.pop()
            name = label["name"] if label else block.get("document", {}).get("name", "")
            kept.append(
                {
                    "text": f"[{kind} {name} was shown to you in this turn]"
                    if name
                    else f"[{'an image' if kind == 'image' else 'a PDF'}"
                    " was shown to you in this turn]"
                }
            )
        message["content"] = kept
