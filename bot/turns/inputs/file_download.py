"""Downloading a Slack file with the bot token (`url_private_download`, scope files:read):
at most a byte cap, within a deadline, following redirects without leaking the token.

The token goes only to Slack's file hosts over https (bot/config/file_hosts.py, SLACK_FILE_HOSTS):
a link elsewhere is not downloaded, and a redirect elsewhere is followed without it."""

from __future__ import annotations

import functools
import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from bot import tls
from bot.config import file_hosts
from bot.obs import metrics


class FileProblem(Exception):
    """Why one file cannot reach the model (`kind`: a short label for metrics)."""

    def __init__(self, reason: str, kind: str = "unreadable") -> None:
        super().__init__(reason)
        self.kind = kind


def mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size:,} bytes"


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects (Slack may send a download to its CDN), sending the bot token only
    to an allowed Slack file host."""

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and not file_hosts.token_may_go_to(new.full_url):
            new.remove_header("Authorization")
        return new


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    https = urllib.request.HTTPSHandler(context=tls.default_context())  # one for all downloads
    return urllib.request.build_opener(_Redirects(), https)


def download(
    file: Mapping[str, Any], token: str, cap: int, timeout: float, truncate: bool = False
) -> tuple[bytes, bool]:
    """(bytes, cut): at most `cap` bytes; more is a problem unless `truncate`. Counted
    among the Slack calls (bot.obs.metrics), as `files.download`: urllib, not the WebClient.
    A link to a host that may not have the token is a problem, and nothing is fetched."""
    try:
        fetched = _fetch(_url(file), token, cap, timeout, truncate)
    except FileProblem as problem:
        metrics.file_download(problem.kind)
        raise
    metrics.file_download(None)
    return fetched


def _url(file: Mapping[str, Any]) -> str:
    """The file's download link, if the bot token may go there."""
    url = str(file.get("url_private_download") or file.get("url_private") or "")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise FileProblem("no download link", "no_link")
    if not file_hosts.token_may_go_to(url):
        raise FileProblem(
            f"not a Slack file link ({parts.scheme}://{parts.hostname or '?'}), "
            "so it was not downloaded",
            "not_slack",
        )
    return url


def _fetch(url: str, token: str, cap: int, timeout: float, truncate: bool) -> tuple[bytes, bool]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    deadline, chunks, total = time.monotonic() + timeout, [], 0
    try:
        with _opener().open(request, timeout=timeout) as response:
            while chunk := response.read1(65_536):
                chunks.append(chunk)
                total += len(chunk)
                if total > cap:
                    if truncate:
                        return b"".join(chunks)[:cap], True
                    raise FileProblem(f"too large (over {mb(cap)})", "too_large")
                if time.monotonic() > deadline:
                    raise TimeoutError
    except urllib.error.HTTPError as exc:
        raise FileProblem(f"download failed (HTTP {exc.code})", f"http_{exc.code}") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError is an OSError
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise FileProblem(f"download timed out after {timeout:g} s", "timeout") from None
        raise FileProblem(f"download failed ({reason})", "connection") from None
    return b"".join(chunks), False
