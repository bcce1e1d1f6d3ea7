"""What an answer leaves in the thread, as a user sees it, against the strict fake Slack:
answers of any length whole and once, one Markdown format, every failure ending final."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis

from bot.answer import stream as stream_module
from bot.answer.slack_format import PART_CHARS
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.support.bot import settle
from tests.support.harness import Bot, now_ts

MAX_CALL_CHARS = 12_000  # markdown_text per call (docs.slack.dev/reference/methods/chat.*Stream)


def long_text(chars: int) -> str:
    lines, i = [], 0
    while sum(len(line) + 1 for line in lines) < chars:
        lines.append(f"line {i:05d}: " + "x" * 80)
        i += 1
    return "\n".join(lines)


def streaming_bot(make_bot, model: ScriptedModel, **env: str) -> Bot:
    return make_bot(model, STREAMING="on", **env)


def slow(*replies, chars: int = 8, delay: float = 0.02, **kw) -> ScriptedModel:
    return ScriptedModel(list(replies), token_chars=chars, token_delay=delay, **kw)


def sent_texts(slack: FakeSlack) -> list[str]:
    """Every piece of Markdown text the bot sent to Slack, call by call."""
    texts = []
    for call in slack.calls():
        params = call.params
        texts.append(params.get("markdown_text") or "")
        chunks = params.get("chunks") or []
        texts += [c.get("text", "") for c in chunks if c.get("type") == "markdown_text"]
        blocks = params.get("blocks") or []
        blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
        texts.append("".join(b.get("text", "") for b in blocks if b.get("type") == "markdown"))
    return texts


def assert_final(slack: FakeSlack, root: str, answer: str, votes: bool = True) -> None:
    """The thread shows `answer` whole, once, final: nothing streaming, no Stop, no empty
    message, 👍/👎 on the last message only."""
    shown = slack.bot_messages("C1", root)
    assert slack.stale_messages() == [], slack.stale_messages()
    assert "\n".join(m.text for m in shown).split() == answer.split()
    assert [m.has_feedback for m in shown] == [False] * (len(shown) - 1) + [votes]
    parts = [m.metadata["event_payload"] for m in shown]
    assert [p["part"] for p in parts] == list(range(len(shown)))
    assert {p["for_ts"] for p in parts} == {root} and {p["parts"] for p in parts} == {len(shown)}


@pytest.mark.parametrize("chars", [6_000, 15_000, 45_000])
def test_a_streamed_answer_of_any_length_arrives_whole_and_once(
    make_bot, fake_slack, chars: int
) -> None:
    answer = long_text(chars)
    bot = streaming_bot(make_bot, slow(answer, chars=2_000, delay=0.01))
    root = bot.mention("write a lot")["ts"]
    fake_slack.wait_for("chat.startStream")
    settle(bot, timeout=30)
    assert_final(fake_slack, root, answer)
    assert len(fake_slack.bot_messages("C1", root)) == -(-chars // PART_CHARS)
    assert all(len(text) <= MAX_CALL_CHARS for text in sent_texts(fake_slack))
    assert fake_slack.calls(include_failed=True) == fake_slack.calls(include_failed=False)


@pytest.mark.parametrize("chars", [6_000, 45_000])
def test_a_posted_answer_of_any_length_arrives_whole_and_once(
    make_bot, fake_slack, chars: int
) -> None:
    answer = long_text(chars)
    bot = make_bot(ScriptedModel([answer]))  # STREAMING=off
    root = bot.mention("write a lot")["ts"]
    fake_slack.wait_for("chat.postMessage")
    settle(bot, timeout=30)
    assert_final(fake_slack, root, answer)
    assert fake_slack.calls("chat.startStream") == []


def test_a_stream_rolls_over_before_slack_ends_it(
    make_bot, fake_slack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack ends a stream after about five minutes (here compressed to 1.5 s): a longer
    answer continues in a new streamed message before that, and all of it ends final."""
    fake_slack.stream_lifetime = 1.5
    monkeypatch.setattr(stream_module, "ROLLOVER_SECONDS", 0.6)
    answer = " ".join(f"word{i}" for i in range(300))
    bot = streaming_bot(make_bot, slow(answer, chars=12, delay=0.02))  # about 4 s of text
    root = bot.mention("take your time")["ts"]
    settle(bot, timeout=30)
    shown = fake_slack.bot_messages("C1", root)
    assert len(shown) >= 3
    assert_final(fake_slack, root, answer)
    failed = [c for c in fake_slack.calls() if c.status != 200 or c.method == "chat.delete"]
    assert failed == []  # no call met an expired stream, nothing was replaced


