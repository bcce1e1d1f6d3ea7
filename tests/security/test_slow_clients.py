"""Finding 2: slow clients must not take the HTTP endpoint down.

The real web process (gunicorn with bot/serve/gunicorn_conf.py, 2 threads) faces many connections
that send a request head and one body byte and then nothing, that trickle their head a byte
at a time, or that trickle a body. /healthz and a signed Slack event must still be answered,
and every slow connection must be closed once its request has taken longer than the total
read deadline (REQUEST_READ_SECONDS), however often it sends a byte.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.serve.http_limits import request_size
from tests.fakes.slack_api import FakeSlack
from tests.support.bot_process import BotProcess, running_web
from tests.support.harness import mention_event, next_ts
from tests.support.socket_mode import in_thread
from tests.support.wait import wait_until

READ_SECONDS = 2
SLOW = 64
HEAD = (
    b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
    b"X-Slack-Request-Timestamp: 1\r\nX-Slack-Signature: v0=00\r\n"
)


@pytest.fixture
def web(
    web_env: Callable[..., dict[str, str]], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[BotProcess]:
    extra = {
        "WEB_THREADS": "2",
        "REQUEST_READ_SECONDS": str(READ_SECONDS),
        **getattr(request, "param", {}),
    }
    with running_web("slow", web_env(**extra), tmp_path) as bot:
        yield bot


class Slow:
    """Hostile connections; a thread trickles a byte a second into the `tricklers`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.socks: list[socket.socket] = []
        self.tricklers: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)

    def open(self, first: bytes, trickle: bool = False) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(first)
        (self.tricklers if trickle else self.socks).append(sock)
        return sock

    def _trickle(self) -> None:
        while not self.stop.wait(1.0):
            for sock in list(self.tricklers):
                with contextlib.suppress(OSError):
                    sock.send(b"x")

    def all(self) -> list[socket.socket]:
        return self.socks + self.tricklers

    def close(self) -> None:
        self.stop.set()
        for sock in self.all():
            sock.close()


@pytest.fixture
def slow(web: BotProcess) -> Iterator[Slow]:
    hostile = Slow(web.port)
    try:
        yield hostile
    finally:
        hostile.close()


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed `sock` (EOF or reset), whatever it sent before."""
    while select.select([sock], [], [], 0)[0]:
        try:
            if not sock.recv(65536):
                return True
        except OSError:
            return True
    return False


def open_hostile(slow: Slow, count: int) -> None:
    """A quarter each: one body byte then nothing; a head trickled a byte a second; a body
    trickled a byte a second; a head without its end, then nothing."""
    for i in range(count):
        kind = i % 4
        if kind == 0:
            slow.open(HEAD + b"Content-Length: 1000\r\n\r\n{")
        elif kind == 1:
            slow.open(b"POST /slack/events HTTP/1.1\r\nX-Slow: ", trickle=True)
        elif kind == 2:
            slow.open(HEAD + b"Content-Length: 100000\r\n\r\n{", trickle=True)
        else:
            slow.open(HEAD)


def healthz(bot: BotProcess) -> int:
    """GET /healthz; a worker that cannot answer within 10 s fails the test."""
    with urllib.request.urlopen(f"{bot.base}/healthz", timeout=10) as response:
        return int(response.status)


def exchange(port: int, data: bytes) -> bytes:
    """Send `data` on a new connection; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def check_keepalive_pipelining_and_refusals(web: BotProcess) -> None:
    """Kept-alive and pipelined requests are served; bodies that cannot be read in the
    event loop are refused there."""
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    for _ in range(3):  # one connection, three requests
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() == b'{"ok": true}'
    connection.close()
    get = b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n"
    answer = exchange(
        web.port, get * 2 + get.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    )
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    chunked = HEAD + b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n0\r\n\r\n"
    assert exchange(web.port, chunked).startswith(b"HTTP/1.1 411 ")
    assert exchange(web.port, HEAD + b"Content-Length: 2000000\r\n\r\n{").startswith(
        b"HTTP/1.1 413 "
    )
    assert exchange(web.port, HEAD + b"X: " + b"x" * 70_000).startswith(b"HTTP/1.1 431 ")
    # a request begun and not finished within the deadline is answered 408, then closed
    assert exchange(web.port, HEAD + b"Content-Length: 5\r\n\r\n{").startswith(b"HTTP/1.1 408 ")


def test_slow_clients_neither_block_real_requests_nor_stay_open(
    web: BotProcess, slow: Slow, fake_slack: FakeSlack
) -> None:
    open_hostile(slow, SLOW)
    slow.thread.start()
    time.sleep(0.5)  # the server has them all, and they have blocked whatever they can
    assert healthz(web) == 200
    root = web.send(mention_event("still here?", "C1", next_ts()))["event"]
    fake_slack.wait_for("chat.postMessage", in_thread(root["ts"]), timeout=20)
    # every one is cut off by the total deadline: the tricklers too, though they never pause
    wait_until(
        lambda: all(closed_by_server(sock) for sock in slow.all()),
        READ_SECONDS + 10,
        "the server to close every slow connection",
    )
    assert healthz(web) == 200
    check_keepalive_pipelining_and_refusals(web)


@pytest.mark.parametrize(
    "web", [{"WEB_MAX_CONNECTIONS": "16", "REQUEST_READ_SECONDS": "60"}], indirect=True
)
def test_more_slow_connections_than_the_cap_evict_the_oldest(web: BotProcess, slow: Slow) -> None:
    open_hostile(slow, SLOW)
    slow.thread.start()
    # a worker holds at most 16 connections: the oldest slow ones make room for new ones,
    # long before their 60 s deadline
    wait_until(
        lambda: sum(closed_by_server(sock) for sock in slow.all()) >= SLOW - 16,
        10,
        "the oldest slow connections to be closed",
    )
    assert healthz(web) == 200
    late = slow.open(HEAD + b"Content-Length: 10\r\n\r\n{")
    assert healthz(web) == 200 and not closed_by_server(late)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 4000), max_size=6))
def test_a_request_is_sized_once_its_head_is_there_however_it_arrives(
    body: bytes, cuts: list[int]
) -> None:
    request = HEAD + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    head = request.index(b"\r\n\r\n") + 4
    data, scanned = b"", 0
    for cut in [*sorted({c % len(request) for c in cuts}), len(request)]:
        data = request[:cut]  # what has arrived so far; `scanned` of it was searched before
        size = request_size(data, scanned)
        scanned = len(data)
        assert size == (len(request) if cut >= head else None)
        if size is not None:
            break
    assert request_size(request + b"GET / HTTP/1.1\r\n") == len(request)  # pipelined
