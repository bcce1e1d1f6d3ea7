"""Finding 4: a turn has a budget of files and bytes, and a thread's queue has a cap.

A burst of file-laden messages must never make one turn download and hold more than
TURN_MAX_FILES files / TURN_MAX_FILE_BYTES bytes (the rest wait for the next turn, or, past
one message's share, are left out and named); a flood into one busy thread never queues
more than THREAD_QUEUE_MAX messages, and each message refused is answered with a note."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.jobs import Job, session_id
from bot.turns.turn_budget import take_batch
from tests.fakes.file_server import FileServer
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import file_share_event, message_event, slack_file
from tests.support.bot import model_called, settle
from tests.support.files import TOKEN, tiny_png
from tests.support.harness import Bot, next_ts
from tests.support.wait import wait_until

FILE_BYTES = 100_000
BUDGET = {"FILE_MAX_BYTES": "200000", "TURN_MAX_FILES": "4", "TURN_MAX_FILE_BYTES": "350000"}


@pytest.fixture
def files(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    with FileServer(token=TOKEN) as server:
        monkeypatch.setenv("SLACK_FILE_HOSTS", server.url("").rstrip("/"))  # Slack's, here
        yield server


def big_png(server: FileServer, name: str) -> dict:
    """A real PNG padded to FILE_BYTES, served at its own path, as Slack describes it."""
    data = tiny_png() + b"\0" * (FILE_BYTES - len(tiny_png()))
    url = server.add(f"/files-pri/T1-{name}/download/{name}", data, "image/png")
    return slack_file(name, url, "image/png", "png", len(data))


def wait_queued(bot: Bot, sid: str, count: int, timeout: float = 10) -> None:
    wait_until(
        lambda: len(bot.runtime.state.queued(sid)) >= count, timeout, f"{count} queued messages"
    )


def images_sent(call: dict) -> list[bytes]:
    """The image bytes of the prompt a model call got (its last user message)."""
    content = call["messages"][-1]["content"]
    return [block["image"]["source"]["bytes"] for block in content if "image" in block]


def test_a_burst_of_file_messages_stays_within_each_turns_budget(
    make_bot, fake_slack: FakeSlack, files: FileServer
) -> None:
    gate = threading.Event()
    model = ScriptedModel(block_until=gate)
    bot = make_bot(model, **BUDGET)
    root = bot.mention("I'll send you some pictures")["ts"]
    model_called(model)
    sid = session_id("T1", "C1", root)
    sent: list[str] = []
    for i in range(6):  # two pictures each, queued behind the running turn
        pictures = [big_png(files, f"m{i}p{k}.png") for k in range(2)]
        sent += [p["name"] for p in pictures]
        event = file_share_event(f"batch {i}", "C1", next_ts(), pictures, root)
        assert bot.event(event)[0] == 200
    many = [big_png(files, f"many{k}.png") for k in range(6)]  # over a turn's budget alone
    assert bot.event(file_share_event("all of these", "C1", next_ts(), many, root))[0] == 200
    wait_queued(bot, sid, 8)
    gate.set()
    settle(bot, timeout=30)

    for call in model.calls[1:]:
        images = images_sent(call)
        assert len(images) <= 4, f"one turn sent {len(images)} files to the model"
        assert sum(map(len, images)) <= 350_000
    shown = [
        name
        for call in model.calls
        for block in call["messages"][-1]["content"]
        if "text" in block
        for name in sent
        if f"File {name} (image)" in block["text"]
    ]
    assert sorted(shown) == sorted(sent)  # every picture of a small message was seen...
    thread = fake_slack.thread_text("C1", root)
    left_out = [f["name"] for f in many if f"{f['name']}: left out" in thread]
    assert left_out == [f["name"] for f in many[3:]], thread  # ...the rest named in the thread
    fetched = [r.path.rsplit("/", 1)[-1] for r in files.requests]
    assert not set(left_out) & set(fetched)  # never downloaded
    assert len(fetched) == len(set(fetched)) == len(sent) + 3


def test_a_flood_into_one_busy_thread_is_capped_and_each_refusal_is_told(
    make_bot, fake_slack: FakeSlack
) -> None:
    gate = threading.Event()
    model = ScriptedModel(block_until=gate)
    bot = make_bot(model, THREAD_QUEUE_MAX="5")
    root = bot.mention("start")["ts"]
    model_called(model)
    sid = session_id("T1", "C1", root)
    events = [message_event(f"flood {i}", "C1", next_ts(), root) for i in range(16)]
    longest = [0]

    def post(event: dict) -> None:
        assert bot.event(event)[0] == 200
        longest[0] = max(longest[0], len(bot.runtime.state.queued(sid)))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(post, events))
    queued = bot.runtime.state.queued(sid)
    assert len(queued) == 5 and longest[0] <= 5  # the running turn's message is one of them
    refused = [e for e in events if e["ts"] not in {job.ts for job in queued}]
    assert len(refused) == 12
    notes = fake_slack.wait_for("chat.postEphemeral", count=12, timeout=10)
    assert {n.params["thread_ts"] for n in notes} == {root}
    assert all(n.params["user"] == "U1" and "not taken" in n.params["text"] for n in notes)
    status, _ = bot.event(refused[0], retry_num=1, retry_reason="http_timeout")  # a retry
    assert status == 200
    gate.set()
    settle(bot, timeout=20)
    assert len(fake_slack.calls("chat.postEphemeral")) == 12  # the retry was a duplicate
    prompts = {
        block["text"]
        for call in model.calls
        for message in call["messages"]
        for block in message["content"]
        if "text" in block
    }
    assert not {e["text"] for e in refused} & prompts  # never answered
    assert bot.runtime.state.queued(sid) == []


sizes = st.lists(st.lists(st.integers(0, 3_000_000), max_size=6), min_size=1, max_size=50)


@given(sizes, st.integers(1, 10), st.integers(1, 10_000_000))
def test_a_turn_takes_a_prefix_within_its_budget(files_per_job, max_files, max_bytes) -> None:
    """Whatever is queued, a turn takes its head in order, always at least one message,
    and more only while the files (by count and declared size) stay within the budget."""
    jobs = [
        Job(
            kind="turn",
            team="T1",
            channel="C1",
            thread_ts="1.0",
            ts=f"2.{i}",
            user="U1",
            files=tuple({"size": size} for size in job_sizes),
        )
        for i, job_sizes in enumerate(files_per_job)
    ]
    taken = take_batch(jobs, max_files, max_bytes, per_file=2_000_000)
    assert taken == jobs[: len(taken)] and taken
    if len(taken) > 1:
        assert sum(len(job.files) for job in taken) <= max_files
        assert sum(min(f["size"], 2_000_000) for job in taken for f in job.files) <= max_bytes
