"""GET /metrics: what a scrape shows (every gunicorn worker's samples in multiprocess mode,
the queue gauges asked of the state store) and who may see it (METRICS_TOKEN). Served by
bot/serve/web.py in HTTP mode and, for Socket Mode and `turns` processes, on METRICS_PORT.
The metrics themselves are defined in bot/obs/metrics.py.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)


class QueueCollector:
    """Queue depth and the oldest queued message's age, asked of the state at scrape time."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            count, oldest = self.state.queue_stats()
        except Exception:  # the scrape still shows every other metric
            return
        yield _gauge(
            "tsb_queued_messages",
            "Messages accepted and not yet answered (including those being answered now)",
            count,
        )
        yield _gauge(
            "tsb_oldest_queued_message_age_seconds",
            "Age of the oldest of them (from its Slack ts); 0 when none",
            oldest,
        )


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class _ThisProcess:
    """This process's own metrics (no PROMETHEUS_MULTIPROC_DIR: one process serves itself)."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def registry(state: Any) -> CollectorRegistry:
    """What a scrape shows: every process's samples (multiprocess mode) or this process's,
    and the queue gauges."""
    scraped = CollectorRegistry(auto_describe=False)  # describe nothing: no Redis call here
    if getattr(values.ValueClass, "_multiprocess", False):  # samples are written to files
        MultiProcessCollector(scraped)
    else:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            log.warning(
                "PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was "
                "imported: /metrics shows this process only"
            )
        scraped.register(_ThisProcess())
    scraped.register(QueueCollector(state))
    return scraped


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()  # equal lengths: nothing leaks by timing


class Endpoint:
    """WSGI app for GET /metrics: 404 unless a token is configured, then 401 unless the
    request carries `Authorization: Bearer <token>`."""

    def __init__(self, token: str, state: Any) -> None:
        self._token = _digest(token) if token else None
        self._app = make_wsgi_app(registry(state)) if token else None

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._app is None or self._token is None or environ.get("PATH_INFO") != "/metrics":
            return _plain(start_response, "404 Not Found", "not found")
        scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            _digest(given.strip()), self._token
        ):
            return _plain(
                start_response,
                "401 Unauthorized",
                "bearer token required",
                [("WWW-Authenticate", 'Bearer realm="metrics"')],
            )
        return self._app(environ, start_response)


def _plain(
    start_response: Callable[..., Any],
    status: str,
    text: str,
    headers: Sequence[tuple[str, str]] = (),
) -> list[bytes]:
    body = f"{text}\n".encode()
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *headers,
        ],
    )
    return [body]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def serve(port: int | None, token: str, state: Any) -> ThreadingWSGIServer | None:
    """GET /metrics on `port` (METRICS_PORT) in a daemon thread; None when no port is set."""
    if not port:
        return None
    server = make_server("0.0.0.0", port, Endpoint(token, state), ThreadingWSGIServer, _Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on port %d (/metrics)", port)
    return server
