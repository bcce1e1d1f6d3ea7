"""A fake Slack Socket Mode server: a WebSocket endpoint that pushes envelopes, records acks.

Runs `websockets` in a background thread with its own asyncio loop on 127.0.0.1. Point the
bot at it with `FakeSlack.socket_url = server.url` (what `apps.connections.open` returns).

Protocol, as Slack speaks it (https://docs.slack.dev/apis/events-api/using-socket-mode/):
on connect the server sends `{"type": "hello", ...}`; it then pushes envelopes
`{"envelope_id", "type", "payload", "accepts_response_payload", ...}` and the client answers
each with `{"envelope_id": ...}` (plus `"payload"` for slash commands etc.). WebSocket
ping/pong control frames are answered by `websockets` itself: slack_sdk's builtin client
pings `<session id>:<time>` every few seconds and counts the connection stale without pongs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

HELLO = {
    "type": "hello",
    "num_connections": 1,
    "debug_info": {
        "host": "fake-socket-mode",
        "build_number": 1,
        "approximate_connection_time": 18060,
    },
    "connection_info": {"app_id": "A1"},
}


class FakeSocketMode:
    """Socket Mode server on ws://127.0.0.1:<port>/link/; thread-safe helpers for tests."""

    def __init__(self) -> None:
        self.acks: dict[str, dict[str, Any]] = {}
        self.received: list[Any] = []  # every message a client sent (parsed JSON or raw text)
        self.connections_opened = 0
        self.connections_closed = 0
        self._cond = threading.Condition()
        self._clients: list[ServerConnection] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # --- lifecycle ---------------------------------------------------------
    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/link/?ticket=fake-ticket&app_id=A1"

    def start(self) -> FakeSocketMode:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(self._open())
                self._port = int(self._server.sockets[0].getsockname()[1])
            except BaseException as exc:  # surface bind errors in start()
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-socket-mode", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Socket Mode server did not start")
        if errors:
            raise errors[0]
        return self

    async def _open(self) -> Server:
        return await serve(self._handle, "127.0.0.1", 0, ping_interval=None)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        self._loop = self._thread = None

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the connection ----------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        with self._cond:
            self._clients.append(ws)
            self.connections_opened += 1
            self._cond.notify_all()
        try:
            await ws.send(json.dumps(HELLO))
            async for raw in ws:
                self._record(raw)
        except ConnectionClosed:
            pass  # the builtin client closes its TCP socket without a close frame
        finally:
            with self._cond:
                self._clients.remove(ws)
                self.connections_closed += 1
                self._cond.notify_all()

    def _record(self, raw: str | bytes) -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        try:
            message: Any = json.loads(text)
        except ValueError:
            message = text
        with self._cond:
            self.received.append(message)
            if isinstance(message, dict) and "envelope_id" in message:
                self.acks[message["envelope_id"]] = message
            self._cond.notify_all()

    def _wait(self, ready: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (result := ready()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout}s waiting for {what}; "
                        f"received: {self.received!r}"
                    )
                self._cond.wait(remaining)
            return result

    def wait_connected(self, count: int = 1, timeout: float = 20.0) -> None:
        """Block until `count` connections were opened in total and one is still open."""
        self._wait(
            lambda: self.connections_opened >= count and bool(self._clients),
            timeout,
            f"Socket Mode connection #{count}",
        )

    def wait_disconnected(self, timeout: float = 10.0) -> None:
        self._wait(
            lambda: not self._clients and self.connections_opened > 0,
            timeout,
            "the client to disconnect",
        )

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Block until the client acknowledged `envelope_id`; return the ack message."""
        return self._wait(lambda: self.acks.get(envelope_id), timeout, f"ack of {envelope_id}")

    # --- pushing envelopes -------------------------------------------------
    def send(self, message: dict[str, Any], timeout: float = 5.0) -> None:
        """Send `message` as a text frame to the (single) connected client."""
        loop = self._loop
        with self._cond:
            clients = list(self._clients)
        if loop is None or not clients:
            raise AssertionError("no Socket Mode client is connected")
        data = json.dumps(message)
        asyncio.run_coroutine_threadsafe(clients[-1].send(data), loop).result(timeout)

    def push_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to reconnect, as Slack does every few hours."""
        self.send(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-socket-mode"}}
        )

    def push(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool = False,
        **extra: Any,
    ) -> str:
        envelope_id = envelope_id or str(uuid.uuid4())
        self.send(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": accepts_response_payload,
                **extra,
            }
        )
        return envelope_id

    def push_event(
        self, body: dict[str, Any], retry_attempt: int = 0, retry_reason: str = ""
    ) -> str:
        """Push an Events API `event_callback` body; return the envelope id."""
        return self.push("events_api", body, retry_attempt=retry_attempt, retry_reason=retry_reason)

    def push_command(self, fields: dict[str, Any]) -> str:
        """Push a slash command (its fields as a dict); return the envelope id."""
        return self.push("slash_commands", fields, accepts_response_payload=True)
