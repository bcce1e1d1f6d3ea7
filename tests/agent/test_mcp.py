"""MCP tools per persona (bot/agent/mcp.py), against real MCP servers the tests start
(tests/support/mcp_server.py): the bot's real turn path, a real Strands Agent whose tool loop
calls them, driven by the scripted model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.agent import mcp as mcp_module
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.support.harness import now_ts
from tests.support.mcp_servers import HttpServer, calls, stdio_command, stdio_servers
from tests.support.tool_calls import texts, tool_results
from tests.support.wait import wait_until


def personas_file(directory: Path, servers: str) -> str:
    path = directory / "personas.toml"
    path.write_text(f'[[persona]]\nid = "ops"\nsystem_prompt = "You help."\n{servers}')
    return str(path)


def stdio_server(log: Path, tools: list[str] | None = None) -> str:
    allow = f"tools = {json.dumps(tools)}\n" if tools is not None else ""
    return (
        f'[[persona.mcp]]\nname = "tickets"\ncommand = {json.dumps(stdio_command())}\n'
        f'env = {{ MCP_CALLS = "{log}" }}\n{allow}'
    )


def tool_names(model: ScriptedModel, call: int = 0) -> set[str]:
    return {spec["name"] for spec in model.calls[call]["tool_specs"] or []}


def answers(fake_slack: FakeSlack, count: int) -> list[str]:
    posted = fake_slack.wait_for("chat.postMessage", count=count, timeout=30)
    return [c.params["text"] for c in posted]


def test_a_stdio_server_s_allowed_tools_are_called_with_who_asked(
    make_bot, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    model = ScriptedModel(
        [{"tool": "search_tickets", "input": {"query": "login"}}, "Two tickets match."]
    )
    bot = make_bot(
        model,
        PERSONAS_FILE=personas_file(tmp_path, stdio_server(log, ["search_*", "create_ticket"])),
    )
    event = bot.mention("any login tickets?", ts=now_ts(), user="U7")
    assert answers(fake_slack, 1)[0].startswith("Two tickets match.")
    assert {"search_tickets", "create_ticket"} <= tool_names(model)
    assert not {"delete_everything", "slow_report", "export_all"} & tool_names(model)  # allowlist
    [call] = calls(log)
    assert call["tool"] == "search_tickets" and call["args"] == {"query": "login"}
    assert call["meta"]["slack"] == {
        "user": "U7",
        "team": "T1",
        "channel": "C1",
        "thread_ts": event["ts"],
    }
    assert "2 tickets match 'login'" in texts(tool_results(model, 1)[-1])  # Strands' own loop


def test_an_http_server_gets_its_headers_and_who_asked_under_a_prefix(
    make_bot, fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setenv("TICKETS_TOKEN", "s3cret-ticket-token")
    log = tmp_path / "calls.jsonl"
    with HttpServer(log) as server:
        servers = (
            f'[[persona.mcp]]\nname = "tickets"\nurl = "{server.url}"\n'
            'headers = { Authorization = "Bearer ${TICKETS_TOKEN}" }\n'
            'prefix = "tk"\nforward_user = true\ntools = ["create_ticket"]\n'
        )
        model = ScriptedModel(
            [{"tool": "tk_create_ticket", "input": {"title": "Login broken"}}, "Created T-42."]
        )
        bot = make_bot(model, PERSONAS_FILE=personas_file(tmp_path, servers))
        bot.mention("file a ticket: login broken", ts=now_ts(), user="U7")
        assert answers(fake_slack, 1)[0].startswith("Created T-42.")
    assert "tk_create_ticket" in tool_names(model) and "create_ticket" not in tool_names(model)
    [call] = calls(log)
    assert call["args"] == {"title": "Login broken"}
    assert call["authorization"] == "Bearer s3cret-ticket-token"
    assert call["headers"] == {
        "x-slack-user-id": "U7",
        "x-slack-team-id": "T1",
        "x-slack-channel-id": "C1",
    }
    assert "s3cret-ticket-token" not in caplog.text


def test_a_server_that_is_down_is_named_and_its_tools_come_back_with_it(
    make_bot, fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mcp_module, "RETRY_SECONDS", 0.0)
    log = tmp_path / "calls.jsonl"
    server = HttpServer(log)  # not started yet: its port refuses connections
    servers = f'[[persona.mcp]]\nname = "tickets"\nurl = "{server.url}"\n'
    model = ScriptedModel(
        [
            "The ticket tools are down, so I can't search.",
            {"tool": "search_tickets", "input": {"query": "vpn"}},
            "Found them.",
        ]
    )
    bot = make_bot(model, PERSONAS_FILE=personas_file(tmp_path, servers))
    root = now_ts()
    bot.mention("search tickets for vpn", ts=root)
    [first] = answers(fake_slack, 1)
    assert first.startswith("The ticket tools are down")
    assert first.endswith(":warning: The `tickets` tools were unavailable for this answer.")
    prompt = json.dumps(model.calls[0]["messages"][-1])
    assert "the tools of tickets are unavailable right now" in prompt
    assert "search_tickets" not in tool_names(model, 0)
    with server:
        bot.reply("try again", thread_ts=root)
        second = answers(fake_slack, 2)[1]
    assert second.startswith("Found them.") and "unavailable" not in second
    assert [c["tool"] for c in calls(log)] == ["search_tickets"]


def test_a_slow_tool_and_a_huge_result_stay_within_the_budget(
    make_bot, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    model = ScriptedModel(
        [
            {"tool": "slow_report", "input": {"seconds": 5}},
            {"tool": "export_all", "input": {}},
            "The report timed out and the export was cut.",
        ]
    )
    bot = make_bot(
        model,
        PERSONAS_FILE=personas_file(tmp_path, stdio_server(log)),
        TOOL_TIMEOUT_SECONDS="1",
        TOOL_RESULT_MAX_CHARS="1000",
    )
    bot.mention("report and export", ts=now_ts())
    assert answers(fake_slack, 1)[0].startswith("The report timed out")
    [slow] = tool_results(model, 1)
    assert slow["status"] == "error" and "took longer than 1 s" in texts(slow)
    cut = tool_results(model, 2)[-1]
    assert "cut to 1000 characters" in texts(cut) and len(json.dumps(cut["content"])) < 1600


def test_a_server_that_restarted_is_reconnected(
    make_bot, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    search = {"tool": "search_tickets", "input": {"query": "q"}}
    model = ScriptedModel([search, "one", search, "two", search, "three"])
    with HttpServer(log) as server:
        servers = f'[[persona.mcp]]\nname = "tickets"\nurl = "{server.url}"\n'
        bot = make_bot(model, PERSONAS_FILE=personas_file(tmp_path, servers))
        root = now_ts()
        bot.mention("search", ts=root)
        answers(fake_slack, 1)
        server.stop()
        server.start()  # same port, a new process: the old MCP session is gone
        bot.reply("again", thread_ts=root)
        answers(fake_slack, 2)
        bot.reply("once more", thread_ts=root)
        texts_posted = answers(fake_slack, 3)
    assert [t.split()[0] for t in texts_posted] == ["one", "two", "three"]  # no turn failed
    assert len(calls(log)) >= 2  # the turn after the restart's failure reached the new server
    assert tool_results(model, 5)[-1]["status"] == "success"


def test_stdio_servers_stop_with_the_bot_and_with_a_killed_worker(
    make_bot, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    model = ScriptedModel([{"tool": "search_tickets", "input": {"query": "x"}}, "ok"])
    bot = make_bot(model, PERSONAS_FILE=personas_file(tmp_path, stdio_server(log)))
    bot.mention("search", ts=now_ts())
    answers(fake_slack, 1)
    mine = stdio_servers(parents={os.getpid()})
    assert mine, "the stdio server was not running"
    bot.runtime.personas.stop()  # what bot/serve/main.py stop_all does at exit
    wait_until(lambda: not mine & stdio_servers(), 10, "the stdio server to exit")

    script = (
        "import sys, time\n"
        "from bot.agent.mcp import McpServer\n"
        "from bot.agent.mcp_config import McpServerConfig\n"
        f"server = McpServer(McpServerConfig(name='t', command=tuple({stdio_command()!r})))\n"
        "assert server.tools()\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
    )
    assert worker.stdout is not None and worker.stdout.readline().strip() == b"ready"
    theirs = stdio_servers(parents={worker.pid})
    assert theirs
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)
    wait_until(lambda: not theirs & stdio_servers(), 10, "the killed worker's stdio server to exit")
