"""Files attached to a Slack message that cannot be read: too large, failing downloads, a
sign-in page, hidden, deleted or unsupported files and stubs; and how they are fetched:
files.info for stubs, redirects keeping the token with its origin, url_private."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.turns.inputs.files import FileLimits, read_files
from tests.fakes.file_server import FileServer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import (
    FILE_SNIPPET,
    load,
    slack_file,
)
from tests.support.files import PNG, TOKEN, png_file, text_file


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
