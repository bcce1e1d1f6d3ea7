"""Files attached to a Slack message: downloaded with the bot token from a real local HTTP
server, turned into the content blocks each provider accepts, named when they cannot be
read, and kept out of the stored session as bytes."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.agent.model import build_model
from bot.agent.prompt import NO_TEXT, answer_note, shrink_for_storage
from bot.agent.turn import prompt_for
from bot.jobs import Job
from bot.store.redis_state import RedisState, connect
from bot.store.sessions import SessionStore
from bot.turns.conversation import GREETING
from bot.turns.inputs.files import FIELDS, FileLimits, read_files, read_for_jobs, slack_files
from tests.fakes.file_server import FileServer
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import (
    FILE_SNIPPET,
    file_share_event,
    load,
    slack_file,
)
from tests.support.bot import settle
from tests.support.files import TOKEN, tiny_png
from tests.support.harness import Bot, next_ts

BEDROCK_DOC_NAME = re.compile(r"^(?!.*\s\s)[A-Za-z0-9\s\-()\[\]]{1,200}$")


def tiny_pdf(text: str = "Q3 revenue: 42") -> bytes:
    """A one-page PDF with a correct xref table (byte offsets computed, not guessed)."""
    stream = f"BT /F1 12 Tf 20 50 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


PNG = tiny_png()
PDF = tiny_pdf()


@pytest.fixture
def files(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    """Slack's file host: the bot token may go only there (SLACK_FILE_HOSTS)."""
    with FileServer(token=TOKEN) as server:
        monkeypatch.setenv("SLACK_FILE_HOSTS", server.url("").rstrip("/"))
        yield server


def png_file(server: FileServer, name: str = "photo.png", data: bytes = PNG, **options) -> dict:
    url = server.add(f"/files-pri/T1-F1/download/{name}", data, "image/png", **options)
    return slack_file(name, url, "image/png", "png", len(data))


def pdf_file(server: FileServer, name: str = "Q3 report.pdf", **options) -> dict:
    url = server.add("/files-pri/T1-F2/download/report.pdf", PDF, "application/pdf", **options)
    return slack_file(name, url, "application/pdf", "pdf", len(PDF))


def text_file(
    server: FileServer, content: bytes = b"hug a kitten", name: str = "notes.txt"
) -> dict:
    url = server.add(f"/files-pri/T1-F3/download/{name}", content, "text/plain")
    return slack_file(name, url, "text/plain", "text", len(content), source=FILE_SNIPPET)


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


def test_too_large_by_size_is_named_and_not_downloaded(files: FileServer) -> None:
    big = png_file(files) | {"size": 6_000_000}
    got = read_files([big], TOKEN, "openai")
    assert got.problems == ["photo.png: too large (6.0 MB; the limit is 5.0 MB)"]
    assert files.requests == []
    bedrock = read_files([png_file(files) | {"size": 4_000_000}], TOKEN, "bedrock")
    assert bedrock.problems == ["photo.png: too large (4.0 MB; the limit is 3.8 MB)"]


def test_too_large_by_actual_bytes_stops_reading(files: FileServer) -> None:
    lying = png_file(files, data=PNG + b"\0" * 50_000) | {"size": 10}
    got = read_files([lying], TOKEN, "bedrock", FileLimits(max_bytes=20_000))
    assert got.problems == ["photo.png: too large (over 20,000 bytes)"] and got.blocks == []


