"""Socket Mode end to end: `python -m bot socket` (the Procfile's worker) against fake Slack.

The bot runs as a real subprocess; a local WebSocket server plays Slack's Socket Mode
endpoint (tests/fakes/socket_server.py), FakeSlack plays the Web API (including
`apps.connections.open`, which hands out the WebSocket URL) and FakeOpenAI plays the model.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import Call, FakeSlack
from tests.fakes.slack_payloads import command_form, event_callback, load
from tests.fakes.socket_server import FakeSocketMode
from tests.harness import SECRET, base_env, mention_event, message_event, next_ts

ROOT = Path(__file__).resolve().parent.parent
APP_TOKEN = "xapp-test"
BOT_TOKEN = base_env("")["SLACK_BOT_TOKEN"]
EXIT_TIMEOUT = 15.0


@pytest.fixture
def socket_server() -> Iterator[FakeSocketMode]:
    with FakeSocketMode() as server:
        yield server


class BotProcess:
    def __init__(self, proc: subprocess.Popen[bytes], stdout: Path, stderr: Path) -> None:
        self.proc = proc
        self.stdout_path = stdout
        self.stderr_path = stderr

    def output(self) -> str:
        return self.stdout_path.read_text("utf-8", "replace") + self.stderr_path.read_text(
            "utf-8", "replace"
        )

    def assert_alive(self) -> None:
        assert self.proc.poll() is None, (
            f"bot exited with {self.proc.returncode}:\n{self.output()[-5000:]}"
        )

    def terminate(self, timeout: float = EXIT_TIMEOUT) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"bot did not exit within {timeout}s of SIGTERM:\n{self.output()[-5000:]}"
            ) from None


@contextmanager
def bot_process(
    tmp_path: Path, slack: FakeSlack, model: FakeOpenAI, server: FakeSocketMode
) -> Iterator[BotProcess]:
    """Start `python -m bot socket`, wait until it is connected; kill it if still running."""
    slack.socket_url = server.url
    env = {
        **os.environ,
        **base_env(slack.base_url),
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SESSION_DIR": str(tmp_path / "sessions"),
        "MODEL_PROVIDER": "openai",
        "OPENAI_BASE_URL": model.base_url,
        "OPENAI_API_KEY": "x",
        "PYTHONUNBUFFERED": "1",
        # Embedded mode, local sessions, the default persona. Empty rather than unset, so
        # a developer's .env (load_dotenv never overrides a set variable) cannot change it.
        "REDIS_URL": "",
        "SESSION_BUCKET": "",
        "PERSONAS_FILE": "",
    }
    stdout, stderr = tmp_path / "bot.stdout", tmp_path / "bot.stderr"
    # Log to files, not pipes: DEBUG output would fill a pipe buffer and stall the bot.
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "socket"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    bot = BotProcess(proc, stdout, stderr)
    try:
        try:
            server.wait_connected(timeout=20)
        except AssertionError:
            bot.assert_alive()
            raise
        yield bot
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def in_thread(thread_ts: str, *needles: str) -> Callable[[Call], bool]:
    def match(call: Call) -> bool:
        text = call.params.get("text", "")
        return call.params.get("thread_ts") == thread_ts and all(n in text for n in needles)

    return match


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
        envelope = socket_server.push_event(event_callback(mention))
        assert socket_server.wait_ack(envelope) == {"envelope_id": envelope}
        first = fake_slack.wait_for(
            "chat.postMessage",
            in_thread(thread_ts, "echo: ", "hello there", "[1 msgs]"),
            timeout=15,
        )
        assert first[0].params["channel"] == "C1"
        assert first[0].token == BOT_TOKEN

        # 2. A plain reply in that thread continues the conversation, with memory.
        reply = message_event("and again", "C1", next_ts(), thread_ts=thread_ts)
        envelope = socket_server.push_event(event_callback(reply))
        assert socket_server.wait_ack(envelope) == {"envelope_id": envelope}
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
        envelope = socket_server.push_event(event_callback(reaction))
        assert socket_server.wait_ack(envelope) == {"envelope_id": envelope}
        future = event_callback(reaction | {"type": "brand_new_event_type_from_the_future"})
        envelope = socket_server.push_event(future)
        assert socket_server.wait_ack(envelope) == {"envelope_id": envelope}
        for name in (
            "94_view_closed_org_wide_java.form.json",
            "87_block_actions_button_grid_bolt.form.json",
        ):
            envelope = socket_server.push("interactive", load(name))
            assert socket_server.wait_ack(envelope) == {"envelope_id": envelope}, name
        bot.assert_alive()

        # 4b. A stored real mention (non-Grid workspace, `enterprise_id: null`) is answered.
        real = load("11_app_mention_real_enterprise_null.json")
        envelope = socket_server.push_event(real)
        assert socket_server.wait_ack(envelope) == {"envelope_id": envelope}
        fake_slack.wait_for(
            "chat.postMessage", in_thread(real["event"]["ts"], "echo: "), timeout=15
        )

        # 5. Slack asks for a refresh: the bot opens a new connection (a fresh
        #    apps.connections.open) and keeps working on it; memory was really reset.
        socket_server.push_disconnect()
        socket_server.wait_connected(count=2)
        fake_slack.wait_for("apps.connections.open", count=2)
        again = mention_event("after reset", "C1", next_ts(), thread_ts=thread_ts)
        envelope = socket_server.push_event(event_callback(again))
        assert socket_server.wait_ack(envelope) == {"envelope_id": envelope}
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
