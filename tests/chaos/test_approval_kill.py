"""An approval survives the process that asked: it is SIGKILLed once the request is in the
thread, the click reaches another process, and the tool (a real stdio MCP server's) runs
exactly once, however often the button is clicked. Real gunicorn processes, the
OpenAI-compatible fake streaming `tool_calls` in the wire format, so the tool loop is
Strands' own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.signing import post_interactive
from tests.fakes.slack_api import FakeSlack
from tests.support.approvals import click_payload, request
from tests.support.chaos_checks import CHANNEL
from tests.support.chaos_cluster import MakeCluster
from tests.support.harness import SECRET, mention_event, now_ts
from tests.support.mcp_servers import calls, stdio_command, stdio_servers
from tests.support.wait import wait_until

TOKEN = "file-a-ticket-for-the-vpn"


def ops_personas(directory: Path, tool_name: str, log: Path) -> Path:
    """A persona whose one MCP tool, `tool_name` (a stdio server's), needs approval."""
    path = directory / "personas.toml"
    path.write_text(
        f'[[persona]]\nid = "ops"\nsystem_prompt = "You help."\napprove = ["{tool_name}"]\n'
        f'[[persona.mcp]]\nname = "ops"\ncommand = {json.dumps(stdio_command())}\n'
        f'env = {{ MCP_CALLS = "{log}" }}\ntools = ["{tool_name}"]\n'
    )
    return path


def test_approved_on_another_process_after_the_asker_was_killed_runs_once(
    make_cluster: MakeCluster, fake_slack: FakeSlack, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    personas = ops_personas(tmp_path, "create_ticket", log)

    def reply(body: dict[str, Any]) -> Any:
        if body["messages"][-1].get("role") == "tool":
            return "Filed the VPN ticket."
        return {"tool": "create_ticket", "input": {"title": "VPN down"}}

    fake_openai.reply_fn = reply
    cluster = make_cluster(2, PERSONAS_FILE=str(personas))
    root = now_ts()
    cluster.slots[0].send(mention_event(TOKEN, CHANNEL, root))
    asked = request(fake_slack, root)
    [first] = list(fake_openai.requests)  # the turn that asked: its process is named by MODEL_ID
    asker = cluster.by_model(first.body["model"])
    assert asker is not None
    slot = cluster.slots.index(asker)
    theirs = stdio_servers(parents=set(asker.worker_pids()))
    assert theirs, "the asking process ran no stdio server"
    cluster.kill(slot, "group")  # the process that asked (and its stdio server) is gone
    other = cluster.slots[1 - slot]
    for _ in range(2):  # a double click: still one call
        status, body = post_interactive(other.url, SECRET, click_payload(asked, "approval_approve"))
        assert status == 200, body
    wait_until(
        lambda: "Filed the VPN ticket." in fake_slack.thread_text(CHANNEL, root),
        30,
        "the answer after the approval",
    )
    assert [c["tool"] for c in calls(log)] == ["create_ticket"]
    assert calls(log)[0]["meta"]["slack"]["user"] == "U1"  # the asker, not the clicker
    decided = request(fake_slack, root)
    assert "Approved by <@U1>" in json.dumps(decided["blocks"])
    # the killed process's stdio server exited with it; the survivor's serves on
    wait_until(lambda: not theirs & stdio_servers(), 15, "the killed process's server to exit")
    assert stdio_servers(parents=set(other.worker_pids())), "the survivor runs none"


def test_a_process_killed_while_an_approved_call_runs_never_runs_it_twice(
    make_cluster: MakeCluster, fake_slack: FakeSlack, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    """The approved call starts, then its process is SIGKILLed mid-call: another process
    takes the thread over and resumes, but the call's durable claim stops a second run; the
    model is told its outcome is unknown, and the thread gets an answer."""
    log = tmp_path / "calls.jsonl"
    personas = ops_personas(tmp_path, "restart_service", log)

    def reply(body: dict[str, Any]) -> Any:
        last = body["messages"][-1]
        if last.get("role") == "tool":
            return f"Restart result: {last.get('content')}"
        return {"tool": "restart_service", "input": {"name": "vpn", "seconds": 60}}

    fake_openai.reply_fn = reply
    cluster = make_cluster(2, PERSONAS_FILE=str(personas))
    root = now_ts()
    cluster.slots[0].send(mention_event("restart the vpn", CHANNEL, root))
    asked = request(fake_slack, root)
    status, body = post_interactive(
        cluster.slots[0].url, SECRET, click_payload(asked, "approval_approve")
    )
    assert status == 200, body
    [call] = wait_until(lambda: calls(log), 20, "the approved call to start")
    running = next(b for b in cluster.slots if call["ppid"] in b.worker_pids())
    cluster.kill(cluster.slots.index(running), "group")
    wait_until(
        lambda: "Restart result:" in fake_slack.thread_text(CHANNEL, root),
        40,
        "the answer from the process that took over",
    )
    assert "not run again" in fake_slack.thread_text(CHANNEL, root)
    assert [c["tool"] for c in calls(log)] == ["restart_service"]  # once, never twice
