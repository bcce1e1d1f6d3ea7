"""Replier: an answer part is posted once even when two processes hold the same answer
(a post slowed by Slack while another process replays it), against the strict fake Slack
and a durable inbox on disk."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

from bot.answer.reply import PostPending, Replier
from bot.jobs import Job
from bot.store.blobs import FileBlobs
from bot.store.inbox import POST_CLAIM_SECONDS, Inbox
from tests.fakes.slack_api import FakeSlack
from tests.support.conversation import replier
from tests.support.wait import wait_until

ANSWER = "The answer, posted once."


def answers_in(slack: FakeSlack, root: str) -> list[str]:
    """The texts of the answer posts Slack took in the thread `root`."""
    return [
        c.params.get("text", "")
        for c in slack.calls("chat.postMessage", False)
        if c.params.get("thread_ts") == root and c.params.get("text") == ANSWER
    ]


def two_processes(fake_slack: FakeSlack, tmp_path: Path) -> tuple[Replier, Replier, Job]:
    """Two Repliers sharing one durable inbox (two processes), and a job to answer."""
    inbox = Inbox(FileBlobs(tmp_path))
    first, second = (Replier(replier(fake_slack).clients, False, claims=inbox) for _ in "ab")
    root = fake_slack.add_message("C1", "question")
    return first, second, Job("turn", "T1", "C1", root, root, "U1", text="question")


def test_a_slow_post_and_a_replay_of_the_same_answer_post_it_once(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    slow, replaying, job = two_processes(fake_slack, tmp_path)
    entered, gate = threading.Event(), threading.Event()

    def held(call: Any) -> dict[str, Any]:
        if call.params.get("text") == ANSWER and not entered.is_set():
            entered.set()
            gate.wait(10)  # Slack is slow to take it (a 429's Retry-After, say)
        return fake_slack._default_response(call)

    fake_slack.set_response("chat.postMessage", held)
    posting = threading.Thread(target=slow.answer, args=(job, ANSWER))
    posting.start()
    wait_until(entered.is_set, 10, "the first process's chat.postMessage")
    replayed = dataclasses.replace(job, replayed=True)  # Redis lost it: the inbox replays it
    with pytest.raises(PostPending):  # Slack does not show it yet: not posted a second time
        replaying.answer(replayed, ANSWER)
    gate.set()
    posting.join(10)
    replaying.answer(replayed, ANSWER)  # the retry finds it in Slack
    assert answers_in(fake_slack, job.thread_ts) == [ANSWER]


def test_a_replayed_answer_waits_for_an_abandoned_claim_then_posts_it(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    _, survivor, job = two_processes(fake_slack, tmp_path)
    inbox = survivor.claims
    assert isinstance(inbox, Inbox) and inbox.claim_post(job, 0)  # its poster then died
    replayed = dataclasses.replace(job, replayed=True)
    with pytest.raises(PostPending):  # the claimant may still be posting it
        survivor.answer(replayed, ANSWER)
    assert answers_in(fake_slack, job.thread_ts) == []
    [claim] = [key for key in inbox.blobs.keys("inbox/") if ".post." in key]
    data, etag = inbox.blobs.get(claim) or (b"", None)
    old = {"at": json.loads(data)["at"] - POST_CLAIM_SECONDS}
    inbox.blobs.put(claim, json.dumps(old).encode(), etag)
    survivor.answer(replayed, ANSWER)
    assert answers_in(fake_slack, job.thread_ts) == [ANSWER]
    survivor.answer(replayed, ANSWER)  # and a late retry finds it in Slack
    assert answers_in(fake_slack, job.thread_ts) == [ANSWER]


def test_a_claim_left_by_a_dead_holder_of_the_thread_lock_is_posted_at_once(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """Not replayed: the thread lock passed on only because its holder died."""
    dead, survivor, job = two_processes(fake_slack, tmp_path)
    assert isinstance(dead.claims, Inbox) and dead.claims.claim_post(job, 0)
    survivor.answer(job, ANSWER)
    assert answers_in(fake_slack, job.thread_ts) == [ANSWER]


def test_a_post_slack_refused_gives_its_claim_up(fake_slack: FakeSlack, tmp_path: Path) -> None:
    first, _, job = two_processes(fake_slack, tmp_path)
    fake_slack.set_response("chat.postMessage", lambda call: {"ok": False, "error": "fatal_error"})
    with pytest.raises(SlackApiError):
        first.answer(job, ANSWER)
    assert isinstance(first.claims, Inbox) and first.claims.claim_post(job, 0)
