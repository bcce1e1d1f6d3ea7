"""A fake files.slack.com: serves uploaded bytes only to `Authorization: Bearer <token>`.

Each path can be made slow, failing, a redirect, or (like Slack without the right token
or scope) a sign-in web page. Every request is recorded with its Authorization header.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

from ._http import QuietHandler, ServerThread

LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"


@dataclass
class Served:
    data: bytes = b""
    content_type: str = "application/octet-stream"
    status: int = 200  # non-200: answered with that status and no file
    delay: float = 0.0  # seconds before the response starts
    redirect: str | None = None  # answer 302 to this URL
    public: bool = False  # serve without checking the token (a CDN behind a redirect)
    login_page: bool = False  # 200 with an HTML sign-in page instead of the bytes


@dataclass
class Request:
    path: str
    authorization: str | None


class _Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802
        server: FileServer = self.server.owner
        auth = self.headers.get("Authorization")
        server._record(Request(self.path, auth))
        served = server.routes.get(self.path)
        if served is None:
            self.send_json(404, {"ok": False, "error": "file_not_found"})
            return
        if served.delay:
            time.sleep(served.delay)
        if not served.public and auth != f"Bearer {server.token}":
            self.send_json(403, {"ok": False, "error": "invalid_auth"})
            return
        if served.redirect:
            self.send_response(302)
            self.send_header("Location", served.redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if served.status != 200:
            self.send_json(served.status, {"ok": False, "error": "fatal_error"})
            return
        body, ctype = (
            (LOGIN_PAGE, "text/html") if served.login_page else (served.data, served.content_type)
        )
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)  # the client may stop reading (a file too large)


@dataclass
class FileServer:
    token: str = "xoxb-test-token"
    routes: dict[str, Served] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._thread = ServerThread(_Handler, self)

    def start(self) -> FileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._thread.port}{path}"

    def add(
        self,
        path: str,
        data: bytes = b"",
        content_type: str = "application/octet-stream",
        **options: object,
    ) -> str:
        """Serve `data` at `path` (options: see Served); returns the file's URL."""
        self.routes[path] = Served(data, content_type, **options)  # type: ignore[arg-type]
        return self.url(path)

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)