FORMATTED = """**Bold** and _italics_, a [link](https://example.com) and `inline code`.

- one
- two

1. first
2. second

```python
print("hello")
```

| name | value |
| --- | --- |
| a | 1 |
"""


@pytest.mark.parametrize("streaming", ["on", "off"])
def test_what_streams_and_what_stays_are_the_same_markdown(
    make_bot, fake_slack, streaming: str
) -> None:
    bot = make_bot(slow(FORMATTED, chars=7), STREAMING=streaming)
    root = bot.mention("format please")["ts"]
    fake_slack.wait_for("chat.update" if streaming == "on" else "chat.postMessage", timeout=15)
    settle(bot)
    [final] = fake_slack.bot_messages("C1", root)
    assert final.text == FORMATTED.strip() and final.has_feedback
    streamed = "".join(
        c.get("text", "")
        for call in fake_slack.calls()
        if call.method in ("chat.startStream", "chat.appendStream")
        for c in call.params.get("chunks") or []
        if c["type"] == "markdown_text"
    )
    assert streamed.strip() == (FORMATTED.strip() if streaming == "on" else "")
    kinds = [
        b["type"]
        for b in fake_slack.calls("chat.update" if streaming == "on" else "chat.postMessage")[
            -1
        ].params["blocks"]
    ]
    assert kinds == ["markdown", "context_actions"]  # Markdown, as streamed; no mrkdwn
    system = bot.runtime.personas.default_for("C1").system_prompt
    assert "standard Markdown" in system and "mrkdwn" not in system


def test_a_network_error_mid_stream_never_starts_a_second_message(make_bot, fake_slack) -> None:
    """An append that fails without a Slack answer (the connection drops) ends streaming for
    this answer; the one message is stopped and finished, never a second stream."""
    drops = []

    def drop_connection(call):  # three times: past slack_sdk's connection-error retries
        if len(drops) < 3:
            drops.append(call)
            raise ConnectionAbortedError("the connection dropped")
        return fake_slack._default_response(call)

    fake_slack.set_response("chat.appendStream", drop_connection)
    answer = "A steady answer, " * 40
    bot = streaming_bot(make_bot, slow(answer, chars=6, delay=0.02))
    root = bot.mention("go on")["ts"]
    fake_slack.wait_for("chat.update", timeout=20)
    settle(bot)
    assert len(drops) == 3 and len(fake_slack.calls("chat.startStream")) == 1
    assert_final(fake_slack, root, answer)


@pytest.mark.parametrize("error", ["block_mismatch", "streaming_state_conflict"])
def test_a_message_slack_will_not_update_is_replaced(make_bot, fake_slack, error: str) -> None:
    refused = threading.Event()

    def refuse_always(call):
        refused.set()
        return {"ok": False, "error": error}

    fake_slack.set_response("chat.update", refuse_always)
    answer = "An answer whose message cannot be edited."
    bot = streaming_bot(make_bot, slow(answer))
    root = bot.mention("try me")["ts"]
    fake_slack.wait_for("chat.postMessage", timeout=20)
    settle(bot)
    assert refused.is_set()
    assert_final(fake_slack, root, answer)
    assert len(fake_slack.calls("chat.delete")) == 1


