"""Which Slack client a job uses: the bot token of the installation it came from.

Single-token mode: the one client of SLACK_BOT_TOKEN, for every job. OAuth
(bot/slack/installations.py): the installation's bot token, found the way Bolt's `authorize`
finds it (`find_bot(enterprise_id, team_id, is_enterprise_install)`), rotated when it
expires (apps with token rotation), and cached per installation for `ttl` seconds, so a
token that an uninstall deleted (in any process) stops being used within that time.

Bolt requests already carry their installation's client (`context.client`); this is for
work done outside them: the turns worker and what runs after an ack.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache, TTLCache
from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.oauth.installation_store import Bot, InstallationStore
from slack_sdk.oauth.token_rotation import TokenRotator

from bot import tls
from bot.config.settings import Config
from bot.jobs import Job
from bot.obs import metrics

log = logging.getLogger(__name__)
TTL_SECONDS = 60.0
MAX_CACHED = 1_000  # installations whose client is kept; expired ones go first
ROTATE_MINUTES = 120  # Bolt's default: refresh a rotating token this long before it expires


class NotInstalled(LookupError):
    """No bot token for this installation (uninstalled, revoked, or never installed)."""


@dataclass(frozen=True)
class Installation:
    """The installation store's key: org-wide installs have no team."""

    enterprise_id: str | None
    team_id: str | None
    is_enterprise_install: bool = False

    @classmethod
    def of(cls, job: Job) -> Installation:
        org = job.org_install
        return cls(job.enterprise or None, None if org else job.team or None, org)


@dataclass(frozen=True)
class _Entry:
    client: WebClient
    bot_user_id: str


class SlackClients:
    def __init__(
        self,
        config: Config,
        default: WebClient,
        make: Callable[[str], WebClient],
        store: InstallationStore | None = None,
        ttl: float = TTL_SECONDS,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        """`default`: the SLACK_BOT_TOKEN client (OAuth: a client without a token, for
        calls that need none). `make(token)`: a client for one installation's token
        (`slack_client` below). `store`: the installations, with OAuth. `timer`:
        the clock of the TTL."""
        self.default, self.make, self.store, self.ttl = default, make, store, ttl
        # installation -> its client and bot user, for `ttl` seconds (expired ones go first)
        self._fresh: TTLCache[Installation, _Entry] = TTLCache(MAX_CACHED, ttl, timer)
        # token -> its client, kept when the installation is looked up again
        self._clients: LRUCache[str, WebClient] = LRUCache(MAX_CACHED)
        self._lock = threading.Lock()  # cachetools caches are not thread-safe
        self._rotator = TokenRotator(
            client_id=config.client_id, client_secret=config.client_secret, client=default
        )
        self._own_user_id = functools.cache(lambda: default.auth_test()["user_id"])

    @property
    def oauth(self) -> bool:
        return self.store is not None

    def bind(self, job: Job, context: BoltContext) -> Job:
        """`job` marked with the request's installation (OAuth only: single-token jobs stay
        exactly as before, which older workers can load)."""
        if not self.oauth:
            return job
        return dataclasses.replace(
            job,
            enterprise=context.enterprise_id or "",
            org_install=bool(context.is_enterprise_install),
        )

    def for_job(self, job: Job) -> WebClient:
        """The client of `job`'s installation; NotInstalled if it has no bot token."""
        return self.default if not self.oauth else self._entry(Installation.of(job)).client

    def bot_user_id(self, job: Job) -> str:
        if not self.oauth:
            return self._own_user_id()
        return self._entry(Installation.of(job)).bot_user_id

    def installed(self, job: Job) -> bool:
        try:
            self.for_job(job)
            return True
        except NotInstalled:
            return False

    def forget(self, enterprise_id: str | None, team_id: str | None) -> None:
        """Drop a deleted installation's client now (other processes: within the TTL)."""
        with self._lock:
            for key in [
                k
                for k in self._fresh
                if k.enterprise_id == enterprise_id
                and (k.team_id == team_id or k.is_enterprise_install)
            ]:
                self._fresh.pop(key, None)

    def _entry(self, key: Installation) -> _Entry:
        with self._lock:
            cached = self._fresh.get(key)
        if cached is not None:
            return cached
        bot = self._find(key)
        token = bot.bot_token or ""
        with self._lock:
            client = self._clients.get(token)  # same token: keep its connection settings
        entry = _Entry(client or self.make(token), bot.bot_user_id or "")
        with self._lock:
            self._clients[token] = entry.client
            self._fresh[key] = entry
        return entry

    def _find(self, key: Installation) -> Bot:
        assert self.store is not None
        bot = self.store.find_bot(
            enterprise_id=key.enterprise_id,
            team_id=key.team_id,
            is_enterprise_install=key.is_enterprise_install,
        )
        if bot is None or not bot.bot_token:
            raise NotInstalled(
                f"no installation for enterprise {key.enterprise_id}, team {key.team_id}"
            )
        if bot.bot_refresh_token:  # token rotation: refresh it as Bolt's authorize does
            rotated = self._rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=ROTATE_MINUTES
            )
            if rotated is not None:
                self.store.save_bot(rotated)
                bot = rotated
        return bot


def slack_client(config: Config, token: str | None = None) -> WebClient:
    """A Web API client for `token` (default SLACK_BOT_TOKEN): SLACK_API_URL, one shared TLS
    context, every call counted, and slack_sdk's retries of connection errors, rate limits
    and server errors."""
    # one TLS context for every call (urllib would build one per HTTPS connection)
    client = WebClient(
        token=token or config.bot_token or None,
        timeout=15,
        ssl=tls.default_context(),
        base_url=config.api_url or WebClient.BASE_URL,
    )
    client.retry_handlers = [
        metrics.SlackCalls(),  # counts every attempt; never retries
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
    ]
    return client


def best_effort(client: WebClient) -> WebClient:
    """`client` for calls that may be skipped (a status line, a reaction): a rate limit
    answers at once (SlackApiError "ratelimited") instead of being waited out, so a turn
    never sleeps up to a minute per retry on reactions.remove's 20 calls a minute."""
    quick = WebClient(
        token=client.token, timeout=client.timeout, ssl=client.ssl, base_url=client.base_url
    )
    quick.retry_handlers = [metrics.SlackCalls(), ConnectionErrorRetryHandler(max_retry_count=1)]
    return quick
