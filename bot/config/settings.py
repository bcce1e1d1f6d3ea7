"""Configuration from the environment (and `.env`), validated once at start-up."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn, get_args

from dotenv import load_dotenv

from bot.config import features, file_hosts
from bot.config.env import ConfigError, flag, get, require, whole_number
from bot.obs import logs

Provider = Literal["bedrock", "anthropic", "openai"]
PROVIDERS: tuple[Provider, ...] = get_args(Provider)
# "all": accept and run turns; "accept": only acks; "turns": only turns (PROCESS_ROLE)
Role = Literal["all", "accept", "turns"]
DEFAULT_SESSION_DIR = "./.data/sessions"
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant in a Slack workspace. Answer concisely in standard Markdown "
    "(**bold**, _italics_, [links](https://example.com), `code`, fenced code blocks, lists, "
    "tables): Slack shows it as written."
)


log = logging.getLogger(__name__)
CONFIG_EXIT = 2
BOOT_ERROR_EXIT = 3  # gunicorn's WORKER_BOOT_ERROR: the master stops instead of rebooting


@dataclass(frozen=True)
class Config:
    bot_token: str
    signing_secret: str = ""
    app_token: str = ""
    api_url: str | None = None
    port: int = 3000
    redis_url: str | None = None
    redis_cluster: bool | None = None  # None: ask the server (INFO cluster)
    session_bucket: str | None = None
    session_prefix: str = "sessions/"
    session_dir: Path = Path(".data/sessions")
    model_provider: Provider = "bedrock"
    model_id: str | None = None
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    personas_file: Path | None = None
    log_level: str = "INFO"
    log_format: logs.LogFormat = "text"  # or "json": one JSON object per line (bot/obs/logs.py)
    traces: tuple[str, ...] = ()  # span exporters from the OTEL_* variables (bot/obs/telemetry.py)
    turn_concurrency: int = 64
    lock_ttl_seconds: float = 7.0
    streaming: bool = True
    role: Role = "all"  # "all": accept and run turns; "accept": only acks; "turns": only turns
    thread_context_messages: int = 50  # 0: never read a thread's earlier messages
    thread_context_chars: int = 12_000
    file_max_bytes: int = 5_000_000  # largest attached file downloaded for the model
    tool_timeout_seconds: int = 30  # a tool call running longer ends with an error result
    tool_result_max_chars: int = 20_000  # a longer tool result is cut (the model is told)
    turn_max_files: int = 10  # files one turn downloads (bot/turns/turn_budget.py)
    turn_max_file_bytes: int = 25_000_000  # bytes of files one turn downloads
    thread_queue_max: int = 20  # messages waiting in one thread; more are refused, with a note
    session_ttl_days: int | None = None  # sessions idle longer are deleted; None: kept
    # OAuth distribution (bot/slack/installations.py): set both, and bot_token is not used.
    client_id: str = ""
    client_secret: str = ""
    redirect_uri: str | None = None
    metrics_token: str = ""  # GET /metrics needs it as a bearer token; unset: no metrics
    metrics_port: int | None = None  # Socket Mode and turns processes serve /metrics here
    approvers: tuple[str, ...] = ()  # users (U…/W…) who may decide any approval, besides the asker
    approval_timeout_seconds: int = 86_400  # an approval not decided by then counts as denied
    elicitation_timeout_seconds: int = 600  # a tool's question unanswered by then is cancelled

    @property
    def distributed(self) -> bool:
        return self.redis_url is not None

    @property
    def oauth(self) -> bool:
        return bool(self.client_id)


def _session_dir(env: dict[str, str]) -> Path:
    path = Path(get(env, "SESSION_DIR") or DEFAULT_SESSION_DIR).expanduser()
    if path.resolve() == Path("/tmp"):
        raise ConfigError(
            "SESSION_DIR=/tmp is shared and wiped; set SESSION_DIR to a private directory "
            f"such as {DEFAULT_SESSION_DIR}."
        )
    return path


def load(
    env: dict[str, str] | None = None, *, socket_mode: bool = False, turns_only: bool = False
) -> Config:
    """Build a Config from `env` (default: os.environ); raise ConfigError naming the fix.
    `turns_only`: a process that only answers (`python -m bot turns`): no Slack requests
    reach it, so it needs neither the signing secret nor the app token."""
    env = dict(os.environ if env is None else env)
    if turns_only:
        env["PROCESS_ROLE"] = "turns"
    client_id, client_secret, redirect_uri = features.oauth(env, socket_mode)
    bot_token = (
        ""
        if client_id
        else require(
            env,
            "SLACK_BOT_TOKEN",
            "xoxb-",
            "Copy the Bot User OAuth Token (xoxb-…) from your app's OAuth & Permissions page, "
            "or set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to install in many workspaces.",
        )
    )
    if turns_only:
        app_token, signing_secret = "", ""
    elif socket_mode:
        app_token = require(
            env,
            "SLACK_APP_TOKEN",
            "xapp-",
            "Create an app-level token with connections:write under Basic Information.",
        )
        signing_secret = get(env, "SLACK_SIGNING_SECRET") or ""
    else:
        app_token = get(env, "SLACK_APP_TOKEN") or ""
        signing_secret = require(
            env,
            "SLACK_SIGNING_SECRET",
            "",
            "Copy the Signing Secret from your app's Basic Information page.",
        )
    provider = (get(env, "MODEL_PROVIDER") or "bedrock").lower()
    if provider not in PROVIDERS:
        raise ConfigError(
            f"MODEL_PROVIDER={provider!r} is not supported; use one of {', '.join(PROVIDERS)}."
        )
    personas = get(env, "PERSONAS_FILE")
    if personas and not Path(personas).is_file():
        raise ConfigError(f"PERSONAS_FILE={personas} does not exist; fix the path or unset it.")
    api_url = get(env, "SLACK_API_URL")
    if api_url and not api_url.endswith("/"):
        api_url += "/"  # WebClient joins paths with urljoin
    redis_url = get(env, "REDIS_URL")
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("REDIS_URL must start with redis://, rediss:// or unix://.")
    file_hosts.from_env(env)  # checked here; downloads read it where they happen
    return Config(
        bot_token=bot_token,
        signing_secret=signing_secret,
        app_token=app_token,
        api_url=api_url,
        port=whole_number(env, "PORT", 3000),
        redis_url=redis_url,
        redis_cluster=features.redis_cluster(env, redis_url),
        session_bucket=get(env, "SESSION_BUCKET"),
        session_prefix=get(env, "SESSION_PREFIX") or "sessions/",
        session_dir=_session_dir(env),
        model_provider=provider,
        model_id=get(env, "MODEL_ID"),
        system_prompt=get(env, "SYSTEM_PROMPT") or DEFAULT_SYSTEM_PROMPT,
        personas_file=Path(personas) if personas else None,
        log_level=(get(env, "LOG_LEVEL") or "INFO").upper(),
        log_format=features.log_format(env),
        traces=features.traces(env),
        turn_concurrency=whole_number(env, "TURN_CONCURRENCY", 64),
        lock_ttl_seconds=float(whole_number(env, "LOCK_TTL_SECONDS", 7, minimum=3)),
        streaming=flag(env, "STREAMING", True),
        role=_role(env, redis_url),
        thread_context_messages=whole_number(env, "THREAD_CONTEXT_MESSAGES", 50, minimum=0),
        thread_context_chars=whole_number(env, "THREAD_CONTEXT_CHARS", 12_000, minimum=500),
        file_max_bytes=whole_number(env, "FILE_MAX_BYTES", 5_000_000),
        tool_timeout_seconds=whole_number(env, "TOOL_TIMEOUT_SECONDS", 30),
        tool_result_max_chars=whole_number(env, "TOOL_RESULT_MAX_CHARS", 20_000, minimum=1000),
        turn_max_files=whole_number(env, "TURN_MAX_FILES", 10),
        turn_max_file_bytes=whole_number(env, "TURN_MAX_FILE_BYTES", 25_000_000),
        thread_queue_max=whole_number(env, "THREAD_QUEUE_MAX", 20),
        session_ttl_days=features.session_ttl_days(env),
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        metrics_token=get(env, "METRICS_TOKEN") or "",
        metrics_port=features.metrics_port(env),
        approvers=features.approvers(env),
        approval_timeout_seconds=whole_number(env, "APPROVAL_TIMEOUT_SECONDS", 86_400),
        elicitation_timeout_seconds=whole_number(env, "ELICITATION_TIMEOUT_SECONDS", 600),
    )


ROLES: tuple[Role, ...] = get_args(Role)


def _role(env: dict[str, str], redis_url: str | None) -> Role:
    role = (get(env, "PROCESS_ROLE") or "all").lower()
    if role not in ROLES:
        raise ConfigError(
            f"PROCESS_ROLE={role!r} is not one of {', '.join(ROLES)}; unset it "
            "to accept and answer in every process."
        )
    if role != "all" and not redis_url:
        raise ConfigError(
            f"PROCESS_ROLE={role} splits accepting from answering across "
            "processes, which needs shared state: set REDIS_URL."
        )
    return role


def load_or_exit(
    *, socket_mode: bool, turns_only: bool = False, exit_code: int = CONFIG_EXIT
) -> Config:
    """Load .env and the configuration; on a mistake, say which variable and exit.

    Called before any server starts (see bot/__main__.py and bot/serve/gunicorn_conf.py)."""
    load_dotenv()
    try:
        return load(socket_mode=socket_mode, turns_only=turns_only)
    except ConfigError as exc:
        exit_on(exc, exit_code)


def exit_on(exc: ConfigError, exit_code: int = CONFIG_EXIT) -> NoReturn:
    try:
        logs.setup(fmt=features.log_format(dict(os.environ)))
    except ConfigError:  # LOG_FORMAT itself is the mistake: say so readably
        logs.setup()
    hint = "" if Path(".env").exists() else " (no .env here: start with `cp .env.example .env`)"
    log.error("configuration error: %s%s", exc, hint)
    sys.exit(exit_code)
