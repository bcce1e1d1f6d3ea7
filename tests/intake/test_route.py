"""Routing rules, as pure functions."""

from __future__ import annotations

from bot.intake.route import MAX_TEXT_CHARS, Ignored, route_mention, route_message, split_persona
from bot.jobs import Job, session_id
from tests.fakes.slack_payloads import load, mention_event, message_event

IDS = ["default", "critic"]


def mention(text: str, thread_ts: str | None = None) -> dict:
    event = mention_event("", "C1", "2.0", thread_ts)
    event["text"] = text
    return event


def test_mention_strips_markup_and_roots_the_thread() -> None:
    job = route_mention(mention("<@UBOT> hello <@UBOT|bot>"), "T1", "UBOT", IDS)
    assert isinstance(job, Job)
    assert (job.text, job.thread_ts, job.kind) == ("hello", "2.0", "turn")
    reply = route_mention(mention("<@UBOT> more", thread_ts="1.0"), "T1", "UBOT", IDS)
    assert reply.thread_ts == "1.0" and reply.session_id == session_id("T1", "C1", "1.0")


def test_persona_prefix_and_reset_word() -> None:
    assert split_persona("Critic: is it good?", IDS) == ("critic", "is it good?")
    assert split_persona("note: not a persona", IDS) == (None, "note: not a persona")
    job = route_mention(mention("<@UBOT> critic: reset"), "T1", "UBOT", IDS)
    assert job.kind == "reset"


def test_huge_messages_are_capped() -> None:
    job = route_mention(mention("<@UBOT> " + "é" * 40_000), "T1", "UBOT", IDS)
    assert len(job.text) == MAX_TEXT_CHARS


def test_session_ids_are_safe_and_distinct() -> None:
    assert session_id("T1", "C1", "1.2") == "T1_C1_1-2"
    assert session_id("T1", "C1", "1.2") != session_id("T1", "C2", "1.2")
    assert session_id("T/../x", "C1", "../../etc") == "T----x_C1_------etc"


def test_message_routes() -> None:
    base = message_event("hi", "C1", "3.0")
    joined = lambda job: True  # noqa: E731
    assert isinstance(route_message(base | {"thread_ts": "1.0"}, "T1", "UBOT", IDS, joined), Job)
    assert isinstance(
        route_message(base | {"thread_ts": "1.0"}, "T1", "UBOT", IDS, lambda job: False), Ignored
    )
    assert isinstance(route_message(base, "T1", "UBOT", IDS, joined), Ignored)
    dm = route_message(
        message_event("hi", "D1", "3.0", channel_type="im"), "T1", "UBOT", IDS, joined
    )
    assert isinstance(dm, Job) and dm.thread_ts == "dm" and dm.reply_thread_ts is None
    assert isinstance(
        route_message(base | {"thread_ts": "1.0", "text": "<@UBOT> hi"}, "T1", "UBOT", IDS, joined),
        Ignored,
    )
    no_user = base | {"user": None, "thread_ts": "1.0"}
    assert isinstance(route_message(no_user, "T1", "UBOT", IDS, joined), Ignored)


def test_slackbot_and_nulls_never_start_turns() -> None:
    joined = lambda job: True  # noqa: E731
    notice = message_event("You have been removed from #ops", "D1", "4.0", channel_type="im")
    notice["user"] = "USLACKBOT"
    assert isinstance(route_message(notice, "T1", "UBOT", IDS, joined), Ignored)
    nulls = message_event("hi", "C1", "5.0", "1.0") | {"text": None, "subtype": None}
    job = route_message(nulls, "T1", "UBOT", IDS, joined)
    assert isinstance(job, Job) and job.text == ""
    mention_nulls = mention("hi") | {"thread_ts": None, "text": None}
    assert route_mention(mention_nulls, "T1", "UBOT", IDS).thread_ts == "2.0"
    bolt = load("32_message_bot_message_classic.json")["event"] | {"thread_ts": "1.0"}
    assert isinstance(route_message(bolt, "T1", "UBOT", IDS, joined), Ignored)


def test_stop_and_help_words_are_commands_only_when_they_are_the_whole_message() -> None:
    joined = lambda job: True  # noqa: E731
    for text, kind in [
        ("stop", "stop"),
        ("Stop answering!", "stop"),
        ("cancel.", "stop"),
        ("critic: stop", "stop"),
        ("help", "help"),
        ("Help?", "help"),
        ("stop the build when tests fail", "turn"),
        ("help me write", "turn"),
        ("reset", "reset"),
    ]:
        assert route_mention(mention(f"<@UBOT> {text}"), "T1", "UBOT", IDS).kind == kind, text
        reply = message_event(text, "C1", "3.0", "1.0")
        assert route_message(reply, "T1", "UBOT", IDS, joined).kind == kind, text
        dm = message_event(text, "D1", "3.0", channel_type="im")
        assert route_message(dm, "T1", "UBOT", IDS, joined).kind == kind, text
    unjoined = route_message(
        message_event("stop", "C1", "3.0", "1.0"), "T1", "UBOT", IDS, lambda job: False
    )
    assert isinstance(unjoined, Ignored)


def test_file_shares_carry_their_files_null_safe() -> None:
    joined = lambda job: True  # noqa: E731
    dm = load("21_message_im_file_share_real.json")["event"]  # captured: a snippet in a DM
    job = route_message(dm, "T1", "UBOT", IDS, joined)
    assert isinstance(job, Job) and job.text == "message message message"
    (file,) = job.files
    assert file["id"] == dm["files"][0]["id"] and file["mode"] == "snippet"
    assert file["url_private_download"] == dm["files"][0]["url_private_download"]
    # only the fields that bot/turns/inputs/files.py reads
    assert "preview" not in file and "permalink" not in file
    files_only = route_message(dm | {"text": ""}, "T1", "UBOT", IDS, joined)
    assert files_only.text == "" and files_only.files == job.files  # still a turn
    stub = load("24_message_im_file_share_check_file_info.json")["event"]  # Slack Connect
    assert route_message(stub, "T1", "UBOT", IDS, joined).files == (
        {"id": "F12345678", "mode": "file_access", "file_access": "check_file_info"},
    )
    shared = load("28_message_file_share_channel.json")["event"]
    in_thread = shared | {"thread_ts": "1.0", "files": None}
    assert route_message(in_thread, "T1", "UBOT", IDS, joined).files == ()
    with_mention = mention("<@UBOT> what is this?") | {"files": shared["files"]}
    assert route_mention(with_mention, "T1", "UBOT", IDS).files[0]["name"] == "file.png"
    assert route_mention(mention("<@UBOT> hi"), "T1", "UBOT", IDS).files == ()
