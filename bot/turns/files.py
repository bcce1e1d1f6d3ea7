"""Files: reading the files attached to a Slack message, within the turn's budget.

`read_files` downloads each file (bot/turns/file_download.py: bot token, byte cap,
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
from typing import Any

from strands.types.content import ContentBlock

from bot.agent.prompt import FileInput, display_name
from bot.turns.file_download import FileProblem, download, mb
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
_IMAGE_TYPES = {
    "image/png",
    "image/jpeg",
    "image/jpg",
    "image/gif",
    "image/webp",
    "png",
    "jpg",
    "jpeg",
    "gif",
    "webp",
}  # mimetypes and Slack filetypes
_TEXT_MIMETYPES = {
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-yaml",
    "application/yaml",
    "application/toml",
    "application/x-sh",
    "application/sql",
    "application/x-ndjson",
}
_CODE = {
    "c",
    "cpp",
    "csharp",
    "css",
    "csv",
    "clojure",
    "d",
    "dart",
    "diff",
    "dockerfile",
    "erlang",
    "go",
    "groovy",
    "haskell",
    "html",
    "java",
    "javascript",
    "json",
    "kotlin",
    "latex",
    "lua",
    "markdown",
    "perl",
    "php",
    "powershell",
    "python",
    "r",
    "ruby",
    "rust",
    "scala",
    "shell",
    "sql",
    "swift",
    "text",
    "tsv",
    "typescript",
    "xml",
    "yaml",
}
_TEXT_EXTENSIONS = _CODE | {
    "txt",
    "md",
    "jsonl",
    "yml",
    "toml",
    "ini",
    "cfg",
    "conf",
    "log",
    "htm",
    "py",
    "js",
    "ts",
    "tsx",
    "jsx",
    "h",
    "hpp",
    "cs",
    "rs",
    "rb",
    "pl",
    "sh",
    "bash",
    "ps1",
    "kt",
    "scss",
    "hs",
    "tex",
    "patch",
}
_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
]
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
    result, used = FileInput(), used_names if used_names is not None else set()
    allowance = allowance or Allowance.of(limits.max_files, limits.max_turn_bytes)
    for file in files:
        name = display_name(file)
        try:
            if file.get("file_access") == "check_file_info":
                try:
                    details = file_info(str(file.get("id"))) if file_info else None
                except Exception as exc:  # e.g. SlackApiError file_not_found
                    raise FileProblem(f"Slack would not share this file ({exc})") from None
                if not details:
                    raise FileProblem("Slack did not share this file's details with the bot")
                file = {**file, **details}
                name = display_name(file)
            result.blocks.extend(_blocks(file, name, token, provider, limits, used, allowance))
        except FileProblem as problem:
            result.problems.append(f"{name}: {problem}")
    return result


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


def _blocks(
    file: Mapping[str, Any],
    name: str,
    token: str,
    provider: str,
    limits: FileLimits,
    used: set[str],
    allowance: Allowance,
) -> list[ContentBlock]:
    mode = file.get("mode")
    if mode in ("hidden_by_limit", "tombstone", "external"):
        raise FileProblem(
            {
                "hidden_by_limit": "hidden by Slack (over the workspace's file history limit)",
                "tombstone": "deleted",
                "external": "a link to a file outside Slack",
            }[mode]
        )
    kind = _kind(file, name)
    if kind == "text":
        cap = min(limits.max_bytes, limits.max_text_chars * 4)  # UTF-8: at most 4 bytes a char
        cap = min(cap, allowance.admit(None))
        data, cut = download(file, token, cap, limits.timeout, truncate=True)
        allowance.spend(len(data))
        if _is_html(data) and "html" not in f"{file.get('filetype')} {file.get('mimetype')}":
            raise FileProblem(f"not the file (got {_SIGN_IN})")
        return [_text_block(name, data, cut, limits)]
    if kind is None:
        what = file.get("mimetype") or file.get("filetype") or "unknown"
        raise FileProblem(f"unsupported type ({what})")
    label = "image" if kind == "image" else "PDF"
    if kind not in SUPPORT.get(provider, {}):
        raise FileProblem(f"{label}s are unsupported for this model ({provider})")
    cap = min(limits.max_bytes, SUPPORT[provider][kind])
    size = file.get("size")
    if isinstance(size, int) and size > cap:
        raise FileProblem(f"too large ({mb(size)}; the limit is {mb(cap)})")
    cap = min(cap, allowance.admit(size))
    data, _ = download(file, token, cap, limits.timeout)
    allowance.spend(len(data))
    found = _sniff(data)  # trust the bytes, not the upload's label
    if found is None or (found == "pdf") != (kind == "pdf"):
        got = _SIGN_IN if _is_html(data) else f"{found} data" if found else "something else"
        raise FileProblem(f"not a valid {label} (got {got})")
    head: ContentBlock = {"text": f"File {name} ({label}):"}
    if kind == "image":
        return [head, {"image": {"format": found, "source": {"bytes": data}}}]  # type: ignore
    return [
        head,
        {"document": {"format": "pdf", "name": _doc_name(name, used), "source": {"bytes": data}}},
    ]


def _kind(file: Mapping[str, Any], name: str) -> str | None:
    mimetype = str(file.get("mimetype") or "").split(";")[0].strip().lower()
    filetype = str(file.get("filetype") or "").lower()
    if mimetype in _IMAGE_TYPES or filetype in _IMAGE_TYPES:
        return "image"
    if "pdf" in (mimetype.removeprefix("application/"), filetype):
        return "pdf"
    extension = PurePosixPath(name).suffix.lstrip(".").lower()
    if (
        file.get("mode") == "snippet"
        or mimetype.startswith("text/")
        or filetype in _CODE
        or mimetype in _TEXT_MIMETYPES
        or extension in _TEXT_EXTENSIONS
    ):
        return "text"
    return None


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


def _sniff(data: bytes) -> str | None:
    found = next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)
    if found is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        found = "webp"
    return found or ("pdf" if b"%PDF-" in data[:1024] else None)


def _is_html(data: bytes) -> bool:
    return data.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))


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
