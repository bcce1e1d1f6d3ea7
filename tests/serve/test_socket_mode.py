"""Socket Mode end to end: `python -m bot socket` (the Procfile's worker) against fake Slack.

The bot runs as a real subprocess; a local WebSocket server plays Slack's Socket Mode
endpoint (tests/fakes/socket_server.py), FakeSlack plays the Web API (including
`apps.connections.open`, which hands out the WebSocket URL) and FakeOpenAI plays the model.
"""

from __future__ import annotations

from pathlib import Path

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import command_form, event_callback, load
from tests.fakes.socket_server import FakeSocketMode
from tests.support.harness import SECRET, mention_event, message_event, next_ts
from tests.support.socket_mode import (
    APP_TOKEN,
    BOT_TOKEN,
    bot_process,
    in_thread,
)


def acked(server: FakeSocketMode, envelope: str) -> None:
    """The bot acked the pushed `envelope`, with nothing but its id."""
    assert server.wait_ack(envelope) == {"envelope_id": envelope}, envelope


def test_socket_mode_worker_end_to_end(
    tmp_path: Path,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    socket_server: FakeSocketMode,
) -> None:
    with bot_process(tmp_path, fake_slack, fake_openai, socket_server) as bot:
        # The app token (not the bot token) opened the connection.
        opened = fake_slack.wait_for("apps.connections.open")
        assert opened[0].token == APP_TOKEN

        # 1. A mention starts a thread: acked over the socket, answered in the thread.
        mention = mention_event("hello there", "C1", next_ts())
        thread_ts = mention["ts"]
        acked(socket_server, socket_server.push_event(event_callback(mention)))
        first = fake_slack.wait_for(
            "chat.postMessage",
            in_thread(thread_ts, "echo: ", "hello there", "[1 msgs]"),
            timeout=15,
        )
        assert first[0].params["channel"] == "C1"
        assert first[0].token == BOT_TOKEN

        # 2. A plain reply in that thread continues the conversation, with memory.
        reply = message_event("and again", "C1", next_ts(), thread_ts=thread_ts)
        acked(socket_server, socket_server.push_event(event_callback(reply)))
        fake_slack.wait_for(
            "chat.postMessage",
            in_thread(thread_ts, "echo: ", "and again", "[3 msgs]"),
            timeout=15,
        )

        # 3. /reset <thread ts>: the ack carries the response text; the thread gets a note.
        command = command_form(thread_ts, "C1", "U1")
        envelope = socket_server.push_command(command)
        ack = socket_server.wait_ack(envelope)
        assert ack["envelope_id"] == envelope
        assert "Resetting thread" in ack["payload"]["text"], ack
        assert thread_ts in ack["payload"]["text"], ack
        fake_slack.wait_for(
            "chat.postMessage", in_thread(thread_ts, "reset this conversation"), timeout=15
        )

        # 4. What nothing listens to is acked and the bot carries on: a reaction, a modal
        #    closed, a button click, an event type from the future (real bodies, ids varied).
        reaction = load("53_reaction_added.json")["event"]
        reaction["item"].update(channel="C1", ts=thread_ts)
        acked(socket_server, socket_server.push_event(event_callback(reaction)))
        future = event_callback(reaction | {"type": "brand_new_event_type_from_the_future"})
        acked(socket_server, socket_server.push_event(future))
        for name in (
            "94_view_closed_org_wide_java.form.json",
            "87_block_actions_button_grid_bolt.form.json",
        ):
            acked(socket_server, socket_server.push("interactive", load(name)))
        bot.assert_alive()

        # 4b. A stored real mention (non-Grid workspace, `enterprise_id: null`) is answered.
        real = load("11_app_mention_real_enterprise_null.json")
        acked(socket_server, socket_server.push_event(real))
        fake_slack.wait_for(
            "chat.postMessage", in_thread(real["event"]["ts"], "echo: "), timeout=15
        )

        # 5. Slack asks for a refresh: the bot opens a new connection (a fresh
        #    apps.connections.open) and keeps working on it; memory was really reset.
        socket_server.push_disconnect()
        socket_server.wait_connected(count=2)
        fake_slack.wait_for("apps.connections.open", count=2)
        again = mention_event("after reset", "C1", next_ts(), thread_ts=thread_ts)
        acked(socket_server, socket_server.push_event(event_callback(again)))
        fake_slack.wait_for(
            "chat.postMessage",
            in_thread(thread_ts, "echo: ", "after reset", "[1 msgs]"),
            timeout=15,
        )

        # Every envelope was acked exactly once, and the model saw exactly four turns.
        envelope_acks = [m for m in socket_server.received if isinstance(m, dict)]
        assert len(envelope_acks) == len(socket_server.acks) == 9, socket_server.received
        assert len(fake_openai.requests) == 4

        # 6. SIGTERM (what the platform sends on deploy): closes the socket, exits cleanly.
        code = bot.terminate()
        output = bot.output()
        assert code == 0, f"exit code {code}:\n{output[-5000:]}"
        socket_server.wait_disconnected()
        assert "shutting down" in output
        assert "Traceback" not in output, output[-5000:]


def test_socket_mode_debug_logs_keep_secrets_out(
    tmp_path: Path,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    socket_server: FakeSocketMode,
) -> None:
    with bot_process(tmp_path, fake_slack, fake_openai, socket_server) as bot:
        # Exercise the token-bearing paths: connections.open, auth.test, a reply, an ack.
        mention = mention_event("secret test", "C1", next_ts())
        envelope = socket_server.push_event(event_callback(mention))
        socket_server.wait_ack(envelope)
        fake_slack.wait_for("chat.postMessage", in_thread(mention["ts"], "secret test"), timeout=15)
        assert bot.terminate() == 0
    output = bot.output()
    assert "DEBUG" in output  # LOG_LEVEL=DEBUG really was in effect
    for secret in (BOT_TOKEN, APP_TOKEN, SECRET):
        assert secret not in output, f"{secret!r} leaked into the bot's logs"
