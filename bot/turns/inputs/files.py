"""Files: reading the files attached to a Slack message, within the turn's budget.

`read_files` downloads each file (bot/turns/inputs/file_download.py: bot token, byte cap,
deadline) and returns a `FileInput` (bot/agent/prompt.py) of Strands content blocks: text
files (snippets, text/*, JSON, CSV, Markdown, code) as a fenced text block cut at
`max_text_chars`; images (png, jpeg, gif, webp) and PDFs as image and document blocks
after a "File <name> (image):" label, for providers that accept them (`SUPPORT`, checked
against the Strands 1.62 formatters). Any other file (another type, too large, hidden or
deleted by Slack, a failed download) becomes a problem naming it and the reason, e.g.
"report.zip: unsupported type (application/zip)": the prompt tells the model and the
answer tells the user (bot/agent/prompt.py, which also keeps image and PDF bytes out of
the stored session).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

from strands.types.content import ContentBlock

from bot.agent.prompt import FileInput, MediaKind, display_name, media_label
from bot.turns.inputs.file_download import FileProblem, download, mb
from bot.turns.inputs.file_types import is_html, kind_of, sniff
from bot.turns.turn_budget import Allowance

# The fields of a Slack file object read here; a Job keeps only these.
FIELDS = (
    "id",
    "name",
    "title",
    "mimetype",
    "filetype",
    "size",
    "mode",
    "file_access",
    "url_private_download",
    "url_private",
)
# Largest raw file per block each provider takes (base64 adds a third on the wire):
# Bedrock Converse: images 3.75 MB, documents 4.5 MB; Anthropic: images 5 MB *as base64*,
# PDFs 32 MB a request; OpenAI: images 20 MB, PDFs as `file` parts (models with file input).
SUPPORT: dict[str, dict[str, int]] = {
    "bedrock": {"image": 3_750_000, "pdf": 4_500_000},
    "anthropic": {"image": 3_750_000, "pdf": 24_000_000},
    "openai": {"image": 20_000_000, "pdf": 24_000_000},
}
_SIGN_IN = "a web page: does the app have the files:read scope?"  # Slack's answer without it
_DOC_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9\-()\[\] ]+")  # Bedrock's rule for document names


@dataclass(frozen=True)
class FileLimits:
    max_bytes: int = 5_000_000  # FILE_MAX_BYTES: largest file downloaded
    max_files: int = 10  # TURN_MAX_FILES: files one turn downloads (bot/turns/turn_budget.py)
    max_turn_bytes: int = 25_000_000  # TURN_MAX_FILE_BYTES: bytes one turn downloads
    max_text_chars: int = 50_000  # text beyond this is cut, with a note
    timeout: float = 15  # seconds for a download (and for each wait on the network)


def slack_files(raw: Any) -> tuple[dict[str, Any], ...]:
    """An event's `files` (null, missing, stubs) reduced to FIELDS."""
    if not isinstance(raw, list):
        return ()
    return tuple(
        {k: f[k] for k in FIELDS if f.get(k) is not None} for f in raw if isinstance(f, dict)
    )


def read_files(
    files: Iterable[Mapping[str, Any]],
    token: str,
    provider: str,
    limits: FileLimits = FileLimits(),
    *,
    file_info: Callable[[str], Mapping[str, Any] | None] | None = None,
    used_names: set[str] | None = None,
    allowance: Allowance | None = None,
) -> FileInput:
    """Content blocks for a `provider` model from Slack file objects; each file that cannot
    be sent is a problem instead. `file_info(id)` (e.g. `lambda i: client.files_info(file=i)
    ["file"]`) completes `file_access: "check_file_info"` stubs (Slack Connect).
    `allowance`: what the turn may still download (default: `limits`' turn budget)."""
    read = _Read(
        token,
        provider,
        limits,
        used_names if used_names is not None else set(),
        allowance or Allowance.of(limits.max_files, limits.max_turn_bytes),
    )
    result = FileInput()
    for file in files:
        name = display_name(file)
        try:
            if file.get("file_access") == "check_file_info":
                file = _completed(file, file_info)
                name = display_name(file)
            result.blocks.extend(_blocks(file, name, read))
        except FileProblem as problem:
            result.problems.append(f"{name}: {problem}")
    return result


def _completed(
    file: Mapping[str, Any], file_info: Callable[[str], Mapping[str, Any] | None] | None
) -> Mapping[str, Any]:
    """A `check_file_info` stub with the details `files.info` gives."""
    try:
        details = file_info(str(file.get("id"))) if file_info else None
    except Exception as exc:  # e.g. SlackApiError file_not_found
        raise FileProblem(f"Slack would not share this file ({exc})") from None
    if not details:
        raise FileProblem("Slack did not share this file's details with the bot")
    return {**file, **details}


