"""File types: what kind of file a Slack file is, by what Slack says and by its bytes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any, Literal

FileKind = Literal["image", "pdf", "text"]
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


def kind_of(file: Mapping[str, Any], name: str) -> FileKind | None:
    """What Slack says the file is (its mimetype, filetype, mode or extension)."""
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


def sniff(data: bytes) -> str | None:
    """What the bytes are: "png", "jpeg", "gif", "webp", "pdf", or None."""
    found = next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)
    if found is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        found = "webp"
    return found or ("pdf" if b"%PDF-" in data[:1024] else None)


def is_html(data: bytes) -> bool:
    """A web page (e.g. Slack's sign-in page), not the file."""
    return data.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))
