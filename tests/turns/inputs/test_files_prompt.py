"""Files in the prompt (each message's text, then its files, then what was not read), kept
out of the stored session as bytes, and carried by jobs through JSON and Redis."""

from __future__ import annotations

import json
from dataclasses import asdict

from bot.agent.exchange import prompt_for
from bot.agent.prompt import NO_TEXT, answer_note, shrink_for_storage
from bot.jobs import Job
from bot.store.redis_state import RedisState, connect
from bot.turns.inputs.files import FIELDS, read_files, read_for_jobs, slack_files
from tests.fakes.file_server import FileServer
from tests.fakes.slack_payloads import (
    FILE_SNIPPET,
    load,
)
from tests.support.files import TOKEN, pdf_file, png_file, text_file

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
            if k
            not in ("files", "user_team", "replayed", "enterprise", "org_install", "trace")
            + ("from_home", "app_context", "approval", "approval_message", "decided_by")
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
