"""Tracing: off unless configured; one trace per turn, exported over real OTLP/HTTP.

The process test runs the Procfile's split: a gunicorn `web` with PROCESS_ROLE=accept (the
Slack event is accepted in its request thread) and a `python -m bot turns` process (the turn
runs on its worker thread), exporting to a fake collector on loopback that decodes the
ExportTraceServiceRequest protobufs.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config.settings import ConfigError, load
from bot.jobs import Job
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.otlp_collector import OTLPCollector, Span
from tests.fakes.signing import post_interactive
from tests.fakes.slack_api import FakeSlack
from tests.support.approvals import click_payload, request
from tests.support.bot_process import BotProcess, bot_env
from tests.support.harness import SECRET, mention_event, message_event, next_ts
from tests.support.mcp_servers import stdio_command
from tests.support.processes import start_turns, wait_posts
from tests.support.questions import click, question
from tests.support.wait import wait_until

GOOD = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "s3cr3t"}
PERSONAS = """
[[persona]]
id = "calc"
name = "Calc"
system_prompt = "You compute."
tools = ["calculator"]
"""
PRODUCER, CONSUMER = 4, 5  # OTLP SpanKind numbers


@pytest.mark.parametrize(
    "env,expected",
    [
        ({}, ()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, ("console", "otlp")),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, ()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, ()),
    ],
)
def test_tracing_is_off_unless_the_otel_variables_ask(
    env: dict[str, str], expected: tuple[str, ...]
) -> None:
    assert load({**GOOD, **env}).traces == expected


def test_an_unsupported_exporter_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER='zipkin'.*otlp"):
        load({**GOOD, "OTEL_TRACES_EXPORTER": "zipkin"})


def test_jobs_without_trace_serialize_as_before_and_old_jobs_load() -> None:
    old = (
        '{"kind":"turn","team":"T1","channel":"C1","thread_ts":"1.0","ts":"1.0",'
        '"user":"U1","text":"hi","persona":null,"reply_in_thread":true,"requested_in":"C1"}'
    )
    job = Job.loads(old)
    assert job.trace == {} and job.dumps() == old
    traced = Job.loads(
        old[:-1]
        + ',"trace":{"traceparent":"00-'
        + "1" * 32
        + "-"
        + "2" * 16
        + '-01","queued_at":"1700000000.5"}}'
    )
    assert traced.trace["queued_at"] == "1700000000.5"
    assert Job.loads(traced.dumps()) == traced and traced.dumps() != old


# --- one trace per turn, over real OTLP/HTTP -------------------------------------------
def _reply(body: dict[str, Any]) -> Any:
    """A tool call, then the answer once the tool's result is in."""
    if body["messages"][-1].get("role") == "tool":
        return "It is 4."
    return {"tool": "calculator", "input": {"expression": "2+2"}}


@pytest.fixture
def collector() -> Iterator[OTLPCollector]:
    with OTLPCollector() as server:
        yield server


def _one(spans: list[Span], name: str, **where: Any) -> Span:
    found = [
        s for s in spans if s.name == name and all(getattr(s, k) == v for k, v in where.items())
    ]
    assert len(found) == 1, (name, where, [(s.name, s.parent_id) for s in spans])
    return found[0]


def _accepts(spans: list[Span]) -> dict[str, Span]:
    return {s.attributes["bot.message_ts"]: s for s in spans if s.name == "slack.event"}


