"""gunicorn's gthread worker, except that no thread ever waits on a client.

gthread hands a connection to a thread as soon as its first byte arrives; the thread then
reads the request line, the headers and (through the app) the body with blocking `recv`s
and no deadline, so a few clients that send a head and one body byte hold every thread and
/healthz stops answering. This worker reads each request, head and body (Content-Length
only, at most MAX_BODY_BYTES), without blocking in the worker's event loop, and hands a
thread only a complete request, parsed by gunicorn from those buffered bytes (the thread
cannot read the socket at all). A request not complete REQUEST_READ_SECONDS after its
connection was accepted (or after its first byte on a kept-alive connection) is answered
408 and closed however steadily it trickles. A worker keeps at most WEB_MAX_CONNECTIONS
connections, and MAX_BUFFERED_BYTES of requests still being read: when the ones being read
fill either, the oldest is closed to make room.
Closing lingers in the event loop too (gthread drains a closed connection in its main loop,
up to 2 s per connection).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
import time
from concurrent.futures import Future
from functools import partial
from selectors import EVENT_READ
from typing import Any

from gunicorn.http.parser import RequestParser
from gunicorn.workers import gthread
from gunicorn.workers.gthread import TConn, ThreadWorker

from bot.serve.http_limits import (
    TIMEOUT,
    Refused,
    max_connections,
    read_seconds,
    request_size,
)

__all__ = ["RequestReadingWorker", "max_connections", "read_seconds"]  # gunicorn_conf.py

# types-gunicorn describes an older gthread: no STOP_KEEPALIVE_LINGER, _cap_keepalive or
# murder_keepalived(force) there (gunicorn 27's gthread.py has all three).
STOP_KEEPALIVE_LINGER: float = gthread.STOP_KEEPALIVE_LINGER  # type: ignore[attr-defined]
LINGER_SECONDS = 2.0  # a closed connection's unread bytes are drained this long at most
LINGER_BYTES = 64 * 1024
MAX_BUFFERED_BYTES = 64 * 1024 * 1024  # of requests still being read, per worker


class Conn(TConn):
    """gthread's connection, with what this worker keeps about the request being read."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.inbox = bytearray()  # bytes received and not yet handed to a thread
        self.idle = False  # kept alive between requests, nothing of the next one yet
        self.size: int | None = None  # the request's whole length, once its head is read
        self.scanned = 0  # how far the head's end was looked for in `inbox`
        self.deadline = 0.0  # monotonic time by which the request must be complete
        self.drained = 0  # bytes drained while lingering after close


def _receive(conn: Conn) -> bytes | None:
    """What a readable connection sent: b"" at its end or on an error, None if nothing
    was there after all."""
    try:
        return conn.sock.recv(65536)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


