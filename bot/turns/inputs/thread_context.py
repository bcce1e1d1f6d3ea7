"""The thread's context: what was said in a thread before the bot was asked.

On a persona's first turn in a thread that began without it, the thread's earlier messages
are read from Slack once (`conversations.replies` is ~1 request/min, 15 messages a page for
commercially distributed non-Marketplace apps), bounded in time and never retried, and
given to the model as a transcript of entries (bot/turns/inputs/thread_entries.py). After
that, other apps' posts in a joined thread reach the next turn as notes
(bot/turns/inputs/thread_notes.py).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import TLRUCache
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config.settings import Config
from bot.jobs import DM_THREAD, Job
from bot.turns.inputs.posts import MESSAGE_SUBTYPES, SLACKBOT, bot_name, is_app_post, message_text
from bot.turns.inputs.thread_entries import (
    ASSISTANT,
    AUTHORS,
    QUOTED,
    app_label,
    clean_name,
    entry,
    person_label,
    within,
)

log = logging.getLogger(__name__)
HEADER = f"Earlier in this thread (oldest first). {AUTHORS}; {QUOTED}:"
_NOTICE_ROOM = 100  # of max_chars, kept for the "not shown" / "could not be read" lines
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


@dataclass(frozen=True)
class ContextLimits:
    max_messages: int = 50  # 0 disables reading
    max_chars: int = 12_000


class NameCache:
    """User id -> display name, each kept for its own TTL; when full, expired names go
    first, then the least recently used. Thread-safe."""

    def __init__(
        self,
        max_size: int = 5_000,
        ttl: float = 3_600.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        # value: (name, its ttl); TLRUCache asks `ttu` when each entry expires
        self._names: TLRUCache[str, tuple[str, float]] = TLRUCache(
            max_size, lambda _user, value, now: now + value[1], timer
        )
        self._lock = threading.Lock()

    def get(self, user: str) -> str | None:
        with self._lock:
            found = self._names.get(user)
        return found[0] if found is not None else None

    def put(self, user: str, name: str, ttl: float | None = None) -> None:
        """Remember `name` for `ttl` seconds (default: the cache's)."""
        with self._lock:
            self._names[user] = (name, self.ttl if ttl is None else ttl)


NAMES = NameCache()  # process-wide


def _ts_key(ts: Any) -> tuple[int, int] | None:
    """A Slack ts as integers (a float loses the microseconds of a 10-digit epoch)."""
    secs, _, micros = ts.partition(".") if isinstance(ts, str) else ("", "", "")
    if not secs.isdigit() or not (micros or "0").isdigit():
        return None
    return int(secs), int(micros.ljust(6, "0")[:6])


@dataclass
class Read:
    until: float  # time.monotonic() deadline of this read
    client: WebClient  # the installation's client (its token, URL, SSL, proxy, headers)
    warned: bool = False  # one warning per read, however many calls fail


class ThreadReader:
    """Reads a thread's earlier messages within `limits` and `deadline` seconds.

    Only the given client's token, base URL, SSL, proxy and headers are used: every request
    goes through a client with no retry handlers (a 429 ends the read, whatever the bot's
    main client retries) and a timeout that fits the deadline."""

    def __init__(
        self,
        client: WebClient,
        limits: ContextLimits | None = None,
        *,
        deadline: float = 5.0,
        request_timeout: float = 2.0,
        names: NameCache | None = None,
    ) -> None:
        self.client, self.limits = client, limits or ContextLimits()
        self.deadline, self.request_timeout = deadline, request_timeout
        self.names = NAMES if names is None else names
        # after a 429: no reads with that token until its Retry-After has passed
        self._quiet_until: dict[str | None, float] = {}

    @classmethod
    def from_config(cls, config: Config, client: WebClient) -> ThreadReader:
        return cls(
            client, ContextLimits(config.thread_context_messages, config.thread_context_chars)
        )

    def earlier(
        self,
        channel: str,
        thread_ts: str,
        before_ts: str,
        bot_user_id: str,
        since_ts: str | None = None,
        client: WebClient | None = None,
    ) -> str | None:
        """The thread's messages strictly before `before_ts` (and after `since_ts`, e.g. a
        reset) as a transcript, or None. `client`: the thread's installation's (default:
        the reader's own)."""
        before, since = _ts_key(before_ts), _ts_key(since_ts) or (0, 0)
        if self.limits.max_messages <= 0 or thread_ts == DM_THREAD or before is None:
            return None
        read = self.start(client or self.client)
        if read is None:
            log.info("thread context of %s skipped: reads are rate limited", thread_ts)
            return None
        kept: deque[dict] = deque(maxlen=self.limits.max_messages)
        seen, pages, cursor, complete, newer = 0, 0, "", True, False
        while not newer:
            try:
                page = self.call(
                    read,
                    "conversations.replies",
                    channel=channel,
                    ts=thread_ts,
                    limit=200,
                    **({"cursor": cursor} if cursor else {}),
                )
            except Exception as exc:
                self.failed(exc, f"page {pages + 1} of thread {thread_ts} in {channel}", read)
                complete = False
                break
            for message in page.get("messages") or []:  # oldest first
                ts = _ts_key(message.get("ts")) if isinstance(message, dict) else None
                if ts is not None and ts >= before:
                    newer = True
                    break
                if ts is not None and ts > since and is_context(message):
                    kept.append(message)
                    seen += 1
            pages += 1
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
        if not kept:
            return None
        return self._transcript(self.entries(list(kept), bot_user_id, read), seen, complete)

    def start(self, client: WebClient) -> Read | None:
        """A read with `client` within the reader's deadline; None while its token waits
        out a 429's Retry-After."""
        if time.monotonic() < self._quiet_until.get(client.token, 0.0):
            return None
        return Read(time.monotonic() + self.deadline, client)

    def entries(self, messages: list[dict], bot_user_id: str, read: Read) -> list[str]:
        """Each message as a transcript entry: its author's label, then its text with
        mentions as @Name (bot/turns/inputs/thread_entries.py)."""
        labels = [self._label(message, bot_user_id, read) for message in messages]
        return [
            entry(label, self._named(message_text(message), bot_user_id, read))
            for label, message in zip(labels, messages, strict=True)
        ]

    def call(self, read: Read, method: str, **params: Any) -> dict[str, Any]:
        """One GET of a Web API method within `read`'s deadline, never retried."""
        remaining = read.until - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{self.deadline:g} s deadline passed")
        c = read.client
        # slack_sdk annotates timeout as int; urllib takes the float this deadline needs
        client = WebClient(
            token=c.token,
            base_url=c.base_url,
            ssl=c.ssl,
            proxy=c.proxy,
            headers=c.headers,
            timeout=min(self.request_timeout, remaining),  # type: ignore[arg-type]
            retry_handlers=[],
        )
        data = client.api_call(method, http_verb="GET", params=params).data
        return data if isinstance(data, dict) else {}

    def failed(self, exc: Exception, what: str, read: Read) -> None:
        """Log a failed call once per read; after a 429, no reads until its Retry-After."""
        reason = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, SlackApiError):
            reason = f"HTTP {exc.response.status_code} {exc.response.get('error')}"
            if exc.response.status_code == 429:
                after = str(exc.response.headers.get("Retry-After", ""))
                wait = min(int(after) if after.isdigit() else 60, 300)
                self._quiet_until[read.client.token] = time.monotonic() + wait
        if not read.warned:
            read.warned = True
            log.warning("thread context: %s failed (%s); going on without it", what, reason)

    def _label(self, message: dict, bot_user_id: str, read: Read) -> str:
        user = message.get("user") if isinstance(message.get("user"), str) else ""
        if user and user == bot_user_id and message.get("subtype") != "bot_message":
            persona = message.get("username")  # set when several personas post
            if isinstance(persona, str) and persona:
                return f"[{ASSISTANT} ({clean_name(persona)})]"
            return f"[{ASSISTANT}]"
        if is_app_post(message) or not user:
            bot_id = message.get("bot_id") or message.get("app_id")
            return app_label(bot_id if isinstance(bot_id, str) else "", bot_name(message))
        return person_label(user, self._name(user, read))

    def _name(self, user: str, read: Read) -> str:
        if (cached := self.names.get(user)) is not None:
            return cached
        if time.monotonic() >= read.until:
            return user  # out of time: not remembered as a failure
        try:
            info = self.call(read, "users.info", user=user).get("user") or {}
        except Exception as exc:
            self.failed(exc, f"users.info {user}", read)
            self.names.put(user, user, ttl=60.0)  # do not ask again at once
            return user
        profile = info.get("profile") or {}
        name = (
            profile.get("display_name")
            or profile.get("real_name")
            or info.get("real_name")
            or info.get("name")
            or user
        )
        self.names.put(user, name)
        return name

    def _named(self, text: str, bot_user_id: str, read: Read) -> str:
        """<@U123> -> @Name."""

        def swap(match: re.Match[str]) -> str:
            user = match.group(1)
            return "@" + (ASSISTANT if user == bot_user_id else clean_name(self._name(user, read)))

        return _MENTION.sub(swap, text)

    def _transcript(self, lines: list[str], seen: int, complete: bool) -> str:
        budget = max(0, self.limits.max_chars - len(HEADER) - _NOTICE_ROOM)
        shown = within(list(reversed(lines)), budget)  # the newest are kept
        out = [HEADER]
        if hidden := seen - len(shown):
            out.append(f"({hidden} earlier message{'s' * (hidden != 1)} not shown)")
        out += reversed(shown)
        if not complete:
            out.append("(the newer messages of this thread could not be read)")
        return "\n".join(out)


def is_context(message: dict) -> bool:
    """People's and apps' messages; not system notices (joins, topic changes) or Slackbot."""
    return (
        message.get("subtype") in MESSAGE_SUBTYPES
        and message.get("user") != SLACKBOT
        and bool(message_text(message))
    )


def wants_earlier(job: Job, has_history: bool) -> bool:
    """Mentioned inside an existing thread that the persona has no history of yet."""
    return not has_history and job.thread_ts not in (DM_THREAD, job.ts)