def _json_lines(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is one JSON object


def traced_env(
    fake_slack: FakeSlack,
    redis_url: str,
    s3_env: dict[str, str],
    openai: FakeOpenAI,
    collector: OTLPCollector,
    personas: Path,
    **extra: str,
) -> dict[str, str]:
    """A bot process's environment, its spans exported to `collector` every 100 ms."""
    return bot_env(
        fake_slack.base_url,
        redis_url,
        s3_env,
        openai.base_url,
        PERSONAS_FILE=str(personas),
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",
        **extra,
    )


def test_one_trace_per_turn_from_the_slack_event_to_the_post(
    redis_url: str,
    s3_env: dict[str, str],
    fake_slack: FakeSlack,
    collector: OTLPCollector,
    tmp_path: Path,
) -> None:
    personas = tmp_path / "personas.toml"
    personas.write_text(PERSONAS)
    with FakeOpenAI(_reply) as openai:
        env = traced_env(
            fake_slack, redis_url, s3_env, openai, collector, personas,
            LOG_FORMAT="json", LOG_LEVEL="INFO",
        )  # fmt: skip
        web = BotProcess("web", {**env, "PROCESS_ROLE": "accept"}, tmp_path).start()
        turns = None
        try:
            web.wait_ready()
            root, reply = next_ts(), next_ts()
            web.send(mention_event("what is 2+2?", "C1", root), event_id="EvA")
            web.send(
                message_event("and twice that?", "C1", reply, thread_ts=root), event_id="EvB"
            )  # queued too: no turns process yet, so coalesced
            turns = start_turns(web.env, tmp_path)
            wait_posts(fake_slack, root, 1)
            later = next_ts()
            web.send(message_event("again?", "C1", later, thread_ts=root), event_id="EvC")
            wait_posts(fake_slack, root, 2)
            openai.fail_next(1, status=400)  # a model error: not retried, apologised for
            failing = next_ts()
            web.send(message_event("break?", "C1", failing, thread_ts=root), event_id="EvD")
            wait_posts(fake_slack, root, 3)
            # a turn span ends last, after its children; the accept spans come from the web
            # process, whose exporter may send its last batch after the turns process
            spans = collector.wait_for(
                lambda got: (
                    len([s for s in got if s.name == "turn"]) == 3
                    and len(_accepts(got)) == 4
                    and got
                )
            )
        finally:
            if turns is not None:
                turns.send_signal(signal.SIGTERM)
                turns.wait(30)
            web.cleanup()
    check_trace(spans, root, reply, later)
    broken = _one(spans, "turn", trace_id=_accepts(spans)[failing].trace_id)
    assert broken.attributes["bot.outcome"] == "model_error" and broken.status_code == 2
    assert "exception" in broken.events
    exported = b"".join(collector.bodies)
    assert b"twice that" not in exported and b"It is 4" not in exported  # no conversation
    check_logs(tmp_path / "bot-web.log", _accepts(spans)[root])


def check_trace(spans: list[Span], root: str, reply: str, later: str) -> None:
    accepts = _accepts(spans)
    first, second, third = accepts[root], accepts[reply], accepts[later]
    assert {s.service for s in spans} == {"thread-session-bot"}
    assert {s.name for s in spans if not s.parent_id} == {"slack.event"}  # no warm-up trace
    assert (first.kind, first.parent_id, first.attributes["slack.event_id"]) == (
        PRODUCER,
        "",
        "EvA",
    )
    assert first.attributes["bot.outcome"] == "queued"
    turn = _one(spans, "turn", trace_id=first.trace_id)
    assert (turn.kind, turn.parent_id) == (CONSUMER, first.span_id)  # the event's trace
    assert (second.trace_id, second.span_id) in turn.links  # coalesced: linked
    assert turn.attributes["bot.message_ts"] == [root, reply]
    assert turn.attributes["bot.persona"] == "calc" and turn.attributes["bot.outcome"] == (
        "answered"
    )
    in_turn = [s for s in spans if s.trace_id == turn.trace_id]
    wait = _one(in_turn, "thread_lock.wait", parent_id=turn.span_id)
    assert wait.start_ns == turn.start_ns >= first.start_ns  # from when it was queued
    restore = _one(in_turn, "session.restore", parent_id=turn.span_id)
    agent = _one(in_turn, "invoke_agent Calc", parent_id=turn.span_id)  # Strands' own
    assert wait.end_ns <= restore.start_ns <= restore.end_ns <= agent.start_ns
    by_id = {s.span_id: s for s in in_turn}

    def ancestors(span: Span) -> list[str]:
        chain = []
        while span.parent_id in by_id:
            span = by_id[span.parent_id]
            chain.append(span.name)
        return chain

    chats = [s for s in in_turn if s.name == "chat"]
    tool = _one(in_turn, "execute_tool calculator")
    assert len(chats) == 2 and all("invoke_agent Calc" in ancestors(s) for s in [*chats, tool])
    post = _one(in_turn, "slack.post", parent_id=turn.span_id)
    assert post.start_ns >= agent.end_ns and post.end_ns <= turn.end_ns
    # the next turn is a trace of its own, from its own Slack event
    again = _one(spans, "turn", trace_id=third.trace_id)
    assert again.parent_id == third.span_id and again.trace_id != turn.trace_id
    assert len({s.trace_id for s in spans if s.name == "turn"}) == 3


def check_logs(web_log: Path, accept: Span) -> None:
    lines = _json_lines(web_log)
    assert any(
        line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines
    ), lines[:5]  # gunicorn's own lines are JSON too
    [queued] = [line for line in lines if line["message"].startswith("queued turn EvA")]
    assert queued["event_id"] == "EvA" and queued["session_id"].endswith(
        accept.attributes["bot.message_ts"].replace(".", "-")
    )
    assert queued["message_ts"] == accept.attributes["bot.message_ts"]
    assert queued["trace_id"] == accept.trace_id and queued["span_id"] == accept.span_id
    assert "turn_id" not in queued


def _tool_calls_so_far(body: dict[str, Any]) -> int:
    return sum(1 for m in body["messages"] if m.get("role") == "assistant" and m.get("tool_calls"))


def test_a_tool_s_question_and_an_approval_are_in_the_turn_s_trace(
    redis_url: str,
    s3_env: dict[str, str],
    fake_slack: FakeSlack,
    collector: OTLPCollector,
    tmp_path: Path,
) -> None:
    """A real process, a real stdio MCP server, the OpenAI-wire fake calling its tools: the
    question (declined) is a span under Strands' tool span, and the approval it then needs
    (asked, then approved) is on the turns' spans."""
    personas = tmp_path / "personas.toml"
    personas.write_text(
        '[[persona]]\nid = "ops"\nsystem_prompt = "You help."\napprove = ["create_ticket"]\n'
        f'[[persona.mcp]]\nname = "tables"\ncommand = {json.dumps(stdio_command())}\n'
        f'env = {{ MCP_CALLS = "{tmp_path / "calls.jsonl"}" }}\n'
        'tools = ["book_table", "create_ticket"]\n'
    )
    steps: list[Any] = [
        {"tool": "book_table", "input": {"place": "Luigi's"}},
        {"tool": "create_ticket", "input": {"title": "book Luigi's by phone"}},
        "Filed a ticket to book it by phone.",
    ]

    def reply(body: dict[str, Any]) -> Any:
        return steps[min(_tool_calls_so_far(body), 2)]

    with FakeOpenAI(reply) as openai:
        env = traced_env(fake_slack, redis_url, s3_env, openai, collector, personas)
        web = BotProcess("web", env, tmp_path).start()
        try:
            web.wait_ready()
            root = next_ts()
            web.send(mention_event("book Luigi's", "C1", root), event_id="EvQ")
            asked = question(fake_slack, root)
            assert (
                post_interactive(web.url, SECRET, click(fake_slack, asked, "question_decline"))[0]
                == 200
            )
            approval = request(fake_slack, root)
            assert (
                post_interactive(web.url, SECRET, click_payload(approval, "approval_approve"))[0]
                == 200
            )
            wait_until(
                lambda: "Filed a ticket" in fake_slack.thread_text("C1", root), 30, "the answer"
            )
            spans = collector.wait_for(
                lambda got: len([s for s in got if s.name == "turn"]) == 2 and got
            )
        finally:
            web.cleanup()
    by_id = {s.span_id: s for s in spans}
    asking = _one(spans, "person_question")
    assert asking.attributes["bot.mcp_server"] == "tables"
    assert asking.attributes["bot.outcome"] == "decline"
    tool = by_id[asking.parent_id]
    assert tool.name == "execute_tool book_table"
    turns = sorted((s for s in spans if s.name == "turn"), key=lambda s: s.start_ns)
    assert [t.attributes.get("bot.approval") for t in turns] == ["requested", "approve"]
    assert turns[0].attributes["bot.approval_tools"] == ["create_ticket"]
    assert asking.trace_id == turns[0].trace_id