def test_redis_emptied_between_attempts_the_retry_finishes_the_first_message(
    make_bot, fake_slack, redis_url: str
) -> None:
    """The stream's ts is noted in the durable inbox too: after Redis lost every key, the
    message replayed from the inbox finishes the half-streamed message instead of leaving
    it (still showing Stop) beside a second answer."""
    model = slow(
        {"text": "partial answ", "then_raise": OSError("disk went away")}, "the whole answer"
    )
    bot = streaming_bot(make_bot, model)
    root = bot.mention("go", ts=now_ts())["ts"]  # the inbox replays the last hour
    fake_slack.wait_for("chat.appendStream", timeout=15)
    deadline = time.monotonic() + 10
    while (
        len(model.calls) < 1
        or bot.runtime.worker.conversation.state.fact(
            f"stream:T1_C1_{root.replace('.', '-')}:{root}"
        )
        is None
    ):
        assert time.monotonic() < deadline, "the stream was never shared"
        time.sleep(0.02)
    time.sleep(0.3)  # the first attempt has failed and waits to retry
    redis.Redis.from_url(redis_url).flushall()
    deadline = time.monotonic() + 30
    while not any(m.has_feedback for m in fake_slack.bot_messages("C1", root)):
        assert time.monotonic() < deadline, fake_slack.summary()
        time.sleep(0.1)
    settle(bot, timeout=15)
    assert_final(fake_slack, root, "the whole answer")
    assert len(fake_slack.calls("chat.startStream")) == 1


def test_a_stream_redis_could_not_remember_is_finished_by_the_retry(
    make_bot, fake_slack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis fails while the stream opens (its ts is only in the durable inbox), then the
    turn fails: the retry finds the message in storage and finishes it (found by the soak:
    a message left streaming beside a second answer)."""
    model = slow(
        {"text": "partial answ", "then_raise": OSError("disk went away")}, "the whole answer"
    )
    bot = streaming_bot(make_bot, model)
    state = bot.runtime.worker.conversation.state
    remember = state.set_fact

    def redis_down_for_streams(key: str, value: str | None, **kw) -> None:
        if key.startswith("stream:") and value is not None:
            raise redis.ConnectionError("Error 111 connecting: Connection refused.")
        remember(key, value, **kw)

    monkeypatch.setattr(state, "set_fact", redis_down_for_streams)
    root = bot.mention("go")["ts"]
    fake_slack.wait_for("chat.update", timeout=20)
    settle(bot, timeout=15)
    assert_final(fake_slack, root, "the whole answer")
    assert len(fake_slack.calls("chat.startStream")) == 1 and len(model.calls) == 2


def test_a_stored_answer_replayed_with_a_newer_message_queued_finishes_its_own_stream(
    make_bot, fake_slack
) -> None:
    """The answer was stored but Slack failed its final update; a newer message is queued
    meanwhile, so the retry's batch ends with another message: the stored answer still
    finishes the message that streamed it (found by the soak: a message left streaming)."""
    fake_slack.fail_next("chat.update", times=3, status=500)  # past slack_sdk's retries
    model = slow("the first answer", "the second answer")
    bot = streaming_bot(make_bot, model)
    root = bot.mention("first")["ts"]
    fake_slack.wait_for("chat.update", include_failed=True, timeout=15)
    bot.reply("second", thread_ts=root)
    deadline = time.monotonic() + 30
    while len([m for m in fake_slack.bot_messages("C1", root) if m.has_feedback]) < 2:
        assert time.monotonic() < deadline, fake_slack.summary()
        time.sleep(0.1)
    settle(bot, timeout=15)
    assert fake_slack.stale_messages() == []
    shown = fake_slack.bot_messages("C1", root)
    assert [m.text for m in shown] == ["the first answer", "the second answer"]
    assert len(model.calls) == 2
