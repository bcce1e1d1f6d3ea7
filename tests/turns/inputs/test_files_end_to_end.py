"""Files attached to a Slack message, end to end: the real bot over signed HTTP answers a
file_share message, and its session stores a placeholder, not the bytes."""

from __future__ import annotations

import base64
from pathlib import Path

from bot.agent.prompt import NO_TEXT
from bot.jobs import Job
from bot.store.sessions import SessionStore
from bot.turns.conversation import GREETING
from tests.fakes.file_server import FileServer
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import (
    file_share_event,
    slack_file,
)
from tests.support.bot import settle
from tests.support.files import PNG, png_file, text_file
from tests.support.harness import Bot, next_ts

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
