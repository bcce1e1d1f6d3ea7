"""Configuration from the environment (and `.env`), validated once at start-up."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from dotenv import load_dotenv

from bot import logs

PROVIDERS = ("bedrock", "anthropic", "openai")
DEFAULT_SESSION_DIR = "./.data/sessions"
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant in a Slack workspace. Answer concisely; Slack mrkdwn is fine."
)


log = logging.getLogger(__name__)
CONFIG_EXIT = 2
BOOT_ERROR_EXIT = 3  # gunicorn's WORKER_BOOT_ERROR: the master stops instead of rebooting


class ConfigError(ValueError):
    """A configuration problem, phrased as: which variable, what is wrong, how to fix it."""


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
    model_provider: str = "bedrock"
    model_id: str | None = None
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    personas_file: Path | None = None
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one JSON object per line (bot/logs.py)
    traces: tuple[str, ...] = ()  # span exporters from the OTEL_* variables (bot/telemetry.py)
    turn_concurrency: int = 64
    lock_ttl_seconds: float = 7.0
    streaming: bool = True
    role: str = "all"  # "all": accept and run turns; "accept": only acks; "turns": only turns
    thread_context_messages: int = 50  # 0: never read a thread's earlier messages
    thread_context_chars: int = 12_000
    file_max_bytes: int = 5_000_000  # largest attached file downloaded for the model
    session_ttl_days: int | None = None  # sessions idle longer are deleted; None: kept
    # OAuth distribution (bot/installations.py): set both, and bot_token is not used.
    client_id: str = ""
    client_secret: str = ""
    redirect_uri: str | None = None

    @property
    def oauth(self) -> bool:
        return bool(self.client_id)
    metrics_token: str = ""  # GET /metrics needs it as a bearer token; unset: no metrics
    metrics_port: int | None = None  # Socket Mode and turns processes serve /metrics here

    @property
    def distributed(self) -> bool:
        return self.redis_url is not None


def _get(env: dict[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _require(env: dict[str, str], name: str, prefix: str, fix: str) -> str:
    value = _get(env, name)
    if value is None:
        raise ConfigError(f"{name} is not set. {fix}")
    if prefix and not value.startswith(prefix):
        raise ConfigError(f"{name} must start with '{prefix}'. {fix}")
    return value


def _int(env: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not a whole number; set e.g. {name}={default}."
        ) from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}; set e.g. {name}={default}.")
    return value


def _session_dir(env: dict[str, str]) -> Path:
    path = Path(_get(env, "SESSION_DIR") or DEFAULT_SESSION_DIR).expanduser()
    if path.resolve() == Path("/tmp"):
        raise ConfigError(
            "SESSION_DIR=/tmp is shared and wiped; set SESSION_DIR to a private directory "
            f"such as {DEFAULT_SESSION_DIR}."
        )
    return path


def load(env: dict[str, str] | None = None, *, socket_mode: bool = False,
         turns_only: bool = False) -> Config:
    """Build a Config from `env` (default: os.environ); raise ConfigError naming the fix.
    `turns_only`: a process that only answers (`python -m bot turns`): no Slack requests
    reach it, so it needs neither the signing secret nor the app token."""
    env = dict(os.environ if env is None else env)
    if turns_only:
        env["PROCESS_ROLE"] = "turns"
    client_id, client_secret, redirect_uri = _oauth(env, socket_mode)
    bot_token = "" if client_id else _require(
        env, "SLACK_BOT_TOKEN", "xoxb-",
        "Copy the Bot User OAuth Token (xoxb-…) from your app's OAuth & Permissions page, "
        "or set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to install in many workspaces.",
    )
    if turns_only:
        app_token, signing_secret = "", ""
    elif socket_mode:
        app_token = _require(
            env, "SLACK_APP_TOKEN", "xapp-",
            "Create an app-level token with connections:write under Basic Information.",
        )
        signing_secret = _get(env, "SLACK_SIGNING_SECRET") or ""
    else:
        app_token = _get(env, "SLACK_APP_TOKEN") or ""
        signing_secret = _require(
            env, "SLACK_SIGNING_SECRET", "",
            "Copy the Signing Secret from your app's Basic Information page.",
        )
    provider = (_get(env, "MODEL_PROVIDER") or "bedrock").lower()
    if provider not in PROVIDERS:
        raise ConfigError(
            f"MODEL_PROVIDER={provider!r} is not supported; use one of {', '.join(PROVIDERS)}."
        )
    personas = _get(env, "PERSONAS_FILE")
    if personas and not Path(personas).is_file():
        raise ConfigError(f"PERSONAS_FILE={personas} does not exist; fix the path or unset it.")
    api_url = _get(env, "SLACK_API_URL")
    if api_url and not api_url.endswith("/"):
        api_url += "/"  # WebClient joins paths with urljoin
    redis_url = _get(env, "REDIS_URL")
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("REDIS_URL must start with redis://, rediss:// or unix://.")
    return Config(
        bot_token=bot_token,
        signing_secret=signing_secret,
        app_token=app_token,
        api_url=api_url,
        port=_int(env, "PORT", 3000),
        redis_url=redis_url,
        redis_cluster=_redis_cluster(env, redis_url),
        session_bucket=_get(env, "SESSION_BUCKET"),
        session_prefix=_get(env, "SESSION_PREFIX") or "sessions/",
        session_dir=_session_dir(env),
        model_provider=provider,
        model_id=_get(env, "MODEL_ID"),
        system_prompt=_get(env, "SYSTEM_PROMPT") or DEFAULT_SYSTEM_PROMPT,
        personas_file=Path(personas) if personas else None,
        log_level=(_get(env, "LOG_LEVEL") or "INFO").upper(),
        log_format=log_format(env),
        traces=traces(env),
        turn_concurrency=_int(env, "TURN_CONCURRENCY", 64),
        lock_ttl_seconds=float(_int(env, "LOCK_TTL_SECONDS", 7, minimum=3)),
        streaming=_flag(env, "STREAMING", True),
        role=_role(env, redis_url),
        thread_context_messages=_int(env, "THREAD_CONTEXT_MESSAGES", 50, minimum=0),
        thread_context_chars=_int(env, "THREAD_CONTEXT_CHARS", 12_000, minimum=500),
        file_max_bytes=_int(env, "FILE_MAX_BYTES", 5_000_000),
        session_ttl_days=session_ttl_days(env),
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        metrics_token=_get(env, "METRICS_TOKEN") or "",
        metrics_port=_metrics_port(env),
    )


def session_ttl_days(env: dict[str, str]) -> int | None:
    """SESSION_TTL_DAYS: delete sessions idle this many days (unset or 0: keep them)."""
    raw = _get(env, "SESSION_TTL_DAYS")
    if raw is not None and not raw.isdigit():
        raise ConfigError(f"SESSION_TTL_DAYS={raw!r} is not a whole number of days; set e.g. "
                          "SESSION_TTL_DAYS=30, or unset it to keep sessions until reset.")
    return int(raw) or None if raw else None


REDIRECT_PATH = "/slack/oauth_redirect"  # Bolt's default, served by bot/web.py


def _oauth(env: dict[str, str], socket_mode: bool) -> tuple[str, str, str | None]:
    """SLACK_CLIENT_ID + SLACK_CLIENT_SECRET: OAuth distribution to many workspaces."""
    client_id, secret = _get(env, "SLACK_CLIENT_ID"), _get(env, "SLACK_CLIENT_SECRET")
    if not client_id and not secret:
        return "", "", None
    where = "Basic Information -> App Credentials"
    if not client_id:
        raise ConfigError(f"SLACK_CLIENT_SECRET is set but SLACK_CLIENT_ID is not: copy the "
                          f"Client ID from {where}, or unset SLACK_CLIENT_SECRET.")
    if not secret:
        raise ConfigError(f"SLACK_CLIENT_ID is set but SLACK_CLIENT_SECRET is not: copy the "
                          f"Client Secret from {where}, or unset SLACK_CLIENT_ID.")
    if socket_mode:
        raise ConfigError(
            "SLACK_CLIENT_ID/SLACK_CLIENT_SECRET (install in many workspaces) need HTTP mode: "
            "Slack sends installers to /slack/oauth_redirect. Unset SLACK_APP_TOKEN (or run "
            "`python -m bot http`), or unset SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to use "
            "one workspace's SLACK_BOT_TOKEN.")
    redirect = _get(env, "SLACK_REDIRECT_URI")
    if redirect and (not redirect.startswith(("https://", "http://"))
                     or not redirect.rstrip("/").endswith(REDIRECT_PATH)):
        raise ConfigError(f"SLACK_REDIRECT_URI={redirect!r} must be this bot's URL ending in "
                          f"{REDIRECT_PATH}, e.g. https://bot.example.com{REDIRECT_PATH}, "
                          "as listed under OAuth & Permissions -> Redirect URLs; or unset it.")
    return client_id, secret, redirect


def _metrics_port(env: dict[str, str]) -> int | None:
    port = _int(env, "METRICS_PORT", 0, minimum=0) or None
    if port and not _get(env, "METRICS_TOKEN"):
        raise ConfigError("METRICS_PORT is set but METRICS_TOKEN is not: set METRICS_TOKEN "
                          "(scrapers send it as a bearer token) or unset METRICS_PORT.")
    return port


ROLES = ("all", "accept", "turns")


def _redis_cluster(env: dict[str, str], redis_url: str | None) -> bool | None:
    """REDIS_CLUSTER: on/off forces the mode, unset detects it."""
    if not _get(env, "REDIS_CLUSTER"):
        return None
    cluster = _flag(env, "REDIS_CLUSTER", False)
    if cluster and redis_url and redis_url.startswith("unix://"):
        raise ConfigError("REDIS_CLUSTER=on needs a redis:// or rediss:// REDIS_URL (Redis "
                          "Cluster has no unix sockets); unset REDIS_CLUSTER or fix REDIS_URL.")
    return cluster


def _role(env: dict[str, str], redis_url: str | None) -> str:
    role = (_get(env, "PROCESS_ROLE") or "all").lower()
    if role not in ROLES:
        raise ConfigError(f"PROCESS_ROLE={role!r} is not one of {', '.join(ROLES)}; unset it "
                          "to accept and answer in every process.")
    if role != "all" and not redis_url:
        raise ConfigError(f"PROCESS_ROLE={role} splits accepting from answering across "
                          "processes, which needs shared state: set REDIS_URL.")
    return role


def log_format(env: dict[str, str]) -> str:
    fmt = (_get(env, "LOG_FORMAT") or "text").lower()
    if fmt not in logs.FORMATS:
        raise ConfigError(f"LOG_FORMAT={fmt!r} is not supported; set LOG_FORMAT=json for one "
                          "JSON object per line, or unset it (or LOG_FORMAT=text) for text.")
    return fmt


TRACE_EXPORTERS = ("otlp", "console")


def traces(env: dict[str, str]) -> tuple[str, ...]:
    """Tracing is off unless the standard OTEL_* variables ask for it."""
    if (_get(env, "OTEL_SDK_DISABLED") or "").lower() == "true":
        return ()
    names = [n.strip().lower() for n in (_get(env, "OTEL_TRACES_EXPORTER") or "").split(",")]
    names = [n for n in names if n]
    if "none" in names:
        return ()
    unknown = [n for n in names if n not in TRACE_EXPORTERS]
    if unknown:
        raise ConfigError(f"OTEL_TRACES_EXPORTER={unknown[0]!r} is not supported; use otlp "
                          "(with OTEL_EXPORTER_OTLP_ENDPOINT), console, or none.")
    if names:
        return tuple(names)
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    return ("otlp",) if any(_get(env, name) for name in endpoints) else ()


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    raw = (_get(env, name) or "").lower()
    if not raw:
        return default
    if raw not in ("on", "off", "true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{name}={raw!r} is not on or off; set {name}=on or {name}=off.")
    return raw in ("on", "true", "1", "yes")


def load_or_exit(*, socket_mode: bool, turns_only: bool = False,
                 exit_code: int = CONFIG_EXIT) -> Config:
    """Load .env and the configuration; on a mistake, say which variable and exit.

    Called before any server starts (see bot/__main__.py and bot/gunicorn_conf.py)."""
    load_dotenv()
    try:
        return load(socket_mode=socket_mode, turns_only=turns_only)
    except ConfigError as exc:
        exit_on(exc, exit_code)


def exit_on(exc: ConfigError, exit_code: int = CONFIG_EXIT) -> NoReturn:
    try:
        logs.setup(fmt=log_format(dict(os.environ)))
    except ConfigError:  # LOG_FORMAT itself is the mistake: say so readably
        logs.setup()
    hint = "" if Path(".env").exists() else " (no .env here: start with `cp .env.example .env`)"
    log.error("configuration error: %s%s", exc, hint)
    sys.exit(exit_code)
