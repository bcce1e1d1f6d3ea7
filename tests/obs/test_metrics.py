"""Metrics (bot/obs/metrics.py): the endpoint's token rule, and what real turns of in-process
bots (tests/support/harness.py) count, outcome labels included. The real processes, scraped over
HTTP: tests/obs/test_metrics_processes.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import pytest
from strands import Agent

from bot.answer.stop import stop_key
from bot.config import settings as config
from bot.config.settings import ConfigError
from bot.jobs import Job, session_id
from bot.obs import metrics_endpoint
from bot.serve.web import WebApp
from bot.store.memory_state import MemoryState
from bot.store.redis_state import RedisState, connect
from bot.store.sessions import FencingError, SessionStore
from bot.turns.inputs.files import read_files
from tests.fakes.file_server import FileServer
from tests.fakes.model import ScriptedModel
from tests.fakes.s3_server import FaultyProxy
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import FILE_SNIPPET, slack_file
from tests.support.bot import personas_file, settle, slow
from tests.support.harness import SECRET, Bot, base_env, mention_event, now_ts
from tests.support.metrics import TOKEN, in_process, parse, value
from tests.support.wait import wait_until

here = in_process


# --- the endpoint ------------------------------------------------------------------------
def call(app, path: str = "/metrics", authorization: str | None = None) -> tuple[str, bytes]:  # noqa: ANN001
    environ: dict = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    return status[0], body


def test_metrics_are_off_without_a_token_and_need_the_bearer_token(make_bot) -> None:
    bot = make_bot()
    state = bot.runtime.state
    unset = WebApp(bot.app, bot.runtime.health, SECRET, metrics_endpoint.Endpoint("", state))
    assert call(unset)[0].startswith("404")  # create_app() with METRICS_TOKEN unset
    assert call(WebApp(bot.app, bot.runtime.health, SECRET))[0].startswith("404")
    on = WebApp(bot.app, bot.runtime.health, SECRET, metrics_endpoint.Endpoint(TOKEN, state))
    assert call(on)[0].startswith("401")
    assert call(on, authorization="Bearer wrong")[0].startswith("401")
    assert call(on, authorization=TOKEN)[0].startswith("401")  # no scheme
    assert call(on, authorization=f"Basic {TOKEN}")[0].startswith("401")
    status, body = call(on, authorization=f"Bearer {TOKEN}")
    assert status.startswith("200"), status
    samples = parse(body.decode())
    assert value(samples, "tsb_queued_messages") == 0.0
    assert ("tsb_oldest_queued_message_age_seconds", ()) in samples


def test_metrics_port_needs_the_token() -> None:
    env = base_env("http://127.0.0.1:1/", METRICS_PORT="9100")
    with pytest.raises(ConfigError, match="METRICS_PORT is set but METRICS_TOKEN is not"):
        config.load(env, socket_mode=False)
    loaded = config.load({**env, "METRICS_TOKEN": TOKEN})
    assert (loaded.metrics_port, loaded.metrics_token) == (9100, TOKEN)
    assert config.load(base_env("http://127.0.0.1:1/")).metrics_token == ""


# --- outcomes, in process ----------------------------------------------------------------
def test_model_errors_answers_tools_tokens_slack_calls_and_dedup_are_counted(
    make_bot, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    model = ScriptedModel(
        [RuntimeError("boom"), {"tool": "calculator", "input": {"expression": "2+2"}}, "Four."]
    )
    bot = make_bot(model, PERSONAS_FILE=personas_file(tmp_path))
    before = here()

    def moved(name: str, **labels: str) -> float:
        return value(here(), name, **labels) - value(before, name, **labels)

    bot.mention("fail please", ts=now_ts())
    fake_slack.wait_for("chat.postMessage")  # the apology
    fake_slack.fail_next("chat.postMessage", times=1, status=429, retry_after=0)
    event = mention_event("2+2?", "C1", now_ts())
    assert bot.event(event, event_id="Ev0METRICS1")[0] == 200
    assert bot.event(event, event_id="Ev0METRICS1", retry_num=1)[0] == 200  # a retry
    fake_slack.wait_for("chat.postMessage", count=2, timeout=15)
    settle(bot)
    assert moved("tsb_turns_total", persona="calc", outcome="model_error") == 1
    assert moved("tsb_turns_total", persona="calc", outcome="answered") == 1
    assert moved("tsb_turn_seconds_count", persona="calc") == 2
    assert moved("tsb_lock_wait_seconds_count") == 2
    assert moved("tsb_first_text_seconds_count") == 1  # the answer (not the apology)
    assert moved("tsb_model_call_seconds_count", persona="calc") == 3  # failed, tool, answer
    assert moved("tsb_tool_calls_total", persona="calc", tool="calculator", status="success") == 1
    assert moved("tsb_model_tokens_total", persona="calc", type="output") == 1  # "Four."
    assert moved("tsb_dedup_hits_total", kind="turn") == 1
    assert moved("tsb_slack_api_calls_total", method="chat.postMessage") == 3  # with the 429
    assert moved("tsb_slack_api_errors_total", method="chat.postMessage", error="ratelimited") == 1


def test_a_stopped_answer_is_counted_as_stopped(make_bot, fake_slack: FakeSlack) -> None:
    before = here()
    bot = make_bot(slow("word " * 400, chars=5, delay=0.02), STREAMING="on")
    root = bot.mention("ramble", ts=now_ts())
    fake_slack.wait_for("chat.appendStream")
    bot.runtime.state.set_fact(stop_key(session_id("T1", "C1", root["ts"])), root["ts"])
    fake_slack.wait_for("chat.stopStream", timeout=15)
    settle(bot)
    after = here()
    for name, labels in (
        ("tsb_turns_total", {"persona": "default", "outcome": "stopped"}),
        ("tsb_first_text_seconds_count", {}),
    ):  # the streamed text
        assert value(after, name, **labels) == value(before, name, **labels) + 1, name


def test_a_storage_error_is_counted_and_the_retry_answers(
    make_bot, fake_slack: FakeSlack, session_dir: Path
) -> None:
    model = ScriptedModel(block_until=threading.Event())
    bot = make_bot(model)  # file sessions under session_dir
    before = here()
    root = bot.mention("remember this", ts=now_ts())
    wait_until(lambda: model.calls, 10, "the model call")
    blocker = session_dir / "session" / session_id("T1", "C1", root["ts"])
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the session's directory goes: its write fails")
    model.block_until.set()
    wait_until(
        lambda: (
            value(here(), "tsb_turns_total", persona="default", outcome="storage_error")
            > value(before, "tsb_turns_total", persona="default", outcome="storage_error")
        ),
        10,
        "the failed attempt counted",
    )
    blocker.unlink()  # the worker retries the turn a second later
    fake_slack.wait_for("chat.postMessage", timeout=15)
    settle(bot)
    after = here()
    for outcome in ("storage_error", "answered"):
        assert (
            value(after, "tsb_turns_total", persona="default", outcome=outcome)
            == value(before, "tsb_turns_total", persona="default", outcome=outcome) + 1
        ), outcome


def test_s3_requests_are_counted_by_operation_and_status_retries_included(
    fake_slack: FakeSlack, s3_server, s3_env, session_dir, monkeypatch
) -> None:  # noqa: ANN001
    before = here()
    with FaultyProxy(s3_server.endpoint_url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        model = ScriptedModel(block_until=threading.Event())
        env = base_env(
            fake_slack.base_url,
            SESSION_DIR=str(session_dir),
            **{k: v for k, v in s3_env.items() if k.startswith("SESSION")},
        )
        with Bot(env, model) as bot:
            bot.mention("remember this", ts=now_ts())
            wait_until(lambda: model.calls, 10, "the model call")
            proxy.fail_next(1, status=503)  # the commit's PUT, retried by botocore
            model.block_until.set()
            fake_slack.wait_for("chat.postMessage", timeout=30)
            settle(bot)
        puts = [path for method, path in proxy.requests if method == "PUT"]
    after = here()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("tsb_s3_requests_total", operation="PutObject", status="503") == 1
    assert moved("tsb_s3_requests_total", operation="PutObject", status="200") == len(puts) - 1
    assert moved("tsb_s3_requests_total", operation="GetObject", status="404") >= 1  # new thread
    assert moved("tsb_turns_total", persona="default", outcome="answered") == 1


def test_queue_stats_count_queued_messages_and_the_oldest_age(redis_url: str) -> None:
    for state in (MemoryState(), RedisState(connect(redis_url))):
        assert state.queue_stats() == (0, 0.0)
        sent = time.time() - 30
        jobs = [
            Job("turn", "T1", "C1", f"{sent:.6f}", f"{sent + i:.6f}", "U1", text="hi")
            for i in range(3)
        ] + [Job("turn", "T1", "C2", "1.1", f"{time.time():.6f}", "U1")]
        for job in jobs:
            assert state.accept(job, [f"msg:{job.channel}:{job.ts}"])
        count, oldest = state.queue_stats()
        assert count == 4 and 29 < oldest < 40, (type(state).__name__, count, oldest)
        lease = state.try_lease(jobs[0].session_id)
        state.finish(lease, jobs[:3])
        count, oldest = state.queue_stats()
        assert count == 1 and oldest < 5


def test_fencing_refusals_and_lock_takeovers_are_counted(redis_url: str, session_dir: Path) -> None:
    before = here()
    store = SessionStore(bucket=None, prefix="", directory=session_dir)
    managers = [store.manager("T1_C1_5-1") for _ in range(2)]
    agents = [
        Agent(model=ScriptedModel(), session_manager=manager, callback_handler=None)
        for manager in managers
    ]
    for agent in agents:
        agent("first")
    managers[0].commit(agents[0])
    with pytest.raises(FencingError):  # the file store's If-None-Match: * refused
        managers[1].commit(agents[1])
    state = RedisState(connect(redis_url), lock_ttl=3)
    lease = state.try_lease("T1_C1_5-2")
    lease.start_watchdog()
    state.client.set(lease._lock.name, "another-holder")  # as if it expired and was taken
    assert lease.lost.wait(5)
    lease.stop_watchdog()
    after = here()
    assert (
        value(after, "tsb_fencing_refusals_total")
        == value(before, "tsb_fencing_refusals_total") + 1
    )
    assert (
        value(after, "tsb_lock_takeovers_total", reason="taken_over")
        == value(before, "tsb_lock_takeovers_total", reason="taken_over") + 1
    )


def test_file_downloads_are_counted_among_the_slack_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files come from files.slack.com through urllib, not the WebClient: counted apart."""
    before = here()
    with FileServer(token="xoxb-file-token") as server:
        monkeypatch.setenv("SLACK_FILE_HOSTS", server.url("").rstrip("/"))
        good = server.add("/files-pri/T1-F3/download/notes.txt", b"hug a kitten", "text/plain")
        files = [slack_file("notes.txt", good, "text/plain", "text", 12, source=FILE_SNIPPET)]
        assert read_files(files, "xoxb-file-token", "openai").problems == []
        assert read_files(files, "xoxb-wrong-token", "openai").problems  # the server: 403
    after = here()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("tsb_slack_api_calls_total", method="files.download") == 2
    errors = {
        dict(labels).get("error"): count - before.get((name, labels), 0.0)
        for (name, labels), count in after.items()
        if name == "tsb_slack_api_errors_total" and dict(labels).get("method") == "files.download"
    }
    assert {error for error, count in errors.items() if count} == {"http_403"}, errors