def test_download_failures_are_named(files: FileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_FILE_HOSTS", f"{files.url('').rstrip('/')},http://127.0.0.1:9")
    failing = png_file(files, name="broken.png", status=500)
    slow = png_file(files, name="slow.png", delay=1.5)
    got = read_files([failing, slow], TOKEN, "anthropic", FileLimits(timeout=0.3))
    assert got.problems == [
        "broken.png: download failed (HTTP 500)",
        "slow.png: download timed out after 0.3 s",
    ]
    wrong_token = read_files([png_file(files)], "xoxb-someone-else", "anthropic")
    assert wrong_token.problems == ["photo.png: download failed (HTTP 403)"]
    gone = png_file(files) | {"url_private_download": "http://127.0.0.1:9/nothing-listens"}
    assert (
        read_files([gone], TOKEN, "anthropic")
        .problems[0]
        .startswith("photo.png: download failed (")
    )


def test_a_sign_in_page_instead_of_the_file_points_at_the_scope(files: FileServer) -> None:
    image = png_file(files, login_page=True)
    text = slack_file(
        "notes.txt",
        files.add("/notes.txt", login_page=True),
        "text/plain",
        "text",
        12,
        source=FILE_SNIPPET,
    )
    got = read_files([image, text], TOKEN, "bedrock")
    hint = "(got a web page: does the app have the files:read scope?)"
    assert got.problems == [
        f"photo.png: not a valid image {hint}",
        f"notes.txt: not the file {hint}",
    ]
    assert got.blocks == []
    page = slack_file(
        "page.html", files.add("/page.html", login_page=True), "text/html", "html", 80
    )
    assert read_files([page], TOKEN, "bedrock").blocks[0]["text"].startswith("File page.html:")


def test_hidden_deleted_unsupported_and_stub_files_are_named(files: FileServer) -> None:
    zip_file = slack_file("report.zip", files.url("/never"), "application/zip", "zip", 9)
    hidden = {"id": "F0HIDDEN1", "mode": "hidden_by_limit"}
    deleted = {"id": "F0GONE", "mode": "tombstone"}
    stub = load("24_message_im_file_share_check_file_info.json")["event"]["files"][0]
    untyped = {"id": "F0ODD", "name": "blob"}
    got = read_files([zip_file, untyped, hidden, deleted, stub], TOKEN, "bedrock")
    assert got.blocks == [] and files.requests == []
    assert got.problems == [
        "report.zip: unsupported type (application/zip)",
        "blob: unsupported type (unknown)",
        "F0HIDDEN1: hidden by Slack (over the workspace's file history limit)",
        "F0GONE: deleted",
        "F12345678: Slack did not share this file's details with the bot",
    ]


def test_check_file_info_stubs_are_completed_with_files_info(
    files: FileServer, fake_slack: FakeSlack
) -> None:
    stub = load("24_message_im_file_share_check_file_info.json")["event"]["files"][0]
    fake_slack.set_response("files.info", {"ok": True, "file": text_file(files)})
    client = WebClient(token=TOKEN, base_url=fake_slack.base_url)
    got = read_files(
        [stub], TOKEN, "bedrock", file_info=lambda file_id: client.files_info(file=file_id)["file"]
    )
    assert got.problems == [] and got.blocks[0]["text"].startswith("File notes.txt:")
    assert fake_slack.calls("files.info")[0].params["file"] == stub["id"]
    fake_slack.set_response("files.info", {"ok": False, "error": "file_not_found"})
    failed = read_files(
        [stub], TOKEN, "bedrock", file_info=lambda file_id: client.files_info(file=file_id)["file"]
    )
    assert failed.problems[0].startswith("F12345678: Slack would not share this file (")


def test_redirects_are_followed_and_the_token_stays_with_its_origin(files: FileServer) -> None:
    with FileServer(token=TOKEN) as cdn:
        elsewhere = cdn.add("/cdn/photo.png", PNG, "image/png", public=True)
        here = files.add("/files-pri/T1-F9/photo.png", PNG, "image/png")
        files.add("/same-origin", redirect=here)
        files.add("/other-origin", redirect=elsewhere)
        for path in ("/same-origin", "/other-origin"):
            file = slack_file("photo.png", files.url(path), "image/png", "png", len(PNG))
            got = read_files([file], TOKEN, "openai")
            assert got.problems == [] and got.blocks[1]["image"]["source"]["bytes"] == PNG
        assert files.requests[-1].authorization == f"Bearer {TOKEN}"
        assert [r.authorization for r in cdn.requests] == [None]


def test_url_private_is_the_fallback(files: FileServer) -> None:
    file = png_file(files)
    del file["url_private_download"]
    assert read_files([file], TOKEN, "bedrock").problems == []
    no_link = {k: v for k, v in file.items() if k != "url_private"}
    assert read_files([no_link], TOKEN, "bedrock").problems == ["photo.png: no download link"]


# --- prompt, storage, jobs --------------------------------------------------------------


def test_prompt_holds_each_message_text_then_its_files_then_what_was_not_read(
    files: FileServer,
) -> None:
    plain = Job(
        kind="turn", team="T1", channel="C1", thread_ts="1.1", ts="1.2", user="U1", text="hello"
    )
    with_files = Job(
        kind="turn",
        team="T1",
        channel="C1",
        thread_ts="1.1",
        ts="1.3",
        user="U1",
        text="",
        files=(text_file(files), {"id": "F0H", "mode": "hidden_by_limit"}),
    )
    read = read_for_jobs([plain, with_files], TOKEN, "bedrock")
    assert list(read) == ["1.3"]
    content = prompt_for([plain, with_files], file_input=read)[0]["content"]
    assert content[0] == {"text": "hello"} and content[1] == {"text": NO_TEXT}
    assert content[2]["text"].startswith("File notes.txt:\n```\nhug a kitten")
    assert "F0H: hidden by Slack" in content[3]["text"] and len(content) == 4
    assert prompt_for([plain])[0]["content"] == [{"text": "hello"}]  # unchanged without files
    unread = prompt_for([with_files])[0]["content"]  # nobody read them: the model is told
    assert unread[1] == {
        "text": "[Attached but not read, so you have not seen them: notes.txt, F0H]"
    }
    assert answer_note([]) == "" and "F0H: hidden" in answer_note(read["1.3"].problems)


def test_shrink_for_storage_keeps_a_placeholder_not_the_bytes(files: FileServer) -> None:
    read = read_files([png_file(files), pdf_file(files), text_file(files)], TOKEN, "bedrock")
    messages = [
        {"role": "user", "content": [{"text": "look"}, *read.blocks]},
        {"role": "assistant", "content": [{"text": "a red square and a report"}]},
    ]
    shrink_for_storage(messages)
    assert messages[0]["content"][:3] == [
        {"text": "look"},
        {"text": "[image photo.png was shown to you in this turn]"},
        {"text": "[PDF Q3 report.pdf was shown to you in this turn]"},
    ]
    assert messages[0]["content"][3]["text"].startswith("File notes.txt:")
    before = json.dumps(messages)
    shrink_for_storage(messages)  # idempotent
    assert json.dumps(messages) == before and messages[1]["content"][0]["text"].startswith("a")


def test_job_files_are_copied_null_safe_and_round_trip_through_json() -> None:
    event_files = load(FILE_SNIPPET)["event"]["files"]
    kept = slack_files(event_files + [{"id": "F0H", "mode": "hidden_by_limit"}, "junk"])
    assert kept[0] == {k: event_files[0][k] for k in FIELDS}  # the snippet has every field
    assert "preview" in event_files[0] and "preview" not in kept[0]  # and more, not kept
    assert kept[1] == {"id": "F0H", "mode": "hidden_by_limit"} and len(kept) == 2
    assert slack_files(None) == () and slack_files({"id": "F1"}) == ()
    job = Job(
        kind="turn",
        team="T1",
        channel="C1",
        thread_ts="1.1",
        ts="1.2",
        user="U1",
        text="hi",
        files=kept,
    )
    assert Job.loads(job.dumps()) == job and Job.loads(job.dumps()).dumps() == job.dumps()
    assert isinstance(Job.loads(job.dumps()).files, tuple)
    old = Job(kind="turn", team="T1", channel="C1", thread_ts="1.1", ts="1.3", user="U1")
    queued_before = json.dumps(  # what the previous release queued
        {
            k: v
            for k, v in asdict(old).items()
            if k not in ("files", "user_team", "replayed", "enterprise", "org_install", "trace")
        },
        separators=(",", ":"),
    )
    assert old.dumps() == queued_before and Job.loads(queued_before) == old


def test_a_job_with_files_is_queued_and_finished_on_redis(
    redis_url: str, files: FileServer
) -> None:
    state = RedisState(connect(redis_url), lock_ttl=3)
    job = Job(
        kind="turn",
        team="T1",
        channel="C1",
        thread_ts="5.1",
        ts="5.2",
        user="U1",
        text="é",
        files=slack_files([png_file(files), text_file(files)]),
    )
    assert state.accept(job, ["msg:files:5.2"])
    lease = state.try_lease(job.session_id)
    queued = state.queued(job.session_id)
    assert queued == [job]
    state.finish(lease, queued)  # pops only if the queued JSON matches byte for byte
    assert state.queued(job.session_id) == [] and lease.release_if_idle()


# --- end to end: the real bot over signed HTTP ------------------------------------------


def joined_thread(bot: Bot, fake_slack: FakeSlack) -> str:
    root = bot.mention("I'll send you some files")
    fake_slack.wait_for("chat.postMessage")
    return root["ts"]


def test_a_files_only_message_is_answered_not_greeted(
    make_bot, fake_slack: FakeSlack, files: FileServer
) -> None:
    model = ScriptedModel(["hi", "That snippet says: hug a kitten."])
    bot = make_bot(model)
    thread = joined_thread(bot, fake_slack)
    status, _ = bot.event(file_share_event("", "C1", next_ts(), [text_file(files)], thread))
    assert status == 200
    fake_slack.wait_for("chat.postMessage", count=2)
    settle(bot, timeout=10)
    answers = [c.params["text"] for c in fake_slack.calls("chat.postMessage")]
    assert answers[1] == "That snippet says: hug a kitten." and GREETING not in answers
    assert model.calls[1]["messages"][-1]["content"][0] == {"text": NO_TEXT}


def test_file_share_reaches_the_model_and_the_session_stores_a_placeholder(
    make_bot, fake_slack: FakeSlack, files: FileServer, session_dir: Path
) -> None:
    model = ScriptedModel(["hi", "A magenta square, and your notes say: hug a kitten.", "ok"])
    bot = make_bot(model)
    thread = joined_thread(bot, fake_slack)
    zip_file = slack_file("report.zip", files.url("/never-fetched"), "application/zip", "zip", 9)
    event = file_share_event(
        "what are these?", "C1", next_ts(), [png_file(files), text_file(files), zip_file], thread
    )
    assert bot.event(event)[0] == 200
    fake_slack.wait_for("chat.postMessage", count=2)
    settle(bot, timeout=10)
    sent = model.calls[1]["messages"][-1]["content"]
    assert sent[0] == {"text": "what are these?"}
    assert sent[1:3] == [
        {"text": "File photo.png (image):"},
        {"image": {"format": "png", "source": {"bytes": PNG}}},
    ]
    assert sent[3]["text"].startswith("File notes.txt:\n```\nhug a kitten")
    assert "report.zip: unsupported type (application/zip)" in sent[4]["text"]
    answer = fake_slack.calls("chat.postMessage")[1].params["text"]
    assert answer.startswith("A magenta square") and "report.zip: unsupported type" in answer

    sid = Job(kind="turn", team="T1", channel="C1", thread_ts=thread, ts="", user="").session_id
    stored = SessionStore(bucket=None, prefix="", directory=session_dir).messages(sid, "default")
    user = stored[2]["content"]
    assert {"text": "[image photo.png was shown to you in this turn]"} in user
    assert not any("image" in block for block in user)
    raw = "".join(p.read_text() for p in session_dir.rglob("*.json"))
    assert base64.b64encode(PNG).decode() not in raw

    bot.reply("and now?", thread_ts=thread)
    fake_slack.wait_for("chat.postMessage", count=3)
    later = model.calls[2]["messages"]
    assert not any("image" in b for m in later for b in m["content"])  # no bytes resent
