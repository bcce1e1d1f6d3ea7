"""What one HTTP request may be, and how it is refused, decided from its head alone.

The gunicorn worker (bot/serve/http_worker.py) frames each request from the bytes it has
buffered (`request_size`), before any thread or parser sees it, and answers a `Refused`
itself; the WSGI app (bot/serve/web.py) holds Slack's requests to MAX_BODY_BYTES too.
REQUEST_READ_SECONDS and WEB_MAX_CONNECTIONS are read here for gunicorn_conf.py and the
worker alike.
"""

from __future__ import annotations

from bot.config import env as config_env

MAX_BODY_BYTES = 1_000_000  # Slack payloads are far smaller; bot/serve/web.py refuses more too
MAX_HEAD_BYTES = 64 * 1024
READ_SECONDS, MAX_CONNECTIONS = 10, 1000  # REQUEST_READ_SECONDS, WEB_MAX_CONNECTIONS


class Refused(Exception):
    """A request answered from the event loop, then closed: `status` is e.g. "413 …"."""

    def __init__(self, status: str, error: str) -> None:
        super().__init__(status)
        self.status, self.error = status, error

    def response(self) -> bytes:
        body = f'{{"error": "{self.error}"}}'.encode()
        return (
            f"HTTP/1.1 {self.status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body


def read_seconds(env: dict[str, str]) -> int:
    """REQUEST_READ_SECONDS: how long a client has to send one whole request."""
    return config_env.whole_number(env, "REQUEST_READ_SECONDS", READ_SECONDS)


def max_connections(env: dict[str, str]) -> int:
    """WEB_MAX_CONNECTIONS: open connections per worker (gunicorn's worker_connections)."""
    return config_env.whole_number(env, "WEB_MAX_CONNECTIONS", MAX_CONNECTIONS, minimum=2)


def body_length(head: bytes) -> int:
    """The Content-Length of a request head; Refused for a chunked or ambiguous body."""
    lengths = set()
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.lower()
        if name == b"transfer-encoding":
            raise Refused("411 Length Required", "send a Content-Length, not a chunked body")
        if name == b"content-length":
            if not value.strip().isdigit():
                raise Refused("400 Bad Request", "bad Content-Length")
            lengths.add(int(value.strip()))
    if len(lengths) > 1:
        raise Refused("400 Bad Request", "conflicting Content-Length")
    return lengths.pop() if lengths else 0


def request_size(
    data: bytes | bytearray, scanned: int = 0, max_body: int = MAX_BODY_BYTES
) -> int | None:
    """Bytes of the request at the start of `data`, head and body, once its head is all
    there (None before); `scanned` bytes were searched already. Refused if it can never be
    served (head or body too large, chunked)."""
    end = data.find(b"\r\n\r\n", max(0, scanned - 3))
    if end < 0 or end + 4 > MAX_HEAD_BYTES:
        if end < 0 and len(data) <= MAX_HEAD_BYTES:
            return None
        raise Refused("431 Request Header Fields Too Large", "request head too large")
    length = body_length(bytes(data[:end]))
    if length > max_body:
        raise Refused("413 Payload Too Large", "body too large")
    return end + 4 + length


TIMEOUT = Refused("408 Request Timeout", "request not received in time")
