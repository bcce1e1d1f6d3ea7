"""Files attached to a Slack message, downloaded with the bot token from a real local HTTP
server: the content blocks each provider accepts, and the installed Strands formatters
taking them."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest

from bot.agent.model import build_model
from bot.turns.inputs.files import FileLimits, read_files
from tests.fakes.file_server import FileServer
from tests.support.files import PDF, PNG, TOKEN, pdf_file, png_file, text_file

BEDROCK_DOC_NAME = re.compile(r"^(?!.*\s\s)[A-Za-z0-9\s\-()\[\]]{1,200}$")

# --- read_files ------------------------------------------------------------------------


def test_text_file_reaches_the_model_as_fenced_text(files: FileServer) -> None:
    got = read_files([text_file(files)], TOKEN, "bedrock")
    assert got.problems == []
    assert got.blocks == [{"text": "File notes.txt:\n```\nhug a kitten\n```"}]
    assert files.requests[0].authorization == f"Bearer {TOKEN}"


def test_long_text_is_cut_with_a_note_and_fences_survive_backticks(files: FileServer) -> None:
    content = ("```python\nprint('hi')\n```\n" + "x" * 500).encode()
    got = read_files(
        [text_file(files, content, "README.md")], TOKEN, "openai", FileLimits(max_text_chars=100)
    )
    text = got.blocks[0]["text"]
    assert text.startswith("File README.md:\n````\n```python") and got.problems == []
    assert text.endswith("\n````\n[cut: only the first 100 characters are shown]")


def test_png_becomes_an_image_block_with_the_same_bytes(files: FileServer) -> None:
    for provider in ("bedrock", "anthropic", "openai"):
        got = read_files([png_file(files)], TOKEN, provider)
        assert got.problems == []
        assert got.blocks == [
            {"text": "File photo.png (image):"},
            {"image": {"format": "png", "source": {"bytes": PNG}}},
        ]


@pytest.mark.parametrize("provider", ["bedrock", "anthropic", "openai"])
def test_pdf_is_a_document_where_the_provider_takes_documents(
    files: FileServer, provider: str
) -> None:
    got = read_files([pdf_file(files)], TOKEN, provider)
    assert got.problems == []
    label, block = got.blocks
    assert label == {"text": "File Q3 report.pdf (PDF):"}
    assert block["document"]["format"] == "pdf" and block["document"]["source"]["bytes"] == PDF
    assert BEDROCK_DOC_NAME.match(block["document"]["name"])  # no dots: Bedrock's rule


def test_media_for_a_provider_without_support_is_a_clear_problem(files: FileServer) -> None:
    got = read_files([pdf_file(files), png_file(files), text_file(files)], TOKEN, "llamacpp")
    assert got.problems == [
        "Q3 report.pdf: PDFs are unsupported for this model (llamacpp)",
        "photo.png: images are unsupported for this model (llamacpp)",
    ]
    assert [b["text"].split(":")[0] for b in got.blocks] == ["File notes.txt"]
    assert [r.path for r in files.requests] == ["/files-pri/T1-F3/download/notes.txt"]


@pytest.mark.parametrize("provider", ["bedrock", "anthropic", "openai"])
def test_the_installed_strands_formatters_accept_the_blocks(
    files: FileServer, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    read = read_files([png_file(files), pdf_file(files)], TOKEN, provider)
    messages = [{"role": "user", "content": [{"text": "what is in these?"}, *read.blocks]}]
    request = build_model(provider, None).format_request(messages)  # raises if refused
    sent = list(leaves(request))
    for data in (PNG, PDF):  # raw bytes (boto3 encodes them) or base64 in a data URL
        assert data in sent or any(base64.b64encode(data).decode() in str(v) for v in sent)
    assert "what is in these?" in sent


def leaves(value: object) -> Iterator[object]:
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    else:
        yield value
