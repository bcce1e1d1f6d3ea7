"""Which hosts may receive the bot token with a file download (SLACK_FILE_HOSTS).

A file's `url_private(_download)` comes from the event, so anyone who can post shapes it:
the token goes only to Slack's own hosts, over https. SLACK_FILE_HOSTS replaces the default
for GovSlack or a test server; its entries, comma separated:

- `files.example.com`: that host over https (default port);
- `*.example.com`: any subdomain of example.com over https;
- `https://host[:port]` or `http://host[:port]`: exactly that origin (e.g. a local test
  server; plain http only when spelled out like this).
"""

from __future__ import annotations

import functools
import os
import re
from typing import NamedTuple
from urllib.parse import urlsplit

from bot.config.env import ConfigError, get

VARIABLE = "SLACK_FILE_HOSTS"
DEFAULT = "*.slack.com,*.slack-gov.com"  # Slack's domains (files.slack.com, GovSlack's)
_HOST = re.compile(r"^(\*\.)?([a-z0-9-]+\.)*[a-z0-9-]+$")


class Origin(NamedTuple):
    scheme: str
    host: str  # "*.example.com": any subdomain
    port: int | None  # None: the scheme's default


def _entry(raw: str) -> Origin:
    text = raw.strip().lower()
    if "://" not in text:
        if not _HOST.match(text) or "." not in text:
            raise ConfigError(
                f"{VARIABLE}: {raw!r} is not a host name; write e.g. "
                f"files.slack-gov.com, *.slack.com or http://127.0.0.1:8080."
            )
        return Origin("https", text, None)
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or port == -1
        or parts.path.strip("/")
        or parts.query
        or parts.username
        or not _HOST.match(parts.hostname)
        or parts.hostname.startswith("*")
    ):
        raise ConfigError(
            f"{VARIABLE}: {raw!r} is not an origin; write "
            f"https://host[:port] or http://host[:port], without a path."
        )
    return Origin(parts.scheme, parts.hostname, port)


@functools.lru_cache(maxsize=8)
def parse(value: str | None) -> tuple[Origin, ...]:
    """The allowed origins of a SLACK_FILE_HOSTS value (None or empty: Slack's domains)."""
    entries = [e for e in (value or DEFAULT).split(",") if e.strip()]
    if not entries:
        raise ConfigError(f"{VARIABLE} lists no hosts; unset it to allow Slack's own.")
    return tuple(_entry(e) for e in entries)


def from_env(env: dict[str, str] | None = None) -> tuple[Origin, ...]:
    """The allowed origins from `env` (default: the process environment), checked."""
    return parse(get(dict(os.environ if env is None else env), VARIABLE))


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _matches(origin: Origin, scheme: str, host: str, port: int) -> bool:
    if scheme != origin.scheme or port != (origin.port or _default_port(scheme)):
        return False
    if origin.host.startswith("*."):
        return host.endswith(origin.host[1:])
    return host == origin.host


def token_may_go_to(url: str, origins: tuple[Origin, ...] | None = None) -> bool:
    """May a request to `url` carry the bot token? Only to an allowed origin."""
    try:
        parts = urlsplit(url)
        port = parts.port or _default_port(parts.scheme)
    except ValueError:
        return False
    host = (parts.hostname or "").rstrip(".")
    if parts.username is not None or not host:
        return False
    return any(_matches(o, parts.scheme, host, port) for o in origins or from_env())


__all__ = ["DEFAULT", "VARIABLE", "Origin", "from_env", "parse", "token_may_go_to"]