class RequestReadingWorker(ThreadWorker):
    """gthread whose event loop reads whole requests; threads only run the app."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_seconds = read_seconds(dict(os.environ))
        self.reading: dict[Conn, None] = {}  # waiting for (the rest of) a request, oldest first
        self.closing: dict[Conn, float] = {}  # half-closed: drained until EOF or this time
        self.max_reading = max(1, self.worker_connections - self.cfg.threads)
        self.buffered = 0  # bytes of requests held in `reading` connections

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:  # noqa: ANN401 - gunicorn's types
        super().check_config(cfg, log)
        plain = getattr(cfg, "http2_cleartext", "off") == "off"
        if cfg.is_ssl or not plain or getattr(cfg, "protocol", "http") != "http":
            raise RuntimeError(
                "bot.serve.http_worker serves plain HTTP/1.1 only: terminate TLS (and HTTP/2) at "
                "a load balancer or proxy, and drop --certfile/--keyfile/--http2-cleartext"
            )

    # --- reading requests in the event loop ----------------------------------------------
    def accept(self, listener: socket.socket) -> None:
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        # a client that stops reading its answer cannot hold a thread in send() either
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(self.read_seconds))
        conn = Conn(self.cfg, sock, client, listener.getsockname())  # non-blocking
        self._read_next(conn, self.read_seconds)

    def _read_next(self, conn: Conn, wait: float) -> None:
        """Give `conn` a thread if its next request is already buffered, else read it."""
        conn.deadline = time.monotonic() + wait
        if self._hand_off(conn):
            return
        if len(self.reading) >= self.max_reading:
            self._evict_oldest()
        self.poller.register(conn.sock, EVENT_READ, partial(self._on_readable, conn))
        self.reading[conn] = None

    def _on_readable(self, conn: Conn, _sock: socket.socket) -> None:
        data = _receive(conn)
        if data is None:
            return
        if not data:
            self._stop_reading(conn)
            self._close(conn)
            return
        if conn.idle:  # a kept-alive connection's next request starts: its own deadline
            conn.idle, conn.deadline = False, time.monotonic() + self.read_seconds
        conn.inbox += data
        self.buffered += len(data)
        while self.buffered > MAX_BUFFERED_BYTES and conn in self.reading:
            self._evict_oldest()  # bodies held for slow clients: bounded per worker too
        if conn not in self.reading:
            return
        try:
            self._hand_off(conn)
        except Refused as refusal:
            self._stop_reading(conn)
            self._refuse(conn, refusal)

    def _hand_off(self, conn: Conn) -> bool:
        """If a whole request is buffered: parse it in a thread, from the buffer only."""
        if conn.size is None:
            start = 0
            while conn.inbox.startswith(b"\r\n", start):  # RFC 9112 2.2: before a request
                start += 2
            del conn.inbox[:start]
            self.buffered -= start
            conn.size = request_size(conn.inbox, conn.scanned)
            conn.scanned = len(conn.inbox)
        if conn.size is None or len(conn.inbox) < conn.size:
            return False
        if conn in self.reading:
            self._stop_reading(conn)
        request = bytes(conn.inbox[: conn.size])
        del conn.inbox[: conn.size]
        self.buffered -= conn.size
        conn.size, conn.scanned = None, 0
        conn.parser = RequestParser(self.cfg, [request], conn.client)
        conn.initialized = conn.data_ready = True
        self.enqueue_req(conn)
        return True

    def _evict_oldest(self) -> None:
        oldest = next(iter(self.reading))
        self._stop_reading(oldest)
        self._close(oldest)

    def _stop_reading(self, conn: Conn) -> None:
        del self.reading[conn]
        self.poller.unregister(conn.sock)

    def finish_request(self, conn: TConn, fs: Future) -> None:
        """After a thread answered: read the next request (keep-alive) or close."""
        assert isinstance(conn, Conn)  # every connection this worker accepted is one
        try:
            keep = not fs.cancelled() and fs.result() is True
            if keep:
                conn.sock.setblocking(False)
        except Exception:  # noqa: BLE001 - whatever happened, the connection is done
            keep = False
        if not keep:
            self._linger(conn)
            return
        conn.idle = not conn.inbox  # pipelined bytes: the next request has started
        wait = self.read_seconds if conn.inbox else self.cfg.keepalive
        try:
            self._read_next(conn, wait if self.alive else min(wait, STOP_KEEPALIVE_LINGER))
        except Refused as refusal:
            self._refuse(conn, refusal)
        except (OSError, ValueError):  # the socket is gone
            self._close(conn)

    # --- closing --------------------------------------------------------------------------
    def _refuse(self, conn: Conn, refusal: Refused) -> None:
        with contextlib.suppress(OSError):  # best effort: the send buffer is empty
            conn.sock.send(refusal.response())
        self._linger(conn)

    def _linger(self, conn: Conn) -> None:
        """Close after the peer has read the answer: half-close now, drain in the loop."""
        self._forget_inbox(conn)
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
            self.poller.register(conn.sock, EVENT_READ, partial(self._on_closing, conn))
        except (OSError, ValueError, KeyError):
            self._close(conn)
            return
        conn.drained = 0
        self.closing[conn] = time.monotonic() + LINGER_SECONDS

    def _on_closing(self, conn: Conn, _sock: socket.socket) -> None:
        data = _receive(conn)
        if data is None:
            return
        conn.drained += len(data)
        if not data or conn.drained > LINGER_BYTES:
            self._end_linger(conn)

    def _end_linger(self, conn: Conn) -> None:
        del self.closing[conn]
        self.poller.unregister(conn.sock)
        self._close(conn)

    def _forget_inbox(self, conn: Conn) -> None:
        self.buffered -= len(conn.inbox)
        conn.inbox = bytearray()

    def _close(self, conn: Conn) -> None:
        self._forget_inbox(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Each loop: cut off requests past their deadline, end lingering closes."""
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c in self.reading if c.deadline <= now]:
            self._stop_reading(conn)
            if conn.idle or not conn.inbox:
                self._close(conn)  # no request begun: nothing to answer
            else:
                self._refuse(conn, TIMEOUT)
        for conn in [c for c, until in self.closing.items() if until <= now]:
            self._end_linger(conn)

    def _cap_keepalive(self, deadline: float) -> None:
        """Stopping: idle kept-alive connections close soon (as gthread's own do)."""
        super()._cap_keepalive(deadline)  # type: ignore[misc]
        for conn in self.reading:
            if conn.idle:
                conn.deadline = min(conn.deadline, deadline)

    def murder_keepalived(self, force: bool = False) -> None:
        super().murder_keepalived(force)  # type: ignore[call-arg]
        if force:  # the worker is exiting
            for conn in list(self.reading):
                self._stop_reading(conn)
                self._close(conn)
            for conn in list(self.closing):
                self._end_linger(conn)


def _timeval(seconds: float) -> bytes:
    """A `struct timeval` for SO_SNDTIMEO."""
    return struct.pack("ll", int(seconds), int((seconds % 1) * 1_000_000))
