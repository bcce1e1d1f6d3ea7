"""Runtime: builds the pieces from the configuration and holds them (nothing else runs here).

Slack clients, the state store, the session store, the personas, the intake (the ack path,
bot/intake/) and the worker (the turns, bot/turns/), wired to each other at build time.
"""

from __future__ import annotations

import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.oauth.state_store import OAuthStateStore

from bot.agent.personas import Personas, load_personas
from bot.answer.progress import Progress
from bot.answer.reply import Replier
from bot.config.settings import Config
from bot.intake.intake import Intake
from bot.slack.clients import SlackClients, slack_client
from bot.slack.installations import build_stores
from bot.store import lifecycle
from bot.store.blobs import S3Blobs
from bot.store.connect import build_state
from bot.store.inbox import Inbox
from bot.store.sessions import SessionStore
from bot.store.state import State
from bot.turns import approval_turns
from bot.turns.conversation import Conversation
from bot.turns.inputs.files import FileLimits
from bot.turns.inputs.thread_context import ThreadReader
from bot.turns.worker import Worker

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    config: Config
    client: WebClient  # SLACK_BOT_TOKEN's (OAuth: one without a token)
    state: State
    store: SessionStore
    personas: Personas
    inbox: Inbox  # the durable inbox, on storage with short timeouts (the ack path's)
    slack: SlackClients  # the client of each job's installation (OAuth: one per workspace)
    intake: Intake  # the ack path: what the listeners hand messages to
    worker: Worker  # the turns
    background: ThreadPoolExecutor  # work that must not delay an ack or a sweep
    oauth_states: OAuthStateStore | None = None  # OAuth only: Bolt's install flow uses it

    @classmethod
    def build(cls, config: Config) -> Runtime:
        """Every piece, wired: clients, stores, personas, intake, worker (not started)."""
        client = slack_client(config)
        installations, oauth_states = build_stores(config) if config.oauth else (None, None)
        if config.oauth:
            log.info(
                "OAuth: installs at /slack/install, installations kept in %s",
                "S3" if config.session_bucket else config.session_dir / "installations",
            )
        slack = SlackClients(
            config, client, lambda token: slack_client(config, token), installations
        )
        state = build_state(config)
        store = _session_store(config, state)
        personas = load_personas(config)
        inbox = Inbox(store.blobs.quick())  # on the ack path: short timeouts, few retries
        background = ThreadPoolExecutor(4, thread_name_prefix="background")
        intake = Intake(
            state,
            inbox,
            store,
            slack,
            queue_max=config.thread_queue_max,
            background=background,
            on_queued=Progress(slack, state).waiting,  # a turn queued behind a running one
        )
        reader = ThreadReader.from_config(config, client)
        conversation = _conversation(config, state, store, personas, slack, inbox, reader)
        worker = Worker(
            state,
            conversation,
            concurrency=config.turn_concurrency,
            on_sweep=functools.partial(_sweep, intake, state, store),
        )
        return cls(
            config,
            client,
            state,
            store,
            personas,
            inbox,
            slack,
            intake,
            worker,
            background,
            oauth_states,
        )

    def keep_lifecycle(self) -> None:
        """File store: expire idle sessions and old inbox records hourly. S3 expires them
        itself by a lifecycle rule: check the bucket has the right one."""
        ttl, blobs = self.config.session_ttl_days, self.store.blobs
        if isinstance(blobs, S3Blobs):

            def check() -> None:
                if problem := lifecycle.check_bucket(blobs, ttl, self.config.oauth):
                    log.warning("%s", problem)

            self.background.submit(check)
        else:
            lifecycle.start_sweeper(blobs, ttl, on_expired=self.store.forget_cached)

    def health(self) -> dict[str, str]:
        """ "ok" or the error's type, for the state store and the session storage."""
        checks = {}
        for name, probe in (("state", self.state.ping), ("storage", self.store.ping)):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"error: {type(exc).__name__}"
        return checks


def _session_store(config: Config, state: State) -> SessionStore:
    store = SessionStore(
        bucket=config.session_bucket,
        prefix=config.session_prefix,
        directory=config.session_dir,
        facts=state,
    )
    if not config.session_bucket:
        log.warning("SESSION_BUCKET is not set: sessions live under %s", config.session_dir)
    return store


def _conversation(
    config: Config,
    state: State,
    store: SessionStore,
    personas: Personas,
    slack: SlackClients,
    inbox: Inbox,
    reader: ThreadReader,
) -> Conversation:
    return Conversation(
        state,
        store,
        personas,
        Replier(slack, personas.several, claims=inbox),
        streaming=config.streaming,
        reader=reader,
        bot_user_id=slack.bot_user_id,
        file_limits=FileLimits(
            max_bytes=config.file_max_bytes,
            max_files=config.turn_max_files,
            max_turn_bytes=config.turn_max_file_bytes,
        ),
        inbox=inbox,
    )


def _sweep(intake: Intake, state: State, store: SessionStore) -> None:
    """The worker's sweep: the intake's recovery, then approvals due to expire."""
    intake.recovery.on_sweep()
    approval_turns.sweep(state, store, intake.accept)