def read_for_jobs(
    jobs: Iterable[Any], token: str, provider: str, limits: FileLimits = FileLimits(), **kwargs: Any
) -> dict[str, FileInput]:
    """`read_files` for each queued Job with files, keyed by its ts (for `prompt_for`),
    within one turn's budget of files and bytes (`limits`, bot/turns/turn_budget.py)."""
    used: set[str] = set()
    allowance = Allowance.of(limits.max_files, limits.max_turn_bytes)
    return {
        job.ts: read_files(
            job.files, token, provider, limits, used_names=used, allowance=allowance, **kwargs
        )
        for job in jobs
        if job.files
    }


_HIDDEN = {
    "hidden_by_limit": "hidden by Slack (over the workspace's file history limit)",
    "tombstone": "deleted",
    "external": "a link to a file outside Slack",
}


@dataclass
class _Read:
    """What one `read_files` call shares across its files."""

    token: str
    provider: str
    limits: FileLimits
    used: set[str]  # document names already in the request
    allowance: Allowance


def _blocks(file: Mapping[str, Any], name: str, read: _Read) -> list[ContentBlock]:
    if (mode := file.get("mode")) in _HIDDEN:
        raise FileProblem(_HIDDEN[mode])
    kind = kind_of(file, name)
    if kind is None:
        what = file.get("mimetype") or file.get("filetype") or "unknown"
        raise FileProblem(f"unsupported type ({what})")
    if kind == "text":
        return [_text(file, name, read)]
    return _media(file, name, kind, read)


def _text(file: Mapping[str, Any], name: str, read: _Read) -> ContentBlock:
    limits = read.limits
    cap = min(limits.max_bytes, limits.max_text_chars * 4)  # UTF-8: at most 4 bytes a char
    cap = min(cap, read.allowance.admit(None))
    data, cut = download(file, read.token, cap, limits.timeout, truncate=True)
    read.allowance.spend(len(data))
    if is_html(data) and "html" not in f"{file.get('filetype')} {file.get('mimetype')}":
        raise FileProblem(f"not the file (got {_SIGN_IN})")
    return _text_block(name, data, cut, limits)


def _media(
    file: Mapping[str, Any], name: str, kind: Literal["image", "pdf"], read: _Read
) -> list[ContentBlock]:
    label: MediaKind = "image" if kind == "image" else "PDF"
    if kind not in SUPPORT.get(read.provider, {}):
        raise FileProblem(f"{label}s are unsupported for this model ({read.provider})")
    cap = min(read.limits.max_bytes, SUPPORT[read.provider][kind])
    size = file.get("size")
    if isinstance(size, int) and size > cap:
        raise FileProblem(f"too large ({mb(size)}; the limit is {mb(cap)})")
    cap = min(cap, read.allowance.admit(size))
    data, _ = download(file, read.token, cap, read.limits.timeout)
    read.allowance.spend(len(data))
    found = sniff(data)  # trust the bytes, not the upload's label
    if found is None or (found == "pdf") != (kind == "pdf"):
        got = _SIGN_IN if is_html(data) else f"{found} data" if found else "something else"
        raise FileProblem(f"not a valid {label} (got {got})")
    head = media_label(name, label)
    if kind == "image":
        return [head, {"image": {"format": found, "source": {"bytes": data}}}]  # type: ignore
    document = {"format": "pdf", "name": _doc_name(name, read.used), "source": {"bytes": data}}
    return [head, {"document": document}]  # type: ignore


def _text_block(name: str, data: bytes, cut: bool, limits: FileLimits) -> ContentBlock:
    if b"\x00" in data[:8192]:
        raise FileProblem("not a text file")
    text = data.decode("utf-8-sig", errors="replace")
    if cut:
        text = text.rstrip("\ufffd")  # the byte cut may have split a character
    if len(text) > limits.max_text_chars:
        text, cut = text[: limits.max_text_chars], True
    fence = "```"
    while fence in text:
        fence += "`"
    note = f"\n[cut: only the first {len(text):,} characters are shown]" if cut else ""
    return {"text": f"File {name}:\n{fence}\n{text}\n{fence}{note}"}


def _doc_name(name: str, used: set[str]) -> str:
    """A neutral name Bedrock accepts (letters, digits, single spaces, - ( ) [ ]), unique in
    the request (Bedrock refuses duplicates; stored history holds no documents)."""
    stem = PurePosixPath(name).stem if name.lower().endswith(".pdf") else name
    base = " ".join(_DOC_NAME_UNSAFE.sub(" ", stem).split())[:190] or "document"
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f"{base} ({n})"
    used.add(candidate)
    return candidate
