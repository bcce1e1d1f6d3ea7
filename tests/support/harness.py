"""An in-process bot behind a real HTTP server, driven by correctly signed Slack requests."""

from __future__ import annotations

import itertools
import threading
import time
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from strands.models import Model

from bot.config import settings as config_module
from bot.serve.bolt_app import build_app
from bot.serve.runtime import Runtime
from bot.serve.web import WebApp
from tests.fakes.signing import post_event, post_form, post_interactive
from tests.fakes.slack_payloads import (
    command_form,
    event_callback,
    mention_event,
    message_event,
    message_shortcut,
)

SECRET = "test-signing-secret"
_ts = itertools.count(1)


def next_ts() -> str:
    return f"1700000{next(_ts):03d}.{int(time.time() * 1e6) % 1_000_000:06d}"


_last_now = [0]
_now_lock = threading.Lock()


def now_ts() -> str:
    """A ts of now, as Slack gives messages (`next_ts` is from 2023): for tests where the
    time matters (the durable inbox replays by message time; a reset marks its time)."""
    with _now_lock:
        micros = _last_now[0] = max(int(time.time() * 1_000_000), _last_now[0] + 1)
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 256


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def base_env(slack_url: str, **extra: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack_url,
        "MODEL_PROVIDER": "openai",
        "OPENAI_API_KEY": "test-key",
        "LOG_LEVEL": "DEBUG",
        # These suites check posting (the fallback every answer can take); the streamed path
        # has its own tests (tests/answer/test_stream.py), which set STREAMING=on.
        "STREAMING": "off",
        **extra,
    }


class Bot:
    """The real Runtime + Bolt app + WSGI app, served on loopback."""

    def __init__(self, env: dict[str, str], model: Model | None = None) -> None:
        self.runtime = Runtime.build(config_module.load(env))
        if model is not None:
            for persona_id in self.runtime.personas.ids:
                self.runtime.personas.use_model(persona_id, model)
        self.app = build_app(self.runtime)
        web = WebApp(self.app, self.runtime.health, SECRET)
        self.server = make_server("127.0.0.1", 0, web, _ThreadingServer, _QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/slack/events"
        # a short poll: shutdown() waits for it, once per bot in every test's teardown
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> Bot:
        self._thread.start()
        self.runtime.worker.start()
        return self

    def stop(self) -> None:
        self.runtime.worker.begin_stop()  # its dispatcher's wait for work ends meanwhile
        self.server.shutdown()
        self.runtime.worker.stop(timeout=10)
        self.runtime.personas.stop()  # as bot/serve/main.py stop_all: MCP servers too
        self.server.server_close()

    def __enter__(self) -> Bot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- Slack traffic -----------------------------------------------------------------
    def event(self, event: dict, event_id: str | None = None, **kw: Any) -> tuple[int, str]:
        return post_event(self.url, SECRET, event_callback(event, event_id=event_id), **kw)

    def mention(
        self,
        text: str,
        channel: str = "C1",
        ts: str | None = None,
        thread_ts: str | None = None,
        user: str = "U1",
        **kw: Any,
    ) -> dict:
        event = mention_event(text, channel, ts or next_ts(), thread_ts, user)
        status, body = self.event(event, **kw)
        assert status == 200, (status, body)
        return event

    def reply(
        self,
        text: str,
        thread_ts: str,
        channel: str = "C1",
        user: str = "U1",
        ts: str | None = None,
        **kw: Any,
    ) -> dict:
        event = message_event(text, channel, ts or next_ts(), thread_ts, user)
        status, body = self.event(event, **kw)
        assert status == 200, (status, body)
        return event

    def command(self, text: str, channel: str = "C1", user: str = "U1") -> tuple[int, str]:
        channel_name = "directmessage" if channel.startswith("D") else "general"
        return post_form(
            self.url, SECRET, command_form(text, channel, user, channel_name=channel_name)
        )

    def shortcut(self, channel: str, message: dict, user: str = "U1") -> tuple[int, str]:
        return post_interactive(self.url, SECRET, message_shortcut(channel, message, user))

    def interact(self, payload: dict) -> tuple[int, str]:
        """An interactive payload (e.g. a `block_actions` click), signed, as Slack posts it."""
        return post_interactive(self.url, SECRET, payload)


__all__ = [
    "Bot",
    "SECRET",
    "base_env",
    "event_callback",
    "mention_event",
    "message_event",
    "next_ts",
    "now_ts",
]
