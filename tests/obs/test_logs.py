"""Logs: JSON lines (LOG_FORMAT=json) with the request's and the turn's context, secrets
redacted from every part of a line; the readable format shows the context compactly.

gunicorn's own lines as JSON, and the trace ids on lines, are checked on a real process in
tests/obs/test_telemetry.py::test_one_trace_per_turn_from_the_slack_event_to_the_post.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config.settings import ConfigError, load
from bot.obs import logs
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.support.processes import clean_env, run_to_exit

GOOD = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "s3cr3t"}
Lines = Callable[[], list[dict[str, Any]]]


def capture(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger(f"test.logs.{fmt}")
    logger.handlers[:] = [logs.handler(fmt, stream)]
    logger.propagate, logger.level = False, logging.DEBUG
    return logger, stream


def test_log_format_is_text_or_json() -> None:
    assert load(GOOD).log_format == "text"
    assert load({**GOOD, "LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT='xml'.*LOG_FORMAT=json"):
        load({**GOOD, "LOG_FORMAT": "xml"})


@pytest.mark.parametrize("fmt,variable", [("json", "SLACK_BOT_TOKEN"), ("xml", "LOG_FORMAT")])
def test_a_configuration_error_is_logged_in_the_chosen_format(
    fmt: str, variable: str, tmp_path: Path
) -> None:
    """Procfile `turns` in an empty directory (no .env): one line, then exit."""
    env = {**clean_env(), "LOG_FORMAT": fmt}
    if fmt == "xml":
        env["SLACK_BOT_TOKEN"] = "xoxb-1-2-abc"
    done = run_to_exit([sys.executable, "-m", "bot", "turns"], tmp_path, env)
    [line] = done.stderr.splitlines()
    assert done.returncode == 2 and variable in line, done.stderr
    if fmt == "json":
        assert json.loads(line)["level"] == "ERROR"
    else:  # LOG_FORMAT itself is wrong: said readably
        assert line.split()[2] == "ERROR" and "LOG_FORMAT=json" in line


def test_a_json_line_has_the_fields_and_the_context() -> None:
    logger, stream = capture("json")
    with logs.context(event_id="Ev1", session_id="T1_C1_1-2", ts="1.2"):
        logger.info("queued %s", "turn")
        with logs.context(turn_id="abc"):
            logs.bind(persona="critic")  # known later in the scope (bot.turns.conversation)
            logger.warning("inner")
        logger.info("outer again")
    logger.info("outside")
    logs.bind(persona="nowhere")  # outside any scope: dropped, never leaks into the thread
    first, inner, again, outside = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert first["message"] == "queued turn" and first["level"] == "INFO"
    assert first["logger"] == "test.logs.json" and isinstance(first["process"], int)
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert (first["event_id"], first["session_id"], first["message_ts"]) == (
        "Ev1",
        "T1_C1_1-2",
        "1.2",
    )
    assert (inner["turn_id"], inner["persona"], inner["event_id"]) == ("abc", "critic", "Ev1")
    assert "turn_id" not in again and "persona" not in again and again["event_id"] == "Ev1"
    assert not {"event_id", "session_id", "exception"} & set(outside)
    assert logs.current() == {}


def test_secrets_are_redacted_in_message_args_exception_and_context() -> None:
    logger, stream = capture("json")
    try:
        raise ValueError('call failed: {"token": "xoxb-111-222-secret"}')
    except ValueError:
        with logs.context(persona="xapp-1-A1-leak"):
            logger.exception("posting with %s and password=%s", "xoxb-9-8-arg", "hunter2")
    raw = stream.getvalue()
    for secret in ("111-222-secret", "9-8-arg", "hunter2", "A1-leak"):
        assert secret not in raw, raw
    [line] = [json.loads(text) for text in raw.splitlines()]  # still valid JSON
    assert line["message"] == "posting with xox?-[redacted] and password=[redacted]"
    assert "ValueError" in line["exception"] and "Traceback" in line["exception"]
    assert '"token": "[redacted]' in line["exception"] and line["persona"] == "xapp-[redacted]"


def test_the_readable_format_shows_the_context_compactly_and_redacts_tracebacks() -> None:
    logger, stream = capture("text")
    with logs.context(session_id="T1_C1_1-2", turn_id="abc"):
        try:
            raise RuntimeError("api_key=sk-live-1")
        except RuntimeError:
            logger.error("turn failed", exc_info=True)
    text = stream.getvalue()
    assert "test.logs.text [session=T1_C1_1-2 turn=abc]: turn failed" in text
    assert "api_key=[redacted]" in text and "sk-live-1" not in text


def test_contexts_belong_to_the_thread_that_sets_them() -> None:
    seen: list[dict[str, str]] = []
    with logs.context(session_id="S1"):
        thread = threading.Thread(target=lambda: seen.append(logs.current()))
        thread.start()
        thread.join()
    assert seen == [{}]  # a pool thread sets its own (bot.turns.worker)
    with pytest.raises(TypeError, match="sessionid"), logs.context(sessionid="typo"):
        pass


# --- the bot's own lines on the request path and the turn path -------------------------
@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """Every record logged anywhere in this process, as the JSON lines LOG_FORMAT=json
    writes (the in-process bot shares pytest's process, so its root logger)."""
    stream = io.StringIO()
    handler = logs.handler("json", stream)
    root, strands = logging.getLogger(), logging.getLogger("strands")
    levels = root.level, strands.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    strands.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(levels[0])
    strands.setLevel(levels[1])


def test_request_and_turn_lines_carry_their_context(
    make_bot: Callable[..., Any], fake_slack: FakeSlack, json_lines: Lines
) -> None:
    failure = RuntimeError("provider refused api_key=sk-live-42")
    bot = make_bot(ScriptedModel([failure, failure]))
    first = bot.mention("hello", event_id="EvFirst")
    fake_slack.wait_for("chat.postMessage")  # the apology
    second = bot.mention("again", channel="C2", event_id="EvSecond")
    fake_slack.wait_for("chat.postMessage", count=2)
    lines = json_lines()
    [queued] = [line for line in lines if line["message"].startswith("queued turn EvFirst")]
    assert (queued["event_id"], queued["message_ts"]) == ("EvFirst", first["ts"])
    assert queued["session_id"] == f"T1_C1_{first['ts'].replace('.', '-')}"
    assert "turn_id" not in queued and "persona" not in queued  # the request path
    failed = [
        line
        for line in lines
        if line["message"].startswith("session ") and "turn failed" in line["message"]
    ]
    assert [line["message_ts"] for line in failed] == [first["ts"], second["ts"]]
    assert all(line["persona"] == "default" and line["level"] == "ERROR" for line in failed)
    assert all(line["thread"].startswith("turn") for line in failed)
    assert all("sk-live-42" not in json.dumps(line) for line in lines)
    assert "api_key=[redacted]" in failed[0]["exception"]
    first_turn, second_turn = (line["turn_id"] for line in failed)
    assert first_turn != second_turn
    assert failed[1]["session_id"] == f"T1_C2_{second['ts'].replace('.', '-')}"
    # Strands' own lines, logged on its own thread inside the turn, carry the turn too
    strands = [
        line
        for line in lines
        if line["logger"].startswith("strands") and line.get("turn_id") == first_turn
    ]
    assert strands and {line["thread"] for line in strands} - {failed[0]["thread"]}
