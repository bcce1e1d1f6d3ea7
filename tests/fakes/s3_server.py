"""In-process moto S3 server plus a fault-injecting reverse proxy."""

from __future__ import annotations

import http.client
import logging
import threading
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from ._http import QuietHandler, ServerThread

_CREDS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}


def s3_client(endpoint_url: str, retries: int | None = None) -> Any:
    """boto3 S3 client with dummy credentials and path-style addressing.

    `retries=0` disables botocore retries (total_max_attempts=1) so injected faults surface.
    """
    retry_cfg = None
    if retries is not None:
        # NB: botocore's `max_attempts` counts *retries*; `total_max_attempts` includes the first.
        retry_cfg = {"mode": "standard", "total_max_attempts": 1 + retries}
    config = Config(s3={"addressing_style": "path"}, retries=retry_cfg)  # type: ignore[arg-type]
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


class S3Server:
    """moto's ThreadedMotoServer on 127.0.0.1.

    NOTE: moto keeps its backends in process-global state, so every S3Server in one
    process sees the same buckets. Use unique bucket names or call `reset()`.
    """

    def __init__(self) -> None:
        # Port 0 lets the OS choose; the real port is read back after start (no race).
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._started = False

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def start(self) -> None:
        if not self._started:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request log
            self._server.start()
            self._started = True

    def stop(self) -> None:
        if self._started:
            self._server.stop()
            self._started = False

    def reset(self) -> None:
        """Wipe all moto state (all services, process-wide)."""
        req = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def client(self, retries: int | None = None) -> Any:
        return s3_client(self.endpoint_url, retries=retries)

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def env(self) -> dict[str, str]:
        """AWS env vars pointing a subprocess's boto3 at this server."""
        return {**_CREDS, "AWS_ENDPOINT_URL": self.endpoint_url}

    def __enter__(self) -> S3Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ProxyHandler(QuietHandler):
    def _handle(self) -> None:
        proxy: FaultyProxy = self.server.owner
        body = self.read_body()
        proxy._record(self.command, self.path)
        fault = proxy._take_fault(self.path)
        delay = proxy.delay
        if delay > 0:
            time.sleep(delay)
        if fault is not None:
            self._send_fault(fault)
            return
        skip = _HOP_BY_HOP | {"content-length"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
        if body or self.command in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(body))  # body was de-chunked by read_body()
        target = urlsplit(proxy.target_url)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            # The original Host header is kept: it is part of the SigV4 signature.
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            self.send_response(resp.status, resp.reason)
            length = resp.getheader("Content-Length")
            for key, value in resp.getheaders():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            if length is not None:
                self.send_header("Content-Length", length)
            self.send_header("Connection", "close")
            self.end_headers()
            while chunk := resp.read(64 * 1024):
                self.wfile.write(chunk)
        finally:
            conn.close()
            self.close_connection = True

    def _send_fault(self, status: int) -> None:
        code = {503: "SlowDown", 500: "InternalError"}.get(status, "InjectedFault")
        data = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>injected by FaultyProxy</Message>"
            "<RequestId>fault</RequestId></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


class FaultyProxy:
    """Reverse proxy in front of `target_url` that can fail or slow down requests.

    Use `url` as an S3 endpoint with path-style addressing.
    """

    def __init__(self, target_url: str) -> None:
        self.target_url = target_url.rstrip("/")
        self.delay = 0.0
        self._faults: list[tuple[int, str]] = []  # (status, part of the paths it hits)
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self._thread = ServerThread(_ProxyHandler, self)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._thread.port}"

    def fail_next(self, n: int = 1, status: int = 500, only: str = "") -> None:
        """Answer the next `n` requests (whose path contains `only`) with `status` (S3-style
        XML error) instead of forwarding."""
        with self._lock:
            self._faults.extend([(status, only)] * n)

    def set_delay(self, seconds: float) -> None:
        """Sleep this long before handling every request (0 disables)."""
        self.delay = seconds

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.requests.clear()
        self.delay = 0.0

    def _take_fault(self, path: str = "") -> int | None:
        with self._lock:
            for index, (status, only) in enumerate(self._faults):
                if only in path:
                    del self._faults[index]
                    return status
            return None

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> FaultyProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
