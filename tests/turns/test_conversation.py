"""One thread's turns, driven through Conversation directly: what the thread shows after
each, against the strict fake Slack (status, streamed answer, final message, apologies)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bot.answer.stop import request_stop
from bot.answer.stream_messages import stream_key
from bot.turns.failures import MODEL_FAILED, STORAGE_FAILED
from tests.fakes.model import PoisonedModel, ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.support.bot import model_called, slow
from tests.support.conversation import thread

ANSWER = "A streamed answer arrives a few words at a time, then stays. " * 4


def test_a_turn_shows_the_status_then_streams_then_leaves_the_final_answer(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    chat = thread(fake_slack, tmp_path, slow(ANSWER))
    chat.drain([chat.job("explain")])
    methods = [call.method for call in fake_slack.calls()]
    assert methods.index("agents.sessions.setStatus") < methods.index("chat.startStream")
    assert methods.count("chat.appendStream") >= 1 and "chat.postMessage" not in methods
    [shown] = fake_slack.bot_messages("C1", chat.root)
    assert shown.text == ANSWER.strip() and shown.has_feedback
    assert fake_slack.stale_messages() == []
    assert chat.state.fact(stream_key(chat.job(""))) is None  # nothing left for a retry


def test_a_transient_error_before_the_last_attempt_raises_and_shows_nothing(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    model = ScriptedModel([OSError("the disk went away"), "the answer"])
    chat = thread(fake_slack, tmp_path, model)
    with pytest.raises(OSError):
        chat.drain([chat.job("go")], final_attempt=False)  # the worker retries it later
    assert fake_slack.bot_messages("C1", chat.root) == []
    # the retry will set it processing again: meanwhile no session is left processing
    assert fake_slack.agent_sessions.statuses("C1", chat.root) == ["processing", "active"]
    chat.drain([chat.job("go")])
    assert fake_slack.thread_text("C1", chat.root) == "the answer"
    assert model.calls[-1]["messages"] == [{"role": "user", "content": [{"text": "go"}]}]


def test_a_retry_finishes_the_message_a_failed_attempt_streamed(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    model = slow({"text": "partial answ", "then_raise": OSError("disk went away")}, ANSWER)
    chat = thread(fake_slack, tmp_path, model)
    with pytest.raises(OSError):
        chat.drain([chat.job("go")], final_attempt=False)
    assert chat.state.fact(stream_key(chat.job(""))) is not None  # the retry finds it
    chat.drain([chat.job("go")])
    [shown] = fake_slack.bot_messages("C1", chat.root)
    assert shown.text == ANSWER.strip() and fake_slack.stale_messages() == []
    assert len(fake_slack.calls("chat.startStream")) == 1


# Exception types, not instances: a raised instance keeps its traceback (and the turn's
# agent) alive for as long as the test module's parameters live.
@pytest.mark.parametrize(
    ("error_type", "apology"), [(OSError, STORAGE_FAILED), (RuntimeError, MODEL_FAILED)]
)
def test_the_last_attempt_apologises_in_the_thread(
    fake_slack: FakeSlack, tmp_path: Path, error_type: type[Exception], apology: str
) -> None:
    error = error_type("the provider or the disk broke")
    chat = thread(fake_slack, tmp_path, ScriptedModel([error]))
    chat.drain([chat.job("go")], final_attempt=True)
    [shown] = fake_slack.bot_messages("C1", chat.root)
    assert shown.text == apology.format(reason=type(error).__name__)
    assert not shown.has_feedback and fake_slack.stale_messages() == []


def test_a_poisoned_batch_answers_the_others_and_apologises_once(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    model = PoisonedModel()
    chat = thread(fake_slack, tmp_path, model, text="start")
    chat.drain([chat.job("start")])
    queued = [chat.reply(text) for text in ("good one", "poison pill", "good two")]
    chat.drain(queued)
    shown = [m.text for m in fake_slack.bot_messages("C1", chat.root)]
    assert len(shown) == 4, shown
    assert "good one" in shown[1] and "good two" in shown[3]
    assert shown[2] == MODEL_FAILED.format(reason="ValueError")
    assert fake_slack.stale_messages() == []
    history = str(model.calls[-1]["messages"])
    assert "good one" in history and "poison" not in history


def test_stopping_mid_answer_keeps_the_partial_text_marked_stopped(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    model = slow("word " * 400, chars=5, delay=0.02)
    chat = thread(fake_slack, tmp_path, model)
    turn = threading.Thread(target=chat.drain, args=([chat.job("ramble")],))
    turn.start()
    model_called(model)
    fake_slack.wait_for("chat.appendStream")
    request_stop(chat.state, chat.job("").session_id, chat.root)
    turn.join(timeout=30)
    assert not turn.is_alive()
    [shown] = fake_slack.bot_messages("C1", chat.root)
    assert shown.text.endswith("_(stopped)_") and len(shown.text) < len("word " * 400)
    assert fake_slack.stale_messages() == []
